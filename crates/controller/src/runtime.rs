//! Wiring the cluster reconciler to a real API server with kube-runtime: watch
//! MysqlClusters (all namespaces or one), the objects they own, and the Secrets and
//! ConfigMaps they reference; bounded concurrency; exponential backoff on errors;
//! graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::MysqlCluster;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store as Reflector};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{debug, warn};

use crate::cluster::{ClusterReconciler, Outcome, ReconcileError};
use crate::desired::BuiltinRenderer;
use crate::metrics::Metrics;
use crate::store::KubeStore;

/// Runtime settings (from the command line).
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Watch only this namespace (`--namespace`); all namespaces when `None`.
    pub namespace: Option<String>,
    /// At most this many reconciles run at once.
    pub concurrency: u16,
    /// Reconciler settings.
    pub cluster: crate::Options,
}

/// The exponential backoff after `failures` consecutive errors: 1s, 2s, 4s... capped at 5 min.
pub fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.min(9);
    Duration::from_secs(secs.min(300))
}

struct Ctx {
    reconciler: ClusterReconciler<KubeStore, BuiltinRenderer>,
    metrics: Metrics,
    failures: Mutex<HashMap<ObjectRef<MysqlCluster>, u32>>,
}

fn api_for<K>(client: &Client, ns: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(n) => Api::namespaced(client.clone(), n),
        None => Api::all(client.clone()),
    }
}

/// Clusters in `ns` that reference `name` (secretName or a plugin ConfigMap).
fn referencing(
    reader: &Reflector<MysqlCluster>,
    ns: Option<String>,
    name: String,
    check: fn(&MysqlCluster, &str) -> bool,
) -> Vec<ObjectRef<MysqlCluster>> {
    reader
        .state()
        .into_iter()
        .filter(|c| c.namespace() == ns && check(c, &name))
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

/// Run the cluster controller until `shutdown` resolves (then in-flight reconciles finish).
pub async fn run_clusters(
    client: Client,
    opts: RuntimeOptions,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let reporter = std::env::var("POD_NAME").unwrap_or_else(|_| "mysql-operator".into());
    let store = KubeStore::new(client.clone(), reporter);
    let mut reconciler = ClusterReconciler::new(store, BuiltinRenderer, opts.cluster.clone());
    reconciler.metrics = metrics.clone();
    let ctx = Arc::new(Ctx {
        reconciler,
        metrics,
        failures: Mutex::new(HashMap::new()),
    });
    let ns = &opts.namespace;
    let wc = watcher::Config::default();
    let controller = Controller::new(api_for::<MysqlCluster>(&client, ns), wc.clone())
        .with_config(ControllerConfig::default().concurrency(opts.concurrency));
    let reader = controller.store();
    let reader2 = reader.clone();
    controller
        .owns(api_for::<StatefulSet>(&client, ns), wc.clone())
        .owns(api_for::<Service>(&client, ns), wc.clone())
        .owns(api_for::<PodDisruptionBudget>(&client, ns), wc.clone())
        .watches(
            api_for::<Secret>(&client, ns),
            wc.clone(),
            move |s: Secret| {
                referencing(&reader, s.namespace(), s.name_any(), |c, n| {
                    c.spec.secret_name == n
                })
            },
        )
        .watches(
            api_for::<ConfigMap>(&client, ns),
            wc,
            move |cm: ConfigMap| {
                referencing(&reader2, cm.namespace(), cm.name_any(), |c, n| {
                    c.spec.plugins.iter().any(|p| p.config_map.name == n)
                })
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => debug!(cluster = %obj, "reconciled"),
                Err(e) => warn!(error = %e, "controller stream"),
            }
        })
        .await;
}

async fn reconcile(cluster: Arc<MysqlCluster>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let t = Instant::now();
    let res = ctx.reconciler.reconcile(&ns, &name).await;
    ctx.metrics
        .observe_reconcile("MysqlCluster", res.is_ok(), t.elapsed().as_secs_f64());
    if res.is_ok() {
        ctx.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ObjectRef::from_obj(cluster.as_ref()));
    }
    Ok(match res? {
        Outcome::RequeueAfter(d) => Action::requeue(d),
        Outcome::Gone => Action::await_change(),
    })
}

fn error_policy(cluster: Arc<MysqlCluster>, error: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    let mut f = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
    let n = f.entry(ObjectRef::from_obj(cluster.as_ref())).or_insert(0);
    *n += 1;
    let wait = backoff(*n);
    warn!(cluster = %cluster.name_any(), error = %error, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(100), Duration::from_secs(300));
    }
}
