//! [`ClusterLoop`]: one cluster's HA loop as the [`Supervisor`](super::Supervisor) runs
//! it — engine events become Kubernetes Events and metrics; the engine's snapshot (or,
//! without an engine under `spec.readOnly`, its own probe) becomes the pod labels,
//! `status.nodes`, `readyNodes` and the `Ready`/`FailoverInProgress` conditions; a primary
//! pod being deleted gets a switchover first.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use api::status::cluster_condition;
use api::{ConditionStatus, MysqlCluster, MysqlClusterStatus};
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{broadcast, oneshot};
use topology::{Credentials, EngineHandle, Event, NodeAddr, NodeState};
use tracing::{info, warn};

use super::supervisor::{Inner, Shape, cluster_key};
use super::{Resolver, view};
use crate::conditions;
use crate::metrics::{ClusterLabels, PluginLabels};
use crate::store::{self, EventRecord, MetadataPatch, ObjectKey, Store, StoreError};

/// One cluster's loop.
pub(super) struct ClusterLoop<S, R> {
    pub(super) inner: Arc<Inner<S, R>>,
    pub(super) ns: String,
    pub(super) name: String,
    pub(super) shape: Shape,
    pub(super) nodes: Vec<NodeAddr>,
    pub(super) creds: Credentials,
    pub(super) flavor: flavor::Flavor,
    pub(super) engine: Option<EngineHandle>,
    pub(super) events: Option<broadcast::Receiver<Event>>,
    /// The primary last shown in the labels.
    pub(super) primary: Option<String>,
    /// Why a failover is running, while one is.
    pub(super) failover: Option<String>,
    /// Why the cluster has no writable primary (a vetoed or impossible failover).
    pub(super) blocked: Option<String>,
    /// Pods (name + deletion time) a switchover was already run for.
    pub(super) switched: HashSet<String>,
    /// Nodes made read-only under `spec.readOnly` (one Event each).
    pub(super) fenced_ro: HashSet<String>,
}

impl<S: Store, R: Resolver> ClusterLoop<S, R> {
    /// Wait for `after` (the loop this one replaces), then refresh labels and status on
    /// every engine event and every status interval until `stop`; a stop cancels a
    /// refresh in progress (each write is idempotent and the next loop redoes it).
    pub(super) async fn run(
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
