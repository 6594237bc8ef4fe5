//! The idempotent executor: runs one [`Action`] against the servers. Every step can be
//! repeated (an engine restarted mid-way re-observes and repeats it safely).

use crate::model::{Action, Config, Credentials, Event, Memory, NodeAddr, acks_for};
use crate::observe::connect;
use flavor::{Flavor, SemiSync, SourceSpec};
use mysql_async::Conn;
use mysql_async::prelude::*;
use std::time::Duration;

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{node}: {message}")]
    Node { node: String, message: String },
    #[error("unknown node {0:?} (not in the cluster's node list)")]
    UnknownNode(String),
    #[error("{0}")]
    Refused(String),
}

/// What the executor needs to talk to the servers.
#[derive(Clone)]
pub struct Servers {
    pub flavor: Flavor,
    pub nodes: Vec<NodeAddr>,
    pub creds: Credentials,
    pub config: Config,
}

impl Servers {
    pub fn addr(&self, name: &str) -> Result<&NodeAddr, ExecError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| ExecError::UnknownNode(name.to_string()))
    }

    /// Open an admin connection to `name` with the probe timeout.
    pub async fn conn(&self, name: &str) -> Result<Conn, ExecError> {
        let addr = self.addr(name)?;
        connect(addr, &self.creds, self.config.probe_timeout)
            .await
            .map_err(|message| ExecError::Node {
                node: name.to_string(),
                message,
            })
    }

    /// Run statements in order; "already done" errors count as success.
    pub async fn run(
        &self,
        conn: &mut Conn,
        node: &str,
        stmts: &[String],
    ) -> Result<(), ExecError> {
        // Never queue behind a backup's locks for long while holding our own (the
        // replication statements take the server's replication lock first).
        let bounded = format!("SET SESSION lock_wait_timeout = {LOCK_WAIT_TIMEOUT_SECS}");
        for s in std::iter::once(&bounded).chain(stmts) {
            match conn.query_drop(s.as_str()).await {
                Ok(()) => {}
                Err(mysql_async::Error::Server(e))
                    if self.flavor.harmless_error_codes().contains(&e.code) => {}
                Err(e) => {
                    return Err(ExecError::Node {
                        node: node.to_string(),
                        message: format!("{s}: {e}"),
                    });
                }
            }
        }
        Ok(())
    }

    /// Make `node` the writable primary: forget any source, become a semi-sync source
    /// when `semi_sync` (and the config wants it), then accept writes.
    pub async fn configure_primary(&self, node: &str, semi_sync: bool) -> Result<(), ExecError> {
        let f = self.flavor;
        let mut c = self.conn(node).await?;
        let mut stmts = vec![
            f.stop_replica().to_string(),
            f.reset_replica_all().to_string(),
        ];
        let replicas = self.nodes.len().saturating_sub(1);
        if semi_sync && self.config.semi_sync && replicas > 0 {
            stmts.extend(f.enable_semi_sync_source(SemiSync {
                wait_for_acks: acks_for(replicas),
                timeout_ms: self.config.semi_sync_timeout.as_millis() as u64,
            }));
        } else {
            stmts.extend(f.disable_semi_sync_source());
        }
        stmts.push(f.set_writable().to_string());
        self.run(&mut c, node, &stmts).await
    }

    /// Refuse writes on `node`. Client sessions are killed first and again after, so a
    /// commit stuck waiting for a semi-sync ack cannot block the switch (its client never
    /// got an acknowledgement; the transaction is then errant and the node is re-cloned).
    pub async fn fence(&self, node: &str) -> Result<(), ExecError> {
        let mut c = self.conn(node).await?;
        for _ in 0..3 {
            self.kill_clients(&mut c, node).await?;
            let set = tokio::time::timeout(
                self.config.probe_timeout,
                c.query_drop(self.flavor.set_read_only()),
            )
            .await;
            match set {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => {
                    return Err(ExecError::Node {
                        node: node.into(),
                        message: e.to_string(),
                    });
                }
                Err(_) => c = self.conn(node).await?,
            }
        }
        Err(ExecError::Node {
            node: node.into(),
            message: "could not set read_only (sessions keep it busy)".into(),
        })
    }

    /// Kill every client session except replication and our own. Sessions of the admin
    /// user are killed too: the heartbeat writer (and any other admin session) can be stuck
    /// waiting for a semi-sync ack, and such a session keeps `read_only` from being set.
    /// The engine's other admin connections simply reconnect.
    pub async fn kill_clients(&self, c: &mut Conn, node: &str) -> Result<usize, ExecError> {
        let q = self
            .flavor
            .select_client_connections(&[self.creds.repl_user.as_str()])
            .map_err(|e| ExecError::Refused(e.to_string()))?;
        let ids: Vec<u64> = c.query(q).await.map_err(|e| ExecError::Node {
            node: node.into(),
            message: e.to_string(),
        })?;
        for id in &ids {
            let _ = c.query_drop(format!("KILL CONNECTION {id}")).await;
        }
        Ok(ids.len())
    }

    /// Stop receiving from the old primary (fencing: it collects no more acks).
    pub async fn stop_io(&self, node: &str) -> Result<(), ExecError> {
        let mut c = self.conn(node).await?;
        self.run(&mut c, node, &[self.flavor.stop_io_thread().to_string()])
            .await
    }

    /// Point `node` at `source`: read-only, semi-sync acks, GTID auto-position.
    pub async fn replicate_from(&self, node: &str, source: &str) -> Result<(), ExecError> {
        let f = self.flavor;
        let src = self.addr(source)?.clone();
        let mut c = self.conn(node).await?;
        let mut stmts = vec![f.set_read_only().to_string(), f.stop_replica().to_string()];
        stmts.extend(f.disable_semi_sync_source());
        if self.config.semi_sync {
            stmts.extend(f.enable_semi_sync_replica());
        }
        if f == Flavor::Mariadb {
            // A former primary's own writes are in gtid_binlog_pos but not gtid_slave_pos;
            // current_pos holds both (nodes with errant GTIDs never get here).
            stmts.push("SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos".to_string());
        }
        let change = f
            .change_source(&SourceSpec {
                host: &src.host,
                port: src.port,
                user: &self.creds.repl_user,
                password: &self.creds.repl_password,
                connect_retry_secs: self.config.connect_retry_secs,
                heartbeat_period_secs: 1.0,
            })
            .map_err(|e| ExecError::Refused(e.to_string()))?;
        stmts.push(change);
        stmts.push(f.start_replica().to_string());
        self.run(&mut c, node, &stmts).await
    }

    /// Block until `node` has applied `position` (its relay log), up to `timeout`.
    pub async fn wait_applied(
        &self,
        node: &str,
        position: &str,
        timeout: Duration,
    ) -> Result<(), ExecError> {
        if position.is_empty() {
            return Ok(());
        }
        let mut c = self.conn(node).await?;
        let q = self
            .flavor
            .wait_for_gtid(position, timeout.as_secs().max(1) as u32)
            .map_err(|e| ExecError::Refused(e.to_string()))?;
        let r: Option<i64> = c.query_first(q).await.map_err(|e| ExecError::Node {
            node: node.into(),
            message: e.to_string(),
        })?;
        match r {
            Some(0) => Ok(()),
            other => Err(ExecError::Node {
                node: node.into(),
                message: format!("did not apply {position} within {timeout:?} (result {other:?})"),
            }),
        }
    }
}

/// Seconds an executor statement may wait for a metadata or backup lock.
pub const LOCK_WAIT_TIMEOUT_SECS: u32 = 10;

/// Run one non-failover action; failover and switchover live in [`crate::failover`].
pub async fn execute(servers: &Servers, action: &Action, mem: &mut Memory) -> Vec<Event> {
    let result = match action {
        Action::ConfigurePrimary { node, semi_sync } => servers
            .configure_primary(node, *semi_sync)
            .await
            .map(|_| {
                tracing::info!(node = %node, semi_sync = *semi_sync, "primary configured: writable, no replication");
                Vec::new()
            }),
        Action::SetReadOnly { node, reason } => servers.fence(node).await.map(|_| {
            tracing::warn!(node = %node, "set read-only: {reason}");
            vec![Event::SplitBrainFenced { node: node.clone() }]
        }),
        Action::ReplicateFrom { node, source } => {
            servers.replicate_from(node, source).await.map(|_| {
                vec![Event::Repointed {
                    node: node.clone(),
                    source: source.clone(),
                }]
            })
        }
        Action::Report { node, message } => {
            tracing::warn!(node = ?node, "{message}");
            Ok(
                match (node, mem.errant.get(node.as_deref().unwrap_or_default())) {
                    (Some(n), Some(g)) => vec![Event::ErrantReplica {
                        node: n.clone(),
                        gtids: g.to_string(),
                    }],
                    _ => vec![Event::FailoverBlocked {
                        reason: message.clone(),
                    }],
                },
            )
        }
        Action::Failover { .. } => Ok(Vec::new()),
    };
    result.unwrap_or_else(|e| {
        vec![Event::ActionFailed {
            action: format!("{action:?}"),
            error: e.to_string(),
        }]
    })
}
