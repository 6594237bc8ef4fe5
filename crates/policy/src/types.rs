//! Types shared by every hook.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The server family a cluster runs; hooks see it because SQL and GTID syntax differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    Mysql,
    Percona,
    Mariadb,
}

/// What a policy needs to know about the cluster it decides for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub name: String,
    pub namespace: String,
    pub flavor: Flavor,
    /// Server version, e.g. `8.0.20` or `10.11.6`.
    pub version: String,
    pub replicas: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A node's role as the operator last saw it; `Unknown` before the first observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    Primary,
    Replica,
    Unknown,
}

/// Severity of a module's `log` call; mapped onto `tracing` levels by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// The hooks a module can implement; also the names used in `spec.plugins[].hooks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookName {
    InitScript,
    BackupFilter,
    FailoverCandidate,
}

impl HookName {
    pub const ALL: [HookName; 3] = [
        HookName::InitScript,
        HookName::BackupFilter,
        HookName::FailoverCandidate,
    ];

    /// The kebab-case name used in manifests, WIT and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            HookName::InitScript => "init-script",
            HookName::BackupFilter => "backup-filter",
            HookName::FailoverCandidate => "failover-candidate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

impl std::fmt::Display for HookName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a hook call produced no usable answer. The kind drives metrics and the failure
/// policy; the message is shown to users in Events and conditions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// The policy itself refused (returned its error variant).
    #[error("module {module} refused: {message}")]
    Rejected { module: String, message: String },
    /// The module trapped (panic, unreachable, out-of-bounds, ...).
    #[error("module {module} trapped: {message}")]
    Trap { module: String, message: String },
    /// The call exceeded its CPU budget.
    #[error("module {module} exceeded its CPU budget ({message})")]
    Timeout { module: String, message: String },
    /// The call tried to grow memory or tables past its cap.
    #[error("module {module} exceeded its memory cap ({message})")]
    Memory { module: String, message: String },
    /// The answer was too large or made no sense (e.g. an unknown candidate).
    #[error("module {module} returned invalid output: {message}")]
    InvalidOutput { module: String, message: String },
    /// The module could not be loaded or is switched off by the circuit breaker.
    #[error("module {module} is unavailable: {message}")]
    Unavailable { module: String, message: String },
}

impl HookError {
    /// Short label for metrics (`kind` label).
    pub fn kind(&self) -> &'static str {
        match self {
            HookError::Rejected { .. } => "rejected",
            HookError::Trap { .. } => "trap",
            HookError::Timeout { .. } => "timeout",
            HookError::Memory { .. } => "memory",
            HookError::InvalidOutput { .. } => "invalid-output",
            HookError::Unavailable { .. } => "unavailable",
        }
    }

    pub fn module(&self) -> &str {
        match self {
            HookError::Rejected { module, .. }
            | HookError::Trap { module, .. }
            | HookError::Timeout { module, .. }
            | HookError::Memory { module, .. }
            | HookError::InvalidOutput { module, .. }
            | HookError::Unavailable { module, .. } => module,
        }
    }
}
