//! The S3 client we use for backups: built from [`S3Settings`] (static credentials,
//! explicit endpoint, path-style for S3-compatible stores) and the few object operations
//! the backup flow needs, each mapped to a [`BackupError`] naming the call and the key.

use crate::BackupError;
use crate::location::{ObjectUrl, S3Settings};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use std::time::Duration;

/// The HTTP client: rustls trusting the system's CA certificates when there are any.
///
/// The SDK's default client asserts that native roots exist (a panic in debug builds, every
/// TLS handshake failing in release) — an image without `ca-certificates` would crash a
/// backup Job even against a plain-`http://` endpoint. Here an image without CA
/// certificates still talks plain HTTP, and an `https://` endpoint fails with the
/// handshake's "unknown issuer" error, which [`s3_error`] turns into a hint.
fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let native = rustls_native_certs::load_native_certs();
    let have_roots = !native.certs.is_empty();
    if !have_roots {
        tracing::warn!(
            "no CA certificates in this image (install ca-certificates): only plain-http:// object stores are reachable"
        );
    }
    let trust = TrustStore::empty().with_native_roots(have_roots);
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(ctx) => builder.tls_context(ctx).build_https(),
        // Building a context from a trust store without custom PEMs cannot fail; the
        // default context is the safe fallback should it ever do so.
        Err(_) => builder.build_https(),
    }
}

/// A summary of one stored object, for listings and retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub last_modified: Option<i64>,
}

/// An S3 client bound to one set of settings.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
}

impl S3Store {
    /// Build the client. No request is made here; the first call reports bad credentials.
    pub fn new(settings: &S3Settings) -> S3Store {
        let creds = Credentials::new(
            settings.access_key_id.clone(),
            settings.secret_access_key.clone(),
            None,
            None,
            "mysql-operator-backup-secret",
        );
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(creds)
            .force_path_style(settings.force_path_style)
            // S3-compatible stores differ in their support of the newer flexible
            // checksums; SigV4 already covers every part's payload.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(300))
                    .build(),
            );
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.endpoint_url(endpoint.clone());
        }
        builder = builder.http_client(https_client());
        S3Store {
            client: Client::from_conf(builder.build()),
        }
    }

    /// The underlying SDK client, for the upload and download pipelines.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Size of an object, or `None` when it does not exist.
    pub async fn head(&self, obj: &ObjectUrl) -> Result<Option<u64>, BackupError> {
        match self
            .client
            .head_object()
            .bucket(&obj.bucket)
            .key(&obj.key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(err) => {
                let not_found = err
                    .as_service_error()
                    .map(|e| e.is_not_found())
                    .unwrap_or(false)
                    || err.raw_response().map(|r| r.status().as_u16()) == Some(404);
                if not_found {
                    Ok(None)
                } else {
                    Err(s3_error("HeadObject", obj, &err))
                }
            }
        }
    }

    /// Every object under a prefix (all pages).
    pub async fn list(&self, prefix: &ObjectUrl) -> Result<Vec<ObjectInfo>, BackupError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&prefix.bucket)
                .prefix(prefix.as_prefix())
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| s3_error("ListObjectsV2", prefix, &e))?;
            for o in page.contents() {
                out.push(ObjectInfo {
                    key: o.key().unwrap_or_default().to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    last_modified: o.last_modified().map(|t| t.secs()),
                });
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() || page.is_truncated() != Some(true) {
                return Ok(out);
            }
        }
    }

    /// Delete one object (no error when it is already gone).
    pub async fn delete(&self, obj: &ObjectUrl) -> Result<(), BackupError> {
        self.client
            .delete_object()
            .bucket(&obj.bucket)
            .key(&obj.key)
            .send()
            .await
            .map_err(|e| s3_error("DeleteObject", obj, &e))?;
        Ok(())
    }

    /// Multipart uploads still open under a prefix, as (key, upload id).
    pub async fn open_uploads(
        &self,
        prefix: &ObjectUrl,
    ) -> Result<Vec<(String, String)>, BackupError> {
        let out = self
            .client
            .list_multipart_uploads()
            .bucket(&prefix.bucket)
            .prefix(prefix.as_prefix())
            .send()
            .await
            .map_err(|e| s3_error("ListMultipartUploads", prefix, &e))?;
        Ok(out
            .uploads()
            .iter()
            .map(|u| {
                (
                    u.key().unwrap_or_default().to_string(),
                    u.upload_id().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }
}

/// Map an SDK error to ours, keeping the whole cause chain (connection refused, 403 ...).
pub(crate) fn s3_error<E>(op: &'static str, obj: &ObjectUrl, err: &E) -> BackupError
where
    E: std::error::Error,
{
    BackupError::S3 {
        op,
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        message: cause_chain(err),
    }
}

/// Each cause's `Display`, outermost first, repeats dropped: the SDK's own
/// `DisplayErrorContext` appends a debug dump of the raw HTTP response, too long for an
/// Event or a status condition.
fn cause_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let mut text = parts.join(": ");
    if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        text.push_str(
            " (the endpoint's certificate is not signed by a CA this image trusts: install ca-certificates in the image)",
        );
    }
    text
}
