//! Observe one node over `mysql_async` with short timeouts: reachability, read-only,
//! executed and received GTID sets, replication source and thread state, semi-sync
//! switches and heartbeat lag.

use crate::model::{Credentials, NodeAddr, NodeState, ReplicaStatus, Seen, ThreadState};
use flavor::{Flavor, GtidSet};
use mysql_async::prelude::*;
use mysql_async::{Conn, Row};
use std::time::Duration;

/// Connection options for the admin account on `addr` (no pooling: one probe, one conn).
pub fn admin_opts(addr: &NodeAddr, creds: &Credentials, timeout: Duration) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(addr.host.clone())
        .tcp_port(addr.port)
        .user(Some(creds.admin_user.clone()))
        .pass(Some(creds.admin_password.clone()))
        .prefer_socket(false)
        .wait_timeout(Some(timeout.as_secs().max(1) as usize * 60))
        .into()
}

/// Open a connection within `timeout`.
pub async fn connect(
    addr: &NodeAddr,
    creds: &Credentials,
    timeout: Duration,
) -> Result<Conn, String> {
    let open = async {
        let ips = crate::dns::resolve(&addr.host, timeout).await?;
        let opts =
            mysql_async::OptsBuilder::from_opts(admin_opts(addr, creds, timeout)).resolved_ips(ips);
        Conn::new(opts)
            .await
            .map_err(|e| format!("connect {}:{}: {e}", addr.host, addr.port))
    };
    match tokio::time::timeout(timeout, open).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "connect {}:{}: timed out after {timeout:?}",
            addr.host, addr.port
        )),
    }
}

/// Observe `addr`; `all` maps a replica's configured source back to a node name.
pub async fn observe_node(
    flavor: Flavor,
    addr: &NodeAddr,
    all: &[NodeAddr],
    creds: &Credentials,
    timeout: Duration,
) -> NodeState {
    let res = tokio::time::timeout(timeout, async {
        let mut conn = connect(addr, creds, timeout).await?;
        let seen = probe(flavor, &mut conn, all)
            .await
            .map_err(|e| format!("probe {}: {e}", addr.name));
        let _ = conn.disconnect().await;
        seen
    })
    .await;
    match res {
        Ok(Ok(seen)) => NodeState {
            name: addr.name.clone(),
            seen: Some(seen),
            error: None,
        },
        Ok(Err(e)) => NodeState {
            name: addr.name.clone(),
            seen: None,
            error: Some(e),
        },
        Err(_) => NodeState {
            name: addr.name.clone(),
            seen: None,
            error: Some(format!("probe {}: timed out after {timeout:?}", addr.name)),
        },
    }
}

async fn probe(
    flavor: Flavor,
    conn: &mut Conn,
    all: &[NodeAddr],
) -> Result<Seen, mysql_async::Error> {
    let (server_id, read_only, executed): (u32, i64, Option<String>) = conn
        .query_first(format!(
            "SELECT @@server_id, @@GLOBAL.read_only, ({})",
            flavor.select_gtid_executed()
        ))
        .await?
        .unwrap_or((0, 1, None));
    let format = flavor.gtid_format();
    let executed = GtidSet::parse(format, executed.as_deref().unwrap_or_default())
        .unwrap_or_else(|_| GtidSet::empty(format));
    let (semi_source, semi_replica): (i64, i64) = conn
        .query_first(semi_sync_query(flavor))
        .await
        .ok()
        .flatten()
        .unwrap_or((0, 0));
    let status: Option<Row> = conn.query_first(flavor.show_replica_status()).await?;
    let replica = status.map(|row| replica_status(flavor, &row, all));
    let heartbeat_lag = if replica.is_some() {
        conn.query_first::<Option<i64>, _>(flavor::schema::HEARTBEAT_AGE_MICROS)
            .await
            .ok()
            .flatten()
            .flatten()
            .map(|us| us.max(0) as f64 / 1e6)
    } else {
        None
    };
    Ok(Seen {
        server_id,
        read_only: read_only != 0,
        executed,
        replica,
        heartbeat_lag,
        semi_sync_source: semi_source != 0,
        semi_sync_replica: semi_replica != 0,
    })
}

fn semi_sync_query(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Mariadb => {
            "SELECT @@GLOBAL.rpl_semi_sync_master_enabled, @@GLOBAL.rpl_semi_sync_slave_enabled"
        }
        Flavor::Mysql => {
            "SELECT \
             COALESCE((SELECT VARIABLE_VALUE = 'ON' FROM performance_schema.global_variables WHERE VARIABLE_NAME = 'rpl_semi_sync_source_enabled'), 0), \
             COALESCE((SELECT VARIABLE_VALUE = 'ON' FROM performance_schema.global_variables WHERE VARIABLE_NAME = 'rpl_semi_sync_replica_enabled'), 0)"
        }
    }
}

fn col(row: &Row, name: &str) -> Option<String> {
    let idx = row
        .columns_ref()
        .iter()
        .position(|c| c.name_str() == name)?;
    match row.as_ref(idx)? {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        v => Some(v.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn thread(running: Option<String>, error: &str) -> ThreadState {
    match running.as_deref() {
        Some("Yes") => ThreadState::Running,
        Some("Connecting") => ThreadState::Connecting,
        _ if !error.is_empty() => ThreadState::Error,
        _ => ThreadState::Stopped,
    }
}

fn replica_status(flavor: Flavor, row: &Row, all: &[NodeAddr]) -> ReplicaStatus {
    let c = flavor.status_columns();
    let source_host = col(row, c.source_host).unwrap_or_default();
    let source_port: u16 = col(row, c.source_port)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let io_err = col(row, c.last_io_error).unwrap_or_default();
    let sql_err = col(row, c.last_sql_error).unwrap_or_default();
    let format = flavor.gtid_format();
    let retrieved = GtidSet::parse(format, &col(row, c.retrieved).unwrap_or_default())
        .unwrap_or_else(|_| GtidSet::empty(format));
    let source_node = all
        .iter()
        .find(|a| a.host == source_host && a.port == source_port)
        .map(|a| a.name.clone());
    let io = thread(col(row, c.io_running), &io_err);
    let sql = thread(col(row, c.sql_running), &sql_err);
    let last_error = [io_err, sql_err]
        .into_iter()
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    ReplicaStatus {
        source_host,
        source_port,
        source_node,
        io,
        sql,
        last_error,
        retrieved,
        seconds_behind: col(row, c.seconds_behind).and_then(|s| s.parse().ok()),
    }
}
