//! Talking to a peer's agent: is it healthy, and pull its backup stream (`GET /xbackup`,
//! Basic auth) as a reader that fails unless the stream ends with the
//! `X-Backup-Status: Success` trailer, so a cut or failed backup is never taken for whole.

use crate::BackupError;
use crate::compress::BoxRead;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use policy::Exclusions;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::io::StreamReader;

/// The trailer (and header name) presslabs' sidecar used for the backup outcome.
pub const STATUS_TRAILER: &str = "X-Backup-Status";
/// Trailer value for a complete stream.
pub const STATUS_SUCCESS: &str = "Success";
/// Trailer value for a failed stream.
pub const STATUS_FAILED: &str = "Failed";
/// Header with the stream's exclusions (base64 of the JSON `policy::Exclusions`).
pub const EXCLUSIONS_HEADER: &str = "X-Backup-Exclusions";
/// The agent's `/health` answer names its pod in this header: `init` asks the `-master`
/// Service's agent who the primary is (a restarted pod's role, for the init-script hook).
pub const POD_HEADER: &str = "X-Mysql-Operator-Pod";
/// The agent's port in a pod (presslabs' sidecar port).
pub const AGENT_PORT: u16 = 8080;

/// Basic-auth credentials for `/xbackup` (the operated Secret's backup user).
#[derive(Clone)]
pub struct PeerAuth {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerAuth")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl PeerAuth {
    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        let raw = format!("{}:{}", self.user, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// `host:port` of an agent; a bare host gets [`AGENT_PORT`].
pub fn agent_address(host: &str) -> String {
    if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_string()
    } else {
        format!("{host}:{AGENT_PORT}")
    }
}

async fn connect(
    addr: &str,
    timeout: Duration,
) -> Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>, BackupError> {
    let url = format!("http://{addr}");
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| BackupError::AgentUnreachable {
            url: url.clone(),
            message: format!("no connection within {}s", timeout.as_secs()),
        })?
        .map_err(|e| BackupError::AgentUnreachable {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| BackupError::AgentUnreachable {
            url: url.clone(),
            message: e.to_string(),
        })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "agent connection closed with an error");
        }
    });
    Ok(sender)
}

/// The agent's `/health` answer at `addr` within `timeout`: its status code and the
/// [`POD_HEADER`] value; `None` when nothing answers in time.
async fn health(addr: &str, timeout: Duration) -> Option<(u16, Option<String>)> {
    let probe = async {
        let mut sender = connect(addr, timeout).await.ok()?;
        let req = Request::get("/health")
            .header(hyper::header::HOST, addr)
            .body(Empty::<Bytes>::new())
            .ok()?;
        let resp = sender.send_request(req).await.ok()?;
        let pod = resp
            .headers()
            .get(POD_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        Some((resp.status().as_u16(), pod))
    };
    tokio::time::timeout(timeout, probe).await.ok().flatten()
}

/// Whether the agent at `addr` answers `/health` with 200 within `timeout`.
pub async fn is_healthy(addr: &str, timeout: Duration) -> bool {
    health(addr, timeout)
        .await
        .is_some_and(|(status, _)| status == 200)
}

/// The pod behind the agent at `addr` (its `/health` answer's [`POD_HEADER`]), or `None`
/// when nothing answers within `timeout`.
pub async fn agent_pod(addr: &str, timeout: Duration) -> Option<String> {
    match health(addr, timeout).await? {
        (200, pod) => pod,
        _ => None,
    }
}

/// What a stream leaves out, sent by the agent in the [`EXCLUSIONS_HEADER`] header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamManifest {
    /// What the peer's backup-filter hook left out.
    #[serde(default)]
    pub exclusions: Exclusions,
    /// `CREATE TABLE` statements of the excluded tables, so the receiver can re-create
    /// them empty after dropping their orphaned dictionary entries.
    #[serde(default)]
    pub create_statements: Vec<String>,
}

impl StreamManifest {
    /// The header value: base64 of the JSON (header values must be ASCII).
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Parse a header value written by [`StreamManifest::encode`].
    pub fn decode(value: &[u8]) -> Option<StreamManifest> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()?;
        serde_json::from_slice(&raw).ok()
    }
}

/// A backup stream being received from a peer.
pub struct PeerStream {
    /// The xbstream bytes; reading fails unless the stream ended with `Success`.
    pub reader: BoxRead,
    /// What the stream left out (empty for presslabs sidecars, which send no header).
    pub manifest: StreamManifest,
}

/// Ask the agent at `addr` for its backup stream. `kind` (`peer-clone`,
/// `scheduled-backup`, `on-demand-backup`) tells its backup-filter hook what the stream
/// is for. Non-200 answers become [`BackupError::Agent`] with the agent's message.
pub async fn pull_stream(
    addr: &str,
    auth: &PeerAuth,
    kind: &str,
) -> Result<PeerStream, BackupError> {
    let url = format!("http://{addr}/xbackup?kind={kind}");
    let mut sender = connect(addr, Duration::from_secs(10)).await?;
    let req = Request::get(format!("/xbackup?kind={kind}"))
        .header(hyper::header::HOST, addr)
        .header(hyper::header::AUTHORIZATION, auth.header())
        // hyper (and HTTP/1.1) only send trailers to clients that ask for them.
        .header(hyper::header::TE, "trailers")
        .body(Empty::<Bytes>::new())
        .map_err(|e| BackupError::AgentUnreachable {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| BackupError::AgentUnreachable {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let status = resp.status().as_u16();
    if status != 200 {
        let body = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body[..body.len().min(2048)])
            .trim()
            .to_string();
        return Err(BackupError::Agent {
            url,
            status,
            message: if text.is_empty() {
                "(no message)".into()
            } else {
                text
            },
        });
    }
    let manifest = match resp.headers().get(EXCLUSIONS_HEADER) {
        None => StreamManifest::default(),
        Some(v) => StreamManifest::decode(v.as_bytes()).ok_or_else(|| BackupError::Agent {
            url: url.clone(),
            status,
            message: format!("unreadable {EXCLUSIONS_HEADER} header"),
        })?,
    };
    let body = resp.into_body();
    let stream = futures::stream::unfold(Some(body), |state| async move {
        let mut body = state?;
        loop {
            let failed = |msg: String| Some((Err(std::io::Error::other(msg)), None));
            match body.frame().await {
                Some(Ok(frame)) => {
                    let frame = match frame.into_data() {
                        Ok(data) => return Some((Ok(data), Some(body))),
                        Err(frame) => frame,
                    };
                    let Ok(trailers) = frame.into_trailers() else {
                        continue;
                    };
                    let value = trailers
                        .get(STATUS_TRAILER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("missing")
                        .to_string();
                    if value != STATUS_SUCCESS {
                        return failed(format!(
                            "the peer's backup failed ({STATUS_TRAILER}: {value})"
                        ));
                    }
                    // Only the end of the body may follow the success trailer.
                    while let Some(frame) = body.frame().await {
                        if let Err(e) = frame {
                            return failed(format!("the peer's stream broke off: {e}"));
                        }
                    }
                    return None;
                }
                Some(Err(e)) => return failed(format!("the peer's stream broke off: {e}")),
                None => {
                    return failed(format!(
                        "the peer's stream ended without the `{STATUS_TRAILER}: \
                         {STATUS_SUCCESS}` trailer (backup incomplete)"
                    ));
                }
            }
        }
    });
    Ok(PeerStream {
        reader: Box::pin(StreamReader::new(Box::pin(stream))),
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_auth() {
        assert_eq!(agent_address("mysql-0.mysql"), "mysql-0.mysql:8080");
        assert_eq!(agent_address("127.0.0.5:18080"), "127.0.0.5:18080");
        let auth = PeerAuth {
            user: "u".into(),
            password: "p".into(),
        };
        assert_eq!(auth.header(), "Basic dTpw");
        let secret = PeerAuth {
            user: "backup".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
