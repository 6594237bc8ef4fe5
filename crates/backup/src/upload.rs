//! Streaming upload of a backup: any byte stream → compression → S3 multipart upload as
//! it streams, with a bounded number of part buffers in memory and no temporary file.
//!
//! The parts go to `<final key>.tmp`; only when the whole stream was read without error
//! (including the source's own success signal) is the upload completed and moved to the
//! final key. Any failure aborts the multipart upload, so the final key never holds a
//! partial backup.

use crate::BackupError;
use crate::compress::{BoxRead, Compression, compress};
use crate::location::ObjectUrl;
use crate::s3::{S3Store, s3_error};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use bytes::BytesMut;
use policy::Exclusions;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::task::JoinSet;
use tracing::Instrument;

/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: i32 = 10_000;
/// Largest object `CopyObject` copies in one call; above it the move uses part copies.
pub const SINGLE_COPY_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

/// Tuning of one upload. The defaults keep memory near
/// `part_size × (max_in_flight + 1)` = 24 MiB for backups up to ~31 GiB.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    pub compression: Compression,
    /// Size of the first 4000 parts; parts 4001–8000 are twice and the rest four times
    /// this, so 10 000 parts reach ~156 GiB at the default 8 MiB.
    pub part_size: usize,
    /// Parts uploading concurrently while the next one fills.
    pub max_in_flight: usize,
    /// Objects larger than this are moved with multipart copies instead of `CopyObject`.
    pub single_copy_limit: u64,
    /// Storage class for the final object (`AWS_STORAGE_CLASS`), when set.
    pub storage_class: Option<String>,
    /// What the stream left out; stored as object metadata so a restore can clean up.
    pub exclusions: Exclusions,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            compression: Compression::Zstd,
            part_size: 8 * 1024 * 1024,
            max_in_flight: 2,
            single_copy_limit: SINGLE_COPY_LIMIT,
            storage_class: None,
            exclusions: Exclusions::default(),
        }
    }
}

/// What an upload did, for logs, status and benchmarks.
#[derive(Debug, Clone)]
pub struct UploadReport {
    pub object: ObjectUrl,
    /// Bytes read from the source (before compression).
    pub raw_bytes: u64,
    /// Bytes stored (after compression).
    pub stored_bytes: u64,
    pub parts: u32,
    pub elapsed: Duration,
}

/// The temporary key a backup is uploaded to before the move.
pub fn temporary_key(dest: &ObjectUrl) -> ObjectUrl {
    ObjectUrl {
        bucket: dest.bucket.clone(),
        key: format!("{}.tmp", dest.key),
    }
}

/// Upload `src`, compressed, to `dest` (the final object, suffix included).
pub async fn upload_backup(
    store: &S3Store,
    dest: &ObjectUrl,
    src: BoxRead,
    opts: &UploadOptions,
) -> Result<UploadReport, BackupError> {
    let span = tracing::info_span!("upload", object = %dest);
    upload_inner(store, dest, src, opts).instrument(span).await
}

async fn upload_inner(
    store: &S3Store,
    dest: &ObjectUrl,
    src: BoxRead,
    opts: &UploadOptions,
) -> Result<UploadReport, BackupError> {
    if opts.part_size < 5 * 1024 * 1024 {
        return Err(BackupError::config(
            "part_size",
            "S3 requires parts of at least 5 MiB",
        ));
    }
    let started = Instant::now();
    let tmp = temporary_key(dest);
    let client = store.client();
    let created = client
        .create_multipart_upload()
        .bucket(&tmp.bucket)
        .key(&tmp.key)
        .content_type("application/octet-stream")
        .set_metadata(exclusions_metadata(&opts.exclusions))
        .send()
        .await
        .map_err(|e| s3_error("CreateMultipartUpload", &tmp, &e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| BackupError::S3 {
            op: "CreateMultipartUpload",
            bucket: tmp.bucket.clone(),
            key: tmp.key.clone(),
            message: "the answer carried no upload id".into(),
        })?
        .to_string();
    tracing::info!(upload_id, key = %tmp, "multipart upload started");

    let raw = Arc::new(AtomicU64::new(0));
    let counted: BoxRead = Box::pin(Counting {
        inner: src,
        count: raw.clone(),
    });
    let reader = compress(counted, opts.compression);
    let result = send_parts(store, &tmp, &upload_id, reader, opts).await;
    let (parts, stored) = match result {
        Ok(v) => v,
        Err(cause) => {
            let abort = abort_upload(store, &tmp, &upload_id).await;
            return Err(BackupError::UploadFailed {
                bucket: dest.bucket.clone(),
                key: dest.key.clone(),
                cause: cause.to_string(),
                abort,
            });
        }
    };
    let part_count = parts.len() as u32;
    let completed = client
        .complete_multipart_upload()
        .bucket(&tmp.bucket)
        .key(&tmp.key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await;
    if let Err(e) = completed {
        let cause = s3_error("CompleteMultipartUpload", &tmp, &e);
        let abort = abort_upload(store, &tmp, &upload_id).await;
        return Err(BackupError::UploadFailed {
            bucket: dest.bucket.clone(),
            key: dest.key.clone(),
            cause: cause.to_string(),
            abort,
        });
    }
    if let Err(e) = move_object(store, &tmp, dest, stored, opts).await {
        // Leave nothing half-moved behind: the final key is either complete or absent.
        let _ = store.delete(dest).await;
        let _ = store.delete(&tmp).await;
        return Err(e);
    }
    store.delete(&tmp).await?;
    let report = UploadReport {
        object: dest.clone(),
        raw_bytes: raw.load(Ordering::Relaxed),
        stored_bytes: stored,
        parts: part_count,
        elapsed: started.elapsed(),
    };
    tracing::info!(
        raw = report.raw_bytes,
        stored = report.stored_bytes,
        parts = report.parts,
        secs = report.elapsed.as_secs_f64(),
        "backup stored"
    );
    Ok(report)
}

/// Size of part `n` (1-based): grows in steps so 10 000 parts cover large backups.
fn part_size_for(n: i32, base: usize) -> usize {
    match n {
        ..=4000 => base,
        4001..=8000 => base * 2,
        _ => base * 4,
    }
}

/// Read the compressed stream part by part and upload the parts, at most
/// `max_in_flight` at a time. Returns the completed parts in order and the stored size.
async fn send_parts(
    store: &S3Store,
    tmp: &ObjectUrl,
    upload_id: &str,
    mut reader: BoxRead,
    opts: &UploadOptions,
) -> Result<(Vec<CompletedPart>, u64), BackupError> {
    let mut inflight: JoinSet<Result<CompletedPart, BackupError>> = JoinSet::new();
    let result = fill_and_send(store, tmp, upload_id, &mut reader, opts, &mut inflight).await;
    if result.is_err() {
        // Let parts already sent finish (they are few), so none lands after the abort
        // and re-opens the upload on the server.
        while inflight.join_next().await.is_some() {}
    }
    result
}

async fn fill_and_send(
    store: &S3Store,
    tmp: &ObjectUrl,
    upload_id: &str,
    reader: &mut BoxRead,
    opts: &UploadOptions,
    inflight: &mut JoinSet<Result<CompletedPart, BackupError>>,
) -> Result<(Vec<CompletedPart>, u64), BackupError> {
    let mut done: Vec<CompletedPart> = Vec::new();
    let mut stored = 0u64;
    let mut n: i32 = 0;
    loop {
        let size = part_size_for(n + 1, opts.part_size);
        let mut buf = BytesMut::with_capacity(size);
        while buf.len() < size {
            let read = reader
                .read_buf(&mut buf)
                .await
                .map_err(BackupError::Stream)?;
            if read == 0 {
                break;
            }
        }
        let eof = buf.len() < size;
        if buf.is_empty() && n > 0 {
            break;
        }
        n += 1;
        if n > MAX_PARTS {
            return Err(BackupError::config(
                "part_size",
                format!(
                    "the backup needs more than {MAX_PARTS} parts at a base part size of {} \
                     bytes; raise the part size",
                    opts.part_size
                ),
            ));
        }
        while inflight.len() >= opts.max_in_flight.max(1) {
            if let Some(joined) = inflight.join_next().await {
                done.push(joined_part(joined)?);
            }
        }
        stored += buf.len() as u64;
        let body = buf.freeze();
        let client = store.client().clone();
        let (bucket, key, id) = (tmp.bucket.clone(), tmp.key.clone(), upload_id.to_string());
        let obj = tmp.clone();
        inflight.spawn(
            async move {
                let out = client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .part_number(n)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map_err(|e| s3_error("UploadPart", &obj, &e))?;
                Ok(CompletedPart::builder()
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .part_number(n)
                    .build())
            }
            .in_current_span(),
        );
        if eof {
            break;
        }
    }
    while let Some(joined) = inflight.join_next().await {
        done.push(joined_part(joined)?);
    }
    done.sort_by_key(|p| p.part_number());
    Ok((done, stored))
}

fn joined_part(
    joined: Result<Result<CompletedPart, BackupError>, tokio::task::JoinError>,
) -> Result<CompletedPart, BackupError> {
    joined.map_err(|e| BackupError::Stream(std::io::Error::other(format!("upload task: {e}"))))?
}

/// Abort the multipart upload; the text says whether that worked, for the error message.
async fn abort_upload(store: &S3Store, tmp: &ObjectUrl, upload_id: &str) -> String {
    match store
        .client()
        .abort_multipart_upload()
        .bucket(&tmp.bucket)
        .key(&tmp.key)
        .upload_id(upload_id)
        .send()
        .await
    {
        Ok(_) => format!("multipart upload {upload_id} to {tmp} aborted"),
        Err(e) => format!(
            "aborting multipart upload {upload_id} to {tmp} failed too ({}); nothing was \
             written to the final key, and the store's lifecycle rule or the next backup's \
             cleanup removes the parts",
            s3_error("AbortMultipartUpload", tmp, &e)
        ),
    }
}

/// Server-side move (copy + the caller deletes the source).
async fn move_object(
    store: &S3Store,
    from: &ObjectUrl,
    to: &ObjectUrl,
    size: u64,
    opts: &UploadOptions,
) -> Result<(), BackupError> {
    let client = store.client();
    let source = format!("{}/{}", from.bucket, encode_key(&from.key));
    let storage_class = opts
        .storage_class
        .as_deref()
        .map(aws_sdk_s3::types::StorageClass::from);
    if size <= opts.single_copy_limit {
        client
            .copy_object()
            .bucket(&to.bucket)
            .key(&to.key)
            .copy_source(&source)
            .set_storage_class(storage_class)
            .send()
            .await
            .map_err(|e| s3_error("CopyObject", to, &e))?;
        return Ok(());
    }
    let created = client
        .create_multipart_upload()
        .bucket(&to.bucket)
        .key(&to.key)
        .set_storage_class(storage_class)
        .set_metadata(exclusions_metadata(&opts.exclusions))
        .send()
        .await
        .map_err(|e| s3_error("CreateMultipartUpload", to, &e))?;
    let id = created.upload_id().unwrap_or_default().to_string();
    let chunk = opts
        .single_copy_limit
        .clamp(5 * 1024 * 1024, SINGLE_COPY_LIMIT);
    let mut parts = Vec::new();
    let mut offset = 0u64;
    let mut n = 0i32;
    let copied: Result<(), BackupError> = async {
        while offset < size {
            n += 1;
            let end = (offset + chunk).min(size) - 1;
            let out = client
                .upload_part_copy()
                .bucket(&to.bucket)
                .key(&to.key)
                .upload_id(&id)
                .part_number(n)
                .copy_source(&source)
                .copy_source_range(format!("bytes={offset}-{end}"))
                .send()
                .await
                .map_err(|e| s3_error("UploadPartCopy", to, &e))?;
            parts.push(
                CompletedPart::builder()
                    .set_e_tag(
                        out.copy_part_result()
                            .and_then(|r| r.e_tag())
                            .map(str::to_string),
                    )
                    .part_number(n)
                    .build(),
            );
            offset = end + 1;
        }
        client
            .complete_multipart_upload()
            .bucket(&to.bucket)
            .key(&to.key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| s3_error("CompleteMultipartUpload", to, &e))?;
        Ok(())
    }
    .await;
    if copied.is_err() {
        let _ = abort_upload(store, to, &id).await;
    }
    copied
}

/// Object metadata key holding the stream's exclusions (base64 JSON).
pub const EXCLUSIONS_METADATA: &str = "mysql-operator-exclusions";

fn exclusions_metadata(ex: &Exclusions) -> Option<HashMap<String, String>> {
    if ex.tables.is_empty() && ex.schemas.is_empty() {
        return None;
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(ex).ok()?);
    if encoded.len() > 1800 {
        tracing::warn!(
            bytes = encoded.len(),
            "exclusion list too long for S3 metadata (2 KiB); a restore will not drop the \
             excluded tables' dictionary entries"
        );
        return None;
    }
    Some(HashMap::from([(EXCLUSIONS_METADATA.to_string(), encoded)]))
}

/// The exclusions recorded on a stored backup (empty for presslabs backups).
pub async fn stored_exclusions(
    store: &S3Store,
    obj: &ObjectUrl,
) -> Result<Exclusions, BackupError> {
    let head = store
        .client()
        .head_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .send()
        .await
        .map_err(|e| s3_error("HeadObject", obj, &e))?;
    let Some(value) = head.metadata().and_then(|m| m.get(EXCLUSIONS_METADATA)) else {
        return Ok(Exclusions::default());
    };
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or_else(|| BackupError::S3 {
            op: "HeadObject",
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            message: format!("unreadable `{EXCLUSIONS_METADATA}` metadata"),
        })
}

/// Percent-encode a key for `x-amz-copy-source` (keeps `/` and unreserved characters).
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Counts the bytes read through it (the raw backup size).
struct Counting {
    inner: BoxRead,
    count: Arc<AtomicU64>,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = self.inner.as_mut().poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &res {
            let n = (buf.filled().len() - before) as u64;
            self.count.fetch_add(n, Ordering::Relaxed);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_cover_large_backups() {
        let base = 8 * 1024 * 1024usize;
        let total: u64 = (1..=MAX_PARTS).map(|n| part_size_for(n, base) as u64).sum();
        assert!(total > 150 * 1024 * 1024 * 1024, "{total}");
        assert_eq!(part_size_for(1, base), base);
    }

    #[test]
    fn copy_source_keys_are_encoded() {
        assert_eq!(encode_key("a b/c+d.gz"), "a%20b/c%2Bd.gz");
    }
}
