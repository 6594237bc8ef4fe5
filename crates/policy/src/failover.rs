//! The `failover-candidate` hook: which replica to promote when the primary is lost or
//! handed over, or whether to refuse the failover altogether.

use crate::{ClusterInfo, HookError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why the operator is choosing a new primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailoverReason {
    /// The primary stopped answering for the configured number of probes.
    PrimaryLost,
    /// A user or the operator (pod deletion, drain) asked for a switchover.
    PlannedSwitchover,
    /// The primary still answers but was fenced (e.g. split-brain evidence).
    PrimaryFenced,
}

/// State of a replica's IO (receiver) or SQL (applier) thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreadState {
    Running,
    Connecting,
    Stopped,
    Error,
}

/// The primary being replaced, as last observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedPrimary {
    pub pod_name: String,
    pub ordinal: u32,
    #[serde(default)]
    pub zone: Option<String>,
    /// The primary's `gtid_executed` (MySQL) / `gtid_binlog_pos` (MariaDB) when last seen.
    pub last_known_gtid_executed: String,
}

/// One replica that could be promoted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub pod_name: String,
    pub ordinal: u32,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Transactions applied on this replica.
    pub gtid_executed: String,
    /// Transactions received (applied or still in the relay log).
    pub gtid_retrieved: String,
    /// Transactions this replica has that the primary never had; non-empty means unsafe.
    pub errant_gtids: String,
    /// Seconds behind the primary by the heartbeat table; `None` when unknown.
    #[serde(default)]
    pub lag_seconds: Option<f64>,
    pub io_thread: ThreadState,
    pub sql_thread: ThreadState,
    pub healthy: bool,
}

/// What the operator asks the hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailoverRequest {
    pub cluster: ClusterInfo,
    pub failed_primary: FailedPrimary,
    pub reason: FailoverReason,
    pub candidates: Vec<Candidate>,
    /// The module's `settings` from the cluster spec, as JSON text (`{}` when none).
    #[serde(default = "empty_settings")]
    pub settings: String,
}

pub(crate) fn empty_settings_pub() -> String {
    empty_settings()
}

fn empty_settings() -> String {
    "{}".to_string()
}

/// The hook's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "decision", content = "value")]
pub enum Decision {
    /// Promote the candidate with this pod name (must be one of the candidates).
    Promote(String),
    /// No opinion: the next module, then the built-in rule, decides.
    Abstain,
    /// Refuse this failover; the cluster stays read-only and the reason is reported.
    Veto(String),
}

/// Anything that can answer the `failover-candidate` hook.
pub trait FailoverCandidate: Send + Sync {
    fn choose(&self, request: &FailoverRequest) -> Result<Decision, HookError>;
}
