//! Retention: which scheduled backups to drop (presslabs' `backupScheduleJobsHistoryLimit`),
//! whether their remote object goes too (`backupRemoteDeletePolicy`), doing that remote
//! delete ourselves, and cleaning up uploads a crashed backup left open.

use crate::BackupError;
use crate::location::ObjectUrl;
use crate::s3::S3Store;

/// What happens to the object in S3 when its `MysqlBackup` is deleted (presslabs values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteDeletePolicy {
    /// Keep the object (presslabs' default).
    #[default]
    Retain,
    /// Delete the object with the `MysqlBackup`.
    Delete,
}

impl RemoteDeletePolicy {
    /// Parse the spec value; an unknown value is an error naming the field.
    pub fn parse(value: Option<&str>) -> Result<Self, BackupError> {
        match value {
            None | Some("") | Some("retain") => Ok(RemoteDeletePolicy::Retain),
            Some("delete") => Ok(RemoteDeletePolicy::Delete),
            Some(other) => Err(BackupError::config(
                "backupRemoteDeletePolicy",
                format!("`{other}` is not one of `retain`, `delete`"),
            )),
        }
    }
}

/// One backup the scheduler created, as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRecord {
    /// The `MysqlBackup` name.
    pub name: String,
    /// Creation time, seconds since the epoch (`metadata.creationTimestamp`).
    pub created: i64,
    /// Created by the schedule (presslabs label `recurrent: "true"`); manual ones are kept.
    pub scheduled: bool,
    /// `status.backupURL` / `spec.backupURL`, when known.
    pub url: Option<String>,
}

/// The scheduled backups beyond the newest `limit` (presslabs keeps the newest `limit`
/// recurrent backups; `None` means keep all). Oldest first.
pub fn expired(records: &[BackupRecord], limit: Option<u32>) -> Vec<BackupRecord> {
    let Some(limit) = limit else {
        return Vec::new();
    };
    let mut scheduled: Vec<&BackupRecord> = records.iter().filter(|r| r.scheduled).collect();
    scheduled.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.name.cmp(&a.name)));
    let mut out: Vec<BackupRecord> = scheduled
        .into_iter()
        .skip(limit as usize)
        .cloned()
        .collect();
    out.reverse();
    out
}

/// Delete a backup's object when the policy says so; returns whether it deleted.
pub async fn delete_remote(
    store: &S3Store,
    policy: RemoteDeletePolicy,
    url: &str,
) -> Result<bool, BackupError> {
    if policy == RemoteDeletePolicy::Retain {
        return Ok(false);
    }
    let obj = ObjectUrl::parse("backupURL", url)?;
    store.delete(&obj).await?;
    Ok(true)
}

/// Abort multipart uploads to `*.tmp` keys under `prefix` and delete leftover `*.tmp`
/// objects: what a backup killed with its store left behind. Returns how many it removed.
/// Run before a new backup to the same prefix; never touches finished backups.
pub async fn abort_stale_uploads(
    store: &S3Store,
    prefix: &ObjectUrl,
) -> Result<usize, BackupError> {
    let mut removed = 0;
    for (key, id) in store.open_uploads(prefix).await? {
        if !key.ends_with(".tmp") {
            continue;
        }
        let obj = ObjectUrl {
            bucket: prefix.bucket.clone(),
            key,
        };
        store
            .client()
            .abort_multipart_upload()
            .bucket(&obj.bucket)
            .key(&obj.key)
            .upload_id(&id)
            .send()
            .await
            .map_err(|e| crate::s3::s3_error("AbortMultipartUpload", &obj, &e))?;
        tracing::info!(key = %obj, upload_id = id, "aborted a stale multipart upload");
        removed += 1;
    }
    for info in store.list(prefix).await? {
        if info.key.ends_with(".xbackup.gz.tmp")
            || info.key.ends_with(".xbackup.zst.tmp")
            || info.key.ends_with(".xbackup.tmp")
        {
            store
                .delete(&ObjectUrl {
                    bucket: prefix.bucket.clone(),
                    key: info.key,
                })
                .await?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, created: i64, scheduled: bool) -> BackupRecord {
        BackupRecord {
            name: name.into(),
            created,
            scheduled,
            url: None,
        }
    }

    #[test]
    fn keeps_the_newest_scheduled_backups() {
        let all = vec![
            rec("a", 1, true),
            rec("manual", 0, false),
            rec("c", 3, true),
            rec("b", 2, true),
            rec("d", 4, true),
        ];
        let names: Vec<String> = expired(&all, Some(2)).into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(expired(&all, None).is_empty());
        assert_eq!(expired(&all, Some(0)).len(), 4);
    }

    #[test]
    fn policy_values() {
        assert_eq!(
            RemoteDeletePolicy::parse(None).unwrap(),
            RemoteDeletePolicy::Retain
        );
        assert_eq!(
            RemoteDeletePolicy::parse(Some("delete")).unwrap(),
            RemoteDeletePolicy::Delete
        );
        let err = RemoteDeletePolicy::parse(Some("purge"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("backupRemoteDeletePolicy"), "{err}");
    }
}
