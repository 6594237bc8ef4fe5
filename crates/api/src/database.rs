//! `MysqlDatabase`: a database the operator creates in a cluster.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::ConditionStatus;

/// Desired state of a database.
// kube-derive takes one `printcolumn(...)` per column; clippy reads their repeated
// `type_` keys as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mysql.presslabs.org",
    version = "v1alpha1",
    kind = "MysqlDatabase",
    plural = "mysqldatabases",
    namespaced,
    status = "MysqlDatabaseStatus",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type == \"Ready\")].status",
        description = "The database status"
    ),
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".spec.clusterRef.name"
    ),
    printcolumn(name = "Database", type_ = "string", json_path = ".spec.database"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    crates(kube_core = "::kube_core"),
    doc = "MysqlDatabase is a database created and kept in a MysqlCluster."
)]
#[serde(rename_all = "camelCase")]
pub struct MysqlDatabaseSpec {
    /// The cluster the database lives in. Immutable.
    pub cluster_ref: ClusterReference,
    /// The database name. Immutable.
    pub database: String,
}

/// A reference to a MysqlCluster, possibly in another namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterReference {
    /// Name of the MysqlCluster.
    pub name: String,
    /// Namespace of the MysqlCluster; defaults to the referring object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Observed state of a database or user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MysqlDatabaseStatus {
    /// Conditions: Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ResourceCondition>,
}

/// A condition of a MysqlDatabase or MysqlUser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceCondition {
    /// Type of the condition (`Ready`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    pub status: ConditionStatus,
    /// The last time this condition was updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// When the status last changed.
    pub last_transition_time: Time,
    /// Machine-readable reason of the last change.
    #[serde(default)]
    pub reason: String,
    /// Human-readable message of the last change.
    #[serde(default)]
    pub message: String,
}
