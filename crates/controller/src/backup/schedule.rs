//! The backup schedule: a cluster's `backupSchedule` (6-field cron, seconds first, as
//! presslabs/robfig) creates a recurrent `MysqlBackup` at each tick, named
//! `<cluster>-auto-<YYYY-MM-DD>t<HH-MM-SS>` after the tick with labels `recurrent: "true"`
//! and `cluster: <name>` (presslabs' names and labels), skipped while the previous one is
//! still running, then prunes to `backupScheduleJobsHistoryLimit`. Like robfig/cron it
//! never catches up on ticks missed while the operator was down: a cluster's first tick
//! is the first one after the operator saw it.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use api::{MysqlBackup, MysqlBackupSpec, MysqlCluster};
use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use tracing::{info, warn};

use super::reconcile::{resolve_secret, resolve_url};
use super::{BackupError, CLUSTER_LABEL, Clock, RECURRENT_LABEL, epoch_seconds};
use crate::store::{self, EventRecord, ObjectKey, Store};

/// The name of the scheduled backup of `cluster` for the tick at `at` (presslabs format).
pub fn scheduled_name(cluster: &str, at: DateTime<Utc>) -> String {
    format!("{cluster}-auto-{}", at.format("%Y-%m-%dt%H-%M-%S"))
}

/// The labels of `cluster`'s scheduled backups.
pub fn recurrent_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (RECURRENT_LABEL.to_string(), "true".to_string()),
        (CLUSTER_LABEL.to_string(), cluster.to_string()),
    ])
}

/// What happened on one schedule reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CronOutcome {
    /// The backup created for this tick, if any.
    pub created: Option<String>,
    /// Backups deleted by the history limit, oldest first.
    pub pruned: Vec<String>,
    /// How long until the next tick (`None`: no schedule).
    pub next_in: Option<Duration>,
}

#[derive(Clone, Debug)]
struct Seen {
    schedule: String,
    /// Ticks up to this time are handled.
    since: DateTime<Utc>,
}

/// Runs the backup schedules of clusters.
pub struct CronReconciler<S, C> {
    /// The API server.
    pub store: S,
    /// The time (tests use a manual clock).
    pub clock: C,
    seen: Mutex<HashMap<(String, String), Seen>>,
}

impl<S: Store, C: Clock> CronReconciler<S, C> {
    /// A scheduler over `store` reading time from `clock`.
    pub fn new(store: S, clock: C) -> Self {
        CronReconciler {
            store,
            clock,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn forget(&self, key: &(String, String)) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Handle the schedule of cluster `namespace/name` at the clock's time.
    pub async fn reconcile(&self, namespace: &str, name: &str) -> Result<CronOutcome, BackupError> {
        let id = (namespace.to_string(), name.to_string());
        let cluster = store::get::<MysqlCluster, S>(&self.store, namespace, name).await?;
        let Some(cluster) = cluster.filter(|c| c.metadata.deletion_timestamp.is_none()) else {
            self.forget(&id);
            return Ok(CronOutcome::default());
        };
        let expr = cluster
            .spec
            .backup_schedule
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        if expr.is_empty() {
            self.forget(&id);
            return Ok(CronOutcome::default());
        }
        let schedule = match cron::Schedule::from_str(&expr) {
            Ok(s) => s,
            Err(e) => {
                // `mysql-operator validate` and the cluster status report it; nothing to run.
                warn!(cluster = name, namespace, schedule = %expr, error = %e, "invalid backupSchedule");
                self.forget(&id);
                return Ok(CronOutcome::default());
            }
        };
        let now = self.clock.now();
        let since = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let e = seen.entry(id.clone()).or_insert_with(|| Seen {
                schedule: expr.clone(),
                since: now,
            });
            if e.schedule != expr {
                *e = Seen {
                    schedule: expr.clone(),
                    since: now,
                };
            }
            e.since
        };
        let mut out = CronOutcome::default();
        // The latest tick in (since, now]; missed ticks collapse into one, as robfig's.
        let tick = schedule.after(&since).take_while(|t| *t <= now).last();
        if let Some(tick) = tick {
            out.created = self.fire(&cluster, tick).await?;
            if let Some(e) = self
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&id)
            {
                e.since = tick;
            }
            if let Some(limit) = cluster.spec.backup_schedule_jobs_history_limit {
                out.pruned = self.prune(namespace, name, limit).await?;
            }
        }
        out.next_in = schedule
            .after(&now)
            .next()
            .and_then(|t| (t - now).to_std().ok());
        Ok(out)
    }

    /// Create the backup of `tick` unless it exists or an earlier one is still running.
    async fn fire(
        &self,
        cluster: &MysqlCluster,
        tick: DateTime<Utc>,
    ) -> Result<Option<String>, BackupError> {
        let ns = cluster.namespace().unwrap_or_default();
        let cname = cluster.name_any();
        let name = scheduled_name(&cname, tick);
        if store::get::<MysqlBackup, S>(&self.store, &ns, &name)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let existing: Vec<MysqlBackup> =
            store::list(&self.store, &ns, &recurrent_labels(&cname)).await?;
        if let Some(running) = existing
            .iter()
            .find(|b| !b.status.as_ref().is_some_and(|s| s.completed))
        {
            let message = format!(
                "skipped the scheduled backup of {tick}: {} is still running",
                running.name_any()
            );
            info!(cluster = %cname, namespace = %ns, "{message}");
            self.event(&ns, &cname, "Normal", "BackupSkipped", message)
                .await;
            return Ok(None);
        }
        let mut b = MysqlBackup {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                labels: Some(recurrent_labels(&cname)),
                ..Default::default()
            },
            spec: MysqlBackupSpec {
                cluster_name: cname.clone(),
                remote_delete_policy: Some(cluster.spec.effective_backup_remote_delete_policy()),
                ..Default::default()
            },
            status: None,
        };
        // Pinned at creation, as the backup reconciler would, so one apply owns them.
        b.spec.backup_url = resolve_url(&b, cluster).ok();
        b.spec.backup_secret_name = resolve_secret(&b, Some(cluster));
        store::apply(&self.store, &b).await?;
        info!(cluster = %cname, namespace = %ns, backup = %name, "scheduled backup created");
        Ok(Some(name))
    }

    /// Delete the scheduled backups beyond the newest `limit`; returns their names.
    async fn prune(&self, ns: &str, cluster: &str, limit: i32) -> Result<Vec<String>, BackupError> {
        let all: Vec<MysqlBackup> =
            store::list(&self.store, ns, &recurrent_labels(cluster)).await?;
        // Newest first by creation time, then by name (the name carries the tick).
        let mut live: Vec<(i64, String)> = all
            .iter()
            .filter(|b| b.metadata.deletion_timestamp.is_none())
            .map(|b| {
                let created = b
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(epoch_seconds)
                    .unwrap_or_default();
                (created, b.name_any())
            })
            .collect();
        live.sort_by(|a, b| b.cmp(a));
        let keep = usize::try_from(limit).unwrap_or(0);
        let mut expired: Vec<String> = live.into_iter().skip(keep).map(|(_, n)| n).collect();
        expired.reverse();
        for name in &expired {
            self.store
                .delete(&ObjectKey::of::<MysqlBackup>(ns, name))
                .await?;
            info!(cluster, namespace = ns, backup = %name, "pruned by backupScheduleJobsHistoryLimit");
        }
        Ok(expired)
    }

    async fn event(&self, ns: &str, cluster: &str, type_: &str, reason: &str, message: String) {
        let ev = EventRecord {
            regarding: ObjectKey::of::<MysqlCluster>(ns, cluster),
            type_: type_.into(),
            reason: reason.into(),
            message,
        };
        if let Err(e) = self.store.create_event(ev).await {
            warn!(error = %e, "recording an Event");
        }
    }
}
