//! Prometheus metrics of the controller (prometheus-client): reconcile counts and latency,
//! plugin loads and failures by module, failovers, switchovers and backups. One
//! [`Metrics`] per process, rendered by the `/metrics` endpoint.

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

/// Labels naming a cluster (`namespace/name`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    /// `namespace/name`.
    pub cluster: String,
}

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
        m
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
}
