//! Prometheus metrics of the controller (prometheus-client): reconcile counts and latency,
//! plugin loads and failures by module, failovers, switchovers and backups. One
//! [`Metrics`] per process, rendered by the `/metrics` endpoint.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use plugin::metrics::HookCounters;
use policy::HookName;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of reconcile metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// `MysqlCluster`, `MysqlBackup`...
    pub kind: String,
    /// `ok` or `error`.
    pub result: String,
}

/// Labels of plugin metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// The module name (`spec.plugins[].name`).
    pub module: String,
    /// The hook, or `attach` for loading.
    pub hook: String,
}

/// Labels of plugin call failures: module, hook and the kind of failure (`trap`,
/// `timeout`, `memory`, `invalid-output`, `rejected`, `unavailable`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginFailureLabels {
    /// The module name.
    pub module: String,
    /// The hook called.
    pub hook: String,
    /// What went wrong.
    pub kind: String,
}

/// Labels naming a cluster (`namespace/name`).
/// Labels of `kube_requests`: the request's verb as the API server names it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KubeRequestLabels {
    pub verb: String,
}

/// The Kubernetes verb of an API request (`watch`, `get` — reads and lists —, `create`,
/// `update`, `patch`, `delete`); everything but `get` and `watch` writes.
pub fn kube_verb(method: &str, query: Option<&str>) -> &'static str {
    match method {
        "GET"
            if query
                .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1")) =>
        {
            "watch"
        }
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    /// `namespace/name`.
    pub cluster: String,
}

/// Host counter values already copied, by (module, hook, failure kind or `""` for calls).
type CopiedCounters = HashMap<(String, String, String), u64>;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 14))
}

/// The controller's metrics; clone-cheap handles (each family is an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    /// Reconciles by kind and result.
    pub reconciles: Family<ReconcileLabels, Counter>,
    /// Reconcile latency in seconds by kind and result.
    pub reconcile_seconds: HistogramFamily<ReconcileLabels>,
    /// Modules loaded or swapped.
    pub plugin_loads: Family<PluginLabels, Counter>,
    /// Modules that failed to attach or failed a call.
    pub plugin_failures: Family<PluginLabels, Counter>,
    /// Plugin calls (counted by the Wasm host's callers).
    pub plugin_calls: Family<PluginLabels, Counter>,
    /// Failovers run by the HA loop.
    pub failovers: Family<ClusterLabels, Counter>,
    /// Planned switchovers.
    pub switchovers: Family<ClusterLabels, Counter>,
    /// Backup durations in seconds.
    pub backup_seconds: HistogramFamily<ClusterLabels>,
    /// Backup sizes in bytes.
    pub backup_bytes: Family<ClusterLabels, Counter>,
    /// Plugin call failures by module, hook and kind (copied from the Wasm host).
    pub plugin_call_failures: Family<PluginFailureLabels, Counter>,
    /// Requests sent to the Kubernetes API server, by verb (a steady pass writes none).
    pub kube_requests: Family<KubeRequestLabels, Counter>,
    /// What [`Metrics::copy_plugin_host`] already copied, so counters only grow by deltas.
    plugin_host_copied: Arc<Mutex<CopiedCounters>>,
}

impl Default for Metrics {
    /// Metrics not exposed anywhere (tests, or before registration).
    fn default() -> Self {
        Metrics {
            reconciles: Family::default(),
            reconcile_seconds: Family::new_with_constructor(latency_histogram),
            plugin_loads: Family::default(),
            plugin_failures: Family::default(),
            plugin_calls: Family::default(),
            failovers: Family::default(),
            switchovers: Family::default(),
            backup_seconds: Family::new_with_constructor(duration_histogram),
            backup_bytes: Family::default(),
            plugin_call_failures: Family::default(),
            kube_requests: Family::default(),
            plugin_host_copied: Arc::default(),
        }
    }
}

impl Metrics {
    /// Create the metrics and register them in `registry` (prefix `mysql_operator`).
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics::default();
        let r = registry.sub_registry_with_prefix("mysql_operator");
        r.register(
            "reconciles",
            "Reconciles by kind and result",
            m.reconciles.clone(),
        );
        r.register(
            "reconcile_seconds",
            "Reconcile latency by kind and result",
            m.reconcile_seconds.clone(),
        );
        r.register(
            "plugin_loads",
            "Policy modules loaded or swapped",
            m.plugin_loads.clone(),
        );
        r.register(
            "plugin_failures",
            "Policy module attach or call failures",
            m.plugin_failures.clone(),
        );
        r.register(
            "plugin_calls",
            "Policy module calls",
            m.plugin_calls.clone(),
        );
        r.register("failovers", "Failovers run", m.failovers.clone());
        r.register(
            "switchovers",
            "Planned switchovers run",
            m.switchovers.clone(),
        );
        r.register(
            "backup_seconds",
            "Backup durations",
            m.backup_seconds.clone(),
        );
        r.register(
            "backup_bytes",
            "Bytes of completed backups",
            m.backup_bytes.clone(),
        );
        r.register(
            "plugin_call_failures",
            "Policy module call failures by module, hook and kind",
            m.plugin_call_failures.clone(),
        );
        r.register(
            "kube_requests",
            "Requests sent to the Kubernetes API server, by verb",
            m.kube_requests.clone(),
        );
        m
    }

    /// Count one API request (see [`kube_verb`]).
    pub fn count_kube_request(&self, method: &str, query: Option<&str>) {
        self.kube_requests
            .get_or_create(&KubeRequestLabels {
                verb: kube_verb(method, query).into(),
            })
            .inc();
    }

    /// Copy the Wasm host's call and failure counters (kept by the host per module and
    /// hook) into `plugin_calls` and `plugin_call_failures`; called before each scrape.
    pub fn copy_plugin_host(&self, snapshot: &BTreeMap<(String, HookName), HookCounters>) {
        let mut copied = self
            .plugin_host_copied
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut delta = |module: &str, hook: &str, kind: &str, now: u64| {
            let seen = copied
                .entry((module.into(), hook.into(), kind.into()))
                .or_insert(0);
            let d = now.saturating_sub(*seen);
            *seen = (*seen).max(now);
            d
        };
        for ((module, hook), c) in snapshot {
            let hook = hook.as_str();
            let d = delta(module, hook, "", c.calls);
            if d > 0 {
                self.plugin_calls
                    .get_or_create(&PluginLabels {
                        module: module.clone(),
                        hook: hook.into(),
                    })
                    .inc_by(d);
            }
            for (kind, n) in &c.failures {
                let d = delta(module, hook, kind, *n);
                if d > 0 {
                    self.plugin_call_failures
                        .get_or_create(&PluginFailureLabels {
                            module: module.clone(),
                            hook: hook.into(),
                            kind: (*kind).into(),
                        })
                        .inc_by(d);
                }
            }
        }
    }

    /// Count one reconcile of `kind` that took `seconds`.
    pub fn observe_reconcile(&self, kind: &str, ok: bool, seconds: f64) {
        let l = ReconcileLabels {
            kind: kind.into(),
            result: if ok { "ok" } else { "error" }.into(),
        };
        self.reconciles.get_or_create(&l).inc();
        self.reconcile_seconds.get_or_create(&l).observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_in_text_format() {
        let mut reg = Registry::default();
        let m = Metrics::register(&mut reg);
        m.observe_reconcile("MysqlCluster", true, 0.01);
        m.plugin_failures
            .get_or_create(&PluginLabels {
                module: "m".into(),
                hook: "attach".into(),
            })
            .inc();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        assert!(
            out.contains("mysql_operator_reconciles_total{kind=\"MysqlCluster\",result=\"ok\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("mysql_operator_plugin_failures_total{module=\"m\",hook=\"attach\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("mysql_operator_reconcile_seconds_bucket"),
            "{out}"
        );
    }

    #[test]
    fn plugin_host_counters_are_copied_as_deltas() {
        let mut reg = Registry::default();
        let m = Metrics::register(&mut reg);
        let mut snap = BTreeMap::new();
        let mut c = HookCounters {
            calls: 3,
            ..Default::default()
        };
        c.failures.insert("trap", 1);
        snap.insert(("m".to_string(), HookName::FailoverCandidate), c.clone());
        m.copy_plugin_host(&snap);
        m.copy_plugin_host(&snap);
        c.calls = 5;
        snap.insert(("m".to_string(), HookName::FailoverCandidate), c);
        m.copy_plugin_host(&snap);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        assert!(
            out.contains(
                "mysql_operator_plugin_calls_total{module=\"m\",hook=\"failover-candidate\"} 5"
            ),
            "{out}"
        );
        assert!(
            out.contains("mysql_operator_plugin_call_failures_total{module=\"m\",hook=\"failover-candidate\",kind=\"trap\"} 1"),
            "{out}"
        );
    }
}
