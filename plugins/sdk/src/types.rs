//! The hook requests and answers as plain Rust values (owned strings, labels as maps, GTID
//! sets parseable on demand), independent of which WIT world a module exports. They mirror
//! the operator's `crates/policy` types field for field; [`crate::export_policy!`] converts
//! the generated bindings into these and back.

use crate::glob::TablePattern;
use crate::gtid::{GtidError, GtidSet};
use std::collections::BTreeMap;

/// The server family a cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Mysql,
    Percona,
    Mariadb,
}

/// What a policy knows about the cluster it decides for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub name: String,
    pub namespace: String,
    pub flavor: Flavor,
    /// Server version, e.g. `8.0.20` or `10.11.6`.
    pub version: String,
    pub replicas: u32,
    pub labels: BTreeMap<String, String>,
}

/// A node's role as the operator last saw it; `Unknown` before the first observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    Primary,
    Replica,
    Unknown,
}

/// Severity of a log line sent to the operator's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Where a pod's data came from in this init run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSource {
    PeerClone,
    BucketRestore,
    Fresh,
    Existing,
}

/// The `init-script` hook's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitScriptRequest {
    pub cluster: ClusterInfo,
    pub ordinal: u32,
    pub pod_name: String,
    pub role: NodeRole,
    pub data_dir_was_empty: bool,
    pub data_source: DataSource,
    /// The script the operator runs without this module (or the previous module's output).
    pub default_script: String,
    /// The module's settings as JSON text (already parsed into `Settings` for you).
    pub settings: String,
}

impl InitScriptRequest {
    /// True when this pod will not serve writes: a replica, or a pod of unknown role whose
    /// data was just copied from a peer or a bucket.
    pub fn is_non_primary(&self) -> bool {
        match self.role {
            NodeRole::Primary => false,
            NodeRole::Replica => true,
            NodeRole::Unknown => matches!(
                self.data_source,
                DataSource::PeerClone | DataSource::BucketRestore
            ),
        }
    }
}

/// What a backup or clone stream is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupKind {
    ScheduledBackup,
    OnDemandBackup,
    PeerClone,
}

/// A table the server holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    pub engine: String,
    pub size_bytes: u64,
}

impl TableInfo {
    /// Whether a `schema.table` pattern matches this table.
    pub fn matches(&self, pattern: &TablePattern) -> bool {
        pattern.matches(&self.schema, &self.name)
    }

    /// This table as a reference, for [`Exclusions`].
    pub fn to_ref(&self) -> TableRef {
        TableRef {
            schema: self.schema.clone(),
            name: self.name.clone(),
        }
    }
}

/// A `schema.table` name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableRef {
    pub schema: String,
    pub name: String,
}

/// The `backup-filter` hook's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFilterRequest {
    pub cluster: ClusterInfo,
    pub kind: BackupKind,
    pub tables: Vec<TableInfo>,
    pub settings: String,
}

/// The `backup-filter` answer: what to leave out. Empty means everything is copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    pub tables: Vec<TableRef>,
    pub schemas: Vec<String>,
}

impl Exclusions {
    /// Adds one table (kept sorted and without duplicates by [`Exclusions::normalized`]).
    pub fn table(mut self, schema: &str, name: &str) -> Self {
        self.tables.push(TableRef {
            schema: schema.to_string(),
            name: name.to_string(),
        });
        self
    }

    /// Sorted, deduplicated, and without tables whose whole schema is already excluded, so
    /// answers are stable and small.
    pub fn normalized(mut self) -> Self {
        self.schemas.sort();
        self.schemas.dedup();
        let schemas = self.schemas.clone();
        self.tables
            .retain(|t| schemas.binary_search(&t.schema).is_err());
        self.tables.sort();
        self.tables.dedup();
        self
    }
}

/// Why the operator is choosing a new primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverReason {
    PrimaryLost,
    PlannedSwitchover,
    PrimaryFenced,
}

/// State of a replica's IO (receiver) or SQL (applier) thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadState {
    Running,
    Connecting,
    Stopped,
    Error,
}

/// The primary being replaced, as last observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPrimary {
    pub pod_name: String,
    pub ordinal: u32,
    pub zone: Option<String>,
    /// `gtid_executed` (MySQL) / `gtid_binlog_pos` (MariaDB) when last seen.
    pub last_known_gtid_executed: String,
}

impl FailedPrimary {
    /// The last known GTID set, parsed.
    pub fn gtid_set(&self) -> Result<GtidSet, GtidError> {
        GtidSet::parse(&self.last_known_gtid_executed)
    }
}

/// One replica that could be promoted.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub pod_name: String,
    pub ordinal: u32,
    pub zone: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub gtid_executed: String,
    pub gtid_retrieved: String,
    /// Transactions the failed primary never had; non-empty means promoting is unsafe.
    pub errant_gtids: String,
    /// Seconds behind the primary; `None` when unknown.
    pub lag_seconds: Option<f64>,
    pub io_thread: ThreadState,
    pub sql_thread: ThreadState,
    pub healthy: bool,
}

impl Candidate {
    /// What this replica will hold once its relay log is applied: executed ∪ retrieved.
    pub fn reachable_gtids(&self) -> Result<GtidSet, GtidError> {
        Ok(GtidSet::parse(&self.gtid_executed)?.union(&GtidSet::parse(&self.gtid_retrieved)?))
    }

    /// Whether promoting this replica keeps every transaction in `primary`.
    pub fn holds(&self, primary: &GtidSet) -> Result<bool, GtidError> {
        Ok(self.reachable_gtids()?.contains(primary))
    }

    /// True when the replica has transactions the primary never had.
    pub fn has_errant_gtids(&self) -> bool {
        !self.errant_gtids.trim().is_empty()
    }

    /// A label's value, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// The `failover-candidate` hook's question.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverRequest {
    pub cluster: ClusterInfo,
    pub failed_primary: FailedPrimary,
    pub reason: FailoverReason,
    pub candidates: Vec<Candidate>,
    pub settings: String,
}

/// The `failover-candidate` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Promote the candidate with this pod name (must be one of the candidates).
    Promote(String),
    /// No opinion: the next module, then the built-in rule, decides.
    Abstain,
    /// Refuse this failover; the cluster stays read-only and the reason is reported.
    Veto(String),
}
