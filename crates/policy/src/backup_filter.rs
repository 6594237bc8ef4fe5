//! The `backup-filter` hook: which tables and schemas a backup or clone leaves out.

use crate::{ClusterInfo, HookError};
use serde::{Deserialize, Serialize};

/// What the stream is for; a module may filter clones differently from backups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupKind {
    ScheduledBackup,
    OnDemandBackup,
    PeerClone,
}

/// A table the server holds, with what a filter may decide on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    pub engine: String,
    pub size_bytes: u64,
}

/// A `schema.table` name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TableRef {
    pub schema: String,
    pub name: String,
}

/// What the operator asks the hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupFilterRequest {
    pub cluster: ClusterInfo,
    pub kind: BackupKind,
    pub tables: Vec<TableInfo>,
    #[serde(default = "crate::failover::empty_settings_pub")]
    pub settings: String,
}

/// The hook's answer: what to leave out. Empty means "everything is copied".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exclusions {
    #[serde(default)]
    pub tables: Vec<TableRef>,
    #[serde(default)]
    pub schemas: Vec<String>,
}

impl Exclusions {
    /// Union of two answers, sorted and without duplicates, so chained modules compose.
    pub fn merge(mut self, other: Exclusions) -> Exclusions {
        self.tables.extend(other.tables);
        self.tables.sort();
        self.tables.dedup();
        self.schemas.extend(other.schemas);
        self.schemas.sort();
        self.schemas.dedup();
        self
    }
}

/// Anything that can answer the `backup-filter` hook.
pub trait BackupFilter: Send + Sync {
    fn exclusions(&self, request: &BackupFilterRequest) -> Result<Exclusions, HookError>;
}
