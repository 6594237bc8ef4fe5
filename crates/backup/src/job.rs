//! One backup run (`mysql-operator backup`): pick the source — a healthy replica's agent,
//! the primary's only when no replica answers — pull its stream, and upload it compressed
//! to `<backupURL>/<name>.xbackup.<ext>`, cleaning up what an earlier crashed run left.

use crate::BackupError;
use crate::location::{ObjectUrl, S3Settings};
use crate::peer::{self, PeerAuth};
use crate::retention::abort_stale_uploads;
use crate::s3::S3Store;
use crate::upload::{UploadOptions, UploadReport, upload_backup};
use std::time::Duration;
use tracing::Instrument;

/// Everything one backup run needs.
#[derive(Debug, Clone)]
pub struct BackupJob {
    pub cluster: String,
    /// Agent address behind the healthy-replicas Service.
    pub replicas: Option<String>,
    /// Agent address of the primary.
    pub primary: Option<String>,
    pub auth: PeerAuth,
    /// The destination object (`<backupURL>/<name>.xbackup.<ext>`).
    pub destination: ObjectUrl,
    pub s3: S3Settings,
    /// `scheduled-backup` or `on-demand-backup`, for the backup-filter hook.
    pub kind: String,
    pub options: UploadOptions,
    pub probe_timeout: Duration,
}

/// Run the backup; the error names the source and the step that failed.
pub async fn run_backup(job: &BackupJob) -> Result<UploadReport, BackupError> {
    let span =
        tracing::info_span!("backup", cluster = %job.cluster, destination = %job.destination);
    run_inner(job).instrument(span).await
}

async fn run_inner(job: &BackupJob) -> Result<UploadReport, BackupError> {
    let mut source = None;
    for (what, addr) in [
        ("healthy replicas", &job.replicas),
        ("primary", &job.primary),
    ] {
        if let Some(addr) = addr {
            if peer::is_healthy(addr, job.probe_timeout).await {
                source = Some((what, addr.clone()));
                break;
            }
            tracing::info!(addr, "{what} agent not available");
        }
    }
    let Some((what, addr)) = source else {
        return Err(BackupError::NoSource(format!(
            "no agent to take the backup from: replicas ({}) and primary ({}) did not answer /health",
            job.replicas.as_deref().unwrap_or("not configured"),
            job.primary.as_deref().unwrap_or("not configured"),
        )));
    };
    tracing::info!(addr, "taking the backup from the {what}");
    let store = S3Store::new(&job.s3);
    let prefix = parent_prefix(&job.destination);
    match abort_stale_uploads(&store, &prefix).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(n, "cleaned up leftovers of earlier failed backups"),
        Err(e) => tracing::warn!(error = %e, "could not clean up earlier failed backups"),
    }
    let stream = peer::pull_stream(&addr, &job.auth, &job.kind).await?;
    let mut options = job.options.clone();
    options.exclusions = stream.manifest.exclusions.clone();
    upload_backup(&store, &job.destination, stream.reader, &options).await
}

/// The "directory" of an object key.
fn parent_prefix(obj: &ObjectUrl) -> ObjectUrl {
    let key = match obj.key.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/"),
        None => String::new(),
    };
    ObjectUrl {
        bucket: obj.bucket.clone(),
        key,
    }
}

/// presslabs' backup name for a cluster at a time: `<cluster>-<YYYY-MM-DDTHH-MM-SS>`.
pub fn backup_name(cluster: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{cluster}-{}", at.format("%Y-%m-%dT%H-%M-%S"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_and_prefixes() {
        let at = chrono::Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
        assert_eq!(backup_name("c1", at), "c1-2024-05-06T07-08-09");
        let o = ObjectUrl {
            bucket: "b".into(),
            key: "x/y/z.xbackup.gz".into(),
        };
        assert_eq!(parent_prefix(&o).key, "x/y/");
        let o = ObjectUrl {
            bucket: "b".into(),
            key: "z.xbackup.gz".into(),
        };
        assert_eq!(parent_prefix(&o).key, "");
    }
}
