//! `MysqlBackup`: an on-demand (or scheduled) backup of a cluster to object storage.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cluster::DeletePolicy;
use crate::status::ConditionStatus;

/// Desired state of a backup.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mysql.presslabs.org",
    version = "v1alpha1",
    kind = "MysqlBackup",
    plural = "mysqlbackups",
    namespaced,
    status = "MysqlBackupStatus",
    crates(kube_core = "::kube_core"),
    doc = "MysqlBackup is a backup of a MysqlCluster streamed to object storage."
)]
#[serde(rename_all = "camelCase")]
pub struct MysqlBackupSpec {
    /// The cluster (same namespace) to back up.
    pub cluster_name: String,
    /// Full URL of the backup (`<bucket>/<name>.xbackup.gz`). Defaults to the cluster's
    /// backupURL plus a generated name.
    #[serde(default, rename = "backupURL", skip_serializing_if = "Option::is_none")]
    pub backup_url: Option<String>,
    /// Same as backupURL (DEPRECATED).
    #[serde(default, rename = "backupURI", skip_serializing_if = "Option::is_none")]
    pub backup_uri: Option<String>,
    /// The Secret with the storage credentials. Defaults to the cluster's backupSecretName.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_secret_name: Option<String>,
    /// What to do with the remote data when this resource is deleted: `retain` (default)
    /// or `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_delete_policy: Option<DeletePolicy>,
}

/// Observed state of a backup.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MysqlBackupStatus {
    /// The backup reached a final state (Complete or Failed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub completed: bool,
    /// Conditions: Complete, Failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<BackupCondition>,
}

/// Backup condition types.
pub mod backup_condition {
    /// The backup finished successfully.
    pub const COMPLETE: &str = "Complete";
    /// The backup failed.
    pub const FAILED: &str = "Failed";
}

/// One backup condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupCondition {
    /// Type of the condition (see [`backup_condition`]).
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
