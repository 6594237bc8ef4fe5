//! The policy modules a MySQL pod runs. The operator renders `plugins.json` (the
//! manifest of `crates/render/src/plugins.rs`) into the cluster's ConfigMap, mounted at
//! `/mnt/conf`, and each module's component under `/etc/mysql-operator/plugins/<name>/`.
//! `mysql-operator init` runs the `init-script` chain and `mysql-operator agent` the
//! `backup-filter` chain from it, both through this one loader and the real Wasm host and
//! registry, so the two sides treat a missing manifest, a broken module and the failure
//! policy alike:
//! - no manifest: the built-in behaviour alone;
//! - a module that does not load: kept attached as unavailable, so its `failurePolicy`
//!   applies when the hook runs (`Ignore`: skipped with a warning naming it; `Fail`: the
//!   hook fails with an error naming it) — the same path as a module that traps.

use plugin::{
    AttachmentSpec, BreakerConfig, FailurePolicy, Host, HostConfig, Limits, LogEvents, ModuleBytes,
    ModuleSpec, Registry,
};
use policy::{BackupFilter, HookName, InitScript};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the rendered pod mounts the manifest.
pub const DEFAULT_MANIFEST: &str = render::pod::path::MOUNTED_PLUGINS;

/// The manifest format version this reader understands (render's `MANIFEST_VERSION`).
pub const MANIFEST_VERSION: u32 = 1;

/// Why the pod's modules could not be set up at all (as opposed to one module failing,
/// which its failure policy handles).
#[derive(Debug, thiserror::Error)]
pub enum PodHooksError {
    #[error("reading the plugin manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the plugin manifest {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "the plugin manifest {path} has version {found}; this binary reads version {MANIFEST_VERSION} (operator and sidecar image out of step?)"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("plugin `{module}` in {path}: {message}")]
    Entry {
        path: PathBuf,
        module: String,
        message: String,
    },
    #[error("starting the Wasm host: {0}")]
    Host(#[from] plugin::LoadError),
}

/// The reader's view of render's `Manifest` (only the fields the pod needs).
#[derive(Debug, Deserialize)]
struct Manifest {
    version: u32,
    plugins: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    name: String,
    path: String,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    hooks: Option<Vec<String>>,
    failure_policy: String,
    #[serde(default)]
    settings: serde_json::Value,
}

/// The modules attached to one hook of this pod, ready to wrap the built-in rule.
pub struct PodHooks {
    cluster: String,
    hook: HookName,
    registry: Option<Registry>,
    modules: Vec<String>,
}

impl std::fmt::Debug for PodHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodHooks")
            .field("cluster", &self.cluster)
            .field("hook", &self.hook)
            .field("modules", &self.modules)
            .finish()
    }
}

impl PodHooks {
    /// No modules: every hook runs its built-in rule.
    pub fn none(cluster: &str, hook: HookName) -> Self {
        PodHooks {
            cluster: cluster.to_string(),
            hook,
            registry: None,
            modules: Vec::new(),
        }
    }

    /// Whether no module serves this hook (the built-in rule runs).
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// Loads the modules of `manifest` that serve `hook` (entries for other hooks are not
    /// compiled). A missing manifest file means no modules. Module files that cannot be
    /// read or loaded stay attached as unavailable (their failure policy decides at call
    /// time); only an unreadable or malformed manifest is an error.
    pub fn load(manifest: &Path, cluster: &str, hook: HookName) -> Result<Self, PodHooksError> {
        let text = match std::fs::read_to_string(manifest) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(manifest = %manifest.display(), %hook, "no plugin manifest; built-in behaviour");
                return Ok(Self::none(cluster, hook));
            }
            Err(source) => {
                return Err(PodHooksError::Read {
                    path: manifest.to_path_buf(),
                    source,
                });
            }
        };
        let parsed: Manifest = serde_json::from_str(&text).map_err(|e| PodHooksError::Parse {
            path: manifest.to_path_buf(),
            message: e.to_string(),
        })?;
        if parsed.version != MANIFEST_VERSION {
            return Err(PodHooksError::Version {
                path: manifest.to_path_buf(),
                found: parsed.version,
            });
        }
        let base = manifest.parent().unwrap_or(Path::new("."));
        let mut specs = Vec::new();
        for entry in &parsed.plugins {
            if let Some(spec) = attachment(manifest, base, entry, hook)? {
                specs.push(spec);
            }
        }
        if specs.is_empty() {
            tracing::info!(manifest = %manifest.display(), %hook, "no plugin serves this hook; built-in behaviour");
            return Ok(Self::none(cluster, hook));
        }
        let host = Host::new(HostConfig::default())?;
        let registry = Registry::new(host, Arc::new(LogEvents), BreakerConfig::default());
        let policies: Vec<(String, FailurePolicy)> = specs
            .iter()
            .map(|s| (s.module.name.clone(), s.failure_policy))
            .collect();
        for (outcome, (_, policy)) in registry.sync(cluster, &specs).iter().zip(&policies) {
            match &outcome.result {
                Ok(digest) => {
                    tracing::info!(module = %outcome.name, %hook, sha256 = %digest, "policy module loaded")
                }
                Err(e) => tracing::warn!(
                    module = %outcome.name,
                    %hook,
                    failure_policy = ?policy,
                    error = %e,
                    "policy module `{}` did not load; its failurePolicy applies when the hook runs",
                    outcome.name
                ),
            }
        }
        // Entries without `hooks` serve only what the module exports.
        let modules = registry
            .status(cluster)
            .into_iter()
            .filter(|s| s.hooks.contains(&hook))
            .map(|s| s.name)
            .collect();
        Ok(PodHooks {
            cluster: cluster.to_string(),
            hook,
            registry: Some(registry),
            modules,
        })
    }

    /// Names of the modules attached to this hook, in chain order.
    pub fn modules(&self) -> &[String] {
        &self.modules
    }

    /// The `backup-filter` rule to use: `builtin` alone, or the chain of modules around it.
    pub fn backup_filter(&self, builtin: Arc<dyn BackupFilter>) -> Arc<dyn BackupFilter> {
        match &self.registry {
            Some(r) if self.hook == HookName::BackupFilter => {
                Arc::new(r.backup_filter_chain(&self.cluster, builtin)) as Arc<dyn BackupFilter>
            }
            _ => builtin,
        }
    }

    /// The `init-script` rule to use: `builtin` alone, or the chain of modules after it.
    pub fn init_script(&self, builtin: Arc<dyn InitScript>) -> Arc<dyn InitScript> {
        match &self.registry {
            Some(r) if self.hook == HookName::InitScript => {
                Arc::new(r.init_script_chain(&self.cluster, builtin)) as Arc<dyn InitScript>
            }
            _ => builtin,
        }
    }
}

/// The attachment for `entry` if it serves `hook`. A module path that is relative is
/// taken relative to the manifest's directory (tests; the rendered pod uses absolute ones).
fn attachment(
    manifest: &Path,
    base: &Path,
    entry: &Entry,
    hook: HookName,
) -> Result<Option<AttachmentSpec>, PodHooksError> {
    let bad = |message: String| PodHooksError::Entry {
        path: manifest.to_path_buf(),
        module: entry.name.clone(),
        message,
    };
    let hooks = match &entry.hooks {
        None => Vec::new(),
        Some(list) => list
            .iter()
            .map(|h| {
                HookName::parse(h).ok_or_else(|| {
                    bad(format!(
                        "unknown hook `{h}`; one of backup-filter, failover-candidate, init-script"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if !hooks.is_empty() && !hooks.contains(&hook) {
        return Ok(None);
    }
    let failure_policy = match entry.failure_policy.as_str() {
        "Ignore" => FailurePolicy::Ignore,
        "Fail" => FailurePolicy::Fail,
        other => {
            return Err(bad(format!("failurePolicy `{other}`: use Ignore or Fail")));
        }
    };
    let path = base.join(&entry.path);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            // Empty bytes fail to load in the registry, which keeps the module attached
            // as unavailable so the failure policy applies.
            tracing::warn!(module = %entry.name, path = %path.display(), error = %e, "policy module file unreadable");
            Vec::new()
        }
    };
    let settings = match &entry.settings {
        serde_json::Value::Null => "{}".to_string(),
        v => v.to_string(),
    };
    Ok(Some(AttachmentSpec {
        module: ModuleSpec {
            name: entry.name.clone(),
            bytes: ModuleBytes::Single(bytes),
            sha256: entry.sha256.clone(),
            limits: Limits::default(),
        },
        // Empty means every hook the module exports; the chain then picks this one.
        hooks,
        settings,
        failure_policy,
    }))
}

/// The `init-script` request the init step sends, with the role its data source implies:
/// a peer clone becomes a replica; a restore or a fresh start is the first primary; an
/// existing data dir (a restart) is the primary when `primary_pod` — the pod the
/// `-master` Service's agent names — is this pod, a replica when it is another, and
/// unknown when no primary answers (a whole-cluster restart).
pub fn init_request(
    cluster: policy::ClusterInfo,
    ordinal: u32,
    pod_name: &str,
    data_dir_was_empty: bool,
    data_source: policy::DataSource,
    primary_pod: Option<&str>,
    default_script: String,
) -> policy::InitScriptRequest {
    use policy::{DataSource, NodeRole};
    let role = match data_source {
        DataSource::PeerClone => NodeRole::Replica,
        DataSource::Fresh | DataSource::BucketRestore => NodeRole::Primary,
        // A restart: the `-master` Service's agent says who the primary is, if any.
        DataSource::Existing => match primary_pod {
            Some(p) if p == pod_name => NodeRole::Primary,
            Some(_) => NodeRole::Replica,
            None => NodeRole::Unknown,
        },
    };
    policy::InitScriptRequest {
        cluster,
        ordinal,
        pod_name: pod_name.to_string(),
        role,
        data_dir_was_empty,
        data_source,
        default_script,
        settings: "{}".into(),
    }
}
