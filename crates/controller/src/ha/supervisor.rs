//! [`Supervisor`]: one HA loop per cluster. Each loop owns the cluster's
//! `topology::Engine` (none under `spec.readOnly`), turns the engine's events into
//! Kubernetes Events and metrics, turns the engine's per-round snapshot into the pod
//! labels and `status.nodes` (probing the nodes itself only when no engine runs), and
//! asks for a switchover when the primary pod is being deleted.
//!
//! The reconciler's calls never wait on MySQL or DNS: starting, restarting and stopping
//! a loop only signal it. A restarted loop's engine starts once the old one has ended, so
//! two engines never act on one cluster at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::status::cluster_condition;
use api::{ConditionStatus, MysqlCluster, MysqlClusterStatus};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Pod, Secret};
use policy::{BuiltinFailover, ClusterInfo, FailoverCandidate};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use topology::{Config, Credentials, Engine, EngineHandle, Event, NodeAddr, NodeState};
use tracing::{info, warn};

use super::{Resolver, view};
use crate::conditions;
use crate::desired::Names;
use crate::metrics::{ClusterLabels, Metrics, PluginLabels};
use crate::store::{self, EventRecord, MetadataPatch, ObjectKey, Store, StoreError};

/// Settings of the HA loops (operator-wide).
#[derive(Clone, Debug)]
pub struct HaConfig {
    /// The engine's knobs (probe interval, failure threshold, semi-sync...).
    pub engine: Config,
    /// How often pod labels and status are refreshed from a fresh probe of every node.
    pub status_interval: Duration,
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            engine: Config::default(),
            status_interval: Duration::from_secs(2),
        }
    }
}

/// Watch-backed caches the loops read instead of asking the API server every status
/// interval (production: the controller's reflectors). Without them (tests on the
/// in-memory store) each read goes to the store.
#[derive(Clone, Default)]
pub struct Caches {
    /// The operator's MySQL pods (label `app.kubernetes.io/managed-by`).
    pub pods: Option<kube::runtime::reflector::Store<Pod>>,
    /// Every MysqlCluster (the cluster controller's own store).
    pub clusters: Option<kube::runtime::reflector::Store<MysqlCluster>>,
}

/// Why a cluster's HA loop cannot start.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    /// Reading the operated Secret failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operated Secret is missing a key (the cluster reconciler creates it first).
    #[error("operated Secret {secret}: no {key}; the cluster reconciler fills it")]
    NoCredentials { secret: String, key: String },
}

/// The HA supervisor as the cluster reconciler sees it (object-safe, so the reconciler
/// does not carry the supervisor's type parameters).
pub trait HaSync: Send + Sync {
    /// Start, restart or keep the loop of `cluster` (stops it when the cluster is deleting).
    fn sync<'a>(&'a self, cluster: &'a MysqlCluster) -> BoxFuture<'a, Result<(), HaError>>;
    /// Stop the loop of `namespace/name`, if any.
    fn remove<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, ()>;
    /// Before the StatefulSet shrinks to `cluster`'s replicas: when the primary is one of
    /// the pods that go away, switch over to a pod that stays. `Err` names why it could
    /// not (the caller holds the scale-down and retries).
    fn before_scale_down<'a>(
        &'a self,
        cluster: &'a MysqlCluster,
    ) -> BoxFuture<'a, Result<Option<String>, String>>;
}

/// What a running loop was started with; a change restarts the loop (the engine rebuilds
/// its memory from one observation).
#[derive(Clone, Debug, PartialEq)]
struct Shape {
    replicas: i32,
    read_only: bool,
    mariadb: bool,
    version: String,
    max_lag_secs: f64,
    creds: [String; 4],
    modules: Vec<(String, Option<String>)>,
}

struct Running {
    shape: Shape,
    engine: Option<EngineHandle>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

struct Inner<S, R> {
    store: S,
    registry: Option<Arc<plugin::Registry>>,
    resolver: R,
    metrics: Metrics,
    config: HaConfig,
    caches: std::sync::OnceLock<Caches>,
    running: Mutex<HashMap<String, Running>>,
}

/// One HA loop per cluster; clone-cheap.
pub struct Supervisor<S, R> {
    inner: Arc<Inner<S, R>>,
}

impl<S, R> Clone for Supervisor<S, R> {
    fn clone(&self) -> Self {
        Supervisor {
            inner: self.inner.clone(),
        }
    }
}

fn cluster_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl<S: Store, R: Resolver> Supervisor<S, R> {
    /// `registry` supplies a cluster's `failover-candidate` chain (keyed
    /// `namespace/name`); without one, or for clusters without modules, the built-in rule
    /// decides.
    pub fn new(
        store: S,
        registry: Option<Arc<plugin::Registry>>,
        resolver: R,
        metrics: Metrics,
        config: HaConfig,
    ) -> Self {
        Supervisor {
            inner: Arc::new(Inner {
                store,
                registry,
                resolver,
                metrics,
                config,
                caches: std::sync::OnceLock::new(),
                running: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Read pods and clusters from these caches from now on (set once).
    pub fn use_caches(&self, caches: Caches) {
        let _ = self.inner.caches.set(caches);
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.inner.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Clusters with a running loop (`namespace/name`).
    pub fn clusters(&self) -> Vec<String> {
        let mut v: Vec<String> = self.running().keys().cloned().collect();
        v.sort();
        v
    }

    async fn credentials(&self, ns: &str, name: &str) -> Result<Credentials, HaError> {
        let secret_name = Names::of(name).operated_secret;
        let secret: Option<Secret> = store::get(&self.inner.store, ns, &secret_name).await?;
        let data = secret.and_then(|s| s.data).unwrap_or_default();
        let get = |key: &str| {
            data.get(key)
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| HaError::NoCredentials {
                    secret: format!("{ns}/{secret_name}"),
                    key: key.into(),
                })
        };
        Ok(Credentials {
            admin_user: get("OPERATOR_USER")?,
            admin_password: get("OPERATOR_PASSWORD")?,
            repl_user: get("REPLICATION_USER")?,
            repl_password: get("REPLICATION_PASSWORD")?,
        })
    }

    /// Start, restart (when replicas, readOnly, flavor, credentials or attached modules
    /// changed) or keep the loop of `cluster`.
    pub async fn sync(&self, cluster: &MysqlCluster) -> Result<(), HaError> {
        let ns = cluster.metadata.namespace.clone().unwrap_or_default();
        let name = cluster.metadata.name.clone().unwrap_or_default();
        let key = cluster_key(&ns, &name);
        if cluster.metadata.deletion_timestamp.is_some() || cluster.spec.effective_replicas() < 1 {
            self.remove(&ns, &name).await;
            return Ok(());
        }
        let creds = self.credentials(&ns, &name).await?;
        let spec = &cluster.spec;
        let modules = match &self.inner.registry {
            Some(r) if !spec.plugins.is_empty() => r
                .status(&key)
                .into_iter()
                .map(|a| (a.name, a.digest))
                .collect(),
            _ => Vec::new(),
        };
        let shape = Shape {
            replicas: spec.effective_replicas(),
            read_only: spec.read_only,
            mariadb: spec.effective_flavor() == api::Flavor::Mariadb,
            version: spec.effective_version().to_string(),
            max_lag_secs: spec
                .max_slave_latency
                .map_or(view::DEFAULT_MAX_LAG_SECS, |s| s as f64),
            creds: [
                creds.admin_user.clone(),
                creds.admin_password.clone(),
                creds.repl_user.clone(),
                creds.repl_password.clone(),
            ],
            modules,
        };
        if self
            .running()
            .get(&key)
            .is_some_and(|r| r.shape == shape && !r.task.is_finished())
        {
            return Ok(());
        }
        // The old loop (if any) is told to stop; the new one waits for it, not the caller.
        let previous = self.running().remove(&key);
        let after = futures::FutureExt::shared(futures::FutureExt::boxed(async move {
            if let Some(p) = previous {
                let _ = p.stop.send(());
                let _ = p.task.await;
                if let Some(e) = p.engine {
                    e.stopped().await;
                }
            }
        }));

        let nodes: Vec<NodeAddr> = (0..shape.replicas)
            .map(|i| {
                let pod = Names::of(&name).pod(i);
                let (host, port) = self.inner.resolver.resolve(&ns, &name, &pod, i as u32);
                NodeAddr {
                    name: pod,
                    ordinal: i as u32,
                    host,
                    port,
                }
            })
            .collect();
        let flavor = if shape.mariadb {
            flavor::Flavor::Mariadb
        } else {
            flavor::Flavor::Mysql
        };
        let engine = (!shape.read_only).then(|| {
            let hook: Arc<dyn FailoverCandidate> = match &self.inner.registry {
                Some(r) if !spec.plugins.is_empty() => {
                    Arc::new(r.failover_chain(&key, Arc::new(BuiltinFailover)))
                }
                _ => Arc::new(BuiltinFailover),
            };
            let info = ClusterInfo {
                name: name.clone(),
                namespace: ns.clone(),
                flavor: match spec.effective_flavor() {
                    api::Flavor::Mysql => policy::Flavor::Mysql,
                    api::Flavor::Percona => policy::Flavor::Percona,
                    api::Flavor::Mariadb => policy::Flavor::Mariadb,
                },
                version: shape.version.clone(),
                replicas: shape.replicas as u32,
                labels: cluster.metadata.labels.clone().unwrap_or_default(),
            };
            Engine::new(
                info,
                flavor,
                nodes.clone(),
                creds.clone(),
                self.inner.config.engine.clone(),
                hook,
            )
            .spawn_after(after.clone())
        });
        info!(cluster = %key, read_only = shape.read_only, nodes = nodes.len(), "HA loop started");
        let events = engine.as_ref().map(EngineHandle::subscribe);
        let handle = engine.clone();
        let lp = ClusterLoop {
            inner: self.inner.clone(),
            ns: ns.clone(),
            name: name.clone(),
            shape: shape.clone(),
            nodes,
            creds,
            flavor,
            engine,
            events,
            primary: None,
            failover: None,
            blocked: None,
            switched: HashSet::new(),
            fenced_ro: HashSet::new(),
        };
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(lp.run(stop_rx, after));
        self.running().insert(
            key,
            Running {
                shape,
                engine: handle,
                stop,
                task,
            },
        );
        Ok(())
    }

    /// See [`HaSync::before_scale_down`]. `Ok(Some(new primary))` after a switchover,
    /// `Ok(None)` when the primary stays (or no loop runs: nothing to move).
    pub async fn before_scale_down(
        &self,
        cluster: &MysqlCluster,
    ) -> Result<Option<String>, String> {
        let ns = cluster.metadata.namespace.clone().unwrap_or_default();
        let name = cluster.metadata.name.clone().unwrap_or_default();
        let key = cluster_key(&ns, &name);
        let keep = cluster.spec.effective_replicas();
        let Some(engine) = self.running().get(&key).and_then(|r| r.engine.clone()) else {
            return Ok(None);
        };
        let names = Names::of(&name);
        let Some(primary) = engine.snapshot().and_then(|s| s.memory.primary.clone()) else {
            return Ok(None);
        };
        if keep < 1 || (0..keep).any(|i| names.pod(i) == primary) {
            return Ok(None);
        }
        info!(cluster = %key, %primary, keep, "scale-down removes the primary: switchover first");
        let mut last = String::new();
        for i in 0..keep {
            let target = names.pod(i);
            match engine.switchover(Some(target.clone())).await {
                Ok(_) => return Ok(Some(target)),
                Err(e) => last = format!("{target}: {e}"),
            }
        }
        Err(format!(
            "the scale-down to {keep} removes the primary {primary}, and no remaining pod could take over ({last})"
        ))
    }

    /// Tell the loop of `namespace/name` to stop (its engine after the current round);
    /// does not wait for it.
    pub async fn remove(&self, namespace: &str, name: &str) {
        let r = self.running().remove(&cluster_key(namespace, name));
        if let Some(r) = r {
            let _ = r.stop.send(());
        }
    }

    /// Stop every loop (graceful shutdown): signal all, wait up to `grace` for them and
    /// their engines (a failover in progress may finish), then abort what is left.
    pub async fn stop_all(&self, grace: Duration) {
        let all: Vec<Running> = self.running().drain().map(|(_, r)| r).collect();
        let n = all.len();
        let mut tasks = Vec::with_capacity(n);
        let mut engines = Vec::new();
        for r in all {
            let _ = r.stop.send(());
            if let Some(e) = r.engine {
                e.stop();
                engines.push(e.stopped());
            }
            tasks.push(r.task);
        }
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let all_done = async {
            futures::future::join_all(tasks).await;
            futures::future::join_all(engines).await;
        };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            warn!(
                loops = n,
                ?grace,
                "HA loops still busy at shutdown: aborted"
            );
            for a in aborts {
                a.abort();
            }
        } else {
            info!(loops = n, "HA loops stopped");
        }
    }
}

impl<S: Store, R: Resolver> HaSync for Supervisor<S, R> {
    fn sync<'a>(&'a self, cluster: &'a MysqlCluster) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(Supervisor::sync(self, cluster))
    }
    fn remove<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(Supervisor::remove(self, namespace, name))
    }
    fn before_scale_down<'a>(
        &'a self,
        cluster: &'a MysqlCluster,
    ) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(Supervisor::before_scale_down(self, cluster))
    }
}

/// One cluster's loop.
struct ClusterLoop<S, R> {
    inner: Arc<Inner<S, R>>,
    ns: String,
    name: String,
    shape: Shape,
    nodes: Vec<NodeAddr>,
    creds: Credentials,
    flavor: flavor::Flavor,
    engine: Option<EngineHandle>,
    events: Option<broadcast::Receiver<Event>>,
    /// The primary last shown in the labels.
    primary: Option<String>,
    /// Why a failover is running, while one is.
    failover: Option<String>,
    /// Why the cluster has no writable primary (a vetoed or impossible failover).
    blocked: Option<String>,
    /// Pods (name + deletion time) a switchover was already run for.
    switched: HashSet<String>,
    /// Nodes made read-only under `spec.readOnly` (one Event each).
    fenced_ro: HashSet<String>,
}

impl<S: Store, R: Resolver> ClusterLoop<S, R> {
    /// Wait for `after` (the loop this one replaces), then refresh labels and status on
    /// every engine event and every status interval until `stop`; a stop cancels a
    /// refresh in progress (each write is idempotent and the next loop redoes it).
    async fn run(
        mut self,
        mut stop: oneshot::Receiver<()>,
        after: impl std::future::Future<Output = ()>,
    ) {
        tokio::select! {
            _ = &mut stop => {
                self.stop_engine();
                return;
            }
            _ = after => {}
        }
        let mut woken_by: Option<Event> = None;
        loop {
            let step = async {
                if let Some(e) = woken_by.take() {
                    self.on_event(e).await;
                }
                if let Err(e) = self.tick().await {
                    warn!(cluster = %self.cluster_key(), error = %e, "HA status update failed");
                }
            };
            tokio::select! {
                _ = &mut stop => break,
                _ = step => {}
            }
            // An engine event (a promotion, a switchover) ends the wait: the labels the
            // -master Service selects move now, not at the next status interval.
            let next_event = async {
                match self.events.as_mut() {
                    Some(rx) => loop {
                        match rx.recv().await {
                            Ok(e) => break Some(e),
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                warn!(missed = n, "HA events dropped");
                            }
                            Err(broadcast::error::RecvError::Closed) => {
                                std::future::pending::<()>().await;
                            }
                        }
                    },
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(self.inner.config.status_interval) => {}
                e = next_event => woken_by = e,
            }
        }
        self.stop_engine();
    }

    fn stop_engine(&self) {
        if let Some(e) = &self.engine {
            e.stop();
        }
        info!(cluster = %self.cluster_key(), "HA loop stopped");
    }

    fn cluster_key(&self) -> String {
        cluster_key(&self.ns, &self.name)
    }

    fn object_key(&self) -> ObjectKey {
        ObjectKey::of::<MysqlCluster>(&self.ns, &self.name)
    }

    async fn event(&self, warning: bool, reason: &str, message: String) {
        let rec = EventRecord {
            regarding: self.object_key(),
            type_: if warning { "Warning" } else { "Normal" }.into(),
            reason: reason.into(),
            message,
        };
        if let Err(e) = self.inner.store.create_event(rec).await {
            warn!(cluster = %self.cluster_key(), error = %e, "recording an Event failed");
        }
    }

    fn labels(&self) -> ClusterLabels {
        ClusterLabels {
            cluster: self.cluster_key(),
        }
    }

    /// Turn one engine event into status flags, metrics and a Kubernetes Event.
    async fn on_event(&mut self, e: Event) {
        let text = e.to_string();
        match e {
            Event::PrimaryElected { .. } => {
                self.blocked = None;
                self.event(false, "PrimaryElected", text).await;
            }
            Event::PrimaryUnreachable { failures, .. } => {
                if failures == 1 {
                    self.event(true, "PrimaryUnreachable", text).await;
                }
            }
            // Without an old primary this is the first election, not a failover.
            Event::FailoverStarted {
                old_primary: None, ..
            } => {}
            Event::FailoverStarted { reason, .. } => {
                self.failover = Some(reason);
                self.event(true, "FailoverStarted", text).await;
            }
            Event::Promoted {
                old_primary: None, ..
            } => {
                self.failover = None;
                self.blocked = None;
                self.event(false, "PrimaryElected", text).await;
            }
            Event::Promoted { .. } => {
                self.failover = None;
                self.blocked = None;
                self.inner
                    .metrics
                    .failovers
                    .get_or_create(&self.labels())
                    .inc();
                self.event(true, "Failover", text).await;
            }
            Event::FailoverBlocked { reason } => {
                self.failover = None;
                if reason.contains("hook failed") {
                    self.inner
                        .metrics
                        .plugin_failures
                        .get_or_create(&PluginLabels {
                            module: "failover-candidate-chain".into(),
                            hook: "failover-candidate".into(),
                        })
                        .inc();
                    self.event(true, conditions::PLUGIN_FAILED, reason.clone())
                        .await;
                }
                self.blocked = Some(reason);
                self.event(true, "FailoverBlocked", text).await;
            }
            Event::Fenced { .. } | Event::SplitBrainFenced { .. } => {
                self.event(true, "Fenced", text).await;
            }
            Event::ErrantReplica { .. } => self.event(true, "ErrantReplica", text).await,
            Event::Repointed { .. } => self.event(false, "Repointed", text).await,
            Event::SwitchoverDone { .. } => {
                self.inner
                    .metrics
                    .switchovers
                    .get_or_create(&self.labels())
                    .inc();
                self.event(false, "Switchover", text).await;
            }
            Event::ActionFailed { .. } => self.event(true, "HAActionFailed", text).await,
        }
    }

    async fn observe(&self) -> Vec<NodeState> {
        let timeout = self.inner.config.engine.probe_timeout;
        futures::future::join_all(self.nodes.iter().map(|n| {
            topology::observe::observe_node(self.flavor, n, &self.nodes, &self.creds, timeout)
        }))
        .await
    }

    /// `spec.readOnly`: make every reachable writable node read-only.
    async fn enforce_read_only(&mut self, observed: &[NodeState]) {
        for n in observed.iter().filter(|n| n.writable()) {
            let Some(addr) = self.nodes.iter().find(|a| a.name == n.name) else {
                continue;
            };
            let timeout = self.inner.config.engine.probe_timeout;
            let res = match topology::observe::connect(addr, &self.creds, timeout).await {
                Ok(mut c) => {
                    use mysql_async::prelude::Queryable;
                    let r = c
                        .query_drop(self.flavor.set_read_only())
                        .await
                        .map_err(|e| e.to_string());
                    let _ = c.disconnect().await;
                    r
                }
                Err(e) => Err(e),
            };
            match res {
                Ok(()) if self.fenced_ro.insert(n.name.clone()) => {
                    self.event(
                        false,
                        "ReadOnly",
                        format!("{} set read-only (spec.readOnly)", n.name),
                    )
                    .await;
                }
                Ok(()) => {}
                Err(e) => warn!(node = %n.name, error = %e, "could not set read_only"),
            }
        }
    }

    async fn tick(&mut self) -> Result<(), StoreError> {
        let mut pending = Vec::new();
        if let Some(rx) = self.events.as_mut() {
            loop {
                match rx.try_recv() {
                    Ok(e) => pending.push(e),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        warn!(missed = n, "HA events dropped");
                    }
                    Err(_) => break,
                }
            }
        }
        for e in pending {
            self.on_event(e).await;
        }

        // With an engine, its latest round is the observation (no second probe of every
        // node); before its first round there is nothing to show yet.
        let (observed, primary) = match &self.engine {
            Some(e) => match e.snapshot() {
                Some(s) => (s.nodes.clone(), s.memory.primary.clone()),
                None => return Ok(()),
            },
            None => {
                let observed = self.observe().await;
                self.enforce_read_only(&observed).await;
                let primary = view::replication_source(&observed).or_else(|| self.primary.clone());
                (observed, primary)
            }
        };
        self.primary = primary.clone();
        let views = view::nodes(
            &observed,
            primary.as_deref(),
            self.shape.read_only,
            self.shape.max_lag_secs,
        );

        // Labels; and the primary pod going away on purpose → switchover first.
        let store = &self.inner.store;
        let cache = self.inner.caches.get().and_then(|c| c.pods.as_ref());
        let listed: Vec<Pod> = match cache {
            Some(_) => Vec::new(),
            None => {
                store::list(store, &self.ns, &render::names::selector_labels(&self.name)).await?
            }
        };
        for v in &views {
            let cached = cache.and_then(|c| {
                c.get(&kube::runtime::reflector::ObjectRef::new(&v.pod).within(&self.ns))
            });
            let Some(pod) = cached.as_deref().or_else(|| {
                listed
                    .iter()
                    .find(|p| p.metadata.name.as_deref() == Some(v.pod.as_str()))
            }) else {
                continue;
            };
            if v.role == view::MASTER
                && let Some(ts) = &pod.metadata.deletion_timestamp
                && self.switched.insert(format!("{}@{}", v.pod, ts.0))
            {
                self.switchover(&v.pod).await;
                return Ok(());
            }
            let want = v.labels();
            let have = pod.metadata.labels.clone().unwrap_or_default();
            let changes: BTreeMap<String, Option<String>> = want
                .into_iter()
                .filter(|(k, val)| have.get(k) != Some(val))
                .map(|(k, val)| (k, Some(val)))
                .collect();
            if !changes.is_empty() {
                store
                    .patch_metadata(
                        &ObjectKey::of::<Pod>(&self.ns, &v.pod),
                        &MetadataPatch {
                            labels: changes,
                            ..Default::default()
                        },
                    )
                    .await?;
            }
        }
        self.write_status(&views).await
    }

    async fn switchover(&self, pod: &str) {
        let Some(engine) = &self.engine else {
            return;
        };
        info!(cluster = %self.cluster_key(), %pod, "primary pod is being deleted: switchover");
        self.event(
            false,
            "SwitchoverStarted",
            format!("primary pod {pod} is being deleted: switching over first"),
        )
        .await;
        // On success the engine's SwitchoverDone reaches the subscription (Event, metric).
        match engine.switchover(None).await {
            Ok(_) => {}
            Err(e) => {
                self.event(
                    true,
                    "SwitchoverFailed",
                    format!("switchover away from {pod} failed: {e}"),
                )
                .await;
            }
        }
    }

    async fn write_status(&self, views: &[view::NodeView]) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let cached = self
            .inner
            .caches
            .get()
            .and_then(|c| c.clusters.as_ref())
            .map(|c| {
                c.get(&kube::runtime::reflector::ObjectRef::new(&self.name).within(&self.ns))
                    .map(|c| (*c).clone())
            });
        let cluster = match cached {
            Some(c) => c,
            None => store::get::<MysqlCluster, _>(store, &self.ns, &self.name).await?,
        };
        let Some(cluster) = cluster else {
            return Ok(());
        };
        let old = cluster.status.clone().unwrap_or_default();
        let mut st: MysqlClusterStatus = old.clone();
        let names = render::names::Names::new(&self.name);
        st.nodes = view::node_statuses(
            views,
            |pod| {
                let ordinal = self
                    .nodes
                    .iter()
                    .find(|n| n.name == pod)
                    .map_or(0, |n| n.ordinal);
                names.pod_host(ordinal, &self.ns)
            },
            &old.nodes,
        );
        st.ready_nodes = views.iter().filter(|v| v.healthy).count() as i32;
        match &self.failover {
            Some(reason) => conditions::set(
                &mut st,
                cluster_condition::FAILOVER_IN_PROGRESS,
                ConditionStatus::True,
                "FailoverStarted",
                reason,
            ),
            None => conditions::set(
                &mut st,
                cluster_condition::FAILOVER_IN_PROGRESS,
                ConditionStatus::False,
                "NoFailover",
                "no failover running",
            ),
        }
        conditions::read_only(&mut st, self.shape.read_only);
        // Once nodes are reported, `Ready` is this loop's alone (the reconciler's verdict
        // from StatefulSet readiness stops there): one writer, no tug of war.
        let primary_ok = views.iter().any(|v| v.role == view::MASTER && v.healthy);
        let healthy = format!("{}/{} nodes healthy", st.ready_nodes, self.shape.replicas);
        let (value, reason, message) = if let Some(reason) = &self.blocked {
            (
                ConditionStatus::False,
                conditions::FAILOVER_BLOCKED,
                reason.clone(),
            )
        } else if !primary_ok {
            (
                ConditionStatus::False,
                conditions::NO_PRIMARY,
                format!("no healthy primary; {healthy}"),
            )
        } else if st.ready_nodes >= self.shape.replicas {
            (ConditionStatus::True, conditions::CLUSTER_READY, healthy)
        } else {
            (ConditionStatus::False, conditions::NODES_NOT_READY, healthy)
        };
        conditions::set(&mut st, cluster_condition::READY, value, reason, &message);
        if st != old {
            let v = serde_json::to_value(&st).map_err(|e| StoreError::Serde {
                kind: "MysqlCluster".into(),
                namespace: self.ns.clone(),
                name: self.name.clone(),
                reason: e.to_string(),
            })?;
            store.patch_status(&self.object_key(), v).await?;
        }
        Ok(())
    }
}
