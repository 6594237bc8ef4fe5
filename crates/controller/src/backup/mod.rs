//! Backups: the `backupSchedule` cron that creates recurrent `MysqlBackup` objects
//! ([`schedule`]), and the `MysqlBackup` reconciler that runs one Job per backup, reports
//! `Complete`/`Failed`, and deletes the remote object through a finalizer when the
//! backup's `remoteDeletePolicy` is `delete` ([`reconcile`]). Time comes from a [`Clock`]
//! so tests drive the schedule.

pub mod job;
pub mod reconcile;
pub mod schedule;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::store::StoreError;

pub use reconcile::{BackupOutcome, BackupReconciler};
pub use schedule::CronReconciler;

/// Label on scheduled backups (presslabs: `recurrent: "true"`).
pub const RECURRENT_LABEL: &str = "recurrent";
/// Label naming the cluster of a scheduled backup and of a backup Job (presslabs: `cluster`).
pub const CLUSTER_LABEL: &str = "cluster";
/// Finalizer that holds a `remoteDeletePolicy: delete` backup until its object is deleted.
pub const REMOTE_DELETE_FINALIZER: &str = "backups.mysql.presslabs.org/remote-storage-cleanup";

/// Where the reconcilers read the time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock (production).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests set by hand; clones share the time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(at)))
    }

    /// Move the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Move the clock forward by `d`.
    pub fn advance(&self, d: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why a backup reconcile failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// An API call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object store refused the remote delete (the finalizer stays; retried).
    #[error("deleting the remote backup {url}: {message}")]
    RemoteDelete {
        /// The object that could not be deleted.
        url: String,
        /// The object store's error.
        message: String,
    },
    /// The backup cannot be deleted remotely: its storage settings are missing.
    #[error("backup {namespace}/{name}: {message}")]
    Config {
        /// Namespace of the backup.
        namespace: String,
        /// Name of the backup.
        name: String,
        /// What is missing and how to fix it.
        message: String,
    },
}

/// The object store of the backups, seen by the reconciler: delete a stored backup and
/// read its size. `vars` are the decoded keys of the backup Secret (presslabs names:
/// `AWS_ACCESS_KEY_ID`, `S3_ENDPOINT`...). The operator implements it with
/// `crates/backup`'s S3 client; the controller crate stays free of the AWS SDK.
pub trait RemoteStore: Send + Sync + 'static {
    /// Delete the object at `url` (`s3://bucket/key`); a missing object is not an error.
    fn delete(
        &self,
        url: &str,
        vars: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// The size of the object at `url`, `None` when it does not exist.
    fn size(
        &self,
        url: &str,
        vars: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Option<u64>, String>> + Send;
}

/// Where backups are stored, when the object store is not known (tests of the Job alone):
/// every call fails, so a `delete` policy keeps its finalizer.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRemote;

impl RemoteStore for NoRemote {
    async fn delete(&self, url: &str, _: &BTreeMap<String, String>) -> Result<(), String> {
        Err(format!("no object store configured to delete {url}"))
    }
    async fn size(&self, _: &str, _: &BTreeMap<String, String>) -> Result<Option<u64>, String> {
        Ok(None)
    }
}

/// Check a backup URL (`s3://bucket/key...`); `Err` says what is wrong.
pub fn check_url(field: &str, url: &str) -> Result<(), String> {
    let rest = url.trim().strip_prefix("s3://").ok_or_else(|| {
        format!("{field} {url:?} must start with s3:// (e.g. s3://bucket/prefix)")
    })?;
    let bucket = rest.split('/').next().unwrap_or_default();
    if bucket.is_empty() {
        return Err(format!(
            "{field} {url:?} names no bucket (s3://bucket/prefix)"
        ));
    }
    Ok(())
}

/// A chrono time as a Kubernetes `Time`.
pub fn k8s_time(t: DateTime<Utc>) -> Time {
    let ts = k8s_openapi::jiff::Timestamp::from_second(t.timestamp())
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    Time(ts)
}

/// A Kubernetes `Time` as seconds since the epoch.
pub fn epoch_seconds(t: &Time) -> i64 {
    t.0.as_second()
}
