//! The `MysqlBackup` reconciler: pin the backup's URL and Secret (presslabs wrote its
//! defaults into the spec too), create its Job once, mirror the Job's final condition as
//! `Complete` or `Failed` with the Job's reason and message, and with
//! `remoteDeletePolicy: delete` hold the object with a finalizer until the stored backup
//! is deleted from the bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use api::backup::{BackupCondition, backup_condition};
use api::cluster::DeletePolicy;
use api::{ConditionStatus, MysqlBackup, MysqlBackupStatus, MysqlCluster};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::job::{backup_job, job_name};
use super::{
    BackupError, REMOTE_DELETE_FINALIZER, RemoteStore, check_url, epoch_seconds, k8s_time,
};
use crate::metrics::{ClusterLabels, Metrics};
use crate::store::{self, EventRecord, MetadataPatch, ObjectKey, Store};

/// What the runtime does after a backup reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupOutcome {
    /// The backup is gone (or its deletion finished): nothing to do until it changes.
    Gone,
    /// The backup reached `Complete` or `Failed`.
    Done,
    /// The Job is running (or the cluster is missing): look again after this long.
    Waiting(Duration),
}

/// Reconciles `MysqlBackup` objects.
pub struct BackupReconciler<S, C, R> {
    /// The API server.
    pub store: S,
    /// Transition times of the conditions.
    pub clock: C,
    /// The object store (remote delete, sizes).
    pub remote: R,
    /// Image of the backup Job (the operator's sidecar image).
    pub image: String,
    /// Backup durations and sizes are recorded here.
    pub metrics: Metrics,
}

/// How long a running backup waits before the next look (Job changes also wake it).
const POLL: Duration = Duration::from_secs(30);

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The stored backup's URL: `spec.backupURL` (or the deprecated URI), else the cluster's
/// `backupURL` plus `<backup>.xbackup.zst` (what `mysql-operator backup` writes by
/// default). `Err` names what is wrong.
pub fn resolve_url(backup: &MysqlBackup, cluster: &MysqlCluster) -> Result<String, String> {
    if let Some(u) =
        non_empty(&backup.spec.backup_url).or_else(|| non_empty(&backup.spec.backup_uri))
    {
        check_url("spec.backupURL", &u)?;
        return Ok(u);
    }
    let prefix = non_empty(&cluster.spec.backup_url).ok_or_else(|| {
        format!(
            "neither the backup nor cluster {} sets backupURL; set spec.backupURL on one of them",
            cluster.name_any()
        )
    })?;
    check_url("backupURL", &prefix)?;
    Ok(format!(
        "{}/{}.xbackup.zst",
        prefix.trim_end_matches('/'),
        backup.name_any()
    ))
}

/// The Secret with the storage credentials: the backup's, else the cluster's.
pub fn resolve_secret(backup: &MysqlBackup, cluster: Option<&MysqlCluster>) -> Option<String> {
    non_empty(&backup.spec.backup_secret_name)
        .or_else(|| cluster.and_then(|c| non_empty(&c.spec.backup_secret_name)))
}

/// Decoded `data` (and `stringData`) of a Secret.
fn secret_vars(s: &Secret) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = s
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    vars.extend(
        s.string_data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    vars
}

impl<S: Store, C: super::Clock, R: RemoteStore> BackupReconciler<S, C, R> {
    /// A reconciler over `store` creating Jobs that run `image`, storing in `remote`.
    pub fn new(store: S, clock: C, remote: R, image: impl Into<String>) -> Self {
        BackupReconciler {
            store,
            clock,
            remote,
            image: image.into(),
            metrics: Metrics::default(),
        }
    }

    /// Bring backup `namespace/name` one step closer to its final state.
    pub async fn reconcile(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BackupOutcome, BackupError> {
        let Some(b) = store::get::<MysqlBackup, S>(&self.store, namespace, name).await? else {
            return Ok(BackupOutcome::Gone);
        };
        let key = ObjectKey::of::<MysqlBackup>(namespace, name);
        let finalizers: Vec<String> = b.finalizers().to_vec();
        let held = finalizers.iter().any(|f| f == REMOTE_DELETE_FINALIZER);
        let policy = b.spec.remote_delete_policy.unwrap_or_default();
        if b.metadata.deletion_timestamp.is_some() {
            if held {
                if policy == DeletePolicy::Delete {
                    self.delete_remote(&b).await?;
                }
                self.set_finalizer(&key, &finalizers, false).await?;
            }
            return Ok(BackupOutcome::Gone);
        }
        match (policy, held) {
            (DeletePolicy::Delete, false) => self.set_finalizer(&key, &finalizers, true).await?,
            (DeletePolicy::Retain, true) => self.set_finalizer(&key, &finalizers, false).await?,
            _ => {}
        }
        let status = b.status.clone().unwrap_or_default();
        if status.completed {
            return Ok(BackupOutcome::Done);
        }
        let Some(cluster) =
            store::get::<MysqlCluster, S>(&self.store, namespace, &b.spec.cluster_name).await?
        else {
            self.event(
                &key,
                "Warning",
                "ClusterNotFound",
                format!(
                    "cluster {} not found in {namespace}; the backup starts when it exists",
                    b.spec.cluster_name
                ),
            )
            .await;
            return Ok(BackupOutcome::Waiting(POLL));
        };
        let url = match resolve_url(&b, &cluster) {
            Ok(u) => u,
            Err(m) => return self.fail(&key, status, "InvalidBackupURL", &m).await,
        };
        let Some(secret) = resolve_secret(&b, Some(&cluster)) else {
            let m = format!(
                "no storage credentials: set spec.backupSecretName on the backup or on cluster {}",
                cluster.name_any()
            );
            return self.fail(&key, status, "NoBackupSecret", &m).await;
        };
        self.pin(&b, &url, &secret).await?;

        let job: Option<Job> = store::get(&self.store, namespace, &job_name(name)).await?;
        let Some(job) = job else {
            let j = backup_job(&b, &cluster, &url, &secret, &self.image);
            store::apply(&self.store, &j).await?;
            info!(backup = %key.name, namespace, %url, "backup job created");
            self.event(
                &key,
                "Normal",
                "JobCreated",
                format!("Job {} takes the backup to {url}", job_name(name)),
            )
            .await;
            return Ok(BackupOutcome::Waiting(POLL));
        };
        let js = job.status.clone().unwrap_or_default();
        let cond = |t: &str| {
            js.conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == t && c.status == "True")
                .cloned()
        };
        if let Some(c) = cond("Complete") {
            let mut st = status;
            self.set_condition(
                &mut st,
                backup_condition::COMPLETE,
                c.reason.as_deref().unwrap_or("Completed"),
                c.message.as_deref().unwrap_or("the backup Job succeeded"),
            );
            st.completed = true;
            self.write_status(&key, &st).await?;
            self.record(&b, &cluster, &url, &secret, &job).await;
            self.event(&key, "Normal", "BackupComplete", format!("stored at {url}"))
                .await;
            return Ok(BackupOutcome::Done);
        }
        if let Some(c) = cond("Failed") {
            let reason = c.reason.unwrap_or_else(|| "JobFailed".into());
            let message = format!(
                "Job {}: {}; see `kubectl logs -n {namespace} job/{}`",
                job_name(name),
                c.message.unwrap_or_else(|| "the backup pod failed".into()),
                job_name(name)
            );
            return self.fail(&key, status, &reason, &message).await;
        }
        Ok(BackupOutcome::Waiting(POLL))
    }

    async fn set_finalizer(
        &self,
        key: &ObjectKey,
        current: &[String],
        present: bool,
    ) -> Result<(), BackupError> {
        let mut f: Vec<String> = current
            .iter()
            .filter(|f| *f != REMOTE_DELETE_FINALIZER)
            .cloned()
            .collect();
        if present {
            f.push(REMOTE_DELETE_FINALIZER.into());
        }
        let patch = MetadataPatch {
            finalizers: Some(f),
            ..Default::default()
        };
        self.store.patch_metadata(key, &patch).await?;
        Ok(())
    }

    /// Write the resolved URL and Secret into the spec once, so the remote delete finds
    /// the object even if the cluster's settings change later.
    async fn pin(&self, b: &MysqlBackup, url: &str, secret: &str) -> Result<(), BackupError> {
        let has_url = non_empty(&b.spec.backup_url).is_some();
        let has_secret = non_empty(&b.spec.backup_secret_name).is_some();
        if has_url && has_secret {
            return Ok(());
        }
        let mut spec = serde_json::to_value(&b.spec).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut spec {
            m.insert("backupURL".into(), json!(url));
            m.insert("backupSecretName".into(), json!(secret));
        }
        let key = ObjectKey::of::<MysqlBackup>(
            b.namespace().as_deref().unwrap_or_default(),
            &b.name_any(),
        );
        let obj = json!({
            "apiVersion": key.kind.api_version,
            "kind": key.kind.kind,
            "metadata": { "name": key.name, "namespace": key.namespace },
            "spec": spec,
        });
        self.store.apply_raw(&key, obj).await?;
        Ok(())
    }

    fn set_condition(&self, st: &mut MysqlBackupStatus, type_: &str, reason: &str, message: &str) {
        let now = k8s_time(self.clock.now());
        match st.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) => {
                if c.status != ConditionStatus::True {
                    c.status = ConditionStatus::True;
                    c.last_transition_time = now;
                }
                c.reason = reason.into();
                c.message = message.into();
            }
            None => st.conditions.push(BackupCondition {
                type_: type_.into(),
                status: ConditionStatus::True,
                last_transition_time: now,
                reason: reason.into(),
                message: message.into(),
            }),
        }
    }

    async fn write_status(
        &self,
        key: &ObjectKey,
        st: &MysqlBackupStatus,
    ) -> Result<(), BackupError> {
        let v = serde_json::to_value(st).unwrap_or(Value::Null);
        self.store.patch_status(key, v).await?;
        Ok(())
    }

    async fn fail(
        &self,
        key: &ObjectKey,
        mut st: MysqlBackupStatus,
        reason: &str,
        message: &str,
    ) -> Result<BackupOutcome, BackupError> {
        self.set_condition(&mut st, backup_condition::FAILED, reason, message);
        st.completed = true;
        self.write_status(key, &st).await?;
        warn!(backup = %key.name, namespace = %key.namespace, reason, message, "backup failed");
        self.event(
            key,
            "Warning",
            "BackupFailed",
            format!("{reason}: {message}"),
        )
        .await;
        Ok(BackupOutcome::Done)
    }

    async fn event(&self, key: &ObjectKey, type_: &str, reason: &str, message: String) {
        let ev = EventRecord {
            regarding: key.clone(),
            type_: type_.into(),
            reason: reason.into(),
            message,
        };
        if let Err(e) = self.store.create_event(ev).await {
            warn!(error = %e, "recording an Event");
        }
    }

    async fn vars(
        &self,
        namespace: &str,
        secret: &str,
    ) -> Result<BTreeMap<String, String>, String> {
        let s: Option<Secret> = store::get(&self.store, namespace, secret)
            .await
            .map_err(|e| e.to_string())?;
        let s = s.ok_or_else(|| format!("Secret {namespace}/{secret} not found"))?;
        Ok(secret_vars(&s))
    }

    /// Backup metrics: the Job's run time and the stored object's size (best effort).
    async fn record(
        &self,
        b: &MysqlBackup,
        cluster: &MysqlCluster,
        url: &str,
        secret: &str,
        job: &Job,
    ) {
        let labels = ClusterLabels {
            cluster: format!(
                "{}/{}",
                b.namespace().unwrap_or_default(),
                cluster.name_any()
            ),
        };
        if let Some(js) = &job.status
            && let (Some(start), Some(end)) = (&js.start_time, &js.completion_time)
        {
            let secs = (epoch_seconds(end) - epoch_seconds(start)).max(0);
            self.metrics
                .backup_seconds
                .get_or_create(&labels)
                .observe(secs as f64);
        }
        let ns = b.namespace().unwrap_or_default();
        let size = async {
            let vars = self.vars(&ns, secret).await?;
            self.remote.size(url, &vars).await
        };
        match size.await {
            Ok(Some(n)) => {
                self.metrics.backup_bytes.get_or_create(&labels).inc_by(n);
            }
            Ok(None) => warn!(%url, "completed backup not found in the bucket"),
            Err(e) => warn!(%url, error = %e, "reading the backup size"),
        }
    }

    /// Delete the stored object of a `remoteDeletePolicy: delete` backup.
    async fn delete_remote(&self, b: &MysqlBackup) -> Result<(), BackupError> {
        let ns = b.namespace().unwrap_or_default();
        let name = b.name_any();
        let key = ObjectKey::of::<MysqlBackup>(&ns, &name);
        let cluster: Option<MysqlCluster> =
            store::get(&self.store, &ns, &b.spec.cluster_name).await?;
        let url = non_empty(&b.spec.backup_url).or_else(|| non_empty(&b.spec.backup_uri));
        let Some(url) = url else {
            info!(backup = %name, namespace = %ns, "no backupURL was ever set: nothing to delete remotely");
            return Ok(());
        };
        let config = |message: String| BackupError::Config {
            namespace: ns.clone(),
            name: name.clone(),
            message,
        };
        let secret = resolve_secret(b, cluster.as_ref()).ok_or_else(|| {
            config(format!(
                "cannot delete {url}: no backupSecretName; set it, or remove the finalizer \
                 {REMOTE_DELETE_FINALIZER} to keep the object"
            ))
        })?;
        let vars = match self.vars(&ns, &secret).await {
            Ok(v) => v,
            Err(m) => {
                let e = config(format!(
                    "cannot delete {url}: {m}; restore the Secret, or remove the finalizer \
                     {REMOTE_DELETE_FINALIZER} to keep the object"
                ));
                self.event(&key, "Warning", "RemoteDeleteFailed", e.to_string())
                    .await;
                return Err(e);
            }
        };
        match self.remote.delete(&url, &vars).await {
            Ok(_) => {
                info!(backup = %name, namespace = %ns, %url, "remote backup deleted");
                self.event(&key, "Normal", "RemoteDeleted", format!("deleted {url}"))
                    .await;
                Ok(())
            }
            Err(message) => {
                let e = BackupError::RemoteDelete { url, message };
                self.event(&key, "Warning", "RemoteDeleteFailed", e.to_string())
                    .await;
                Err(e)
            }
        }
    }
}
