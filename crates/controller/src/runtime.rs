//! Wiring the reconcilers to a real API server with kube-runtime: MysqlClusters (with the
//! objects they own and the Secrets and ConfigMaps they reference), MysqlBackups (with
//! their Jobs), the backup schedules, MysqlDatabases and MysqlUsers; all namespaces or
//! one; bounded concurrency; exponential backoff on errors; graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::{MysqlBackup, MysqlCluster, MysqlDatabase, MysqlUser};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store as Reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{debug, warn};

use crate::accounts::{AccountError, AccountsReconciler, ServiceConnector};
use crate::backup::{
    BackupError, BackupOutcome, BackupReconciler, CronReconciler, RemoteStore, SystemClock,
};
use crate::cluster::{ClusterReconciler, Outcome, ReconcileError};
use crate::desired::RenderCrate;
use crate::metrics::Metrics;
use crate::store::KubeStore;

/// Runtime settings (from the command line).
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Watch only this namespace (`--namespace`); all namespaces when `None`.
    pub namespace: Option<String>,
    /// At most this many reconciles run at once.
    pub concurrency: u16,
    /// Operator-wide render settings (images, pull policy, version → image table).
    pub render: render::RenderOptions,
    /// Reconciler settings.
    pub cluster: crate::Options,
}

/// The exponential backoff after `failures` consecutive errors: 1s, 2s, 4s... capped at 5 min.
pub fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.min(9);
    Duration::from_secs(secs.min(300))
}

struct Ctx {
    reconciler: ClusterReconciler<KubeStore, RenderCrate>,
    metrics: Metrics,
    failures: Mutex<HashMap<ObjectRef<MysqlCluster>, u32>>,
}

/// Every kind the runtime lists and watches (apiVersion, plural); [`crate::rbac`]'s
/// tests check each is allowed, and [`api_for`] refuses (in debug builds) a kind not here.
pub const WATCHED: &[(&str, &str)] = &[
    ("mysql.presslabs.org/v1alpha1", "mysqlclusters"),
    ("mysql.presslabs.org/v1alpha1", "mysqlbackups"),
    ("mysql.presslabs.org/v1alpha1", "mysqldatabases"),
    ("mysql.presslabs.org/v1alpha1", "mysqlusers"),
    ("apps/v1", "statefulsets"),
    ("v1", "services"),
    ("v1", "secrets"),
    ("v1", "configmaps"),
    ("policy/v1", "poddisruptionbudgets"),
    ("batch/v1", "jobs"),
    ("v1", "pods"),
];

fn api_for<K>(client: &Client, ns: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    debug_assert!(
        WATCHED
            .iter()
            .any(|(v, p)| *v == K::api_version(&()) && *p == K::plural(&())),
        "{} is watched but missing from runtime::WATCHED (and maybe from rbac)",
        K::plural(&())
    );
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
    registry: Option<Arc<plugin::Registry>>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let reporter = std::env::var("POD_NAME").unwrap_or_else(|_| "mysql-operator".into());
    let store = KubeStore::new(client.clone(), reporter);
    let mut reconciler = ClusterReconciler::new(
        store,
        RenderCrate {
            options: opts.render.clone(),
        },
        opts.cluster.clone(),
    );
    reconciler.metrics = metrics.clone();
    reconciler.registry = registry.clone();
    let ha = Arc::new(crate::ha::Supervisor::new(
        reconciler.store.clone(),
        registry.clone(),
        crate::ha::DnsResolver,
        metrics.clone(),
        crate::ha::HaConfig::default(),
    ));
    reconciler.ha = Some(ha.clone());
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
    // The HA loops read pods and clusters from watches, not from the API every interval.
    let (pods, pod_writer) = kube::runtime::reflector::store::<Pod>();
    let pod_watch = kube::runtime::reflector(
        pod_writer,
        watcher(
            api_for::<Pod>(&client, ns),
            watcher::Config::default().labels("app.kubernetes.io/managed-by=mysql.presslabs.org"),
        ),
    )
    .default_backoff()
    .for_each(|ev| async move {
        if let Err(e) = ev {
            warn!(error = %e, "pod watch");
        }
    });
    let pod_watch = tokio::spawn(pod_watch);
    ha.use_caches(crate::ha::Caches {
        pods: Some(pods),
        clusters: Some(reader.clone()),
    });
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
    // Inside a pod's default 30 s grace period, with room for the rest of shutdown.
    ha.stop_all(HA_STOP_GRACE).await;
    pod_watch.abort();
}

/// How long shutdown waits for the HA loops (a failover in progress) before aborting.
pub const HA_STOP_GRACE: Duration = Duration::from_secs(5);

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

/// Consecutive failures per object, for the exponential backoff of every controller.
#[derive(Default)]
struct Failures(Mutex<HashMap<(&'static str, String, String), u32>>);

impl Failures {
    fn ok(&self, kind: &'static str, ns: &str, name: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&(
            kind,
            ns.to_string(),
            name.to_string(),
        ));
    }

    fn failed(
        &self,
        kind: &'static str,
        ns: &str,
        name: &str,
        error: &dyn std::fmt::Display,
    ) -> Action {
        let mut f = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = f
            .entry((kind, ns.to_string(), name.to_string()))
            .or_insert(0);
        *n += 1;
        let wait = backoff(*n);
        warn!(kind, namespace = ns, name, error = %error, retry_in = ?wait, "reconcile failed");
        Action::requeue(wait)
    }
}

/// How often databases and users are re-checked against the server without a change.
const ACCOUNTS_RESYNC: Duration = Duration::from_secs(300);
/// Upper bound of a schedule's sleep (a changed cluster wakes it earlier anyway).
const CRON_MAX_SLEEP: Duration = Duration::from_secs(3600);

struct OthersCtx<R> {
    backups: BackupReconciler<KubeStore, SystemClock, R>,
    cron: CronReconciler<KubeStore, SystemClock>,
    accounts: AccountsReconciler<KubeStore, ServiceConnector<KubeStore>>,
    metrics: Metrics,
    failures: Failures,
}

/// Errors of the backup, schedule and account controllers (for kube-runtime).
#[derive(Debug, thiserror::Error)]
pub enum OtherError {
    /// A backup or schedule reconcile failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// A database or user reconcile failed.
    #[error(transparent)]
    Account(#[from] AccountError),
}

fn ns_name<K: Resource>(o: &K) -> (String, String) {
    (
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default(),
    )
}

async fn timed<T, E, R>(
    ctx: &OthersCtx<R>,
    kind: &'static str,
    ns: &str,
    name: &str,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let t = Instant::now();
    let res = f.await;
    ctx.metrics
        .observe_reconcile(kind, res.is_ok(), t.elapsed().as_secs_f64());
    if res.is_ok() {
        ctx.failures.ok(kind, ns, name);
    }
    res
}

async fn reconcile_backup<R: RemoteStore>(
    b: Arc<MysqlBackup>,
    ctx: Arc<OthersCtx<R>>,
) -> Result<Action, OtherError> {
    let (ns, name) = ns_name(b.as_ref());
    let out = timed(
        &ctx,
        "MysqlBackup",
        &ns,
        &name,
        ctx.backups.reconcile(&ns, &name),
    )
    .await?;
    Ok(match out {
        BackupOutcome::Waiting(d) => Action::requeue(d),
        BackupOutcome::Gone | BackupOutcome::Done => Action::await_change(),
    })
}

async fn reconcile_schedule<R: RemoteStore>(
    c: Arc<MysqlCluster>,
    ctx: Arc<OthersCtx<R>>,
) -> Result<Action, OtherError> {
    let (ns, name) = ns_name(c.as_ref());
    let out = timed(
        &ctx,
        "BackupSchedule",
        &ns,
        &name,
        ctx.cron.reconcile(&ns, &name),
    )
    .await?;
    Ok(match out.next_in {
        // A little past the tick, so the clock has reached it on wake-up.
        Some(d) => Action::requeue(d.min(CRON_MAX_SLEEP) + Duration::from_millis(50)),
        None => Action::await_change(),
    })
}

async fn reconcile_database<R: RemoteStore>(
    d: Arc<MysqlDatabase>,
    ctx: Arc<OthersCtx<R>>,
) -> Result<Action, OtherError> {
    let (ns, name) = ns_name(d.as_ref());
    timed(
        &ctx,
        "MysqlDatabase",
        &ns,
        &name,
        ctx.accounts.reconcile_database(&ns, &name),
    )
    .await?;
    Ok(Action::requeue(ACCOUNTS_RESYNC))
}

async fn reconcile_user<R: RemoteStore>(
    u: Arc<MysqlUser>,
    ctx: Arc<OthersCtx<R>>,
) -> Result<Action, OtherError> {
    let (ns, name) = ns_name(u.as_ref());
    timed(
        &ctx,
        "MysqlUser",
        &ns,
        &name,
        ctx.accounts.reconcile_user(&ns, &name),
    )
    .await?;
    Ok(Action::requeue(ACCOUNTS_RESYNC))
}

fn other_error<K: Resource, R>(
    kind: &'static str,
) -> impl Fn(Arc<K>, &OtherError, Arc<OthersCtx<R>>) -> Action {
    move |o, e, ctx| {
        let (ns, name) = ns_name(o.as_ref());
        ctx.failures.failed(kind, &ns, &name, e)
    }
}

async fn drain<K, E>(
    kind: &'static str,
    s: impl futures::Stream<Item = Result<(ObjectRef<K>, Action), E>>,
) where
    K: Resource,
    E: std::fmt::Display,
{
    s.for_each(|res| async move {
        match res {
            Ok((obj, _)) => debug!(kind, object = %obj.name, "reconciled"),
            Err(e) => warn!(kind, error = %e, "controller stream"),
        }
    })
    .await;
}

/// The Wasm host and module registry of the process, reporting through Events and
/// `metrics` (created once; the cluster reconciler syncs it, the HA loop calls it).
pub fn plugin_registry(
    store: KubeStore,
    metrics: Metrics,
) -> Result<Arc<plugin::Registry>, plugin::LoadError> {
    let host = plugin::Host::new(plugin::HostConfig::default())?;
    let sink = Arc::new(crate::plugins::PluginEvents::new(store, metrics));
    Ok(Arc::new(plugin::Registry::new(
        host,
        sink,
        plugin::BreakerConfig::default(),
    )))
}

/// Run the backup, schedule, database and user controllers until `shutdown` resolves.
pub async fn run_others<R: RemoteStore>(
    client: Client,
    opts: RuntimeOptions,
    metrics: Metrics,
    remote: R,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let reporter = std::env::var("POD_NAME").unwrap_or_else(|_| "mysql-operator".into());
    let store = KubeStore::new(client.clone(), reporter);
    let mut backups = BackupReconciler::new(
        store.clone(),
        SystemClock,
        remote,
        opts.cluster.sidecar_image.clone(),
    );
    backups.metrics = metrics.clone();
    let ctx = Arc::new(OthersCtx {
        backups,
        cron: CronReconciler::new(store.clone(), SystemClock),
        accounts: AccountsReconciler {
            store: store.clone(),
            connector: ServiceConnector { store },
        },
        metrics,
        failures: Failures::default(),
    });
    let ns = &opts.namespace;
    let wc = watcher::Config::default();
    let cc = ControllerConfig::default().concurrency(opts.concurrency);
    let shutdown = futures::FutureExt::shared(futures::FutureExt::boxed(shutdown));
    let backups = Controller::new(api_for::<MysqlBackup>(&client, ns), wc.clone())
        .owns(
            api_for::<Job>(&client, ns),
            watcher::Config::default().labels("app.kubernetes.io/managed-by=mysql-operator"),
        )
        .with_config(cc.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_backup, other_error("MysqlBackup"), ctx.clone());
    let schedules = Controller::new(api_for::<MysqlCluster>(&client, ns), wc.clone())
        .with_config(cc.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(
            reconcile_schedule,
            other_error("BackupSchedule"),
            ctx.clone(),
        );
    let databases = Controller::new(api_for::<MysqlDatabase>(&client, ns), wc.clone())
        .with_config(cc.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(
            reconcile_database,
            other_error("MysqlDatabase"),
            ctx.clone(),
        );
    let users = Controller::new(api_for::<MysqlUser>(&client, ns), wc)
        .with_config(cc)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_user, other_error("MysqlUser"), ctx);
    futures::join!(
        drain("MysqlBackup", backups),
        drain("BackupSchedule", schedules),
        drain("MysqlDatabase", databases),
        drain("MysqlUser", users),
    );
}

/// Run every controller (clusters, backups, schedules, databases, users) until
/// `shutdown` resolves; in-flight reconciles finish first.
pub async fn run<R: RemoteStore>(
    client: Client,
    opts: RuntimeOptions,
    metrics: Metrics,
    registry: Option<Arc<plugin::Registry>>,
    remote: R,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(futures::FutureExt::boxed(shutdown));
    futures::join!(
        run_clusters(
            client.clone(),
            opts.clone(),
            metrics.clone(),
            registry,
            shutdown.clone()
        ),
        run_others(client, opts, metrics, remote, shutdown),
    );
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
