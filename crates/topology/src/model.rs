//! The engine's vocabulary: node addresses, what one observation of a node found, the
//! engine's memory between ticks, the actions the decision function emits, the events it
//! reports, and the knobs.

use flavor::GtidSet;
use std::collections::BTreeMap;
use std::time::Duration;

/// How to reach one server. `name` is the stable identity (pod name in Kubernetes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    pub name: String,
    pub ordinal: u32,
    pub host: String,
    pub port: u16,
}

/// Accounts the engine uses: an admin account for observing and reconfiguring, and the
/// replication account replicas use to connect to the primary.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub admin_user: String,
    pub admin_password: String,
    pub repl_user: String,
    pub repl_password: String,
}

/// State of a replica thread, as observed.
pub use policy::ThreadState;

/// What one node's replica status said.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaStatus {
    pub source_host: String,
    pub source_port: u16,
    /// The known node at `source_host:source_port`, if any.
    pub source_node: Option<String>,
    pub io: ThreadState,
    pub sql: ThreadState,
    pub last_error: String,
    /// Received transactions (MySQL `Retrieved_Gtid_Set`, MariaDB `Gtid_IO_Pos`).
    pub retrieved: GtidSet,
    pub seconds_behind: Option<u64>,
}

/// One observation of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    pub name: String,
    /// `None` when the node did not answer within the probe timeout (with the error).
    pub seen: Option<Seen>,
    pub error: Option<String>,
}

/// The part of [`NodeState`] only a reachable node has.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub server_id: u32,
    pub read_only: bool,
    pub executed: GtidSet,
    pub replica: Option<ReplicaStatus>,
    /// Seconds behind by `sys_operator.heartbeat`; `None` when the table is absent.
    pub heartbeat_lag: Option<f64>,
    pub semi_sync_source: bool,
    pub semi_sync_replica: bool,
}

impl NodeState {
    pub fn reachable(&self) -> bool {
        self.seen.is_some()
    }
    pub fn writable(&self) -> bool {
        self.seen.as_ref().is_some_and(|s| !s.read_only)
    }
}

/// What the engine remembers between ticks (kept small so a restarted engine can rebuild
/// it from one observation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// The node the engine considers primary.
    pub primary: Option<String>,
    /// Consecutive failed probes of the primary.
    pub primary_failures: u32,
    /// The primary's executed set when last seen (for errant detection after it is lost).
    pub last_primary_executed: Option<GtidSet>,
    /// Nodes known to carry errant transactions (sticky until re-cloned).
    pub errant: BTreeMap<String, GtidSet>,
    /// Why the cluster is currently without a writable primary, if it is.
    pub blocked: Option<String>,
}

/// One step the executor performs. Every action is idempotent.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Make `node` the writable primary (no replication). `semi_sync`: also a semi-sync
    /// source. Only once a replica can acknowledge: a primary waiting for acks that no
    /// replica can send blocks every commit, and with it the first replica's clone
    /// (mariabackup's BLOCK_COMMIT stage waits for those commits).
    ConfigurePrimary { node: String, semi_sync: bool },
    /// Make `node` read-only (a replica, or a node showing split-brain evidence).
    SetReadOnly { node: String, reason: String },
    /// Point `node` at `source` (read-only, GTID auto-position, semi-sync acks).
    ReplicateFrom { node: String, source: String },
    /// The primary is lost: fence, choose, wait, promote, repoint.
    Failover {
        old_primary: Option<String>,
        reason: String,
    },
    /// Tell the user; change nothing.
    Report {
        node: Option<String>,
        message: String,
    },
}

/// What happened, for logs, the sandbox's output, Kubernetes Events and tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    PrimaryElected {
        node: String,
    },
    PrimaryUnreachable {
        node: String,
        failures: u32,
    },
    FailoverStarted {
        old_primary: Option<String>,
        reason: String,
    },
    Fenced {
        node: String,
        how: String,
    },
    Promoted {
        old_primary: Option<String>,
        new_primary: String,
        took: Duration,
    },
    FailoverBlocked {
        reason: String,
    },
    SplitBrainFenced {
        node: String,
    },
    ErrantReplica {
        node: String,
        gtids: String,
    },
    Repointed {
        node: String,
        source: String,
    },
    SwitchoverDone {
        old_primary: String,
        new_primary: String,
        unavailable: Duration,
    },
    ActionFailed {
        action: String,
        error: String,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::PrimaryElected { node } => write!(f, "primary elected: {node}"),
            Event::PrimaryUnreachable { node, failures } => {
                write!(f, "primary {node} unreachable ({failures} probes)")
            }
            Event::FailoverStarted {
                old_primary,
                reason,
            } => {
                write!(
                    f,
                    "failover started (old primary {}): {reason}",
                    old_primary.as_deref().unwrap_or("none")
                )
            }
            Event::Fenced { node, how } => write!(f, "fenced {node}: {how}"),
            Event::Promoted {
                old_primary,
                new_primary,
                took,
            } => write!(
                f,
                "promoted {new_primary} (old primary {}) in {} ms",
                old_primary.as_deref().unwrap_or("none"),
                took.as_millis()
            ),
            Event::FailoverBlocked { reason } => {
                write!(f, "failover blocked, cluster stays read-only: {reason}")
            }
            Event::SplitBrainFenced { node } => write!(
                f,
                "split-brain evidence: {node} was writable, set read-only"
            ),
            Event::ErrantReplica { node, gtids } => {
                write!(
                    f,
                    "errant GTIDs on {node}: {gtids} (not joined; re-clone it)"
                )
            }
            Event::Repointed { node, source } => write!(f, "{node} now replicates from {source}"),
            Event::SwitchoverDone {
                old_primary,
                new_primary,
                unavailable,
            } => write!(
                f,
                "switchover {old_primary} -> {new_primary}, writes unavailable {} ms",
                unavailable.as_millis()
            ),
            Event::ActionFailed { action, error } => write!(f, "action {action} failed: {error}"),
        }
    }
}

/// The knobs (documented in docs/ha.md).
#[derive(Debug, Clone)]
pub struct Config {
    /// Time between observations.
    pub probe_interval: Duration,
    /// Connect/query timeout of one probe.
    pub probe_timeout: Duration,
    /// Consecutive failed probes before the primary counts as lost.
    pub failure_threshold: u32,
    /// Lossless semi-sync on (default). Off = asynchronous replication: a failover may
    /// lose the last acknowledged writes.
    pub semi_sync: bool,
    /// Semi-sync ack timeout: long, so it never silently degrades to async.
    pub semi_sync_timeout: Duration,
    /// Promote even when no candidate is safe (may lose writes). Default off.
    pub allow_data_loss: bool,
    /// How long the chosen candidate may take to apply its relay log.
    pub apply_timeout: Duration,
    /// Switchover: time for clients to finish before their connections are killed.
    pub switchover_grace: Duration,
    /// Seconds between retries of a replica's IO thread.
    pub connect_retry_secs: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            probe_interval: Duration::from_millis(500),
            probe_timeout: Duration::from_millis(800),
            failure_threshold: 3,
            semi_sync: true,
            semi_sync_timeout: Duration::from_secs(24 * 3600),
            allow_data_loss: false,
            apply_timeout: Duration::from_secs(60),
            switchover_grace: Duration::from_millis(100),
            connect_retry_secs: 1,
        }
    }
}

/// Acks a commit waits for: one per replica up to half the replicas (rounded up), at
/// least one. MariaDB always waits for exactly one.
pub fn acks_for(replicas: usize) -> u32 {
    (replicas.div_ceil(2)).max(1) as u32
}
