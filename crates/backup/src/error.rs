//! The one error type of the backup crate: every failure names what failed and, where the
//! user can act, how to fix it.

use std::path::PathBuf;

/// Why a clone, backup, restore or retention step failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A setting (URL, credential variable, option) is missing or malformed.
    #[error("invalid setting {field}: {message}")]
    Config { field: String, message: String },
    /// An S3 call failed; `op` names the call, `key` the object.
    #[error("S3 {op} of s3://{bucket}/{key} failed: {message}")]
    S3 {
        op: &'static str,
        bucket: String,
        key: String,
        message: String,
    },
    /// The upload failed and its multipart upload was aborted (or the abort failed too).
    #[error("backup upload to s3://{bucket}/{key} failed: {cause}; {abort}")]
    UploadFailed {
        bucket: String,
        key: String,
        cause: String,
        abort: String,
    },
    /// Reading the source stream failed (peer agent, backup tool, decompression).
    #[error("reading the backup stream failed: {0}")]
    Stream(std::io::Error),
    /// The peer's agent refused or failed the request.
    #[error("agent at {url} answered {status}: {message}")]
    Agent {
        url: String,
        status: u16,
        message: String,
    },
    /// Could not reach a peer's agent at all.
    #[error("agent at {url} unreachable: {message}")]
    AgentUnreachable { url: String, message: String },
    /// An external tool (mariabackup, mbstream, xtrabackup) failed or is missing.
    #[error("{tool} failed: {message}")]
    Tool { tool: String, message: String },
    /// Local file system trouble around the data dir.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The extracted backup lacks the file that records its GTID position.
    #[error(
        "backup in {dir} has no GTID position file (xtrabackup_binlog_info / mariadb_backup_binlog_info)"
    )]
    NoGtidPosition { dir: PathBuf },
    /// Nothing to clone from and this pod may not start empty.
    #[error("{0}")]
    NoSource(String),
    /// A policy hook failed and its failure policy is `Fail`.
    #[error("policy hook failed: {0}")]
    Hook(#[from] policy::HookError),
}

impl BackupError {
    /// Shorthand for a configuration error naming the field.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        BackupError::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for a file-system error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BackupError::Io {
            path: path.into(),
            source,
        }
    }
}
