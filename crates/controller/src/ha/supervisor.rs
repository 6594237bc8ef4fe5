//! [`Supervisor`]: one HA loop per cluster. Each loop owns the cluster's
//! `topology::Engine` (none under `spec.readOnly`), turns the engine's events into
//! Kubernetes Events and metrics, turns the engine's per-round snapshot into the pod
//! labels and `status.nodes` (probing the nodes itself only when no engine runs), and
//! asks for a switchover when the primary pod is being deleted (the loop itself is
//! `cluster_loop::ClusterLoop`; this module starts, restarts and stops loops).
//!
//! The reconciler's calls never wait on MySQL or DNS: starting, restarting and stopping
//! a loop only signal it. A restarted loop's engine starts once the old one has ended, so
//! two engines never act on one cluster at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::MysqlCluster;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Pod, Secret};
use policy::{BuiltinFailover, ClusterInfo, FailoverCandidate};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use topology::{Config, Credentials, Engine, EngineHandle, NodeAddr};
use tracing::{info, warn};

use super::cluster_loop::ClusterLoop;
use super::{Resolver, view};
use crate::desired::Names;
use crate::metrics::Metrics;
use crate::store::{self, Store, StoreError};

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
pub(super) struct Shape {
    pub(super) replicas: i32,
    pub(super) read_only: bool,
    pub(super) mariadb: bool,
    pub(super) version: String,
    pub(super) max_lag_secs: f64,
    pub(super) creds: [String; 4],
    pub(super) modules: Vec<(String, Option<String>)>,
}

struct Running {
    shape: Shape,
    engine: Option<EngineHandle>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

pub(super) struct Inner<S, R> {
    pub(super) store: S,
    pub(super) registry: Option<Arc<plugin::Registry>>,
    pub(super) resolver: R,
    pub(super) metrics: Metrics,
    pub(super) config: HaConfig,
    pub(super) caches: std::sync::OnceLock<Caches>,
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

pub(super) fn cluster_key(namespace: &str, name: &str) -> String {
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
