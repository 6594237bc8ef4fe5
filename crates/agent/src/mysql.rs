//! The agent's view of its local mysqld: connection settings, the table list the
//! backup-filter hook decides on, and the replication state readiness looks at.

use mysql_async::prelude::Queryable;
use policy::{Exclusions, TableInfo};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the pod's mysqld.
#[derive(Clone)]
pub struct MysqlAccess {
    pub host: String,
    pub port: u16,
    pub socket: Option<PathBuf>,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for MysqlAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlAccess")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket", &self.socket)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// What readiness and the stream need to know about the server right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerState {
    pub read_only: bool,
    /// A replication source is configured.
    pub is_replica: bool,
    /// Both replication threads run (false when not a replica).
    pub replicating: bool,
}

impl MysqlAccess {
    fn opts(&self) -> mysql_async::Opts {
        self.opts_as(&self.user, &self.password)
    }

    /// Connection options for the same server under another account (the heartbeat
    /// writer uses the operator user).
    pub(crate) fn opts_as(&self, user: &str, password: &str) -> mysql_async::Opts {
        let mut b = mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(user.to_string()))
            .pass(Some(password.to_string()))
            .prefer_socket(false)
            .wait_timeout(Some(60));
        if let Some(s) = &self.socket {
            b = b.socket(Some(s.display().to_string())).prefer_socket(true);
        }
        b.into()
    }

    /// One connection, failing within `timeout`.
    pub(crate) async fn connect(&self, timeout: Duration) -> Result<mysql_async::Conn, String> {
        match tokio::time::timeout(timeout, mysql_async::Conn::new(self.opts())).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(format!("mysqld at {}:{}: {e}", self.host, self.port)),
            Err(_) => Err(format!(
                "mysqld at {}:{} did not answer within {}s",
                self.host,
                self.port,
                timeout.as_secs()
            )),
        }
    }

    /// User tables (system schemas left out), for the backup-filter hook.
    pub(crate) async fn tables(&self) -> Result<Vec<TableInfo>, String> {
        let mut conn = self.connect(Duration::from_secs(5)).await?;
        let rows: Vec<(String, String, String, u64)> = conn
            .query(
                "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(ENGINE, ''), \
                 CAST(COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) AS UNSIGNED) \
                 FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND \
                 TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
                 ORDER BY TABLE_SCHEMA, TABLE_NAME",
            )
            .await
            .map_err(|e| format!("listing tables: {e}"))?;
        let _ = conn.disconnect().await;
        Ok(rows
            .into_iter()
            .map(|(schema, name, engine, size_bytes)| TableInfo {
                schema,
                name,
                engine,
                size_bytes,
            })
            .collect())
    }

    /// `CREATE TABLE` statements (schema-qualified) of the excluded tables, so the receiver
    /// can re-create them empty. Tables that vanished meanwhile are skipped.
    pub(crate) async fn create_statements(&self, ex: &Exclusions) -> Result<Vec<String>, String> {
        if ex.tables.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.connect(Duration::from_secs(5)).await?;
        let mut out = Vec::new();
        for t in &ex.tables {
            let q = format!("SHOW CREATE TABLE {}.{}", ident(&t.schema), ident(&t.name));
            let row: Option<(String, String)> = match conn.query_first(q).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(table = %format!("{}.{}", t.schema, t.name), error = %e, "no CREATE TABLE for an excluded table");
                    continue;
                }
            };
            if let Some((_, stmt)) = row {
                let plain = format!("CREATE TABLE {}", ident(&t.name));
                let qualified = format!("CREATE TABLE {}.{}", ident(&t.schema), ident(&t.name));
                out.push(stmt.replacen(&plain, &qualified, 1));
            }
        }
        let _ = conn.disconnect().await;
        Ok(out)
    }

    /// read_only and replication state (MariaDB `SHOW ALL SLAVES STATUS`, MySQL
    /// `SHOW REPLICA STATUS`).
    pub(crate) async fn state(&self, timeout: Duration) -> Result<ServerState, String> {
        let mut conn = self.connect(timeout).await?;
        let read_only: Option<u8> = conn
            .query_first("SELECT @@GLOBAL.read_only")
            .await
            .map_err(|e| format!("reading read_only: {e}"))?;
        let mut rows: Vec<mysql_async::Row> = match conn.query("SHOW ALL SLAVES STATUS").await {
            Ok(r) => r,
            Err(_) => conn
                .query("SHOW REPLICA STATUS")
                .await
                .map_err(|e| format!("reading replication status: {e}"))?,
        };
        let _ = conn.disconnect().await;
        let mut replicating = !rows.is_empty();
        for row in rows.iter_mut() {
            let io = column(row, &["Slave_IO_Running", "Replica_IO_Running"]);
            let sql = column(row, &["Slave_SQL_Running", "Replica_SQL_Running"]);
            replicating &= io.as_deref() == Some("Yes") && sql.as_deref() == Some("Yes");
        }
        Ok(ServerState {
            read_only: read_only.unwrap_or(0) != 0,
            is_replica: !rows.is_empty(),
            replicating,
        })
    }
}

fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn column(row: &mysql_async::Row, names: &[&str]) -> Option<String> {
    for n in names {
        if let Some(idx) = row.columns_ref().iter().position(|c| c.name_str() == *n) {
            return row.get_opt::<String, _>(idx).and_then(Result::ok);
        }
    }
    None
}
