//! `GET /xbackup`: authenticate, ask the backup-filter hook which tables to leave out,
//! run the backup tool with `--stream=xbstream`, and send its stdout as the body. The
//! outcome goes in the `X-Backup-Status` trailer (`Success`/`Failed`), as presslabs'
//! sidecar did; a client that did not ask for trailers (`TE: trailers`) sees a failed
//! stream as a broken connection instead. The exclusions travel in the
//! `X-Backup-Exclusions` header (base64 JSON) so the receiver can clean up after them.

use crate::{State, auth};
use axum::body::Body;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use backup::peer::{STATUS_FAILED, STATUS_SUCCESS, STATUS_TRAILER, StreamManifest};
use backup::tool::ServerAccess;
use bytes::{Bytes, BytesMut};
use http_body_util::StreamBody;
use policy::{BackupFilterRequest, BackupKind};
use serde::Deserialize;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    kind: Option<String>,
}

fn plain(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, format!("{}\n", msg.into())).into_response()
}

pub(crate) async fn handler(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    let agent = &state.agent;
    if !auth::is_authorized(&headers, &agent.backup_user, &agent.backup_password) {
        tracing::warn!("refused /xbackup: wrong or missing backup credentials");
        let mut r = plain(
            StatusCode::UNAUTHORIZED,
            "wrong or missing backup credentials (Basic auth with the cluster Secret's backup user)",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mysql-operator-agent\""),
        );
        return r;
    }
    let kind = match params.kind.as_deref() {
        None | Some("peer-clone") => BackupKind::PeerClone,
        Some("scheduled-backup") => BackupKind::ScheduledBackup,
        Some("on-demand-backup") => BackupKind::OnDemandBackup,
        Some(other) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown kind `{other}`; use peer-clone, scheduled-backup or on-demand-backup"
                ),
            );
        }
    };
    let Ok(permit) = state.streams.clone().try_acquire_owned() else {
        return plain(
            StatusCode::TOO_MANY_REQUESTS,
            "a backup stream is already running on this pod; retry when it ends",
        );
    };
    let tables = match agent.mysql.tables().await {
        Ok(t) => t,
        Err(e) => return plain(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let server = match agent.mysql.state(Duration::from_secs(5)).await {
        Ok(s) => s,
        Err(e) => return plain(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let request = BackupFilterRequest {
        cluster: agent.cluster.clone(),
        kind,
        tables,
        settings: "{}".into(),
    };
    let filter = agent.filter.clone();
    let exclusions = match tokio::task::spawn_blocking(move || filter.exclusions(&request)).await {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => {
            tracing::error!(module = e.module(), error = %e, "backup-filter hook failed; stream refused");
            return failed_before_stream(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("backup-filter hook failed: {e}"),
            );
        }
        Err(e) => {
            return failed_before_stream(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("backup-filter hook panicked: {e}"),
            );
        }
    };
    let create_statements = match agent.mysql.create_statements(&exclusions).await {
        Ok(c) => c,
        Err(e) => return plain(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let manifest = StreamManifest {
        exclusions: exclusions.clone(),
        create_statements,
    };
    if let Err(e) = prepare_scratch(&agent.scratch_dir) {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("scratch dir {}: {e}", agent.scratch_dir.display()),
        );
    }
    let access = ServerAccess {
        defaults_file: agent.defaults_file.clone(),
        datadir: None,
        host: Some(agent.mysql.host.clone()),
        port: Some(agent.mysql.port),
        socket: agent.mysql.socket.clone(),
        user: agent.mysql.user.clone(),
        password: agent.mysql.password.clone(),
        is_replica: server.is_replica,
        scratch_dir: agent.scratch_dir.clone(),
        extra_args: agent.backup_extra_args.clone(),
    };
    let cmd = agent.tool.backup(&access, &exclusions);
    tracing::info!(
        command = %cmd.redacted(),
        ?kind,
        excluded_tables = exclusions.tables.len(),
        excluded_schemas = exclusions.schemas.len(),
        "starting backup stream"
    );
    let mut child = match tokio::process::Command::new(&cmd.program)
        .args(&cmd.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot start {}: {e}", cmd.program),
            );
        }
    };
    let wants_trailers = headers
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
    let (tx, rx) = mpsc::channel::<Result<http_body::Frame<Bytes>, std::io::Error>>(4);
    let program = cmd.program.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take())
        else {
            let _ = tx
                .send(Err(std::io::Error::other("backup tool pipes missing")))
                .await;
            return;
        };
        let err_task = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf).await;
            buf
        });
        let mut client_gone = false;
        let mut read_error = None;
        loop {
            let mut buf = BytesMut::with_capacity(256 * 1024);
            match stdout.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {
                    if tx
                        .send(Ok(http_body::Frame::data(buf.freeze())))
                        .await
                        .is_err()
                    {
                        client_gone = true;
                        break;
                    }
                }
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        if client_gone {
            let _ = child.kill().await;
            tracing::warn!("backup stream client went away; backup tool stopped");
            return;
        }
        let status = child.wait().await;
        let stderr_text = String::from_utf8_lossy(&err_task.await.unwrap_or_default()).to_string();
        let ok = read_error.is_none() && status.as_ref().map(|s| s.success()).unwrap_or(false);
        if ok {
            tracing::info!("backup stream complete");
        } else {
            let tail: Vec<&str> = stderr_text.lines().rev().take(8).collect();
            tracing::error!(
                status = ?status,
                read_error = ?read_error,
                stderr = %tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
                "{program} failed; stream marked Failed"
            );
        }
        if wants_trailers {
            let mut trailers = HeaderMap::new();
            trailers.insert(
                HeaderName::from_static("x-backup-status"),
                HeaderValue::from_static(if ok { STATUS_SUCCESS } else { STATUS_FAILED }),
            );
            let _ = tx.send(Ok(http_body::Frame::trailers(trailers))).await;
        } else if !ok {
            let _ = tx
                .send(Err(std::io::Error::other("backup tool failed")))
                .await;
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = Response::new(Body::new(StreamBody::new(stream)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::TRAILER, HeaderValue::from_static(STATUS_TRAILER));
    match HeaderValue::from_str(&manifest.encode()) {
        Ok(v) => {
            h.insert(HeaderName::from_static("x-backup-exclusions"), v);
        }
        Err(e) => tracing::error!(error = %e, "exclusion manifest not sendable as a header"),
    }
    resp
}

/// A refusal before any backup data: the message as the body, and the outcome both as
/// an `X-Backup-Status: Failed` header and in the trailer (for clients that read only one
/// of them), with the cause in `X-Backup-Error`.
fn failed_before_stream(code: StatusCode, msg: String) -> Response {
    let mut trailers = HeaderMap::new();
    trailers.insert(
        HeaderName::from_static("x-backup-status"),
        HeaderValue::from_static(STATUS_FAILED),
    );
    let error = HeaderValue::from_str(&msg.replace(['\r', '\n'], " "))
        .unwrap_or_else(|_| HeaderValue::from_static("see the response body"));
    trailers.insert(HeaderName::from_static("x-backup-error"), error.clone());
    let frames: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = vec![
        Ok(http_body::Frame::data(Bytes::from(format!("{msg}\n")))),
        Ok(http_body::Frame::trailers(trailers)),
    ];
    let mut resp = Response::new(Body::new(StreamBody::new(futures::stream::iter(frames))));
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(header::TRAILER, HeaderValue::from_static(STATUS_TRAILER));
    h.insert(
        HeaderName::from_static("x-backup-status"),
        HeaderValue::from_static(STATUS_FAILED),
    );
    h.insert(HeaderName::from_static("x-backup-error"), error);
    resp
}

/// An empty scratch dir for the tool (it refuses a target dir holding an old backup).
fn prepare_scratch(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)
}
