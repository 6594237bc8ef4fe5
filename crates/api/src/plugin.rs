//! Policy modules attached to a cluster (`spec.plugins`): where the Wasm component lives,
//! which hooks it may serve, and what happens when it fails.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One Wasm policy module attached to a cluster. Modules are loaded from ConfigMaps so a
/// site can ship policy without rebuilding the operator image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginSpec {
    /// Unique name of the module within the cluster (a DNS label: lowercase letters,
    /// digits and '-', at most 63 characters). Used in events, metrics and status.
    pub name: String,
    /// The ConfigMap (in the cluster's namespace) and the key under `binaryData` or
    /// `data` that holds the compiled Wasm component.
    pub config_map: ConfigMapKeyRef,
    /// Optional pin: the lowercase hex SHA-256 of the component bytes. When set, a module
    /// whose bytes do not match is refused, so a changed ConfigMap cannot swap the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Optional subset of hooks this module may serve: `init-script`, `backup-filter`,
    /// `failover-candidate`. When absent, every hook the component exports is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<Hook>>,
    /// What a failed call (trap, timeout, limit exceeded, invalid answer) does: `Ignore`
    /// falls back to the built-in behaviour, `Fail` fails the step with an Event and a
    /// status condition. Defaults to `Ignore`.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Free-form settings passed to every call of the module as JSON text; the module may
    /// check them through its `validate-settings` export when it is attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub settings: Option<serde_json::Value>,
}

/// A key in a ConfigMap of the cluster's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigMapKeyRef {
    /// Name of the ConfigMap.
    pub name: String,
    /// Key inside the ConfigMap (`binaryData` or `data`) holding the component.
    pub key: String,
}

/// The extension points at which the operator calls policy modules.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    /// Render or rewrite the SQL/shell init script of a pod.
    InitScript,
    /// Decide which tables a backup or clone excludes.
    BackupFilter,
    /// Choose or veto the replica promoted on failover.
    FailoverCandidate,
}

impl Hook {
    /// Every hook, in a stable order (for hints and docs).
    pub const ALL: [Hook; 3] = [
        Hook::InitScript,
        Hook::BackupFilter,
        Hook::FailoverCandidate,
    ];

    /// The name used in manifests and in the WIT package.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::InitScript => "init-script",
            Hook::BackupFilter => "backup-filter",
            Hook::FailoverCandidate => "failover-candidate",
        }
    }
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do when a module call fails, after the Kubernetes admission-webhook convention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum FailurePolicy {
    /// Use the built-in behaviour as if the module were not attached.
    #[default]
    Ignore,
    /// Fail the step (init, backup, failover) and report it.
    Fail,
}

impl PluginSpec {
    /// Whether this module is allowed to serve `hook` (absent `hooks` allows all).
    pub fn serves(&self, hook: Hook) -> bool {
        self.hooks.as_ref().is_none_or(|h| h.contains(&hook))
    }
}
