//! The heartbeat writer: once a second, on whichever server is writable, upsert one row in
//! `sys_operator.heartbeat` (the table and statement of [`flavor::schema`], the same the
//! init SQL creates) with the primary's UTC time. Replicas' lag is then "now minus
//! the replicated timestamp" (see [`crate::observe`]). The agent sidecar runs one per pod;
//! the sandbox runs one per node. A read-only server is skipped inside the statement
//! itself, so the writer can never create errant transactions on a replica.

use mysql_async::prelude::*;
use std::time::Duration;
use tokio::sync::watch;

use flavor::schema::{
    CREATE_HEARTBEAT_TABLE, CREATE_OPERATOR_DB, HEARTBEAT_TABLE_EXISTS, WRITE_HEARTBEAT,
};

/// The longest pause between beats after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// A connection whose statements give up on a lock after 2 s (the beat's own bound).
async fn connect(opts: &mysql_async::Opts) -> Result<mysql_async::Conn, mysql_async::Error> {
    let mut c = mysql_async::Conn::new(opts.clone()).await?;
    c.query_drop("SET SESSION lock_wait_timeout = 2").await?;
    Ok(c)
}

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
            // After a failed beat the next connection waits longer (up to MAX_BACKOFF): a
            // server whose writes hang (a lock, a semi-sync wait) keeps the abandoned
            // statement's thread until it finishes, and a new connection every second
            // would pile them up.
            let mut wait = interval;
            loop {
                if conn.is_none() {
                    conn = tokio::time::timeout(Duration::from_secs(1), connect(&opts))
                        .await
                        .ok()
                        .and_then(|r| r.ok());
                }
                let ok = match conn.as_mut() {
                    Some(c) => beat(c, &mut table_ready).await,
                    None => false,
                };
                if ok {
                    wait = interval;
                } else {
                    conn = None;
                    wait = (wait * 2).min(MAX_BACKOFF.max(interval));
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
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
            let exists: Option<i64> = c.query_first(HEARTBEAT_TABLE_EXISTS).await?;
            if exists != Some(1) {
                c.query_drop(CREATE_OPERATOR_DB).await?;
                c.query_drop(CREATE_HEARTBEAT_TABLE).await?;
            }
            *table_ready = true;
        }
        c.query_drop(WRITE_HEARTBEAT).await?;
        Ok(true)
    };
    match tokio::time::timeout(Duration::from_secs(2), fut).await {
        Ok(Ok(_)) => true,
        Ok(Err(mysql_async::Error::Server(e))) => {
            // e.g. the table vanished (re-clone): re-check next time. Logged at warn: a
            // statement that does not fit the table must not go unnoticed again.
            tracing::warn!(code = e.code, "heartbeat: {}", e.message);
            *table_ready = false;
            true
        }
        _ => false,
    }
}
