//! The `init-script` hook: the SQL run by a pod's init step before mysqld serves clients.

use crate::{ClusterInfo, HookError, NodeRole};
use serde::{Deserialize, Serialize};

/// Where the pod's data came from in this init run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    /// Cloned from a healthy peer's backup stream.
    PeerClone,
    /// Restored from the cluster's `initBucketURL`.
    BucketRestore,
    /// Initialised empty (first pod of a new cluster).
    Fresh,
    /// The data dir already held data; nothing was copied.
    Existing,
}

/// What the init step knows when it renders the init script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitScriptRequest {
    pub cluster: ClusterInfo,
    pub ordinal: u32,
    pub pod_name: String,
    pub role: NodeRole,
    pub data_dir_was_empty: bool,
    pub data_source: DataSource,
    /// The script the operator would run without any module.
    pub default_script: String,
    #[serde(default = "crate::failover::empty_settings_pub")]
    pub settings: String,
}

/// Anything that can answer the `init-script` hook: returns the script to run.
pub trait InitScript: Send + Sync {
    fn render(&self, request: &InitScriptRequest) -> Result<String, HookError>;
}
