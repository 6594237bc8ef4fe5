//! The `mysql.presslabs.org/v1alpha1` resource types (MysqlCluster, MysqlBackup,
//! MysqlDatabase, MysqlUser), their CRDs and their semantic validation.
//!
//! The types keep every field the presslabs/bitpoke operator had, with the same JSON names,
//! so existing manifests are accepted verbatim; unknown fields are pruned (serde ignores
//! them, the CRD schema does not preserve them), never rejected.

pub mod backup;
pub mod cluster;
pub mod crd;
pub mod database;
pub mod plugin;
mod schema;
pub mod status;
pub mod user;
pub mod validate;
pub mod version;

pub use backup::{MysqlBackup, MysqlBackupSpec, MysqlBackupStatus};
pub use cluster::{MysqlCluster, MysqlClusterSpec, PodSpec, QueryLimits, VolumeSpec};
pub use database::{MysqlDatabase, MysqlDatabaseSpec, MysqlDatabaseStatus};
pub use plugin::{ConfigMapKeyRef, FailurePolicy, Hook, PluginSpec};
pub use status::{
    ClusterCondition, ConditionStatus, MysqlClusterStatus, NodeCondition, NodeStatus,
};
pub use user::{MysqlUser, MysqlUserSpec, MysqlUserStatus};
pub use validate::FieldError;
pub use version::{Flavor, KnownVersion, VersionError};

/// The API group every kind here belongs to (kept from presslabs so clusters are adopted).
pub const GROUP: &str = "mysql.presslabs.org";
/// The only served and stored version of the API group.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as it appears in manifests.
pub const API_VERSION: &str = "mysql.presslabs.org/v1alpha1";
