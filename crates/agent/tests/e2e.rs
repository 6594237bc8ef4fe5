//! End to end with real parts: real `mariadbd` servers (testkit), the real agent serving
//! real `mariabackup` streams over HTTP, real `mbstream`/`mariabackup --prepare` in the
//! init step, and a real SeaweedFS for backups. One test binary so the tests run in
//! parallel; each owns its servers.

use agent::{Agent, MysqlAccess};
use backup::init::{InitSources, populate_datadir};
use backup::initsql::{default_script, replication_filters};
use backup::peer::{PeerAuth, pull_stream};
use backup::tool::BackupTool;
use mysql_async::prelude::Queryable;
use mysql_operator_agent as agent;
use policy::{
    BackupFilter, BackupFilterRequest, ClusterInfo, Exclusions, Flavor, HookError, TableRef,
};
use std::collections::BTreeMap;

use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::mariadb::{MariaDb, Node, REPL_PASSWORD, REPL_USER, ROOT_PASSWORD};
use tokio::io::AsyncReadExt;

const USER: &str = "backup-user";
const PASSWORD: &str = "backup-pass";

fn cluster() -> ClusterInfo {
    ClusterInfo {
        name: "e2e".into(),
        namespace: "default".into(),
        flavor: Flavor::Mariadb,
        version: "10.11".into(),
        replicas: 3,
        labels: BTreeMap::new(),
    }
}

/// A fixed exclusion list, standing in for a site's backup-filter rule.
struct Exclude(Vec<TableRef>);

impl BackupFilter for Exclude {
    fn exclusions(&self, _r: &BackupFilterRequest) -> Result<Exclusions, HookError> {
        Ok(Exclusions {
            tables: self.0.clone(),
            schemas: vec![],
        })
    }
}

/// A running agent for one node; stopped when dropped.
struct RunningAgent {
    addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _scratch: tempfile::TempDir,
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn start_agent(
    node: &Node,
    filter: Arc<dyn BackupFilter>,
    mysql_password: &str,
) -> RunningAgent {
    start_agent_with(node, filter, mysql_password, node.cnf.clone()).await
}

async fn start_agent_with(
    node: &Node,
    filter: Arc<dyn BackupFilter>,
    mysql_password: &str,
    defaults_file: std::path::PathBuf,
) -> RunningAgent {
    let scratch = tempfile::tempdir().unwrap();
    let agent = Agent {
        cluster: cluster(),
        pod_name: format!("e2e-mysql-{}", node.index),
        backup_user: USER.into(),
        backup_password: PASSWORD.into(),
        mysql: MysqlAccess {
            host: node.host.to_string(),
            port: node.port,
            socket: None,
            user: "root".into(),
            password: mysql_password.into(),
        },
        tool: BackupTool::Mariabackup,
        defaults_file: Some(defaults_file),
        scratch_dir: scratch.path().join("xb"),
        backup_extra_args: Vec::new(),
        filter,
        heartbeat: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        agent::serve(listener, agent, async {
            let _ = rx.await;
        })
        .await
        .expect("agent serves");
    });
    RunningAgent {
        addr,
        stop: Some(tx),
        _scratch: scratch,
    }
}

fn auth(password: &str) -> PeerAuth {
    PeerAuth {
        user: USER.into(),
        password: password.into(),
    }
}

async fn exec(pool: &mysql_async::Pool, sql: &str) {
    let mut c = pool
        .get_conn()
        .await
        .unwrap_or_else(|e| panic!("connect for `{sql}`: {e}"));
    c.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"));
}

async fn replicate_from(replica: &mysql_async::Pool, primary: &Node) {
    exec(
        replica,
        &format!(
            "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USER='{REPL_USER}', \
             MASTER_PASSWORD='{REPL_PASSWORD}', MASTER_USE_GTID=slave_pos",
            primary.host, primary.port
        ),
    )
    .await;
    exec(replica, "START SLAVE").await;
}

/// Wait until `replica` applied everything `primary` has binlogged.
async fn caught_up(replica: &mysql_async::Pool, primary: &mysql_async::Pool) {
    let mut p = primary.get_conn().await.unwrap();
    let pos: String = p
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    let mut r = replica.get_conn().await.unwrap();
    let waited: Option<i64> = r
        .exec_first("SELECT MASTER_GTID_WAIT(?, 120)", (pos.clone(),))
        .await
        .unwrap();
    if waited != Some(0) {
        let status: Vec<mysql_async::Row> = r.query("SHOW SLAVE STATUS").await.unwrap();
        panic!("replica did not reach {pos}: {waited:?}; status: {status:?}");
    }
}

async fn checksums(pool: &mysql_async::Pool) -> BTreeMap<String, Option<i64>> {
    let mut c = pool.get_conn().await.unwrap();
    let tables: Vec<(String, String)> = c
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE='BASE TABLE' \
             AND TABLE_SCHEMA NOT IN ('mysql','information_schema','performance_schema','sys','sys_operator') \
             ORDER BY 1, 2",
        )
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for (s, t) in tables {
        let row: Option<(String, Option<i64>)> = c
            .query_first(format!("CHECKSUM TABLE `{s}`.`{t}`"))
            .await
            .unwrap();
        out.insert(format!("{s}.{t}"), row.and_then(|r| r.1));
    }
    out
}

/// Stop `node`, empty its data dir, run the init step's data half against `sources`,
/// write its init script and config additions, and start it again.
async fn rebuild_with_init(node: &mut Node, mut sources: InitSources) -> backup::init::Populated {
    node.stop();
    backup::restore::wipe_datadir(&node.datadir).unwrap();
    sources.datadir = node.datadir.clone();
    let populated = populate_datadir(&sources)
        .await
        .expect("init step fills the data dir");
    let script = default_script(Flavor::Mariadb, populated.record.as_ref(), "");
    let init_file = node.datadir.with_extension("init.sql");
    std::fs::write(&init_file, &script).unwrap();
    let mut extra = format!("[mariadbd]\ninit-file={}\n", init_file.display());
    if let Some(r) = &populated.record {
        extra.push_str(&replication_filters(&r.exclusions));
    }
    let mut cnf = std::fs::read_to_string(&node.cnf).unwrap();
    cnf.push_str(&extra);
    std::fs::write(&node.cnf, cnf).unwrap();
    node.restart();
    populated
}

fn sources(replicas: Option<String>, primary: Option<String>, ordinal: u32) -> InitSources {
    InitSources {
        cluster: "e2e".into(),
        ordinal,
        datadir: Default::default(),
        replicas,
        primary,
        init_bucket_url: None,
        s3: None,
        auth: auth(PASSWORD),
        tool: BackupTool::Mariabackup,
        restore_args: Default::default(),
        probe_timeout: Duration::from_secs(2),
    }
}

async fn http_get(addr: &str, path: &str, authz: Option<&str>) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header("host", addr);
    if let Some(a) = authz {
        req = req.header("authorization", a);
    }
    let resp = send
        .send_request(
            req.body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn xbackup_auth_health_readiness_and_one_stream_at_a_time() {
    let db = MariaDb::start(1);
    let agent = start_agent(db.node(0), Arc::new(Exclude(vec![])), ROOT_PASSWORD).await;

    let (code, body) = http_get(&agent.addr, "/health", None).await;
    assert_eq!((code, body.as_slice()), (200, &b"OK"[..]));
    let (code, body) = http_get(&agent.addr, "/ready", None).await;
    assert_eq!(
        code,
        200,
        "writable primary is ready: {}",
        String::from_utf8_lossy(&body)
    );

    // Wrong password: 401 and not one byte of the stream.
    let (code, body) = http_get(&agent.addr, "/xbackup", Some(&auth("wrong").header())).await;
    assert_eq!(code, 401);
    assert!(
        !body.windows(8).any(|w| w == b"XBSTCK01"),
        "stream bytes leaked"
    );
    assert!(body.len() < 200, "{}", String::from_utf8_lossy(&body));
    let err = pull_stream(&agent.addr, &auth("wrong"), "peer-clone")
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("401"), "{err}");
    let (code, _) = http_get(&agent.addr, "/xbackup", None).await;
    assert_eq!(code, 401);

    // One stream at a time: a second request while the first runs gets 429.
    let first = pull_stream(&agent.addr, &auth(PASSWORD), "peer-clone")
        .await
        .expect("first stream");
    let second = pull_stream(&agent.addr, &auth(PASSWORD), "peer-clone").await;
    match second {
        Err(e) => assert!(e.to_string().contains("429"), "{e}"),
        Ok(_) => panic!("second concurrent stream was accepted"),
    }
    let mut reader = first.reader;
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .await
        .expect("whole stream with the Success trailer");
    assert!(bytes.starts_with(b"XBSTCK01"), "not an xbstream");
    println!("stream of an empty server: {} bytes", bytes.len());
    // The slot is free again.
    let again = pull_stream(&agent.addr, &auth(PASSWORD), "peer-clone")
        .await
        .expect("third stream");
    drop(again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_backup_tool_is_reported_and_init_leaves_empty_datadir() {
    let mut db = MariaDb::start(2);
    let agent = start_agent(db.node(0), Arc::new(Exclude(vec![])), ROOT_PASSWORD).await;
    // mariabackup fails after the response started (its option file is missing): the
    // stream must end with `X-Backup-Status: Failed`, never read as a whole backup.
    let broken = start_agent_with(
        db.node(0),
        Arc::new(Exclude(vec![])),
        ROOT_PASSWORD,
        "/nonexistent/my.cnf".into(),
    )
    .await;
    let stream = pull_stream(&broken.addr, &auth(PASSWORD), "peer-clone")
        .await
        .expect("response starts");
    let mut r = stream.reader;
    let mut sink = Vec::new();
    let msg = r
        .read_to_end(&mut sink)
        .await
        .expect_err("failed stream read as whole")
        .to_string();
    println!("failed tool: {msg}");
    assert!(msg.contains("X-Backup-Status: Failed"), "{msg}");
    // The init step through that agent fails and leaves the data dir empty.
    {
        let node = db.node_mut(1);
        node.stop();
        backup::restore::wipe_datadir(&node.datadir).unwrap();
        let s = InitSources {
            datadir: node.datadir.clone(),
            ..sources(Some(broken.addr.clone()), None, 1)
        };
        let err = populate_datadir(&s).await.expect_err("failed peer stream");
        println!("init from a failing peer: {err}");
        assert!(
            err.to_string().contains("X-Backup-Status: Failed")
                || err.to_string().contains("mbstream"),
            "{err}"
        );
        assert!(
            backup::restore::is_empty_datadir(&node.datadir).unwrap(),
            "partial data left behind"
        );
        // The same failing replicas Service with a healthy primary behind the master
        // Service: the clone falls back to the primary.
        let s = InitSources {
            datadir: node.datadir.clone(),
            ..sources(Some(broken.addr.clone()), Some(agent.addr.clone()), 1)
        };
        let populated = populate_datadir(&s)
            .await
            .expect("falls back to the primary");
        let record = populated.record.expect("clone record");
        assert_eq!(record.from.as_deref(), Some(agent.addr.as_str()));
        backup::restore::wipe_datadir(&node.datadir).unwrap();
    }
    // A wrong database password is refused before any byte is streamed.
    let no_db = start_agent(db.node(0), Arc::new(Exclude(vec![])), "not-the-password").await;
    let err = pull_stream(&no_db.addr, &auth(PASSWORD), "peer-clone")
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("503"), "{err}");

    // Init against a corrupt stream: fails with the cause and leaves an empty data dir.
    let node = db.node_mut(1);
    let good = pull_stream(&agent.addr, &auth(PASSWORD), "peer-clone")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let mut r = good.reader;
    r.read_to_end(&mut bytes).await.unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 4096] {
        *b ^= 0x5a;
    }
    let err = backup::restore::restore_stream(
        Box::pin(std::io::Cursor::new(bytes)),
        &node.datadir,
        BackupTool::Mariabackup,
    )
    .await
    .expect_err("corrupt stream must fail");
    println!("corrupt stream: {err}");
    assert!(err.to_string().contains("mbstream"), "{err}");
    assert!(
        backup::restore::is_empty_datadir(&node.datadir).unwrap(),
        "partial data left behind"
    );

    // And the init step through a peer with the wrong backup password: 401, empty dir.
    let mut s = sources(Some(agent.addr.clone()), None, 1);
    s.auth = auth("wrong");
    s.datadir = node.datadir.clone();
    let err = populate_datadir(&s)
        .await
        .expect_err("wrong password must fail");
    println!("init with wrong password: {err}");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(backup::restore::is_empty_datadir(&node.datadir).unwrap());

    // Nothing to clone from and not pod 0: a clear refusal.
    let s = InitSources {
        datadir: node.datadir.clone(),
        ..sources(None, None, 2)
    };
    let err = populate_datadir(&s).await.expect_err("no source");
    assert!(err.to_string().contains("nothing to clone from"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clone_from_replica_under_write_load_then_catch_up() {
    let mut db = MariaDb::start(3);
    let p0 = db.node(0).pool();
    let p1 = db.node(1).pool();
    exec(&p0, "CREATE DATABASE IF NOT EXISTS app").await;
    exec(
        &p0,
        "CREATE TABLE app.load (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB",
    )
    .await;
    exec(
        &p0,
        "INSERT INTO app.load (v) SELECT REPEAT('x', 100) FROM app.seq_1_to_20000",
    )
    .await;
    replicate_from(&p1, db.node(0)).await;
    caught_up(&p1, &p0).await;

    let agent = start_agent(db.node(1), Arc::new(Exclude(vec![])), ROOT_PASSWORD).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let p0 = p0.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            let mut c = p0.get_conn().await.unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.query_drop("INSERT INTO app.load (v) VALUES (UUID())")
                    .await
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    let started = Instant::now();
    let node2 = db.node_mut(2);
    let populated = rebuild_with_init(node2, sources(Some(agent.addr.clone()), None, 2)).await;
    let record = populated.record.clone().expect("record");
    println!(
        "cloned in {:.1}s, gtid {:?}",
        started.elapsed().as_secs_f64(),
        record.gtid
    );
    assert_eq!(record.source, policy::DataSource::PeerClone);
    assert!(record.gtid.is_some());
    let p2 = db.node(2).pool();
    replicate_from(&p2, db.node(0)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();
    println!("writes during the clone: {writes}");
    assert!(writes > 0);
    caught_up(&p2, &p0).await;
    assert_eq!(checksums(&p2).await, checksums(&p0).await);
    let mut c2 = p2.get_conn().await.unwrap();
    let binlog: String = c2
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    let mut c0 = p0.get_conn().await.unwrap();
    let primary: String = c0
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        binlog, primary,
        "the clone has transactions of its own (errant GTIDs)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filtered_clone_has_no_orphans_and_keeps_replicating() {
    let mut db = MariaDb::start(3);
    let p0 = db.node(0).pool();
    let p1 = db.node(1).pool();
    exec(&p0, "CREATE DATABASE IF NOT EXISTS sys_operator").await;
    exec(&p0, "CREATE TABLE sys_operator.status (name VARCHAR(64) PRIMARY KEY, value VARCHAR(255)) ENGINE=InnoDB").await;
    exec(
        &p0,
        "INSERT INTO sys_operator.status VALUES ('configured', '1')",
    )
    .await;
    exec(&p0, "CREATE DATABASE IF NOT EXISTS app").await;
    exec(
        &p0,
        "CREATE TABLE app.kept (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
    )
    .await;
    exec(
        &p0,
        "CREATE TABLE app.big_log (id INT PRIMARY KEY, msg TEXT) ENGINE=InnoDB",
    )
    .await;
    exec(
        &p0,
        "INSERT INTO app.kept SELECT seq, seq FROM app.seq_1_to_1000",
    )
    .await;
    exec(
        &p0,
        "INSERT INTO app.big_log SELECT seq, REPEAT('m', 500) FROM app.seq_1_to_2000",
    )
    .await;
    replicate_from(&p1, db.node(0)).await;
    caught_up(&p1, &p0).await;

    let excluded = vec![
        TableRef {
            schema: "sys_operator".into(),
            name: "status".into(),
        },
        TableRef {
            schema: "app".into(),
            name: "big_log".into(),
        },
    ];
    let agent = start_agent(
        db.node(1),
        Arc::new(Exclude(excluded.clone())),
        ROOT_PASSWORD,
    )
    .await;
    let populated =
        rebuild_with_init(db.node_mut(2), sources(Some(agent.addr.clone()), None, 2)).await;
    let record = populated.record.expect("record");
    assert_eq!(record.exclusions.tables.len(), 2, "{record:?}");
    assert_eq!(record.create_statements.len(), 2, "{record:?}");

    let p2 = db.node(2).pool();
    let mut c2 = p2.get_conn().await.unwrap();
    // No orphan dictionary entries: the tables exist (re-created empty) and can be
    // dropped and created again.
    for t in &excluded {
        let n: Option<i64> = c2
            .query_first(format!("SELECT COUNT(*) FROM `{}`.`{}`", t.schema, t.name))
            .await
            .unwrap_or_else(|e| panic!("{}.{} unusable on the clone: {e}", t.schema, t.name));
        assert_eq!(n, Some(0));
        let dict: Option<i64> = c2
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.INNODB_SYS_TABLES WHERE NAME = ?",
                (format!("{}/{}", t.schema, t.name),),
            )
            .await
            .unwrap();
        assert_eq!(
            dict,
            Some(1),
            "dictionary entries for {}.{}",
            t.schema,
            t.name
        );
    }
    exec(&p2, "SET SESSION sql_log_bin=0; DROP TABLE app.big_log; CREATE TABLE app.big_log (id INT PRIMARY KEY, msg TEXT) ENGINE=InnoDB").await;

    // Replication goes on, with writes to excluded and kept tables.
    replicate_from(&p2, db.node(0)).await;
    exec(&p0, "INSERT INTO app.big_log VALUES (100001, 'new')").await;
    exec(&p0, "UPDATE sys_operator.status SET value = '2'").await;
    exec(&p0, "INSERT INTO app.kept VALUES (5001, 1)").await;
    exec(&p0, "UPDATE app.kept SET v = v + 1 WHERE id < 10").await;
    caught_up(&p2, &p0).await;
    let status: Vec<mysql_async::Row> = c2.query("SHOW SLAVE STATUS").await.unwrap();
    let sql_running: Option<String> = status[0].get("Slave_SQL_Running");
    assert_eq!(sql_running.as_deref(), Some("Yes"));
    let kept0 = checksums(&p0).await.get("app.kept").cloned();
    let kept2 = checksums(&p2).await.get("app.kept").cloned();
    assert_eq!(kept0, kept2);
    let n: Option<i64> = c2
        .query_first("SELECT COUNT(*) FROM app.big_log")
        .await
        .unwrap();
    assert_eq!(n, Some(0), "excluded table must stay out of replication");

    // A restart (no new init run) does not repeat the one-time block.
    exec(
        &p2,
        "SET SESSION sql_log_bin=0; INSERT INTO sys_operator.status VALUES ('local', 'x')",
    )
    .await;
    drop(c2);
    p2.clone().disconnect().await.ok();
    db.node_mut(2).restart();
    let p2 = db.node(2).pool();
    let mut c2 = p2.get_conn().await.unwrap();
    let n: Option<i64> = c2
        .query_first("SELECT COUNT(*) FROM sys_operator.status")
        .await
        .unwrap();
    assert_eq!(n, Some(1), "the one-time block ran again on restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_200mib_to_s3_then_restore_into_a_new_node() {
    use testkit::s3::{ACCESS_KEY, REGION, SECRET_KEY, Seaweed};
    let seaweed = Seaweed::start(&["backups"]).expect("start SeaweedFS");
    let mut db = MariaDb::start(2);
    let p0 = db.node(0).pool();
    exec(&p0, "CREATE DATABASE IF NOT EXISTS app").await;
    exec(&p0, "CREATE TABLE app.blob (id INT PRIMARY KEY, a VARCHAR(255), b VARCHAR(255), c VARCHAR(255), d VARCHAR(255)) ENGINE=InnoDB").await;
    let load = Instant::now();
    for chunk in 0..44 {
        let from = chunk * 10_000 + 1;
        exec(
            &p0,
            &format!(
                "INSERT INTO app.blob SELECT seq, SHA2(seq, 512), SHA2(seq+1, 512), MD5(seq), REPEAT(CHAR(65 + seq % 26), 200) \
                 FROM app.seq_{from}_to_{}",
                from + 9_999
            ),
        )
        .await;
    }
    exec(
        &p0,
        "CREATE TABLE app.small (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB",
    )
    .await;
    exec(
        &p0,
        "INSERT INTO app.small SELECT seq, UUID() FROM app.seq_1_to_500",
    )
    .await;
    println!("loaded in {:.1}s", load.elapsed().as_secs_f64());
    let size: u64 = std::fs::read_dir(db.node(0).datadir.join("app"))
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!("app schema on disk: {} MiB", size >> 20);
    assert!(
        size > 200 << 20,
        "need 200+ MiB of data, have {} MiB",
        size >> 20
    );

    let agent = start_agent(db.node(0), Arc::new(Exclude(vec![])), ROOT_PASSWORD).await;
    let mut vars = BTreeMap::new();
    vars.insert("AWS_ACCESS_KEY_ID".to_string(), ACCESS_KEY.to_string());
    vars.insert("AWS_SECRET_ACCESS_KEY".to_string(), SECRET_KEY.to_string());
    vars.insert("AWS_REGION".to_string(), REGION.to_string());
    vars.insert("S3_ENDPOINT".to_string(), seaweed.endpoint());
    let s3 = backup::S3Settings::from_vars(&vars).unwrap();
    wait_bucket(&backup::S3Store::new(&s3), "backups").await;
    let prefix = backup::ObjectUrl::parse("backupURL", "s3://backups/e2e").unwrap();
    let mut reports = Vec::new();
    for compression in [backup::Compression::Zstd, backup::Compression::Gzip] {
        let job = backup::job::BackupJob {
            cluster: "e2e".into(),
            replicas: Some("127.0.0.1:1".into()),
            primary: Some(agent.addr.clone()),
            auth: auth(PASSWORD),
            destination: prefix.backup_object(&format!("e2e-{compression:?}"), compression),
            s3: s3.clone(),
            kind: "scheduled-backup".into(),
            options: backup::UploadOptions {
                compression,
                ..Default::default()
            },
            probe_timeout: Duration::from_secs(1),
        };
        let report = backup::job::run_backup(&job).await.expect("backup");
        println!(
            "{compression:?}: {} MiB raw -> {} MiB stored in {:.1}s = {:.1} MiB/s",
            report.raw_bytes >> 20,
            report.stored_bytes >> 20,
            report.elapsed.as_secs_f64(),
            report.raw_bytes as f64 / 1048576.0 / report.elapsed.as_secs_f64()
        );
        reports.push(report);
    }

    // Restore the gzip one (presslabs' format) into node 1 as pod 0 of a new cluster.
    let mut s = sources(None, None, 0);
    s.init_bucket_url = Some(reports[1].object.to_string());
    s.s3 = Some(s3.clone());
    let populated = rebuild_with_init(db.node_mut(1), s).await;
    assert_eq!(populated.source(), policy::DataSource::BucketRestore);
    let p1 = db.node(1).pool();
    let want = checksums(&p0).await;
    assert!(want.len() >= 2);
    assert_eq!(checksums(&p1).await, want, "restored tables differ");
    let mut c1 = p1.get_conn().await.unwrap();
    let pos: String = c1
        .query_first("SELECT @@GLOBAL.gtid_slave_pos")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Some(pos),
        populated.record.and_then(|r| r.gtid),
        "GTID position not set"
    );
}

async fn wait_bucket(store: &backup::S3Store, bucket: &str) {
    let start = Instant::now();
    let probe = backup::ObjectUrl {
        bucket: bucket.into(),
        key: String::new(),
    };
    while let Err(e) = store.list(&probe).await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "bucket {bucket} unusable: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
