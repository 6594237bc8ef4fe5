//! Our backup and restore side by side with the pipelines users run instead, in one run,
//! on the same data and the same S3 server (SeaweedFS on loopback). Printed, not asserted
//! (except a generous bound on our peak RSS and that every restore yields a data dir):
//!
//! - backup: ours (`backup::job::run_backup`: agent stream → compression → S3 multipart,
//!   in a child process) vs `mariabackup --backup --stream=xbstream | gzip | rclone rcat`
//!   (presslabs' pipeline), `… | zstd | rclone rcat` and `… | zstd -1 | rclone rcat`;
//! - restore: ours (`backup::init::populate_datadir` from `initBucketURL`, what the init
//!   container runs: GET → decompress → `mbstream -x`, then `mariabackup --prepare`) vs
//!   `rclone cat | gzip -d | mbstream -x` + `mariabackup --prepare` and the zstd variant,
//!   reading the very objects our backup wrote.
//!
//! Throughput is the uncompressed xbstream size over wall time. "mover RSS" is the sum
//! of the per-process peaks (VmHWM, sampled every 25 ms over the process tree) of the
//! processes that move the bytes: our child process, or rclone + the compressor. The
//! backup tool itself (mariabackup, mbstream, the prepare) is the same in every row and
//! is left out. "mover CPU" is user+system time of those same processes; "machine CPU"
//! is everything the run cost: the whole process tree, the agent serving our stream, the
//! S3 server and mariadbd — on a loaded machine it is steadier than the wall time.
//!
//! `bash scripts/bench-backup.sh` (or `cargo bench -p mysql-operator-agent --bench
//! backup_vs_rclone`). `BACKUP_BENCH_ROWS` sets the data size (default 1 000 000 rows ≈
//! 640 MiB of xbstream), `BACKUP_BENCH_ROUNDS` the rounds per row (default 3, the best
//! is printed). Needs rclone, zstd, gzip, mariabackup, mbstream and SeaweedFS: a missing
//! one fails the bench with the install step.

use agent::{Agent, MysqlAccess};
use backup::peer::PeerAuth;
use backup::tool::BackupTool;
use mysql_async::prelude::Queryable;
use mysql_operator_agent as agent;
use policy::{BackupFilter, BackupFilterRequest, ClusterInfo, Exclusions, Flavor, HookError};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
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
/// Generous bound on our mover's peak RSS (the goal is 64 MiB; this catches regressions
/// such as buffering a whole backup, without failing on allocator noise).
const RSS_BOUND_MIB: f64 = 96.0;
/// rclone remote name; configured through `RCLONE_CONFIG_BENCH_*` only.
const REMOTE: &str = "bench";

fn main() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("backup") => child_backup(),
        Ok("restore") => child_restore(),
        _ => {
            require_tools();
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(parent());
        }
    }
}

/// Fail at once, naming the install step, when a tool of the comparison is missing.
fn require_tools() {
    let tools = [
        ("rclone", "apt-get install rclone"),
        ("zstd", "apt-get install zstd"),
        ("gzip", "apt-get install gzip"),
        ("mariabackup", "apt-get install mariadb-backup"),
        ("mbstream", "apt-get install mariadb-backup"),
        ("bash", "apt-get install bash"),
    ];
    let missing: Vec<String> = tools
        .iter()
        .filter(|(tool, _)| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .map(|s| !s.success())
                .unwrap_or(true)
        })
        .map(|(tool, fix)| format!("`{tool}` is not installed: {fix} (or bash scripts/setup.sh)"))
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

fn child_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"))
}

/// The measured backup process: pull from the agent, compress, upload (`run_backup`).
fn child_backup() {
    let rt = child_runtime();
    let s3 = backup::S3Settings::from_env().expect("S3 settings");
    let compression = backup::Compression::parse(&var("BENCH_COMPRESSION")).expect("compression");
    let job = backup::job::BackupJob {
        cluster: "bench".into(),
        replicas: None,
        primary: Some(var("BENCH_AGENT")),
        auth: PeerAuth {
            user: "u".into(),
            password: "p".into(),
        },
        destination: backup::ObjectUrl::parse("dest", &var("BENCH_DEST")).expect("dest"),
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

/// The measured restore process: pod 0's init step seeding an empty data dir from
/// `initBucketURL` (`populate_datadir`: download, decompress, extract, prepare).
fn child_restore() {
    let rt = child_runtime();
    let sources = backup::init::InitSources {
        cluster: "bench".into(),
        ordinal: 0,
        datadir: PathBuf::from(var("BENCH_DATADIR")),
        replicas: None,
        primary: None,
        init_bucket_url: Some(var("BENCH_SOURCE")),
        s3: Some(backup::S3Settings::from_env().expect("S3 settings")),
        auth: PeerAuth {
            user: "u".into(),
            password: "p".into(),
        },
        tool: BackupTool::Mariabackup,
        restore_args: Default::default(),
        probe_timeout: Duration::from_secs(2),
    };
    let done = rt
        .block_on(backup::init::populate_datadir(&sources))
        .expect("restore");
    assert_eq!(
        done.source(),
        policy::DataSource::BucketRestore,
        "restored from the bucket"
    );
    println!("ok");
}

/// One process tree's run: wall time, exit, stdout, and per-process peaks.
struct Measured {
    secs: f64,
    stdout: String,
    /// Per process (pid): name, peak VmHWM in KiB, last seen CPU ticks (user + system).
    procs: HashMap<u32, (String, u64, u64)>,
    /// CPU seconds the whole run cost the machine: the command's process tree (exact,
    /// from our `cutime`/`cstime` once it is reaped), our own threads but the sampler's
    /// (the agent serving the stream), the S3 server and mariadbd.
    total_cpu: f64,
}

impl Measured {
    /// Sum of the peaks and CPU seconds of the processes `keep` selects by name.
    fn movers(&self, keep: impl Fn(&str) -> bool) -> (f64, f64) {
        let (mut kib, mut ticks) = (0u64, 0u64);
        for (name, hwm, cpu) in self.procs.values() {
            if keep(name) {
                kib += hwm;
                ticks += cpu;
            }
        }
        (kib as f64 / 1024.0, ticks as f64 / 100.0)
    }
}

/// Every process under `root` (itself included), from /proc: pid → (name, ppid).
fn tree(root: u32) -> Vec<(u32, String)> {
    let mut parent: HashMap<u32, (u32, String)> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // "pid (comm) S ppid ..." — comm may hold spaces and parentheses.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let name = stat[open + 1..close].to_string();
            let ppid = stat[close + 1..]
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            parent.insert(pid, (ppid, name));
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        if let Some((_, name)) = parent.get(&p) {
            out.push((p, name.clone()));
        }
        todo.extend(
            parent
                .iter()
                .filter(|(_, (pp, _))| *pp == p)
                .map(|(c, _)| *c),
        );
    }
    out
}

/// (VmHWM KiB, utime + stime ticks) of one process, while it runs.
fn usage(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state(0) ppid(1) … utime(11) stime(12).
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((hwm, ticks))
}

/// Run `cmd` to completion, sampling its process tree; panics (with `what` and the
/// captured stderr) when it fails.
/// utime, stime, cutime, cstime (clock ticks) from a `/proc/…/stat` file.
fn stat_ticks(path: &str) -> [u64; 4] {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let rest = stat.rfind(')').map(|i| &stat[i + 1..]).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    [0, 1, 2, 3].map(|i| f.get(i).copied().unwrap_or(0))
}

/// CPU ticks of this process (all of it, reaped children included) minus the calling
/// thread's, plus the long-running servers under it (SeaweedFS, mariadbd).
fn machine_ticks() -> u64 {
    let me = std::process::id();
    let own: u64 = stat_ticks("/proc/self/stat").iter().sum();
    let sampler = stat_ticks("/proc/thread-self/stat");
    let servers: u64 = tree(me)
        .into_iter()
        .filter(|(pid, _)| *pid != me)
        .filter_map(|(pid, _)| usage(pid).map(|(_, t)| t))
        .sum();
    own - (sampler[0] + sampler[1]) + servers
}

fn run_measured(what: &str, mut cmd: Command) -> Measured {
    let err_file = tempfile::NamedTempFile::new().expect("stderr file");
    let ticks_before = machine_ticks();
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(err_file.reopen().expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
    let root = child.id();
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let mut procs: HashMap<u32, (String, u64, u64)> = HashMap::new();
    let status = loop {
        for (pid, name) in tree(root) {
            if let Some((hwm, ticks)) = usage(pid) {
                let e = procs.entry(pid).or_insert((name, 0, 0));
                e.1 = e.1.max(hwm);
                e.2 = e.2.max(ticks);
            }
        }
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let secs = start.elapsed().as_secs_f64();
    let total_cpu = machine_ticks().saturating_sub(ticks_before) as f64 / 100.0;
    let stdout = reader.join().unwrap_or_default();
    if !status.success() {
        let err = std::fs::read_to_string(err_file.path()).unwrap_or_default();
        let tail: Vec<&str> = err.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!("{what} failed ({status}):\n{}", tail.join("\n"));
    }
    Measured {
        secs,
        stdout,
        procs,
        total_cpu,
    }
}

/// One row of the table: the best (fastest) of the rounds.
#[derive(Clone, Default)]
struct Row {
    name: String,
    secs: f64,
    stored_mib: Option<f64>,
    rss_mib: Option<f64>,
    cpu_secs: Option<f64>,
    total_cpu: f64,
}

fn keep_best(rows: &mut Vec<Row>, row: Row) {
    match rows.iter_mut().find(|r| r.name == row.name) {
        Some(r) if row.secs < r.secs => *r = row,
        Some(_) => {}
        None => rows.push(row),
    }
}

struct Env {
    cnf: PathBuf,
    host: String,
    port: u16,
    endpoint: String,
}

impl Env {
    fn s3_vars(&self, cmd: &mut Command) {
        cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", REGION)
            .env("S3_ENDPOINT", &self.endpoint);
    }

    /// rclone's remote `bench:` from environment variables only (no config file).
    fn rclone_vars(&self, cmd: &mut Command) {
        let p = format!("RCLONE_CONFIG_{}_", REMOTE.to_uppercase());
        // A CA bundle in the environment makes rclone's S3 client fail to start
        // ("unsupported transport"); the endpoint is plain http anyway.
        cmd.env_remove("AWS_CA_BUNDLE")
            .env("RCLONE_CONFIG", "/dev/null")
            .env(format!("{p}TYPE"), "s3")
            .env(format!("{p}PROVIDER"), "Other")
            .env(format!("{p}ENDPOINT"), &self.endpoint)
            .env(format!("{p}ACCESS_KEY_ID"), ACCESS_KEY)
            .env(format!("{p}SECRET_ACCESS_KEY"), SECRET_KEY)
            .env(format!("{p}REGION"), REGION)
            .env(format!("{p}FORCE_PATH_STYLE"), "true");
    }

    fn mariabackup_cmd(&self, target: &Path) -> String {
        format!(
            "mariabackup --defaults-file={} --backup --stream=xbstream --target-dir={} \
             --host={} --port={} --user=root --password={ROOT_PASSWORD}",
            self.cnf.display(),
            target.display(),
            self.host,
            self.port
        )
    }
}

fn bash(script: &str) -> Command {
    let mut c = Command::new("bash");
    c.args(["-c", &format!("set -euo pipefail; {script}")]);
    c
}

/// A restored data dir must hold the InnoDB system tablespace and the bench table.
fn check_restored(dir: &Path, what: &str) {
    for f in ["ibdata1", "app/blob.ibd"] {
        assert!(dir.join(f).exists(), "{what}: {f} missing after restore");
    }
}

fn empty_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("restore dir");
}

async fn parent() {
    let rows: u64 = std::env::var("BACKUP_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = std::env::var("BACKUP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
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

    let scratch = tempfile::tempdir().unwrap();
    let env = Arc::new(Env {
        cnf: node.cnf.clone(),
        host: node.host.to_string(),
        port: node.port,
        endpoint: seaweed.endpoint(),
    });
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

    let scratch_path = scratch.path().to_path_buf();
    let (stream_bytes, backups, restores) =
        tokio::task::spawn_blocking(move || measure(&env, &agent_addr, &scratch_path, rounds))
            .await
            .expect("measurement thread");
    print_tables(stream_bytes, rounds, &backups, &restores);
    drop(seaweed);
}

/// Backup pipelines: (row name, compressor command, object suffix).
const PIPELINES: [(&str, &str, &str); 3] = [
    ("mariabackup | gzip | rclone rcat", "gzip -c", "gz"),
    ("mariabackup | zstd | rclone rcat", "zstd -c", "zst"),
    ("mariabackup | zstd -1 | rclone rcat", "zstd -1 -c", "zst"),
];

/// Restore pipelines: (row name, our object they read, decompressor command).
const RESTORE_PIPELINES: [(&str, &str, &str); 2] = [
    (
        "rclone cat | gzip -d | mbstream -x; prepare",
        "gzip",
        "gzip -dc",
    ),
    (
        "rclone cat | zstd -d | mbstream -x; prepare",
        "zstd",
        "zstd -dc",
    ),
];

/// Where our backup of one compression is stored (the restores read the same objects).
fn our_key(compression: &str) -> String {
    let c = backup::Compression::parse(compression).expect("compression");
    format!("ours/bench{}", c.suffix())
}

fn is_compressor(n: &str) -> bool {
    n == "gzip" || n == "zstd"
}

fn measure(
    env: &Env,
    agent_addr: &str,
    scratch: &Path,
    rounds: usize,
) -> (u64, Vec<Row>, Vec<Row>) {
    let exe = std::env::current_exe().unwrap();
    let mut backups: Vec<Row> = Vec::new();
    let mut restores: Vec<Row> = Vec::new();
    let mut stream_bytes = 0u64;
    let xb = scratch.join("xb");
    // Warm-up, not measured: the first backup reads the data files from disk into the page
    // cache and starts the tool's caches; every measured row then reads the same warm data.
    let _ = std::fs::remove_dir_all(&xb);
    run_measured(
        "warm-up mariabackup",
        bash(&format!("{} > /dev/null", env.mariabackup_cmd(&xb))),
    );
    for round in 0..rounds {
        eprintln!("round {}/{rounds}: backups", round + 1);
        // Raw: the tool alone into /dev/null, the ceiling for every row.
        let _ = std::fs::remove_dir_all(&xb);
        let m = run_measured(
            "raw mariabackup",
            bash(&format!("{} | wc -c", env.mariabackup_cmd(&xb))),
        );
        stream_bytes = m.stdout.trim().parse().unwrap_or(0);
        keep_best(
            &mut backups,
            Row {
                name: "raw: mariabackup --stream | wc -c (no upload)".into(),
                secs: m.secs,
                total_cpu: m.total_cpu,
                ..Default::default()
            },
        );
        for compression in ["zstd", "gzip"] {
            let mut cmd = Command::new(&exe);
            cmd.env(CHILD_ENV, "backup")
                .env("BENCH_COMPRESSION", compression)
                .env("BENCH_AGENT", agent_addr)
                .env("BENCH_DEST", format!("s3://bench/{}", our_key(compression)));
            env.s3_vars(&mut cmd);
            let m = run_measured(&format!("ours ({compression}) backup"), cmd);
            let stored = m
                .stdout
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            let (rss, cpu) = m.movers(|n| n.starts_with("backup_vs_rclon"));
            assert!(
                rss <= RSS_BOUND_MIB,
                "ours ({compression}) backup peaked at {rss:.1} MiB RSS (bound {RSS_BOUND_MIB})"
            );
            keep_best(
                &mut backups,
                Row {
                    name: format!(
                        "ours, {compression}: agent stream → {compression} → S3 multipart"
                    ),
                    secs: m.secs,
                    total_cpu: m.total_cpu,
                    stored_mib: Some(stored as f64 / 1048576.0),
                    rss_mib: Some(rss),
                    cpu_secs: Some(cpu),
                },
            );
        }
        for (i, (name, compressor, ext)) in PIPELINES.iter().enumerate() {
            let _ = std::fs::remove_dir_all(&xb);
            let key = format!("pipe/p{i}.xbackup.{ext}");
            let mut cmd = bash(&format!(
                "{} | {compressor} | rclone rcat {REMOTE}:bench/{key}",
                env.mariabackup_cmd(&xb)
            ));
            env.rclone_vars(&mut cmd);
            let m = run_measured(name, cmd);
            let (rss, cpu) = m.movers(|n| n == "rclone" || is_compressor(n));
            let stored = object_size(env, &format!("bench/{key}"));
            keep_best(
                &mut backups,
                Row {
                    name: name.to_string(),
                    secs: m.secs,
                    total_cpu: m.total_cpu,
                    stored_mib: Some(stored as f64 / 1048576.0),
                    rss_mib: Some(rss),
                    cpu_secs: Some(cpu),
                },
            );
        }

        eprintln!("round {}/{rounds}: restores", round + 1);
        let dir = scratch.join("restore");
        // Floor: extract a local copy of the stream and prepare, no download.
        let local = scratch.join("stream.xb");
        let _ = std::fs::remove_dir_all(&xb);
        let status = bash(&format!(
            "{} > {}",
            env.mariabackup_cmd(&xb),
            local.display()
        ))
        .stderr(Stdio::null())
        .status()
        .expect("bash");
        assert!(status.success(), "local copy of the stream");
        empty_dir(&dir);
        let m = run_measured(
            "local extract + prepare",
            bash(&format!(
                "mbstream -x -C {d} < {l}; mariabackup --prepare --target-dir={d}",
                d = dir.display(),
                l = local.display()
            )),
        );
        check_restored(&dir, "local");
        let _ = std::fs::remove_file(&local);
        keep_best(
            &mut restores,
            Row {
                name: "floor: mbstream -x < local file; prepare (no download)".into(),
                secs: m.secs,
                total_cpu: m.total_cpu,
                ..Default::default()
            },
        );
        for compression in ["zstd", "gzip"] {
            empty_dir(&dir);
            let mut cmd = Command::new(&exe);
            cmd.env(CHILD_ENV, "restore")
                .env("BENCH_DATADIR", &dir)
                .env(
                    "BENCH_SOURCE",
                    format!("s3://bench/{}", our_key(compression)),
                );
            env.s3_vars(&mut cmd);
            let m = run_measured(&format!("ours ({compression}) restore"), cmd);
            check_restored(&dir, "ours");
            let (rss, cpu) = m.movers(|n| n.starts_with("backup_vs_rclon"));
            assert!(
                rss <= RSS_BOUND_MIB,
                "ours ({compression}) restore peaked at {rss:.1} MiB RSS (bound {RSS_BOUND_MIB})"
            );
            keep_best(
                &mut restores,
                Row {
                    name: format!(
                        "ours, {compression}: GET → {compression} -d → mbstream -x; prepare"
                    ),
                    secs: m.secs,
                    total_cpu: m.total_cpu,
                    rss_mib: Some(rss),
                    cpu_secs: Some(cpu),
                    ..Default::default()
                },
            );
        }
        for (name, compression, decompressor) in RESTORE_PIPELINES {
            empty_dir(&dir);
            let mut cmd = bash(&format!(
                "rclone cat {REMOTE}:bench/{} | {decompressor} \
                 | mbstream -x -C {d}; mariabackup --prepare --target-dir={d}",
                our_key(compression),
                d = dir.display()
            ));
            env.rclone_vars(&mut cmd);
            let m = run_measured(name, cmd);
            check_restored(&dir, name);
            let (rss, cpu) = m.movers(|n| n == "rclone" || is_compressor(n));
            keep_best(
                &mut restores,
                Row {
                    name: name.to_string(),
                    secs: m.secs,
                    total_cpu: m.total_cpu,
                    rss_mib: Some(rss),
                    cpu_secs: Some(cpu),
                    ..Default::default()
                },
            );
        }
    }
    (stream_bytes, backups, restores)
}

/// Size of a stored object, through rclone (`rclone size --json`).
fn object_size(env: &Env, path: &str) -> u64 {
    let mut cmd = Command::new("rclone");
    cmd.args(["size", "--json", &format!("{REMOTE}:{path}")]);
    env.rclone_vars(&mut cmd);
    let out = cmd.output().expect("rclone size");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("bytes").and_then(|b| b.as_u64()))
        .unwrap_or(0)
}

fn print_tables(stream_bytes: u64, rounds: usize, backups: &[Row], restores: &[Row]) {
    let mib = stream_bytes as f64 / 1048576.0;
    println!();
    println!(
        "{mib:.0} MiB of xbstream (MariaDB, InnoDB), SeaweedFS on loopback, {} cores; best of {rounds} rounds",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    for (title, rows) in [("backup", backups), ("restore", restores)] {
        println!();
        println!("| {title} | MiB/s | wall | stored | mover peak RSS | mover CPU | machine CPU |");
        println!("|---|---|---|---|---|---|---|");
        for r in rows {
            let opt = |v: Option<f64>, unit: &str, prec: usize| {
                v.map(|v| format!("{v:.prec$} {unit}")).unwrap_or_default()
            };
            println!(
                "| {} | {:.1} | {:.2} s | {} | {} | {} | {:.2} s |",
                r.name.replace('|', "\\|"),
                mib / r.secs,
                r.secs,
                opt(r.stored_mib, "MiB", 1),
                opt(r.rss_mib, "MiB", 1),
                opt(r.cpu_secs, "s", 2),
                r.total_cpu,
            );
        }
        let ours = rows.iter().find(|r| r.name.starts_with("ours, zstd"));
        let ours_gz = rows.iter().find(|r| r.name.starts_with("ours, gzip"));
        let best = rows
            .iter()
            .filter(|r| r.name.contains("rclone"))
            .min_by(|a, b| a.secs.total_cmp(&b.secs));
        let gz_peer = rows
            .iter()
            .find(|r| r.name.contains("rclone") && r.name.contains("gzip"));
        if let (Some(o), Some(b)) = (ours, best) {
            println!(
                "{title}: ours (zstd) / best standard ({}) = {:.2}x throughput; RSS {:.1} vs {:.1} MiB",
                b.name,
                b.secs / o.secs,
                o.rss_mib.unwrap_or(0.0),
                b.rss_mib.unwrap_or(0.0)
            );
        }
        if let (Some(o), Some(g)) = (ours_gz, gz_peer) {
            println!(
                "{title}: ours (gzip) / {} = {:.2}x throughput",
                g.name,
                g.secs / o.secs
            );
        }
    }
}
