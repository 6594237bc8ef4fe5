//! The MysqlCluster reconciler: clear presslabs' orchestrator finalizers, check the user
//! Secret, resolve policy modules, render (through the [`Renderer`] seam, `crates/render` in
//! production), and server-side apply only what differs (owner references, revision
//! annotations, immutable StatefulSet fields of adopted clusters kept), prune the PDB and
//! scaled-down PVCs, write status only when it changed, and keep the cluster's HA loop in
//! step ([`crate::ha`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use api::status::cluster_condition;
use api::{ConditionStatus, MysqlCluster, MysqlClusterStatus};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use serde::Serialize;
use serde_json::Value;
use tracing::{info, instrument, warn};

use crate::conditions::{self, PLUGIN_FAILED};
use crate::desired::{self, Names, RenderInputs, Renderer};
use crate::ha::HaSync;
use crate::metrics::{Metrics, PluginLabels};
use crate::plugins::{self, Attached, Change};
use crate::secret;
use crate::store::{self, EventRecord, MetadataPatch, ObjectKey, Store, StoreError};

/// presslabs' orchestrator finalizer (bitpoke/mysql-operator `OrchestratorFinalizer`).
pub const ORCHESTRATOR_FINALIZER: &str = "mysql.presslabs.org/registered-in-orchestrator";
/// The same finalizer's name before presslabs renamed it (`OldOrchestratorFinalizer`).
pub const OLD_ORCHESTRATOR_FINALIZER: &str = "OrchestratorFinalizer";

/// How often a healthy cluster is looked at again without an event.
pub const RESYNC: Duration = Duration::from_secs(300);
/// How soon a cluster waiting on the user (missing Secret) is looked at again.
pub const WAIT_USER: Duration = Duration::from_secs(30);

/// Operator-wide settings of the cluster reconciler.
#[derive(Clone, Debug)]
pub struct Options {
    /// Image of the init/agent containers when a cluster sets no `sidecarImage`.
    pub sidecar_image: String,
    /// Delete the data PVCs of ordinals removed by a scale-down (presslabs did).
    pub cleanup_pvcs: bool,
    /// Operator-wide default policy modules (`--default-plugins`), attached to clusters
    /// that list no module of the same name (see `plugins::with_defaults`).
    pub default_plugins: Vec<api::PluginSpec>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sidecar_image: "mysql-operator:latest".into(),
            cleanup_pvcs: true,
            default_plugins: Vec::new(),
        }
    }
}

/// What a reconcile decided about the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Look again after this long (or on the next watch event).
    RequeueAfter(Duration),
    /// The object is gone; nothing to do.
    Gone,
}

/// Why a reconcile failed; retried with exponential backoff by the caller.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A Kubernetes operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Status or an object could not be serialised.
    #[error("serialising {what}: {reason}")]
    Serialize { what: String, reason: String },
}

/// Everything the cluster reconciler needs; one per operator, shared by all workers.
pub struct ClusterReconciler<S, R> {
    /// The API server (or the in-memory one).
    pub store: S,
    /// Spec → objects.
    pub renderer: R,
    /// Operator-wide settings.
    pub options: Options,
    /// Modules attached per cluster (swap detection).
    pub attached: Attached,
    /// Plugin load/failure counters.
    pub metrics: Metrics,
    /// The HA supervisor, told about every reconciled cluster (none: no HA loops).
    pub ha: Option<Arc<dyn HaSync>>,
    /// The Wasm host's module registry, synced with each cluster's resolved modules.
    pub registry: Option<Arc<plugin::Registry>>,
}

fn ser<T: Serialize>(what: &str, v: &T) -> Result<Value, ReconcileError> {
    serde_json::to_value(v).map_err(|e| ReconcileError::Serialize {
        what: what.into(),
        reason: e.to_string(),
    })
}

/// The controller owner reference every object of `cluster` carries (GC on delete).
pub fn owner_reference(cluster: &MysqlCluster) -> OwnerReference {
    OwnerReference {
        api_version: api::API_VERSION.into(),
        kind: "MysqlCluster".into(),
        name: cluster.metadata.name.clone().unwrap_or_default(),
        uid: cluster.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

impl<S: Store, R: Renderer> ClusterReconciler<S, R> {
    /// A reconciler with the given store, renderer and options.
    pub fn new(store: S, renderer: R, options: Options) -> Self {
        Self {
            store,
            renderer,
            options,
            attached: Attached::default(),
            metrics: Metrics::default(),
            ha: None,
            registry: None,
        }
    }

    async fn event(
        &self,
        key: &ObjectKey,
        warning: bool,
        reason: &str,
        message: String,
    ) -> Result<(), StoreError> {
        let type_ = if warning { "Warning" } else { "Normal" };
        self.store
            .create_event(EventRecord {
                regarding: key.clone(),
                type_: type_.into(),
                reason: reason.into(),
                message,
            })
            .await
    }

    /// Apply `obj` (with the cluster's owner reference unless `owned` is false) unless the
    /// stored object already has every desired field. Returns whether it wrote.
    async fn ensure<K>(
        &self,
        mut obj: K,
        owner: Option<&OwnerReference>,
    ) -> Result<bool, ReconcileError>
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        if let Some(o) = owner {
            obj.meta_mut().owner_references = Some(vec![o.clone()]);
        }
        let (key, value) = store::to_apply_value(&obj)?;
        if let Some(current) = self.store.get_raw(&key).await?
            && store::is_subset(&value, &current)
        {
            return Ok(false);
        }
        self.store.apply_raw(&key, value).await?;
        Ok(true)
    }

    /// Reconcile cluster `namespace/name` once.
    #[instrument(skip(self), fields(cluster = %format!("{namespace}/{name}")))]
    pub async fn reconcile(&self, namespace: &str, name: &str) -> Result<Outcome, ReconcileError> {
        let key = ObjectKey::of::<MysqlCluster>(namespace, name);
        let Some(mut cluster) = store::get::<MysqlCluster, _>(&self.store, namespace, name).await?
        else {
            self.attached.remove(&format!("{namespace}/{name}"));
            if let Some(r) = &self.registry {
                r.remove(&format!("{namespace}/{name}"));
            }
            if let Some(ha) = &self.ha {
                ha.remove(namespace, name).await;
            }
            return Ok(Outcome::Gone);
        };

        // presslabs' finalizer would block deletion forever without orchestrator.
        let finalizers = cluster.metadata.finalizers.clone().unwrap_or_default();
        if finalizers
            .iter()
            .any(|f| f == ORCHESTRATOR_FINALIZER || f == OLD_ORCHESTRATOR_FINALIZER)
        {
            let kept: Vec<String> = finalizers
                .into_iter()
                .filter(|f| f != ORCHESTRATOR_FINALIZER && f != OLD_ORCHESTRATOR_FINALIZER)
                .collect();
            self.store
                .patch_metadata(
                    &key,
                    &MetadataPatch {
                        finalizers: Some(kept),
                        ..Default::default()
                    },
                )
                .await?;
            info!("removed presslabs' orchestrator finalizer");
        }
        if cluster.metadata.deletion_timestamp.is_some() {
            self.attached.remove(&format!("{namespace}/{name}"));
            if let Some(ha) = &self.ha {
                ha.remove(namespace, name).await;
            }
            return Ok(Outcome::Gone);
        }

        let old_status = cluster.status.clone().unwrap_or_default();
        let mut status = old_status.clone();

        // The user Secret must exist before anything is applied: a cluster without its
        // root password would start half-configured.
        if let Err((reason, message)) = self.check_user_secret(&cluster, namespace).await? {
            let was = old_status
                .condition(cluster_condition::READY)
                .map(|c| c.reason.clone());
            conditions::set(
                &mut status,
                cluster_condition::READY,
                ConditionStatus::False,
                reason,
                &message,
            );
            if was.as_deref() != Some(reason) {
                self.event(&key, true, reason, message.clone()).await?;
            }
            self.write_status(&key, &old_status, &status).await?;
            warn!(%message, "waiting for the user Secret");
            return Ok(Outcome::RequeueAfter(WAIT_USER));
        }

        // Policy modules: failures are reported, the cluster is still reconciled.
        cluster.spec.plugins =
            plugins::with_defaults(&cluster.spec.plugins, &self.options.default_plugins);
        let (resolved, failed) =
            plugins::resolve(&self.store, namespace, &cluster.spec.plugins).await?;
        if let Some(r) = self.registry.clone() {
            // Compiling a module takes from milliseconds to seconds: off the async workers.
            let specs = plugins::attachments(&cluster.spec.plugins, &resolved);
            let k = format!("{namespace}/{name}");
            if let Err(e) = tokio::task::spawn_blocking(move || r.sync(&k, &specs)).await {
                warn!(error = %e, "syncing the policy module registry");
            }
        }
        for change in self
            .attached
            .update(&format!("{namespace}/{name}"), &resolved)
        {
            let module = match &change {
                Change::Loaded { module, .. } | Change::Swapped { module, .. } => module.clone(),
            };
            self.metrics
                .plugin_loads
                .get_or_create(&PluginLabels {
                    module,
                    hook: "attach".into(),
                })
                .inc();
            let msg = match change {
                Change::Loaded { module, sha256 } => {
                    format!("module {module} loaded (sha256 {sha256})")
                }
                Change::Swapped { module, from, to } => {
                    format!("module {module} swapped: sha256 {from} -> {to}")
                }
            };
            self.event(&key, false, "PluginLoaded", msg).await?;
        }
        self.plugin_condition(&key, &old_status, &mut status, &cluster, &failed)
            .await?;

        let names = Names::of(name);
        let owner = owner_reference(&cluster);

        // Operated Secret: keep every existing value, generate only what is missing.
        let existing_secret: Option<Secret> =
            store::get(&self.store, namespace, &names.operated_secret).await?;
        let secret_data = secret::fill(existing_secret.as_ref().and_then(|s| s.data.as_ref()));
        let secret_rev = desired::digest_map(secret_data.iter().map(|(k, v)| (k, v.0.as_slice())));

        let inputs = RenderInputs {
            sidecar_image: self.options.sidecar_image.clone(),
            secret_rev,
            verified_plugins: resolved
                .iter()
                .map(|m| (m.name.clone(), m.sha256.clone()))
                .collect(),
        };
        let mut want = match self.renderer.render(&cluster, &inputs) {
            Ok(d) => d,
            Err(e) => {
                let msg = e.to_string();
                conditions::set(
                    &mut status,
                    cluster_condition::READY,
                    ConditionStatus::False,
                    "InvalidSpec",
                    &msg,
                );
                if old_status
                    .condition(cluster_condition::READY)
                    .map(|c| c.reason.as_str())
                    != Some("InvalidSpec")
                {
                    self.event(&key, true, "InvalidSpec", msg).await?;
                }
                self.write_status(&key, &old_status, &status).await?;
                return Ok(Outcome::RequeueAfter(WAIT_USER));
            }
        };

        // Adoption: the immutable fields of an existing StatefulSet are kept as they are.
        let existing_sts: Option<StatefulSet> =
            store::get(&self.store, namespace, &names.statefulset).await?;
        if let Some(cur) = existing_sts.as_ref().map(|s| &s.spec) {
            let spec = &mut want.stateful_set.spec;
            spec.selector = cur.selector.clone();
            spec.service_name = cur.service_name.clone();
            spec.volume_claim_templates = cur.volume_claim_templates.clone();
        }

        // The rendered Secret has placeholders only: the live passwords replace them.
        let mut operated = want.operated_secret;
        operated.string_data = None;
        operated.data = Some(secret_data);

        let mut wrote = Vec::new();
        if self.ensure(operated, Some(&owner)).await? {
            wrote.push("Secret");
        }
        if self.ensure(want.config_map, Some(&owner)).await? {
            wrote.push("ConfigMap");
        }
        for svc in want.services {
            // The headless `mysql` Service is shared by every cluster of the namespace.
            let own = (svc.metadata.name.as_deref() != Some(names.headless_service.as_str()))
                .then_some(&owner);
            if self.ensure(svc, own).await? {
                wrote.push("Service");
            }
        }
        // A scale-down that removes the primary's pod switches over first, so the pod
        // goes away as a replica (no failover, no acknowledged write at risk).
        let shrinks = existing_sts
            .as_ref()
            .and_then(|s| s.spec.replicas)
            .is_some_and(|have| have > cluster.spec.effective_replicas());
        if shrinks && let Some(ha) = &self.ha {
            match ha.before_scale_down(&cluster).await {
                Ok(Some(to)) => {
                    self.event(
                        &key,
                        false,
                        "SwitchoverBeforeScaleDown",
                        format!(
                            "the scale-down removes the primary's pod: {to} is the primary now"
                        ),
                    )
                    .await?;
                }
                Ok(None) => {}
                Err(why) => {
                    self.event(&key, true, "ScaleDownHeld", why.clone()).await?;
                    warn!(%why, "scale-down held");
                    return Ok(Outcome::RequeueAfter(WAIT_USER));
                }
            }
        }
        if self.ensure(want.stateful_set, Some(&owner)).await? {
            wrote.push("StatefulSet");
        }
        match want.pdb {
            Some(pdb) => {
                if self.ensure(pdb, Some(&owner)).await? {
                    wrote.push("PodDisruptionBudget");
                }
            }
            None => {
                let k = ObjectKey::of::<PodDisruptionBudget>(namespace, &names.pdb);
                if self.store.get_raw(&k).await?.is_some() {
                    self.store.delete(&k).await?;
                    wrote.push("PodDisruptionBudget(deleted)");
                }
            }
        }
        if !wrote.is_empty() {
            info!(objects = ?wrote, "applied");
        }

        if self.options.cleanup_pvcs {
            self.cleanup_pvcs(&cluster, namespace, &names).await?;
        }

        // Status: readiness from the StatefulSet; nodes are the HA loop's.
        let sts: Option<StatefulSet> =
            store::get(&self.store, namespace, &names.statefulset).await?;
        let ready = sts
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        let replicas = cluster.spec.effective_replicas();
        // Until the HA loop reports nodes, readyNodes and Ready come from the StatefulSet;
        // from then on both are the HA loop's alone (one writer per field).
        if status.nodes.is_empty() {
            status.ready_nodes = ready;
            let msg = format!("{ready}/{replicas} nodes ready");
            let (value, reason) = if ready < replicas {
                (ConditionStatus::False, "StatefulSetNotReady")
            } else {
                (ConditionStatus::True, "StatefulSetReady")
            };
            conditions::set(&mut status, cluster_condition::READY, value, reason, &msg);
        }
        conditions::read_only(&mut status, cluster.spec.read_only);
        self.write_status(&key, &old_status, &status).await?;

        if let Some(ha) = &self.ha
            && let Err(e) = ha.sync(&cluster).await
        {
            warn!(error = %e, "HA loop not started");
        }
        Ok(Outcome::RequeueAfter(RESYNC))
    }

    /// `Ok(Ok(()))` when the user Secret has `ROOT_PASSWORD`; `Ok(Err((reason, message)))`
    /// naming the fix otherwise.
    async fn check_user_secret(
        &self,
        cluster: &MysqlCluster,
        ns: &str,
    ) -> Result<Result<(), (&'static str, String)>, StoreError> {
        let name = &cluster.spec.secret_name;
        let s: Option<Secret> = store::get(&self.store, ns, name).await?;
        Ok(match s {
            None => Err((
                "SecretNotFound",
                format!(
                    "Secret {ns}/{name} (spec.secretName) not found; create it with a ROOT_PASSWORD key"
                ),
            )),
            Some(s) => {
                let has = |k: &str| {
                    s.data
                        .as_ref()
                        .is_some_and(|d| d.get(k).is_some_and(|v| !v.0.is_empty()))
                        || s.string_data
                            .as_ref()
                            .is_some_and(|d| d.get(k).is_some_and(|v| !v.is_empty()))
                };
                if has("ROOT_PASSWORD") {
                    Ok(())
                } else {
                    Err((
                        "SecretInvalid",
                        format!(
                            "Secret {ns}/{name} (spec.secretName) has no ROOT_PASSWORD; add the key"
                        ),
                    ))
                }
            }
        })
    }

    async fn plugin_condition(
        &self,
        key: &ObjectKey,
        old: &MysqlClusterStatus,
        status: &mut MysqlClusterStatus,
        cluster: &MysqlCluster,
        failed: &[plugins::PluginFailure],
    ) -> Result<(), StoreError> {
        if cluster.spec.plugins.is_empty() {
            conditions::remove(status, PLUGIN_FAILED);
            return Ok(());
        }
        if failed.is_empty() {
            conditions::set(
                status,
                PLUGIN_FAILED,
                ConditionStatus::False,
                "PluginsLoaded",
                "all modules attached",
            );
            return Ok(());
        }
        let message = failed
            .iter()
            .map(|f| format!("module {}: {}", f.module, f.reason))
            .collect::<Vec<_>>()
            .join("; ");
        let before = old.condition(PLUGIN_FAILED).map(|c| c.message.clone());
        conditions::set(
            status,
            PLUGIN_FAILED,
            ConditionStatus::True,
            "PluginFailed",
            &message,
        );
        if before.as_deref() != Some(message.as_str()) {
            for f in failed {
                self.metrics
                    .plugin_failures
                    .get_or_create(&PluginLabels {
                        module: f.module.clone(),
                        hook: "attach".into(),
                    })
                    .inc();
                warn!(module = %f.module, reason = %f.reason, "policy module not attached");
                self.event(
                    key,
                    true,
                    "PluginFailed",
                    format!("module {}: {}", f.module, f.reason),
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn write_status(
        &self,
        key: &ObjectKey,
        old: &MysqlClusterStatus,
        new: &MysqlClusterStatus,
    ) -> Result<(), ReconcileError> {
        if old != new {
            self.store.patch_status(key, ser("status", new)?).await?;
        }
        Ok(())
    }

    /// Delete `data-<c>-mysql-<n>` for n >= replicas once pod n is gone (presslabs'
    /// behaviour after a scale-down).
    async fn cleanup_pvcs(
        &self,
        cluster: &MysqlCluster,
        ns: &str,
        names: &Names,
    ) -> Result<(), StoreError> {
        let replicas = cluster.spec.effective_replicas();
        let cluster_name = cluster.metadata.name.clone().unwrap_or_default();
        let sel = BTreeMap::from([(render::names::CLUSTER_LABEL.to_string(), cluster_name)]);
        let pvcs: Vec<PersistentVolumeClaim> = store::list(&self.store, ns, &sel).await?;
        let prefix = format!("data-{}-", names.statefulset);
        for pvc in pvcs {
            let Some(pvc_name) = pvc.metadata.name.as_deref() else {
                continue;
            };
            let Some(ordinal) = pvc_name
                .strip_prefix(&prefix)
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            if ordinal < replicas || pvc.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let pod = names.pod(ordinal);
            if store::get::<Pod, _>(&self.store, ns, &pod).await?.is_some() {
                continue;
            }
            self.store
                .delete(&ObjectKey::of::<PersistentVolumeClaim>(ns, pvc_name))
                .await?;
            info!(pvc = pvc_name, "deleted the PVC of a removed node");
        }
        Ok(())
    }
}
