//! Clones, backups and restores: the physical backup stream of a MySQL/MariaDB server,
//! carried from a peer's agent into a new data dir or, compressed, into S3; and back.
//!
//! Modules by job: [`location`] (URLs and credentials), [`s3`] (the client),
//! [`compress`], [`upload`] (streaming multipart upload), [`peer`] (pulling a stream from
//! an agent), [`tool`] (backup tool command lines), [`restore`] (extract, prepare, GTID
//! position), [`retention`] (what to delete).

pub mod compress;
pub mod error;
pub mod init;
pub mod initsql;
pub mod job;
pub mod location;
pub mod peer;
pub mod restore;
pub mod retention;
pub mod s3;
pub mod tool;
pub mod upload;

pub use compress::{BoxRead, Compression};
pub use error::BackupError;
pub use location::{ObjectUrl, S3Settings};
pub use s3::{ObjectInfo, S3Store};
pub use upload::{UploadOptions, UploadReport, upload_backup};
