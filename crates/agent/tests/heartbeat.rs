//! The agent's heartbeat writer against real MariaDB: on the writable primary it upserts
//! `sys_operator.heartbeat` every interval; on a read-only replica it writes nothing (no
//! row with the replica's server_id, no GTID of the replica's own, no reconnect loop);
//! when the agent shuts down, the beats stop.

use mysql_async::prelude::Queryable;
use mysql_operator_agent as agent;
use policy::{ClusterInfo, Flavor};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use testkit::mariadb::{MariaDb, Node, REPL_PASSWORD, REPL_USER, ROOT_PASSWORD};

const INTERVAL: Duration = Duration::from_millis(200);

/// Starts an agent with the heartbeat writer for `node`; send on the returned channel to
/// shut it down, then await the handle.
async fn start_agent(
    node: &Node,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    tempfile::TempDir,
) {
    let scratch = tempfile::tempdir().unwrap();
    let a = agent::Agent {
        cluster: ClusterInfo {
            name: "hb".into(),
            namespace: "default".into(),
            flavor: Flavor::Mariadb,
            version: "10.11".into(),
            replicas: 2,
            labels: BTreeMap::new(),
        },
        pod_name: format!("hb-mysql-{}", node.index),
        backup_user: "u".into(),
        backup_password: "p".into(),
        mysql: agent::MysqlAccess {
            host: node.host.to_string(),
            port: node.port,
            socket: None,
            user: "root".into(),
            password: ROOT_PASSWORD.into(),
        },
        tool: backup::tool::BackupTool::Mariabackup,
        defaults_file: Some(node.cnf.clone()),
        scratch_dir: scratch.path().join("xb"),
        backup_extra_args: Vec::new(),
        filter: Arc::new(plugin_free::Nothing),
        heartbeat: Some(agent::HeartbeatConfig {
            user: "root".into(),
            password: ROOT_PASSWORD.into(),
            interval: INTERVAL,
        }),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        agent::serve(listener, a, async {
            let _ = rx.await;
        })
        .await
        .expect("agent serves");
    });
    (tx, handle, scratch)
}

mod plugin_free {
    use policy::{BackupFilter, BackupFilterRequest, Exclusions, HookError};
    /// Copies everything.
    pub struct Nothing;
    impl BackupFilter for Nothing {
        fn exclusions(&self, _r: &BackupFilterRequest) -> Result<Exclusions, HookError> {
            Ok(Exclusions::default())
        }
    }
}

async fn scalar<T: mysql_async::prelude::FromRow + Send + 'static>(
    pool: &mysql_async::Pool,
    q: &str,
) -> T {
    let mut c = pool.get_conn().await.unwrap();
    c.query_first(q)
        .await
        .unwrap_or_else(|e| panic!("`{q}`: {e}"))
        .unwrap_or_else(|| panic!("`{q}`: no row"))
}

async fn heartbeat_row(pool: &mysql_async::Pool) -> Option<(String, u32)> {
    let mut c = pool.get_conn().await.unwrap();
    c.query_first(
        "SELECT CAST(ts AS CHAR), server_id FROM sys_operator.heartbeat ORDER BY ts DESC LIMIT 1",
    )
    .await
    .unwrap_or(None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeat_on_primary_only_and_stops_with_the_agent() {
    let db = MariaDb::start(2);
    let (p0, p1) = (db.node(0).pool(), db.node(1).pool());
    {
        let mut c1 = p1.get_conn().await.unwrap();
        c1.query_drop(format!(
            "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USER='{REPL_USER}', \
             MASTER_PASSWORD='{REPL_PASSWORD}', MASTER_USE_GTID=slave_pos",
            db.node(0).host,
            db.node(0).port
        ))
        .await
        .unwrap();
        c1.query_drop("SET GLOBAL read_only = 1").await.unwrap();
        c1.query_drop("START SLAVE").await.unwrap();
    }
    let connections_before: (String, u64) =
        scalar(&p1, "SHOW GLOBAL STATUS LIKE 'Connections'").await;

    let (stop0, agent0, _s0) = start_agent(db.node(0)).await;
    let (stop1, agent1, _s1) = start_agent(db.node(1)).await;

    // The primary's writer creates the table and beats; the replica receives the rows.
    let mut first = None;
    for _ in 0..50 {
        first = heartbeat_row(&p0).await;
        if first.is_some() {
            break;
        }
        tokio::time::sleep(INTERVAL).await;
    }
    let (ts_a, id_a) = first.expect("no heartbeat on the primary within 10s");
    assert_eq!(id_a, db.node(0).server_id);
    tokio::time::sleep(INTERVAL * 10).await;
    let (ts_b, _) = heartbeat_row(&p0).await.expect("heartbeat row");
    assert!(ts_b > ts_a, "heartbeat did not advance: {ts_a} then {ts_b}");
    let beats: u64 = scalar(
        &p0,
        "SELECT CAST(SUBSTRING_INDEX(@@GLOBAL.gtid_binlog_pos, '-', -1) AS UNSIGNED)",
    )
    .await;
    println!("primary: heartbeat {ts_a} -> {ts_b}, binlog seq now {beats}");

    // The replica: the replicated row is the primary's, and nothing of its own.
    let mut replicated = None;
    for _ in 0..50 {
        replicated = heartbeat_row(&p1).await;
        if replicated.is_some() {
            break;
        }
        tokio::time::sleep(INTERVAL).await;
    }
    let (_, id_r) = replicated.expect("heartbeat not replicated within 10s");
    assert_eq!(id_r, db.node(0).server_id, "the replica wrote its own beat");
    let own_gtids: String = scalar(&p1, "SELECT @@GLOBAL.gtid_binlog_pos").await;
    let replica_id = db.node(1).server_id.to_string();
    assert!(
        own_gtids
            .split(',')
            .all(|g| g.trim().split('-').nth(1) != Some(replica_id.as_str())),
        "errant GTID of the read-only replica: {own_gtids}"
    );
    let connections_after: (String, u64) =
        scalar(&p1, "SHOW GLOBAL STATUS LIKE 'Connections'").await;
    // The writer holds one connection; the test's own queries add a handful.
    let new_connections = connections_after.1 - connections_before.1;
    println!(
        "replica: {new_connections} new connections over ~{}s of beats (writer + test queries)",
        INTERVAL.as_secs_f64() * 10.0
    );
    assert!(
        new_connections <= 12,
        "the heartbeat writer reconnects in a loop on a read-only server: {new_connections} connections"
    );

    // Shutdown stops the writer: the primary's row stops moving.
    let _ = stop0.send(());
    let _ = stop1.send(());
    tokio::time::timeout(Duration::from_secs(10), agent0)
        .await
        .expect("agent 0 stops")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), agent1)
        .await
        .expect("agent 1 stops")
        .unwrap();
    let (ts_c, _) = heartbeat_row(&p0).await.expect("row");
    tokio::time::sleep(INTERVAL * 5).await;
    let (ts_d, _) = heartbeat_row(&p0).await.expect("row");
    assert_eq!(
        ts_c, ts_d,
        "heartbeat still written after the agent stopped"
    );
}
