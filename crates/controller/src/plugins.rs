//! Resolving `spec.plugins`: read each module's ConfigMap (one value, raw/gzip/zstd, or a
//! JSON parts manifest naming `binaryData` keys), verify the digests and the sha256 pin,
//! and remember what each cluster has attached so a changed ConfigMap is seen as a swap.
//! A failure concerns only its module; the reconciler reports it and carries on.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

use api::PluginSpec;
use k8s_openapi::api::core::v1::ConfigMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use plugin::{AttachmentSpec, EventSink, ModuleBytes, ModuleSpec, PluginEvent};
use policy::HookName;

use crate::metrics::{Metrics, PluginLabels};
use crate::store::{self, EventRecord, ObjectKey, Store, StoreError};

/// Largest decompressed module accepted (the Wasm host caps memory far lower anyway).
pub const MAX_MODULE_BYTES: u64 = 64 << 20;

/// A module whose bytes were found and verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedModule {
    /// `spec.plugins[].name`.
    pub name: String,
    /// sha256 of the raw component.
    pub sha256: String,
    /// The raw component bytes (what the Wasm host compiles).
    pub bytes: Arc<Vec<u8>>,
}

/// A module that could not be attached, and why (used in the condition and the Event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginFailure {
    /// `spec.plugins[].name`.
    pub module: String,
    /// What went wrong and how to fix it.
    pub reason: String,
}

/// The per-pod manifest entry (rendered into the cluster ConfigMap as `plugins.json`) so
/// each pod loads exactly the modules and digests the operator verified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestEntry {
    /// Module name.
    pub name: String,
    /// The ConfigMap holding it (mounted at `/etc/mysql-operator/plugins/<name>`).
    pub config_map: String,
    /// The key inside the ConfigMap.
    pub key: String,
    /// sha256 of the raw component, checked again by the pod.
    pub sha256: String,
    /// Hooks the module may serve (absent: all it exports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<api::Hook>>,
    /// `Ignore` or `Fail`.
    pub failure_policy: api::FailurePolicy,
    /// Settings passed to every call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartsManifest {
    parts: Vec<PartRef>,
    sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartRef {
    name: String,
    sha256: String,
    /// The ConfigMap holding this part (default: the manifest's own), so a module over
    /// 1 MiB compressed spans several ConfigMaps.
    #[serde(default, rename = "configMap")]
    config_map: Option<String>,
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn value_of(cm: &ConfigMap, key: &str) -> Option<Vec<u8>> {
    cm.binary_data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            cm.data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.as_bytes().to_vec())
        })
}

fn decompress(data: &[u8]) -> Result<Vec<u8>, String> {
    const WASM: [u8; 4] = [0x00, 0x61, 0x73, 0x6d];
    let reader: Box<dyn Read + '_> = if data.starts_with(&WASM) {
        return Ok(data.to_vec());
    } else if data.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(data))
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(data).map_err(|e| format!("zstd: {e}"))?)
    } else {
        return Err(format!(
            "the value is neither a Wasm component, gzip, zstd nor a parts manifest (starts with {}); store the compiled .wasm in binaryData",
            hex::encode(&data[..data.len().min(4)])
        ));
    };
    let mut out = Vec::new();
    reader
        .take(MAX_MODULE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("decompressing: {e}"))?;
    if out.len() as u64 > MAX_MODULE_BYTES {
        return Err(format!(
            "the decompressed module exceeds {MAX_MODULE_BYTES} bytes"
        ));
    }
    if !out.starts_with(&WASM) {
        return Err("the decompressed data is not a Wasm binary".into());
    }
    Ok(out)
}

/// The raw component from a ConfigMap value (single or parts), verified.
#[cfg(test)]
fn decode(cm: &ConfigMap, spec: &PluginSpec) -> Result<Vec<u8>, String> {
    decode_with(cm, spec, &BTreeMap::new())
}

/// The raw component, with the other ConfigMaps a parts manifest names (by name).
fn decode_with(
    cm: &ConfigMap,
    spec: &PluginSpec,
    others: &BTreeMap<String, ConfigMap>,
) -> Result<Vec<u8>, String> {
    let key = &spec.config_map.key;
    let cm_name = &spec.config_map.name;
    let value = value_of(cm, key)
        .ok_or_else(|| format!("ConfigMap {cm_name} has no key {key:?} in binaryData or data; fix spec.plugins[].configMap.key"))?;
    let stored = match serde_json::from_slice::<PartsManifest>(&value) {
        Ok(m) => {
            let mut out = Vec::new();
            for p in &m.parts {
                let (holder, holder_name) = match p.config_map.as_deref() {
                    Some(n) if n != cm_name.as_str() => (
                        others.get(n).ok_or_else(|| {
                            format!("ConfigMap {n} holding part {:?} was not found", p.name)
                        })?,
                        n,
                    ),
                    _ => (cm, cm_name.as_str()),
                };
                let part = value_of(holder, &p.name).ok_or_else(|| {
                    format!(
                        "part {:?} named by the manifest is missing from ConfigMap {holder_name}",
                        p.name
                    )
                })?;
                let got = sha256_hex(&part);
                if got != p.sha256 {
                    return Err(format!(
                        "part {:?} has sha256 {got}, the manifest says {}",
                        p.name, p.sha256
                    ));
                }
                out.extend_from_slice(&part);
            }
            let got = sha256_hex(&out);
            if got != m.sha256 {
                return Err(format!(
                    "the assembled parts have sha256 {got}, the manifest says {}",
                    m.sha256
                ));
            }
            out
        }
        Err(_) => value,
    };
    let raw = decompress(&stored)?;
    if let Some(pin) = spec.sha256.as_deref() {
        let got = sha256_hex(&raw);
        if got != pin.to_ascii_lowercase() {
            return Err(format!(
                "digest mismatch: the module has sha256 {got}, spec.plugins[].sha256 pins {pin}; update the pin or restore the ConfigMap"
            ));
        }
    }
    Ok(raw)
}

/// Resolve every module of a cluster in namespace `ns`. Store errors (API down) are
/// returned; everything about one module's content is a [`PluginFailure`].
pub async fn resolve<S: Store>(
    store: &S,
    ns: &str,
    specs: &[PluginSpec],
) -> Result<(Vec<ResolvedModule>, Vec<PluginFailure>), StoreError> {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for spec in specs {
        let cm: Option<ConfigMap> = store::get(store, ns, &spec.config_map.name).await?;
        let result = match cm {
            None => Err(format!(
                "ConfigMap {} not found in namespace {ns}; create it with the compiled module under key {:?}",
                spec.config_map.name, spec.config_map.key
            )),
            Some(cm) => {
                // Parts kept in other ConfigMaps of the namespace.
                let mut others = BTreeMap::new();
                let manifest = value_of(&cm, &spec.config_map.key)
                    .and_then(|v| serde_json::from_slice::<PartsManifest>(&v).ok());
                for n in manifest.iter().flat_map(|m| &m.parts) {
                    if let Some(n) = &n.config_map
                        && !others.contains_key(n)
                        && let Some(o) = store::get::<ConfigMap, _>(store, ns, n).await?
                    {
                        others.insert(n.clone(), o);
                    }
                }
                decode_with(&cm, spec, &others)
            }
        };
        match result {
            Ok(raw) => ok.push(ResolvedModule {
                name: spec.name.clone(),
                sha256: sha256_hex(&raw),
                bytes: Arc::new(raw),
            }),
            Err(reason) => failed.push(PluginFailure {
                module: spec.name.clone(),
                reason,
            }),
        }
    }
    Ok((ok, failed))
}

/// The manifest entries for the resolved modules, in spec order.
pub fn manifest(specs: &[PluginSpec], resolved: &[ResolvedModule]) -> Vec<ManifestEntry> {
    specs
        .iter()
        .filter_map(|s| {
            let r = resolved.iter().find(|r| r.name == s.name)?;
            Some(ManifestEntry {
                name: s.name.clone(),
                config_map: s.config_map.name.clone(),
                key: s.config_map.key.clone(),
                sha256: r.sha256.clone(),
                hooks: s.hooks.clone(),
                failure_policy: s.failure_policy,
                settings: s.settings.clone(),
            })
        })
        .collect()
}

/// A change in what a cluster has attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// First load of a module.
    Loaded { module: String, sha256: String },
    /// A module's bytes changed (its ConfigMap was updated).
    Swapped {
        module: String,
        from: String,
        to: String,
    },
}

/// What each cluster has attached (module → sha256), to detect swaps. Keyed by
/// `namespace/cluster`. The Wasm host's registry (crates/plugin) compiles by digest.
#[derive(Clone, Default)]
pub struct Attached {
    inner: Arc<Mutex<BTreeMap<String, BTreeMap<String, String>>>>,
}

impl Attached {
    /// Record `resolved` as the cluster's modules; returns loads and swaps.
    pub fn update(&self, cluster: &str, resolved: &[ResolvedModule]) -> Vec<Change> {
        let mut all = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let current = all.entry(cluster.to_string()).or_default();
        let mut changes = Vec::new();
        for r in resolved {
            match current.insert(r.name.clone(), r.sha256.clone()) {
                None => changes.push(Change::Loaded {
                    module: r.name.clone(),
                    sha256: r.sha256.clone(),
                }),
                Some(old) if old != r.sha256 => changes.push(Change::Swapped {
                    module: r.name.clone(),
                    from: old,
                    to: r.sha256.clone(),
                }),
                Some(_) => {}
            }
        }
        current.retain(|name, _| resolved.iter().any(|r| &r.name == name));
        changes
    }

    /// Forget a deleted cluster.
    pub fn remove(&self, cluster: &str) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(cluster);
    }

    /// The sha256 attached for `module` of `cluster`.
    pub fn digest(&self, cluster: &str, module: &str) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(cluster)?
            .get(module)
            .cloned()
    }
}

/// A cluster's modules with the operator-wide defaults (`--default-plugins`): each
/// default is attached unless the cluster lists a module of the same name; the cluster's
/// own modules come first, in its order, then the defaults in theirs.
pub fn with_defaults(own: &[PluginSpec], defaults: &[PluginSpec]) -> Vec<PluginSpec> {
    let mut all = own.to_vec();
    all.extend(
        defaults
            .iter()
            .filter(|d| !own.iter().any(|o| o.name == d.name))
            .cloned(),
    );
    all
}

/// What the Wasm host's registry attaches for a cluster: its resolved modules, in spec
/// order, with their hooks, settings, pin and failure policy.
pub fn attachments(specs: &[PluginSpec], resolved: &[ResolvedModule]) -> Vec<AttachmentSpec> {
    specs
        .iter()
        .filter_map(|s| {
            let r = resolved.iter().find(|r| r.name == s.name)?;
            let hooks = s
                .hooks
                .iter()
                .flatten()
                .filter_map(|h| HookName::parse(h.as_str()))
                .collect();
            Some(AttachmentSpec {
                module: ModuleSpec {
                    name: s.name.clone(),
                    bytes: ModuleBytes::Single(r.bytes.as_ref().clone()),
                    sha256: Some(r.sha256.clone()),
                    limits: plugin::Limits::default(),
                },
                hooks,
                settings: s
                    .settings
                    .as_ref()
                    .map_or_else(|| "{}".to_string(), |v| v.to_string()),
                failure_policy: match s.failure_policy {
                    api::FailurePolicy::Ignore => plugin::FailurePolicy::Ignore,
                    api::FailurePolicy::Fail => plugin::FailurePolicy::Fail,
                },
            })
        })
        .collect()
}

/// The Wasm host registry's [`EventSink`]: turns its events into Kubernetes Events on the
/// cluster (`namespace/name` keys) and counts loads and failures in [`Metrics`].
pub struct PluginEvents<S> {
    store: S,
    metrics: Metrics,
    runtime: Option<tokio::runtime::Handle>,
}

impl<S: Store> PluginEvents<S> {
    /// A sink recording through `store`; call inside the tokio runtime that should send
    /// the Events (without one they are only logged).
    pub fn new(store: S, metrics: Metrics) -> Self {
        PluginEvents {
            store,
            metrics,
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    fn record(&self, cluster: &str, type_: &str, reason: &str, message: String) {
        let (ns, name) = cluster.split_once('/').unwrap_or(("", cluster));
        let ev = EventRecord {
            regarding: ObjectKey::of::<api::MysqlCluster>(ns, name),
            type_: type_.into(),
            reason: reason.into(),
            message,
        };
        tracing::info!(cluster, reason, message = %ev.message, "plugin event");
        if let Some(rt) = &self.runtime {
            let store = self.store.clone();
            rt.spawn(async move {
                if let Err(e) = store.create_event(ev).await {
                    tracing::warn!(error = %e, "recording a plugin Event");
                }
            });
        }
    }

    fn count(&self, module: &str, hook: &str, failure: bool) {
        let l = PluginLabels {
            module: module.into(),
            hook: hook.into(),
        };
        if failure {
            self.metrics.plugin_failures.get_or_create(&l).inc();
        } else {
            self.metrics.plugin_loads.get_or_create(&l).inc();
        }
    }
}

impl<S: Store> EventSink for PluginEvents<S> {
    fn emit(&self, event: PluginEvent) {
        match event {
            PluginEvent::Loaded {
                cluster,
                module,
                digest,
                hooks,
            } => {
                let hooks: Vec<&str> = hooks.iter().map(|h| h.as_str()).collect();
                self.record(
                    &cluster,
                    "Normal",
                    "PluginCompiled",
                    format!(
                        "module {module} compiled (sha256 {digest}) for hooks {}",
                        hooks.join(", ")
                    ),
                );
            }
            PluginEvent::LoadFailed {
                cluster,
                module,
                error,
                serving_previous,
            } => {
                self.count(&module, "attach", true);
                let keep = serving_previous.map_or_else(
                    || "the module is unavailable and its failurePolicy applies".to_string(),
                    |d| format!("the previous version (sha256 {d}) keeps serving"),
                );
                self.record(
                    &cluster,
                    "Warning",
                    "PluginFailed",
                    format!("module {module} failed to load: {error}; {keep}"),
                );
            }
            PluginEvent::BreakerOpened {
                cluster,
                module,
                hook,
                failures,
                backoff,
                reason,
            } => {
                self.count(&module, hook.as_str(), true);
                self.record(
                    &cluster,
                    "Warning",
                    "PluginCircuitOpen",
                    format!(
                        "module {module} hook {} failed {failures} times ({reason}); skipped for {}s",
                        hook.as_str(),
                        backoff.as_secs()
                    ),
                );
            }
            PluginEvent::BreakerClosed {
                cluster,
                module,
                hook,
            } => self.record(
                &cluster,
                "Normal",
                "PluginCircuitClosed",
                format!("module {module} hook {} answers again", hook.as_str()),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::io::Write;

    fn wasm(n: u8) -> Vec<u8> {
        let mut v = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        v.extend(std::iter::repeat_n(n, 1000));
        v
    }

    fn spec(pin: Option<String>) -> PluginSpec {
        PluginSpec {
            name: "m".into(),
            config_map: api::ConfigMapKeyRef {
                name: "cm".into(),
                key: "module.wasm".into(),
            },
            sha256: pin,
            ..Default::default()
        }
    }

    fn cm(entries: Vec<(&str, Vec<u8>)>) -> ConfigMap {
        ConfigMap {
            binary_data: Some(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v)))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn single_gzip_and_pin() {
        let raw = wasm(1);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let pin = sha256_hex(&raw);
        assert_eq!(
            decode(
                &cm(vec![("module.wasm", gz.finish().unwrap())]),
                &spec(Some(pin.clone()))
            )
            .unwrap(),
            raw
        );
        let err = decode(&cm(vec![("module.wasm", wasm(2))]), &spec(Some(pin))).unwrap_err();
        assert!(err.contains("digest mismatch"), "{err}");
        let err = decode(&cm(vec![("other", wasm(2))]), &spec(None)).unwrap_err();
        assert!(err.contains("no key \"module.wasm\""), "{err}");
        let err = decode(&cm(vec![("module.wasm", b"hello".to_vec())]), &spec(None)).unwrap_err();
        assert!(err.contains("binaryData"), "{err}");
    }

    #[test]
    fn parts_are_assembled_and_checked() {
        let raw = wasm(3);
        let (a, b) = raw.split_at(500);
        let manifest = serde_json::json!({
            "parts": [{"name": "p.0", "sha256": sha256_hex(a)}, {"name": "p.1", "sha256": sha256_hex(b)}],
            "sha256": sha256_hex(&raw),
        });
        let m = serde_json::to_vec(&manifest).unwrap();
        let good = cm(vec![
            ("module.wasm", m.clone()),
            ("p.0", a.to_vec()),
            ("p.1", b.to_vec()),
        ]);
        assert_eq!(decode(&good, &spec(None)).unwrap(), raw);
        let bad = cm(vec![
            ("module.wasm", m),
            ("p.0", a.to_vec()),
            ("p.1", a.to_vec()),
        ]);
        let err = decode(&bad, &spec(None)).unwrap_err();
        assert!(err.contains("part \"p.1\""), "{err}");
    }

    #[test]
    fn attached_reports_loads_and_swaps() {
        let at = Attached::default();
        let m = |sha: &str| ResolvedModule {
            name: "m".into(),
            sha256: sha.into(),
            bytes: Arc::new(vec![]),
        };
        assert!(matches!(
            at.update("ns/c", &[m("a")])[..],
            [Change::Loaded { .. }]
        ));
        assert!(at.update("ns/c", &[m("a")]).is_empty());
        assert!(matches!(
            at.update("ns/c", &[m("b")])[..],
            [Change::Swapped { .. }]
        ));
        assert_eq!(at.digest("ns/c", "m").as_deref(), Some("b"));
        at.update("ns/c", &[]);
        assert_eq!(at.digest("ns/c", "m"), None);
    }
    fn named(name: &str, cm: &str) -> PluginSpec {
        let mut s = spec(None);
        s.name = name.into();
        s.config_map.name = cm.into();
        s
    }

    #[test]
    fn defaults_fill_in_modules_the_cluster_does_not_name() {
        let own = [named("a", "own-a"), named("b", "own-b")];
        let defaults = [named("b", "default-b"), named("c", "default-c")];
        let all = with_defaults(&own, &defaults);
        let got: Vec<(&str, &str)> = all
            .iter()
            .map(|s| (s.name.as_str(), s.config_map.name.as_str()))
            .collect();
        assert_eq!(got, [("a", "own-a"), ("b", "own-b"), ("c", "default-c")]);
        assert_eq!(with_defaults(&[], &defaults), defaults.to_vec());
    }

    #[test]
    fn attachments_follow_spec_order_hooks_settings_and_policy() {
        let mut a = named("a", "cm");
        a.hooks = Some(vec![api::Hook::FailoverCandidate]);
        a.settings = Some(serde_json::json!({"zone": "x"}));
        a.failure_policy = api::FailurePolicy::Fail;
        let b = named("b", "cm");
        let resolved = [
            ResolvedModule {
                name: "b".into(),
                sha256: "bb".into(),
                bytes: Arc::new(wasm(2)),
            },
            ResolvedModule {
                name: "a".into(),
                sha256: "aa".into(),
                bytes: Arc::new(wasm(1)),
            },
        ];
        let out = attachments(&[a, b, named("missing", "cm")], &resolved);
        assert_eq!(out.len(), 2, "unresolved modules are not attached");
        assert_eq!(out[0].module.name, "a");
        assert_eq!(out[0].module.sha256.as_deref(), Some("aa"));
        assert_eq!(out[0].hooks, [HookName::FailoverCandidate]);
        assert_eq!(out[0].settings, r#"{"zone":"x"}"#);
        assert_eq!(out[0].failure_policy, plugin::FailurePolicy::Fail);
        assert_eq!(out[1].module.name, "b");
        assert!(out[1].hooks.is_empty());
        assert_eq!(out[1].settings, "{}");
    }

    #[tokio::test]
    async fn plugin_events_become_kubernetes_events_and_metrics() {
        let store = crate::store::MemoryStore::new();
        let metrics = Metrics::default();
        let sink = PluginEvents::new(store.clone(), metrics.clone());
        sink.emit(PluginEvent::LoadFailed {
            cluster: "shop/db".into(),
            module: "zone".into(),
            error: "validate-settings rejected: zone missing".into(),
            serving_previous: None,
        });
        sink.emit(PluginEvent::BreakerOpened {
            cluster: "shop/db".into(),
            module: "zone".into(),
            hook: HookName::FailoverCandidate,
            failures: 5,
            backoff: std::time::Duration::from_secs(30),
            reason: "trap".into(),
        });
        for _ in 0..50 {
            if store.events().len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let ev = store.events();
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!(
            ev[0].regarding,
            ObjectKey::of::<api::MysqlCluster>("shop", "db")
        );
        assert_eq!(
            (ev[0].type_.as_str(), ev[0].reason.as_str()),
            ("Warning", "PluginFailed")
        );
        assert!(ev[0].message.contains("zone missing") && ev[0].message.contains("failurePolicy"));
        assert_eq!(ev[1].reason, "PluginCircuitOpen");
        let failures = |hook: &str| {
            metrics
                .plugin_failures
                .get_or_create(&PluginLabels {
                    module: "zone".into(),
                    hook: hook.into(),
                })
                .get()
        };
        assert_eq!(failures("attach"), 1);
        assert_eq!(failures("failover-candidate"), 1);
    }
}
