//! The registry: for each cluster, the modules attached in its spec, in order, per hook.
//! A change of spec or module bytes is loaded beside the running set and swapped in
//! atomically; a version that fails to load leaves the last good one serving.

use crate::LoadError;
use crate::breaker::{Breaker, BreakerChange, BreakerConfig};
use crate::chain::{BackupFilterChain, FailoverChain, InitScriptChain};
use crate::host::{Host, ModuleSpec};
use crate::module::Module;
use crate::source::{ModuleBytes, sha256_hex};
use policy::{HookError, HookName};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What happens when a module's call fails (the Kubernetes admission-webhook convention).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailurePolicy {
    /// Skip the module: the next module, then the built-in behaviour, decides.
    #[default]
    Ignore,
    /// The step fails with the module's error.
    Fail,
}

/// One `spec.plugins[]` entry as the registry needs it.
#[derive(Debug, Clone)]
pub struct AttachmentSpec {
    pub module: ModuleSpec,
    /// Hooks to attach the module to; empty means every hook it exports.
    pub hooks: Vec<HookName>,
    /// JSON text passed to `validate-settings` and every call.
    pub settings: String,
    pub failure_policy: FailurePolicy,
}

/// Something the controller turns into a Kubernetes Event on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginEvent {
    Loaded {
        cluster: String,
        module: String,
        digest: String,
        hooks: Vec<HookName>,
    },
    LoadFailed {
        cluster: String,
        module: String,
        error: String,
        serving_previous: Option<String>,
    },
    BreakerOpened {
        cluster: String,
        module: String,
        hook: HookName,
        failures: u32,
        backoff: Duration,
        reason: String,
    },
    BreakerClosed {
        cluster: String,
        module: String,
        hook: HookName,
    },
}

/// Receives [`PluginEvent`]s; the controller's sink records Events, the default logs.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: PluginEvent);
}

/// An [`EventSink`] that only logs.
#[derive(Debug, Default)]
pub struct LogEvents;

impl EventSink for LogEvents {
    fn emit(&self, event: PluginEvent) {
        tracing::info!(?event, "plugin event");
    }
}

/// One module attached to one cluster: the loaded module (or why it is not), its
/// settings, failure policy and circuit breaker.
pub(crate) struct Attached {
    pub(crate) cluster: String,
    pub(crate) name: String,
    pub(crate) module: Result<Arc<Module>, String>,
    pub(crate) hooks: BTreeSet<HookName>,
    pub(crate) settings: String,
    pub(crate) policy: FailurePolicy,
    breaker: Breaker,
    source_key: String,
    events: Arc<dyn EventSink>,
    host: Arc<Host>,
}

impl Attached {
    /// Calls the module through the breaker; reports breaker changes as Events and
    /// counts "unavailable" failures.
    pub(crate) fn call<T>(
        &self,
        hook: HookName,
        f: impl FnOnce(&Module) -> Result<T, HookError>,
    ) -> Result<T, HookError> {
        let module = match &self.module {
            Ok(m) => m,
            Err(e) => {
                self.host.metrics().failure(&self.name, hook, "unavailable");
                return Err(HookError::Unavailable {
                    module: self.name.clone(),
                    message: e.clone(),
                });
            }
        };
        if let Err(remaining) = self.breaker.check() {
            self.host.metrics().failure(&self.name, hook, "unavailable");
            return Err(HookError::Unavailable {
                module: self.name.clone(),
                message: format!(
                    "circuit breaker open after repeated failures; retried in {}s",
                    remaining.as_secs() + 1
                ),
            });
        }
        let r = f(module);
        match self.breaker.record(&r) {
            Some(BreakerChange::Opened { failures, backoff }) => {
                self.events.emit(PluginEvent::BreakerOpened {
                    cluster: self.cluster.clone(),
                    module: self.name.clone(),
                    hook,
                    failures,
                    backoff,
                    reason: r
                        .as_ref()
                        .err()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                })
            }
            Some(BreakerChange::Closed) => self.events.emit(PluginEvent::BreakerClosed {
                cluster: self.cluster.clone(),
                module: self.name.clone(),
                hook,
            }),
            None => {}
        }
        r
    }
}

/// The attachments of one cluster, swapped as a whole.
#[derive(Default)]
pub(crate) struct ClusterPlugins {
    pub(crate) attached: Vec<Arc<Attached>>,
}

impl ClusterPlugins {
    pub(crate) fn for_hook(&self, hook: HookName) -> Vec<Arc<Attached>> {
        self.attached
            .iter()
            .filter(|a| a.hooks.contains(&hook))
            .cloned()
            .collect()
    }
}

/// The state of one attachment, for status conditions and `plugin` CLI output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentStatus {
    pub name: String,
    pub digest: Option<String>,
    pub hooks: Vec<HookName>,
    pub error: Option<String>,
}

/// Outcome of one attachment in a [`Registry::sync`].
#[derive(Debug)]
pub struct SyncOutcome {
    pub name: String,
    /// The freshly loaded digest, or why loading failed (the previous version, if any,
    /// keeps serving).
    pub result: Result<String, LoadError>,
    /// True when the spec and bytes were unchanged and nothing was reloaded.
    pub unchanged: bool,
}

/// Maps (cluster, hook) to the ordered modules attached in the cluster's spec.
pub struct Registry {
    host: Arc<Host>,
    clusters: RwLock<HashMap<String, Arc<ClusterPlugins>>>,
    events: Arc<dyn EventSink>,
    breaker: BreakerConfig,
}

fn source_key(a: &AttachmentSpec) -> String {
    let bytes = match &a.module.bytes {
        ModuleBytes::Single(b) => sha256_hex(b),
        ModuleBytes::Parts { manifest, parts } => {
            let mut all = sha256_hex(manifest);
            for (k, v) in parts {
                all.push_str(k);
                all.push_str(&sha256_hex(v));
            }
            sha256_hex(all.as_bytes())
        }
    };
    format!(
        "{bytes}|{:?}|{:?}|{:?}|{}|{:?}",
        a.module.sha256, a.module.limits, a.hooks, a.settings, a.failure_policy
    )
}

impl Registry {
    /// A registry over `host`, reporting to `events`, with breakers configured by `breaker`.
    pub fn new(host: Arc<Host>, events: Arc<dyn EventSink>, breaker: BreakerConfig) -> Self {
        Registry {
            host,
            clusters: RwLock::new(HashMap::new()),
            events,
            breaker,
        }
    }

    /// The host the registry loads modules with.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// Makes `cluster`'s attachments match `specs` (in order). Unchanged attachments are
    /// kept as they are (breaker state included); changed ones are loaded and checked
    /// before the swap; one that fails keeps its last good version serving, or — if it
    /// never loaded — is kept as unavailable so its failure policy applies at call time.
    pub fn sync(&self, cluster: &str, specs: &[AttachmentSpec]) -> Vec<SyncOutcome> {
        let _span = tracing::info_span!("plugins_sync", cluster).entered();
        let current = self
            .clusters
            .read()
            .ok()
            .and_then(|c| c.get(cluster).cloned())
            .unwrap_or_default();
        let mut next = ClusterPlugins::default();
        let mut outcomes = Vec::new();
        for spec in specs {
            let name = spec.module.name.clone();
            let key = source_key(spec);
            let previous = current.attached.iter().find(|a| a.name == name).cloned();
            if let Some(p) = previous
                .as_ref()
                .filter(|p| p.source_key == key && p.module.is_ok())
            {
                let digest = p
                    .module
                    .as_ref()
                    .map(|m| m.digest().to_string())
                    .unwrap_or_default();
                next.attached.push(p.clone());
                outcomes.push(SyncOutcome {
                    name,
                    result: Ok(digest),
                    unchanged: true,
                });
                continue;
            }
            match self.load(spec) {
                Ok((module, hooks)) => {
                    let digest = module.digest().to_string();
                    self.events.emit(PluginEvent::Loaded {
                        cluster: cluster.into(),
                        module: name.clone(),
                        digest: digest.clone(),
                        hooks: hooks.iter().copied().collect(),
                    });
                    next.attached.push(Arc::new(self.attached(
                        cluster,
                        spec,
                        key,
                        Ok(module),
                        hooks,
                    )));
                    outcomes.push(SyncOutcome {
                        name,
                        result: Ok(digest),
                        unchanged: false,
                    });
                }
                Err(e) => {
                    let good = previous.filter(|p| p.module.is_ok());
                    let serving_previous = good
                        .as_ref()
                        .and_then(|p| p.module.as_ref().ok().map(|m| m.digest().to_string()));
                    tracing::warn!(cluster, module = %name, error = %e, ?serving_previous, "policy module failed to load");
                    self.events.emit(PluginEvent::LoadFailed {
                        cluster: cluster.into(),
                        module: name.clone(),
                        error: e.to_string(),
                        serving_previous: serving_previous.clone(),
                    });
                    match good {
                        Some(p) => next.attached.push(p),
                        None => {
                            let hooks: BTreeSet<HookName> = if spec.hooks.is_empty() {
                                HookName::ALL.into_iter().collect()
                            } else {
                                spec.hooks.iter().copied().collect()
                            };
                            next.attached.push(Arc::new(self.attached(
                                cluster,
                                spec,
                                key,
                                Err(e.to_string()),
                                hooks,
                            )));
                        }
                    }
                    outcomes.push(SyncOutcome {
                        name,
                        result: Err(e),
                        unchanged: false,
                    });
                }
            }
        }
        if let Ok(mut c) = self.clusters.write() {
            c.insert(cluster.to_string(), Arc::new(next));
        }
        outcomes
    }

    /// Forgets a deleted cluster.
    pub fn remove(&self, cluster: &str) {
        if let Ok(mut c) = self.clusters.write() {
            c.remove(cluster);
        }
    }

    /// What is attached to `cluster` and whether it loaded.
    pub fn status(&self, cluster: &str) -> Vec<AttachmentStatus> {
        self.snapshot(cluster)
            .attached
            .iter()
            .map(|a| AttachmentStatus {
                name: a.name.clone(),
                digest: a.module.as_ref().ok().map(|m| m.digest().to_string()),
                hooks: a.hooks.iter().copied().collect(),
                error: a.module.as_ref().err().cloned(),
            })
            .collect()
    }

    /// The `failover-candidate` chain of `cluster` as attached now, ending in `builtin`.
    pub fn failover_chain(
        &self,
        cluster: &str,
        builtin: Arc<dyn policy::FailoverCandidate>,
    ) -> FailoverChain {
        FailoverChain::new(
            cluster,
            self.snapshot(cluster).for_hook(HookName::FailoverCandidate),
            builtin,
        )
    }

    /// The `init-script` chain of `cluster`, starting from `builtin`'s script.
    pub fn init_script_chain(
        &self,
        cluster: &str,
        builtin: Arc<dyn policy::InitScript>,
    ) -> InitScriptChain {
        InitScriptChain::new(
            cluster,
            self.snapshot(cluster).for_hook(HookName::InitScript),
            builtin,
        )
    }

    /// The `backup-filter` chain of `cluster`: the union of `builtin`'s and every module's exclusions.
    pub fn backup_filter_chain(
        &self,
        cluster: &str,
        builtin: Arc<dyn policy::BackupFilter>,
    ) -> BackupFilterChain {
        BackupFilterChain::new(
            cluster,
            self.snapshot(cluster).for_hook(HookName::BackupFilter),
            builtin,
        )
    }

    fn snapshot(&self, cluster: &str) -> Arc<ClusterPlugins> {
        self.clusters
            .read()
            .ok()
            .and_then(|c| c.get(cluster).cloned())
            .unwrap_or_default()
    }

    fn load(&self, spec: &AttachmentSpec) -> Result<(Arc<Module>, BTreeSet<HookName>), LoadError> {
        let module = self.host.load(&spec.module)?;
        let hooks: BTreeSet<HookName> = if spec.hooks.is_empty() {
            module.hooks().clone()
        } else {
            spec.hooks.iter().copied().collect()
        };
        if let Some(h) = hooks.iter().find(|h| !module.hooks().contains(h)) {
            return Err(LoadError::HookNotExported {
                module: spec.module.name.clone(),
                hook: *h,
                exported: module
                    .hooks()
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        module.validate_settings(&spec.settings)?;
        Ok((module, hooks))
    }

    fn attached(
        &self,
        cluster: &str,
        spec: &AttachmentSpec,
        source_key: String,
        module: Result<Arc<Module>, String>,
        hooks: BTreeSet<HookName>,
    ) -> Attached {
        Attached {
            cluster: cluster.to_string(),
            name: spec.module.name.clone(),
            module,
            hooks,
            settings: spec.settings.clone(),
            policy: spec.failure_policy,
            breaker: Breaker::new(self.breaker.clone()),
            source_key,
            events: self.events.clone(),
            host: self.host.clone(),
        }
    }
}
