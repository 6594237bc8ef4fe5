//! Readiness: mysqld answers, and the operator has configured it — writable (the
//! primary) or replicating with both threads running (a replica). A fresh server the
//! operator has not touched is read-only without replication, so it is not ready.

use crate::State;
use axum::Json;
use axum::extract::State as AxState;
use axum::http::StatusCode;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// The `/ready` answer body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: String,
}

pub(crate) async fn handler(AxState(state): AxState<Arc<State>>) -> (StatusCode, Json<Readiness>) {
    // Bounded as a whole: a status query queued behind a server lock (a backup's, say)
    // must fail the probe within the kubelet's timeout, not hang it.
    let bounded = tokio::time::timeout(
        Duration::from_secs(3),
        state.agent.mysql.state(Duration::from_secs(2)),
    )
    .await
    .unwrap_or_else(|_| Err("mysqld did not answer the status queries within 3s".into()));
    let r = match bounded {
        Err(e) => Readiness {
            ready: false,
            reason: e,
        },
        Ok(s) if s.is_replica && s.replicating => Readiness {
            ready: true,
            reason: "replica with both replication threads running".into(),
        },
        Ok(s) if s.is_replica => Readiness {
            ready: false,
            reason: "replica whose replication threads are not both running".into(),
        },
        Ok(s) if !s.read_only => Readiness {
            ready: true,
            reason: "writable primary".into(),
        },
        Ok(_) => Readiness {
            ready: false,
            reason: "read-only and not replicating: not configured by the operator yet".into(),
        },
    };
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(r))
}
