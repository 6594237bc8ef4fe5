//! `MysqlUser`: an account the operator creates in a cluster, with its grants.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::SecretKeySelector;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::database::{ClusterReference, ResourceCondition};

/// Desired state of a user account.
// kube-derive takes one `printcolumn(...)` per column; clippy reads their repeated
// `type_` keys as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mysql.presslabs.org",
    version = "v1alpha1",
    kind = "MysqlUser",
    plural = "mysqlusers",
    namespaced,
    status = "MysqlUserStatus",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type == 'Ready')].status",
        description = "The user status"
    ),
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".spec.clusterRef.name"
    ),
    printcolumn(name = "UserName", type_ = "string", json_path = ".spec.user"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    crates(kube_core = "::kube_core"),
    doc = "MysqlUser is a user account created and kept in a MysqlCluster."
)]
#[serde(rename_all = "camelCase")]
pub struct MysqlUserSpec {
    /// The cluster the account lives in. Immutable.
    pub cluster_ref: ClusterReference,
    /// The account's user name. Immutable.
    pub user: String,
    /// The Secret key holding the account's password.
    pub password: SecretKeySelector,
    /// Hosts the account may connect from (`%` for any).
    pub allowed_hosts: Vec<String>,
    /// Grants of the account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<MysqlPermission>,
    /// Per-account limits: MAX_USER_CONNECTIONS, MAX_QUERIES_PER_HOUR,
    /// MAX_UPDATES_PER_HOUR, MAX_CONNECTIONS_PER_HOUR.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource_limits: BTreeMap<String, Quantity>,
}

/// A grant on a schema's tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MysqlPermission {
    /// The schema the grant applies to.
    pub schema: String,
    /// Tables of the schema (`*` for all).
    pub tables: Vec<String>,
    /// Privileges granted (e.g. SELECT, INSERT).
    pub permissions: Vec<String>,
}

/// Observed state of a user account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MysqlUserStatus {
    /// Conditions: Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ResourceCondition>,
    /// Hosts the account is currently allowed from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
}
