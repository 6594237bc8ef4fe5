//! Observed state of a MysqlCluster: ready node count, cluster conditions and per-node
//! conditions, with presslabs' names so existing tooling keeps reading them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Status of a condition, as Kubernetes spells it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known (yet).
    #[default]
    Unknown,
}

/// Cluster condition types presslabs defined (plain strings in the API, so new types can
/// be added without breaking readers).
pub mod cluster_condition {
    /// The StatefulSet is ready and the cluster serves.
    pub const READY: &str = "Ready";
    /// A failover waits for acknowledgement (presslabs/orchestrator; kept for compatibility).
    pub const PENDING_FAILOVER_ACK: &str = "PendingFailoverAck";
    /// The cluster is read-only.
    pub const READ_ONLY: &str = "ReadOnly";
    /// A failover is running.
    pub const FAILOVER_IN_PROGRESS: &str = "FailoverInProgress";
}

/// Node condition types presslabs defined.
pub mod node_condition {
    /// Replication lag is above maxSlaveLatency.
    pub const LAGGED: &str = "Lagged";
    /// Replication threads are running.
    pub const REPLICATING: &str = "Replicating";
    /// The node is the primary.
    pub const MASTER: &str = "Master";
    /// The node is read-only.
    pub const READ_ONLY: &str = "ReadOnly";
}

/// Observed state of a MysqlCluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MysqlClusterStatus {
    /// Number of nodes that are ready (the scale subresource's status replicas).
    #[serde(default)]
    pub ready_nodes: i32,
    /// Cluster conditions: Ready, ReadOnly, FailoverInProgress, PendingFailoverAck...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterCondition>,
    /// Per-node state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeStatus>,
}

/// One cluster condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCondition {
    /// Type of the condition (see [`cluster_condition`]).
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    pub status: ConditionStatus,
    /// When the status last changed.
    pub last_transition_time: Time,
    /// Machine-readable reason of the last change.
    #[serde(default)]
    pub reason: String,
    /// Human-readable message of the last change.
    #[serde(default)]
    pub message: String,
}

/// State of one node (pod) of the cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeStatus {
    /// The node's host name (`<pod>.<service>.<namespace>`).
    pub name: String,
    /// Node conditions: Lagged, Replicating, Master, ReadOnly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NodeCondition>,
}

/// One node condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    /// Type of the condition (see [`node_condition`]).
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    pub status: ConditionStatus,
    /// When the status last changed.
    pub last_transition_time: Time,
}

impl MysqlClusterStatus {
    /// The condition of the given type, if present.
    pub fn condition(&self, type_: &str) -> Option<&ClusterCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}
