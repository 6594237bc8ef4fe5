//! The init step's data half: fill an empty data dir from the best source — a healthy
//! replica's agent, else (also when that clone fails) the primary's, else (pod 0) the
//! cluster's `initBucketURL`, else (pod 0) nothing — then prepare it and record where it
//! came from in the data dir, so later restarts still know the clone's exclusions.

use crate::BackupError;
use crate::location::{ObjectUrl, S3Settings};
use crate::peer::{self, PeerAuth};
use crate::restore::{self, is_empty_datadir, wipe_datadir};
use crate::s3::S3Store;
use crate::tool::{BackupTool, RestoreArgs};
use policy::{DataSource, Exclusions};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::Instrument;

/// File in the data dir recording the clone's origin (read again on every start).
pub const CLONE_RECORD: &str = ".mysql-operator-clone.json";

/// Where the init step may get data from, in presslabs' order.
#[derive(Debug, Clone)]
pub struct InitSources {
    pub cluster: String,
    pub ordinal: u32,
    pub datadir: PathBuf,
    /// Agent address (`host:port`) behind the healthy-replicas Service.
    pub replicas: Option<String>,
    /// Agent address behind the primary's Service.
    pub primary: Option<String>,
    /// `spec.initBucketURL`: the full URL of a backup object.
    pub init_bucket_url: Option<String>,
    /// Credentials for the bucket (`spec.initBucketSecretName`).
    pub s3: Option<S3Settings>,
    pub auth: PeerAuth,
    pub tool: BackupTool,
    /// The user's extra arguments for the extractor and `--prepare`.
    pub restore_args: RestoreArgs,
    /// How long a health probe of a peer may take.
    pub probe_timeout: Duration,
}

/// What the data dir holds after the init step, and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloneRecord {
    pub source: DataSource,
    /// The peer address or bucket URL the data came from.
    #[serde(default)]
    pub from: Option<String>,
    /// GTID position of the copy (MariaDB `gtid_slave_pos`).
    #[serde(default)]
    pub gtid: Option<String>,
    /// Tables and schemas the copy left out.
    #[serde(default)]
    pub exclusions: Exclusions,
    /// `CREATE TABLE` statements of the excluded tables, from the source.
    #[serde(default)]
    pub create_statements: Vec<String>,
    /// Unique per copy; guards the one-time part of the init script.
    pub clone_id: String,
}

/// The outcome of [`populate_datadir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Populated {
    pub data_dir_was_empty: bool,
    /// The record of the data dir's origin (`None` for an old data dir without one).
    pub record: Option<CloneRecord>,
}

impl Populated {
    /// The data source to report to the init-script hook.
    pub fn source(&self) -> DataSource {
        match (&self.record, self.data_dir_was_empty) {
            (Some(r), true) => r.source,
            _ => DataSource::Existing,
        }
    }
}

/// Fill the data dir if it is empty. On failure the data dir is left empty and the error
/// names the source that failed and why.
pub async fn populate_datadir(src: &InitSources) -> Result<Populated, BackupError> {
    let span = tracing::info_span!("init", cluster = %src.cluster, ordinal = src.ordinal);
    populate_inner(src).instrument(span).await
}

async fn populate_inner(src: &InitSources) -> Result<Populated, BackupError> {
    let dir = &src.datadir;
    if !is_empty_datadir(dir)? {
        tracing::info!(dir = %dir.display(), "data dir holds data; nothing to copy");
        return Ok(Populated {
            data_dir_was_empty: false,
            record: read_record(dir)?,
        });
    }
    let lost = dir.join("lost+found");
    if lost.exists() {
        std::fs::remove_dir_all(&lost).map_err(|e| BackupError::io(&lost, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| BackupError::io(dir, e))?;

    let mut peers = Vec::new();
    for (what, addr) in [
        ("healthy replicas", &src.replicas),
        ("primary", &src.primary),
    ] {
        if let Some(addr) = addr {
            if peer::is_healthy(addr, src.probe_timeout).await {
                peers.push((what, addr.clone()));
            } else {
                tracing::info!(addr, "{what} agent not available for cloning");
            }
        }
    }
    let record = if !peers.is_empty() {
        // A peer answered, so the cluster has data: a failed clone is retried from the
        // next peer, never replaced by a bucket restore or an empty start.
        let mut failures = Vec::new();
        let mut cloned = None;
        for (what, addr) in &peers {
            tracing::info!(addr, "cloning from the {what}");
            match clone_from_peer(src, addr).await {
                Ok(r) => {
                    cloned = Some(r);
                    break;
                }
                Err(e) => {
                    tracing::warn!(addr, error = %e, "cloning from the {what} failed");
                    let _ = wipe_datadir(dir);
                    failures.push(format!("cloning from the {what} ({addr}) failed: {e}"));
                }
            }
        }
        match cloned {
            Some(r) => r,
            None => {
                return Err(BackupError::Tool {
                    tool: "init".into(),
                    message: failures.join("; "),
                });
            }
        }
    } else if let (0, Some(url)) = (src.ordinal, &src.init_bucket_url) {
        tracing::info!(url, "restoring from initBucketURL");
        restore_from_bucket(src, url)
            .await
            .map_err(|e| wrap(format!("restoring from initBucketURL {url} failed"), e))?
    } else if src.ordinal == 0 {
        tracing::info!("nothing to clone from: the first pod starts empty");
        CloneRecord {
            source: DataSource::Fresh,
            from: None,
            gtid: None,
            exclusions: Exclusions::default(),
            create_statements: Vec::new(),
            clone_id: new_clone_id(),
        }
    } else {
        return Err(BackupError::NoSource(format!(
            "pod ordinal {} has an empty data dir and nothing to clone from: no healthy \
             replica ({}) and no primary ({}) answered, and only pod 0 may restore from \
             initBucketURL or start empty",
            src.ordinal,
            src.replicas.as_deref().unwrap_or("not configured"),
            src.primary.as_deref().unwrap_or("not configured"),
        )));
    };
    if record.source != DataSource::Fresh {
        write_record(dir, &record).inspect_err(|_| {
            let _ = wipe_datadir(dir);
        })?;
    }
    Ok(Populated {
        data_dir_was_empty: true,
        record: Some(record),
    })
}

fn wrap(context: String, e: BackupError) -> BackupError {
    BackupError::Tool {
        tool: "init".into(),
        message: format!("{context}: {e}"),
    }
}

async fn clone_from_peer(src: &InitSources, addr: &str) -> Result<CloneRecord, BackupError> {
    let stream = match peer::pull_stream(addr, &src.auth, "peer-clone").await {
        Ok(s) => s,
        Err(e) => {
            let _ = wipe_datadir(&src.datadir);
            return Err(e);
        }
    };
    let restored =
        restore::restore_stream_with(stream.reader, &src.datadir, src.tool, &src.restore_args)
            .await?;
    Ok(CloneRecord {
        source: DataSource::PeerClone,
        from: Some(addr.to_string()),
        gtid: restored.gtid,
        exclusions: stream.manifest.exclusions,
        create_statements: stream.manifest.create_statements,
        clone_id: new_clone_id(),
    })
}

async fn restore_from_bucket(src: &InitSources, url: &str) -> Result<CloneRecord, BackupError> {
    let settings = src.s3.as_ref().ok_or_else(|| {
        BackupError::config(
            "initBucketSecretName",
            "initBucketURL is set but no bucket credentials were given; set \
             spec.initBucketSecretName to a Secret with AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY",
        )
    })?;
    let obj = ObjectUrl::parse("initBucketURL", url)?;
    let store = S3Store::new(settings);
    let exclusions = crate::upload::stored_exclusions(&store, &obj).await?;
    let reader = restore::open_backup(&store, &obj).await?;
    let restored =
        restore::restore_stream_with(reader, &src.datadir, src.tool, &src.restore_args).await?;
    Ok(CloneRecord {
        source: DataSource::BucketRestore,
        from: Some(url.to_string()),
        gtid: restored.gtid,
        exclusions,
        create_statements: Vec::new(),
        clone_id: new_clone_id(),
    })
}

fn new_clone_id() -> String {
    let now = chrono::Utc::now();
    format!(
        "{}-{}",
        now.format("%Y%m%dT%H%M%S"),
        now.timestamp_subsec_nanos()
    )
}

/// The record of an earlier clone, if the data dir has one.
pub fn read_record(dir: &Path) -> Result<Option<CloneRecord>, BackupError> {
    let path = dir.join(CLONE_RECORD);
    match std::fs::read(&path) {
        Ok(raw) => serde_json::from_slice(&raw).map(Some).map_err(|e| {
            BackupError::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BackupError::io(&path, e)),
    }
}

fn write_record(dir: &Path, record: &CloneRecord) -> Result<(), BackupError> {
    let path = dir.join(CLONE_RECORD);
    let raw = serde_json::to_vec_pretty(record)
        .map_err(|e| BackupError::io(&path, std::io::Error::other(e)))?;
    std::fs::write(&path, raw).map_err(|e| BackupError::io(&path, e))
}
