//! Backup throughput and memory, printed (not asserted): on one MariaDB server with
//! ~200 MiB of data, compare
//! - raw: `mariabackup --backup --stream=xbstream > /dev/null`, with
//! - ours: agent stream → zstd → S3 multipart upload to a local SeaweedFS, run in a child
//!   process (this same binary re-executed) whose peak RSS (VmHWM) is sampled.
//!
//! `cargo bench -p mysql-operator-agent --bench backup_throughput`. Set
//! `BACKUP_BENCH_ROWS` to change the data size (default 440 000 rows ≈ 230 MiB).

use agent::{Agent, MysqlAccess};
use backup::peer::PeerAuth;
use backup::tool::BackupTool;
use mysql_async::prelude::Queryable;
use mysql_operator_agent as agent;
use policy::{BackupFilter, BackupFilterRequest, ClusterInfo, Exclusions, Flavor, HookError};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::mariadb::{MariaDb, ROOT_PASSWORD};
use testkit::s3::{ACCESS_KEY, REGION, SECRET_KEY, Seaweed};

struct Everything;
impl BackupFilter for Everything {
    fn exclusions(&self, _r: &BackupFilterRequest) -> Result<Exclusions, HookError> {
        Ok(Exclusions::default())
    }
}

const CHILD_ENV: &str = "BACKUP_BENCH_CHILD";

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(parent());
}

/// The measured backup process: pull from the agent, compress, upload.
fn child() {
    let get = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let s3 = backup::S3Settings::from_env().expect("S3 settings");
    let compression = backup::Compression::parse(&get("BENCH_COMPRESSION")).expect("compression");
    let job = backup::job::BackupJob {
        cluster: "bench".into(),
        replicas: None,
        primary: Some(get("BENCH_AGENT")),
        auth: PeerAuth {
            user: "u".into(),
            password: "p".into(),
        },
        destination: backup::ObjectUrl::parse("dest", &get("BENCH_DEST")).expect("dest"),
        s3,
        kind: "on-demand-backup".into(),
        options: backup::UploadOptions {
            compression,
            ..Default::default()
        },
        probe_timeout: Duration::from_secs(2),
    };
    let report = rt.block_on(backup::job::run_backup(&job)).expect("backup");
    println!("{} {}", report.raw_bytes, report.stored_bytes);
}

async fn parent() {
    let rows: u64 = std::env::var("BACKUP_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(440_000);
    let seaweed = Seaweed::start(&["bench"]).expect("start SeaweedFS");
    let db = MariaDb::start(1);
    let node = db.node(0);
    let pool = node.pool();
    let mut c = pool.get_conn().await.expect("connect");
    c.query_drop("CREATE DATABASE IF NOT EXISTS app")
        .await
        .unwrap();
    c.query_drop("CREATE TABLE app.blob (id INT PRIMARY KEY, a VARCHAR(255), b VARCHAR(255), c VARCHAR(255), d VARCHAR(255)) ENGINE=InnoDB").await.unwrap();
    // seq_N_to_M (the Sequence engine) is resolved in the current schema.
    c.query_drop("USE app").await.unwrap();
    let mut from = 1;
    while from <= rows {
        let to = (from + 9_999).min(rows);
        c.query_drop(format!(
            "INSERT INTO app.blob SELECT seq, SHA2(seq, 512), SHA2(seq+1, 512), MD5(seq), REPEAT(CHAR(65 + seq % 26), 200) FROM seq_{from}_to_{to}"
        ))
        .await
        .unwrap();
        from = to + 1;
    }
    drop(c);

    // Raw tool to /dev/null, best of two.
    let scratch = tempfile::tempdir().unwrap();
    let mut raw_secs = f64::MAX;
    let mut raw_bytes = 0u64;
    for _ in 0..2 {
        let _ = std::fs::remove_dir_all(scratch.path().join("xb"));
        let start = Instant::now();
        let mut child = Command::new("mariabackup")
            .arg(format!("--defaults-file={}", node.cnf.display()))
            .args(["--backup", "--stream=xbstream"])
            .arg(format!(
                "--target-dir={}",
                scratch.path().join("xb").display()
            ))
            .arg(format!("--host={}", node.host))
            .arg(format!("--port={}", node.port))
            .args(["--user=root", &format!("--password={ROOT_PASSWORD}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariabackup (run `bash scripts/setup.sh`)");
        let mut out = child.stdout.take().unwrap();
        raw_bytes = std::io::copy(&mut out, &mut std::io::sink()).unwrap();
        assert!(child.wait().unwrap().success());
        raw_secs = raw_secs.min(start.elapsed().as_secs_f64());
    }

    let agent = Agent {
        cluster: ClusterInfo {
            name: "bench".into(),
            namespace: "default".into(),
            flavor: Flavor::Mariadb,
            version: "10.11".into(),
            replicas: 1,
            labels: BTreeMap::new(),
        },
        pod_name: "bench-mysql-0".into(),
        backup_user: "u".into(),
        backup_password: "p".into(),
        mysql: MysqlAccess {
            host: node.host.to_string(),
            port: node.port,
            socket: None,
            user: "root".into(),
            password: ROOT_PASSWORD.into(),
        },
        tool: BackupTool::Mariabackup,
        defaults_file: Some(node.cnf.clone()),
        scratch_dir: scratch.path().join("agent"),
        backup_extra_args: Vec::new(),
        filter: Arc::new(Everything),
        heartbeat: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent_addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(agent::serve(listener, agent, std::future::pending()));

    println!(
        "data: {} MiB xbstream; raw mariabackup --stream > /dev/null: {:.2}s = {:.1} MiB/s",
        raw_bytes >> 20,
        raw_secs,
        raw_bytes as f64 / 1048576.0 / raw_secs
    );
    for compression in ["zstd", "gzip", "none"] {
        let exe = std::env::current_exe().unwrap();
        let start = Instant::now();
        let mut child = Command::new(exe)
            .env(CHILD_ENV, "1")
            .env("BENCH_COMPRESSION", compression)
            .env("BENCH_AGENT", &agent_addr)
            .env(
                "BENCH_DEST",
                format!("s3://bench/run/bench-{compression}.xbackup"),
            )
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", REGION)
            .env("S3_ENDPOINT", seaweed.endpoint())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let status_path = format!("/proc/{}/status", child.id());
        let mut peak_kib = 0u64;
        let status = loop {
            if let Ok(text) = std::fs::read_to_string(&status_path)
                && let Some(v) = text
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(v);
            }
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let secs = start.elapsed().as_secs_f64();
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        assert!(status.success(), "backup child failed");
        let mut it = out
            .split_whitespace()
            .map(|v| v.parse::<u64>().unwrap_or(0));
        let (read, stored) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
        println!(
            "ours ({compression}): {:.2}s = {:.1} MiB/s, stored {} MiB, ratio to raw {:.2}, peak RSS {:.1} MiB",
            secs,
            read as f64 / 1048576.0 / secs,
            stored >> 20,
            raw_secs / secs,
            peak_kib as f64 / 1024.0
        );
    }
}
