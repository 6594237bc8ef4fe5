//! The heartbeat writer: once a second, on whichever server is writable, upsert one row in
//! `sys_operator.heartbeat` with the primary's UTC time. Replicas' lag is then "now minus
//! the replicated timestamp" (see [`crate::observe`]). The agent sidecar runs one per pod;
//! the sandbox runs one per node. A read-only server is skipped inside the statement
//! itself, so the writer can never create errant transactions on a replica.

use mysql_async::prelude::*;
use std::time::Duration;
use tokio::sync::watch;

const CREATE_DB: &str = "CREATE DATABASE IF NOT EXISTS sys_operator";
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS sys_operator.heartbeat \
     (id INT PRIMARY KEY, ts DATETIME(6) NOT NULL, server_id INT UNSIGNED NOT NULL) ENGINE=InnoDB";
/// Writes nothing (so binlogs nothing) when the server is read-only.
const BEAT: &str = "REPLACE INTO sys_operator.heartbeat (id, ts, server_id) \
     SELECT 1, UTC_TIMESTAMP(6), @@server_id FROM DUAL WHERE @@GLOBAL.read_only = 0";

/// A running writer; dropping the handle (or calling [`Heartbeat::stop`]) stops it.
pub struct Heartbeat {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Heartbeat {
    /// Start writing to the server behind `opts` every `interval`. Errors (server down,
    /// read-only) are retried silently on the next beat.
    pub fn spawn(opts: mysql_async::Opts, interval: Duration) -> Heartbeat {
        let (stop, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut conn: Option<mysql_async::Conn> = None;
            let mut table_ready = false;
            loop {
                if conn.is_none() {
                    conn = tokio::time::timeout(
                        Duration::from_secs(1),
                        mysql_async::Conn::new(opts.clone()),
                    )
                    .await
                    .ok()
                    .and_then(|r| r.ok());
                }
                if let Some(c) = conn.as_mut() {
                    let ok = beat(c, &mut table_ready).await;
                    if !ok {
                        conn = None;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = rx.changed() => break,
                }
            }
        });
        Heartbeat {
            stop,
            task: Some(task),
        }
    }

    /// Stop and wait for the writer task.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

async fn beat(c: &mut mysql_async::Conn, table_ready: &mut bool) -> bool {
    let fut = async {
        if !*table_ready {
            let ro: Option<i64> = c.query_first("SELECT @@GLOBAL.read_only").await?;
            if ro != Some(0) {
                return Ok::<bool, mysql_async::Error>(true);
            }
            let exists: Option<i64> = c
                .query_first(
                    "SELECT COUNT(*) FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = 'sys_operator' AND TABLE_NAME = 'heartbeat'",
                )
                .await?;
            if exists != Some(1) {
                c.query_drop(CREATE_DB).await?;
                c.query_drop(CREATE_TABLE).await?;
            }
            *table_ready = true;
        }
        c.query_drop(BEAT).await?;
        Ok(true)
    };
    match tokio::time::timeout(Duration::from_secs(2), fut).await {
        Ok(Ok(_)) => true,
        Ok(Err(mysql_async::Error::Server(e))) => {
            // e.g. the table vanished (re-clone): re-check next time
            tracing::debug!(code = e.code, "heartbeat: {}", e.message);
            *table_ready = false;
            true
        }
        _ => false,
    }
}
