//! The sidecar agent beside each mysqld: `/health` (process up), `/ready` (mysqld up and
//! configured by the operator), and `GET /xbackup`, the physical backup stream peers
//! clone from and backup Jobs upload, compatible with presslabs' sidecar. Beside the
//! server it runs the HA engine's heartbeat writer for its pod (writing only while the
//! local mysqld is writable, i.e. on the primary).
//!
//! [`Agent`] holds the configuration; [`router`] builds the HTTP routes; [`serve`] runs
//! them on a listener until the shutdown future resolves.

mod auth;
mod mysql;
mod ready;
mod xbackup;

pub use mysql::MysqlAccess;
pub use ready::Readiness;

use axum::Router;
use axum::routing::get;
use backup::tool::BackupTool;
use policy::{BackupFilter, ClusterInfo};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Why the agent could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid setting {field}: {message}")]
    Config { field: String, message: String },
    #[error("agent server: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything the agent needs to serve one pod.
pub struct Agent {
    pub cluster: ClusterInfo,
    pub pod_name: String,
    /// Basic-auth user and password for `/xbackup` (the operated Secret's backup keys).
    pub backup_user: String,
    pub backup_password: String,
    /// How to reach the local mysqld (for readiness, table listing and the backup tool).
    pub mysql: MysqlAccess,
    pub tool: BackupTool,
    /// The server's option file, passed to the backup tool.
    pub defaults_file: Option<PathBuf>,
    /// Scratch directory of the backup tool while streaming.
    pub scratch_dir: PathBuf,
    /// `spec.xtrabackupExtraArgs`: appended to every backup tool command line.
    pub backup_extra_args: Vec<String>,
    /// The `backup-filter` hook: the built-in rule or a chain of policy modules.
    pub filter: Arc<dyn BackupFilter>,
    /// The heartbeat writer's account and period; `None` runs no writer.
    pub heartbeat: Option<HeartbeatConfig>,
}

/// The heartbeat writer's settings: an account allowed to write `sys_operator.heartbeat`
/// (the operator user; the backup account cannot) and how often to beat.
#[derive(Clone)]
pub struct HeartbeatConfig {
    pub user: String,
    pub password: String,
    pub interval: std::time::Duration,
}

impl std::fmt::Debug for HeartbeatConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeartbeatConfig")
            .field("user", &self.user)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Shared state of the HTTP handlers.
pub(crate) struct State {
    pub agent: Agent,
    /// One backup stream at a time (presslabs had the same limit).
    pub streams: Arc<Semaphore>,
}

/// The agent's routes: `/health`, `/ready`, `/xbackup`.
pub fn router(agent: Agent) -> Router {
    let state = Arc::new(State {
        agent,
        streams: Arc::new(Semaphore::new(1)),
    });
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready::handler))
        .route("/xbackup", get(xbackup::handler))
        .with_state(state)
}

/// `OK`, naming the pod in [`backup::peer::POD_HEADER`].
async fn health(
    axum::extract::State(st): axum::extract::State<Arc<State>>,
) -> impl axum::response::IntoResponse {
    (
        [(backup::peer::POD_HEADER, st.agent.pod_name.clone())],
        "OK",
    )
}

/// Serve until `shutdown` resolves; the heartbeat writer (if configured) runs for as
/// long and is stopped before this returns.
pub async fn serve(
    listener: TcpListener,
    agent: Agent,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    let span = tracing::info_span!("agent", cluster = %agent.cluster.name, pod = %agent.pod_name);
    let _entered = span.enter();
    tracing::info!(addr = ?listener.local_addr().ok(), "agent listening");
    let heartbeat = agent.heartbeat.as_ref().map(|hb| {
        tracing::info!(user = %hb.user, interval = ?hb.interval, "heartbeat writer started");
        topology::heartbeat::Heartbeat::spawn(
            agent.mysql.opts_as(&hb.user, &hb.password),
            hb.interval,
        )
    });
    drop(_entered);
    let served = axum::serve(listener, router(agent))
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(hb) = heartbeat {
        hb.stop().await;
        tracing::info!("heartbeat writer stopped");
    }
    served?;
    Ok(())
}
