//! Real `mariadbd` servers for tests: N processes, each with its own datadir, loopback
//! address (127.x.y.z), port, socket, `server_id`, binary log and GTID settings.
//!
//! ```no_run
//! # async fn demo() {
//! use mysql_operator_testkit::mariadb::MariaDb;
//! let mut db = MariaDb::start(3);            // panics naming `bash scripts/setup.sh` if mariadbd is absent
//! let pool = db.node(0).pool();              // mysql_async pool as root over TCP
//! db.node_mut(1).kill();                     // SIGKILL
//! db.node_mut(1).restart();                  // same datadir, same address
//! # }
//! ```
//!
//! Every node has the same accounts, created in the template datadir before any binary log
//! exists (so they carry no GTIDs):
//! - `root@'%'` and `root@localhost` with password [`ROOT_PASSWORD`] (TCP), and
//!   `root@localhost` also via `unix_socket` (we run as OS root) — mariabackup can use
//!   `--socket=<node.socket> --user=root --password=<ROOT_PASSWORD>` or just the socket;
//! - [`REPL_USER`]`@'%'` / [`REPL_PASSWORD`] with `REPLICATION SLAVE, REPLICATION CLIENT`;
//! - [`APP_USER`]`@'%'` / [`APP_PASSWORD`] with all privileges on the `app` database only —
//!   an application account, so `read_only` applies to it (root holds `READ ONLY ADMIN`
//!   and can write through `read_only` on MariaDB 10.11).
//!
//! Servers start writable with no replication configured (unless `read_only` is asked for
//! in [`Options`]); the code under test decides roles. Dropping a [`MariaDb`] kills every
//! process and removes the directories. Addresses are reserved with lock files under
//! `/tmp/mo-testkit-addrs` so parallel tests (also in other test binaries) never share one.

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Password of `root@'%'` and `root@localhost` on every test server.
pub const ROOT_PASSWORD: &str = "testkit-root";
/// Replication account present on every test server.
pub const REPL_USER: &str = "repl";
/// Password of [`REPL_USER`].
pub const REPL_PASSWORD: &str = "testkit-repl";

/// Application account (privileges on the `app` database only; subject to `read_only`).
pub const APP_USER: &str = "app";
/// Password of [`APP_USER`].
pub const APP_PASSWORD: &str = "testkit-app";

const SETUP_HINT: &str = "run `bash scripts/setup.sh` (installs mariadb-server and mariadb-backup)";
const ADDR_DIR: &str = "/tmp/mo-testkit-addrs";

/// Knobs for a test cluster; `Default` is what most tests want.
#[derive(Debug, Clone)]
pub struct Options {
    /// Number of servers.
    pub nodes: usize,
    /// Start every server with `read_only=ON` in its config (as a real pod would).
    pub read_only: bool,
    /// Extra `my.cnf` lines for the `[mariadbd]` section, e.g. `"gtid_domain_id=1"`.
    pub extra_cnf: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nodes: 3,
            read_only: false,
            extra_cnf: Vec::new(),
        }
    }
}

/// Why a cluster could not be started (the panicking [`MariaDb::start`] wraps this).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{tool}` not found on PATH: {SETUP_HINT}")]
    MissingTool { tool: &'static str },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// One `mariadbd` process with its own directory, address and port.
pub struct Node {
    /// Position in the cluster (0-based); `server_id` is `index + 1`.
    pub index: usize,
    /// Loopback address the server binds, e.g. `127.23.0.5`.
    pub host: Ipv4Addr,
    pub port: u16,
    /// Unix socket path (for mariabackup and the `mariadb` client).
    pub socket: PathBuf,
    pub datadir: PathBuf,
    /// The node's `my.cnf` (`--defaults-file`), also usable by mariabackup.
    pub cnf: PathBuf,
    pub error_log: PathBuf,
    pub server_id: u32,
    child: Option<Child>,
}

impl Node {
    /// `mysql://root:…@host:port` — root over TCP.
    pub fn url(&self) -> String {
        format!("mysql://root:{ROOT_PASSWORD}@{}:{}", self.host, self.port)
    }

    /// `host:port` as the server reports it to replicas.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, self.port))
    }

    /// Connection options (root over TCP, 2 s connect timeout, no pooling surprises).
    pub fn opts(&self) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.host.to_string())
            .tcp_port(self.port)
            .user(Some("root"))
            .pass(Some(ROOT_PASSWORD))
            .prefer_socket(false)
            .conn_ttl(Some(Duration::from_secs(30)))
            .into()
    }

    /// Connection options for the application account [`APP_USER`] (default db `app`).
    pub fn app_opts(&self) -> mysql_async::Opts {
        mysql_async::OptsBuilder::from_opts(self.opts())
            .user(Some(APP_USER))
            .pass(Some(APP_PASSWORD))
            .db_name(Some("app"))
            .into()
    }

    /// A fresh `mysql_async` pool to this node as root.
    pub fn pool(&self) -> mysql_async::Pool {
        mysql_async::Pool::new(self.opts())
    }

    /// Is the process alive (not killed/stopped)?
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL the server (a crash: no clean shutdown) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Clean shutdown (SIGTERM), waiting up to 30 s, then SIGKILL.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start the server again on the same datadir and address (after `kill`/`stop`),
    /// waiting until it accepts connections. Panics with the error log tail on failure.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(e) = self
            .spawn()
            .and_then(|_| self.wait_ready(Duration::from_secs(60)))
        {
            panic!("restart of node {} failed: {e}", self.index);
        }
    }

    fn spawn(&mut self) -> Result<(), Error> {
        let log =
            fs::File::create(self.datadir.with_extension("stdout")).map_err(io("stdout log"))?;
        let child = Command::new(find_tool("mariadbd")?)
            .arg(format!("--defaults-file={}", self.cnf.display()))
            .arg("--user=root")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("stdout log"))?)
            .stderr(log)
            .spawn()
            .map_err(io("spawn mariadbd"))?;
        self.child = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + limit;
        loop {
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if !self.is_running() || Instant::now() > deadline {
                return Err(Error::Failed(format!(
                    "mariadbd {} did not become ready; error log tail:\n{}",
                    self.addr(),
                    tail(&self.error_log, 30)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `lines` lines of the server's error log (for assertion messages).
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.error_log, lines)
    }
}

/// N real servers; dropping it kills them and removes their directories.
pub struct MariaDb {
    nodes: Vec<Node>,
    addrs: Vec<AddrLease>,
    dir: Option<tempfile::TempDir>,
}

impl MariaDb {
    /// Start `n` servers with default [`Options`]. Panics (naming `bash scripts/setup.sh`
    /// when mariadbd is absent) if they cannot start: this is for tests.
    pub fn start(n: usize) -> MariaDb {
        Self::start_with(Options {
            nodes: n,
            ..Options::default()
        })
    }

    /// Like [`MariaDb::start`] with explicit options.
    pub fn start_with(opts: Options) -> MariaDb {
        match Self::try_start(opts) {
            Ok(db) => db,
            Err(e) => panic!("cannot start test MariaDB servers: {e}"),
        }
    }

    /// Non-panicking start, for the `sandbox` command.
    pub fn try_start(opts: Options) -> Result<MariaDb, Error> {
        let template = template()?;
        let dir = tempfile::Builder::new()
            .prefix("mo-mariadb-")
            .tempdir()
            .map_err(io("create temp dir"))?;
        let mut db = MariaDb {
            nodes: Vec::new(),
            addrs: Vec::new(),
            dir: Some(dir),
        };
        let root = db
            .dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default();
        for index in 0..opts.nodes {
            let lease = AddrLease::acquire()?;
            let host = lease.addr;
            db.addrs.push(lease);
            let port = 3306;
            let base = root.join(format!("n{index}"));
            let datadir = base.join("data");
            fs::create_dir_all(&base).map_err(io("node dir"))?;
            copy_dir(&template, &datadir)?;
            let node = Node {
                index,
                host,
                port,
                socket: base.join("mysqld.sock"),
                cnf: base.join("my.cnf"),
                error_log: base.join("error.log"),
                server_id: index as u32 + 1,
                datadir,
                child: None,
            };
            write_cnf(&node, &opts)?;
            db.nodes.push(node);
        }
        for node in &mut db.nodes {
            node.spawn()?;
        }
        for node in &mut db.nodes {
            node.wait_ready(Duration::from_secs(60))?;
        }
        Ok(db)
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    pub fn node_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Block all TCP traffic to and from node `i`'s server port (iptables DROP, tagged
    /// `mo-testkit-<pid>`), as a network partition. Undone by the guard's Drop.
    pub fn partition(&self, i: usize) -> Partition {
        Partition::isolate(self.nodes[i].host, self.nodes[i].port)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        self.addrs.clear();
        if let Some(d) = self.dir.take() {
            let _ = d.close();
        }
    }
}

/// An iptables partition isolating one server; dropping it heals the network.
pub struct Partition {
    rules: Vec<Vec<String>>,
}

impl Partition {
    fn isolate(host: Ipv4Addr, port: u16) -> Partition {
        sweep_stale_rules();
        let tag = format!("mo-testkit-{}", std::process::id());
        let h = host.to_string();
        let p = port.to_string();
        let rules: Vec<Vec<String>> = vec![
            vec!["INPUT", "-p", "tcp", "-d", &h, "--dport", &p],
            vec!["INPUT", "-p", "tcp", "-s", &h, "--sport", &p],
        ]
        .into_iter()
        .map(|r| {
            let mut r: Vec<String> = r.into_iter().map(String::from).collect();
            r.extend(["-m", "comment", "--comment", &tag, "-j", "DROP"].map(String::from));
            r
        })
        .collect();
        for r in &rules {
            let st = Command::new("iptables").arg("-I").args(r).status();
            match st {
                Ok(s) if s.success() => {}
                other => {
                    panic!("iptables -I {r:?} failed ({other:?}): {SETUP_HINT} and run as root")
                }
            }
        }
        Partition { rules }
    }

    /// Remove the rules now (same as dropping the guard).
    pub fn heal(self) {}
}

impl Drop for Partition {
    fn drop(&mut self) {
        for r in &self.rules {
            let _ = Command::new("iptables").arg("-D").args(r).status();
        }
    }
}

/// Remove iptables rules left by test processes that no longer exist.
fn sweep_stale_rules() {
    let Ok(out) = Command::new("iptables").arg("-S").output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(pos) = line.find("mo-testkit-") else {
            continue;
        };
        let pid: String = line[pos + 11..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if pid.is_empty() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Some(rule) = line.strip_prefix("-A ") {
            let args: Vec<String> = rule
                .split_whitespace()
                .map(|s| s.trim_matches('"').to_string())
                .collect();
            let _ = Command::new("iptables").arg("-D").args(&args).status();
        }
    }
}

/// A loopback address reserved for this process via a lock file.
struct AddrLease {
    addr: Ipv4Addr,
    file: PathBuf,
}

impl AddrLease {
    fn acquire() -> Result<AddrLease, Error> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        fs::create_dir_all(ADDR_DIR).map_err(io(ADDR_DIR))?;
        let start = (std::process::id().wrapping_mul(7919)) % 60_000;
        for _ in 0..60_000 {
            let k = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % 60_000;
            // 127.20.0.2 ..= 127.254.255.254; never 127.0.0.x (the sandbox and humans use those).
            let addr = Ipv4Addr::new(
                127,
                20 + (k / 250 / 250) as u8,
                ((k / 250) % 250) as u8,
                (k % 250 + 2) as u8,
            );
            let file = Path::new(ADDR_DIR).join(addr.to_string());
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(AddrLease { addr, file });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(&file).unwrap_or_default();
                    let alive = !owner.trim().is_empty()
                        && Path::new(&format!("/proc/{}", owner.trim())).exists();
                    if !alive {
                        let _ = fs::remove_file(&file);
                    }
                }
                Err(e) => return Err(io("address lock")(e)),
            }
        }
        Err(Error::Failed("no free 127.x.y.z address".into()))
    }
}

impl Drop for AddrLease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.file);
    }
}

fn find_tool(name: &'static str) -> Result<PathBuf, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(Error::MissingTool { tool: name })
}

fn write_cnf(node: &Node, opts: &Options) -> Result<(), Error> {
    let mut cnf = format!(
        "[mariadbd]\n\
         datadir={datadir}\nsocket={socket}\nport={port}\nbind-address={host}\n\
         pid-file={base}/mysqld.pid\nlog-error={log}\n\
         server-id={id}\nreport-host={host}\nreport-port={port}\n\
         log-bin=mysql-bin\nrelay-log=relay-bin\nlog-slave-updates=ON\nbinlog-format=ROW\n\
         gtid-strict-mode=ON\nskip-name-resolve=ON\nperformance-schema=OFF\n\
         innodb-buffer-pool-size=32M\ninnodb-log-file-size=16M\n\
         innodb-flush-log-at-trx-commit=2\nsync-binlog=0\n\
         max-connections=300\nread-only={ro}\n\
         rpl-semi-sync-slave-enabled=ON\n",
        datadir = node.datadir.display(),
        socket = node.socket.display(),
        port = node.port,
        host = node.host,
        base = node
            .cnf
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        log = node.error_log.display(),
        id = node.server_id,
        ro = if opts.read_only { "ON" } else { "OFF" },
    );
    for line in &opts.extra_cnf {
        cnf.push_str(line);
        cnf.push('\n');
    }
    cnf.push_str(&format!(
        "[client]\nsocket={}\nuser=root\npassword={ROOT_PASSWORD}\n",
        node.socket.display()
    ));
    fs::write(&node.cnf, cnf).map_err(io("write my.cnf"))
}

/// Initialise (once per machine and server version) a datadir holding the test accounts.
fn template() -> Result<PathBuf, Error> {
    static T: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    T.get_or_init(|| build_template().map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::Failed)
}

fn build_template() -> Result<PathBuf, Error> {
    let mariadbd = find_tool("mariadbd")?;
    let install = find_tool("mariadb-install-db")?;
    let client = find_tool("mariadb")?;
    let ver = Command::new(&mariadbd)
        .arg("--version")
        .output()
        .map_err(io("mariadbd --version"))?;
    let ver = String::from_utf8_lossy(&ver.stdout);
    let ver = ver
        .split_whitespace()
        .nth(2)
        .unwrap_or("unknown")
        .to_string();
    let final_dir = std::env::temp_dir().join(format!("mo-testkit-template-v2-{ver}"));
    if final_dir.join("READY").exists() {
        return Ok(final_dir);
    }
    let work = tempfile::Builder::new()
        .prefix("mo-testkit-tpl-")
        .tempdir()
        .map_err(io("temp dir"))?;
    let data = work.path().join("data");
    let sock = work.path().join("s.sock");
    let cnf = work.path().join("my.cnf");
    fs::write(
        &cnf,
        format!(
            "[mariadbd]\ndatadir={}\nsocket={}\nskip-networking=ON\ninnodb-buffer-pool-size=32M\n\
             innodb-log-file-size=16M\nperformance-schema=OFF\nlog-error={}/err.log\n",
            data.display(),
            sock.display(),
            work.path().display()
        ),
    )
    .map_err(io("template cnf"))?;
    let out = Command::new(install)
        .arg(format!("--defaults-file={}", cnf.display()))
        .args(["--user=root", "--skip-test-db"])
        .output()
        .map_err(io("mariadb-install-db"))?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let mut child = Command::new(&mariadbd)
        .arg(format!("--defaults-file={}", cnf.display()))
        .arg("--user=root")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io("spawn template mariadbd"))?;
    let sql = format!(
        "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('{ROOT_PASSWORD}');\
         CREATE USER root@'%' IDENTIFIED BY '{ROOT_PASSWORD}';\
         GRANT ALL PRIVILEGES ON *.* TO root@'%' WITH GRANT OPTION;\
         CREATE USER '{REPL_USER}'@'%' IDENTIFIED BY '{REPL_PASSWORD}';\
         GRANT REPLICATION SLAVE, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO '{REPL_USER}'@'%';\
         CREATE DATABASE app;\
         CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}';\
         GRANT ALL PRIVILEGES ON app.* TO '{APP_USER}'@'%';\
         SHUTDOWN;"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    let mut ok = false;
    while Instant::now() < deadline {
        let out = Command::new(&client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", sock.display()))
            .args(["-uroot", "-e", &sql])
            .output()
            .map_err(io("mariadb client"))?;
        if out.status.success() {
            ok = true;
            break;
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.wait();
    if !ok {
        let _ = child.kill();
        return Err(Error::Failed(format!("template setup SQL failed: {last}")));
    }
    fs::write(data.join("READY"), "").map_err(io("template marker"))?;
    match fs::rename(&data, &final_dir) {
        Ok(()) => {}
        Err(_) if final_dir.join("READY").exists() => {} // another process won the race
        Err(e) => return Err(io("install template")(e)),
    }
    Ok(final_dir)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Error> {
    fs::create_dir_all(to).map_err(io(format!("mkdir {}", to.display())))?;
    for entry in fs::read_dir(from).map_err(io(format!("read {}", from.display())))? {
        let entry = entry.map_err(io("read_dir"))?;
        let target = to.join(entry.file_name());
        if entry.file_name() == "READY" {
            continue;
        }
        if entry.file_type().map_err(io("file type"))?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .map_err(io(format!("copy {}", entry.path().display())))?;
        }
    }
    Ok(())
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_async::prelude::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn two_nodes_replicate_survive_kill_and_partition() {
        let mut db = MariaDb::start(2);
        assert_ne!(db.node(0).host, db.node(1).host);
        let p0 = db.node(0).pool();
        let p1 = db.node(1).pool();
        let mut c1 = p1.get_conn().await.unwrap();
        let change = format!(
            "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USER='{REPL_USER}', \
             MASTER_PASSWORD='{REPL_PASSWORD}', MASTER_USE_GTID=slave_pos",
            db.node(0).host,
            db.node(0).port
        );
        c1.query_drop(change).await.unwrap();
        c1.query_drop("START SLAVE").await.unwrap();
        let mut c0 = p0.get_conn().await.unwrap();
        c0.query_drop(
            "CREATE DATABASE t; CREATE TABLE t.x (id INT PRIMARY KEY); INSERT INTO t.x VALUES (1)",
        )
        .await
        .unwrap();
        let pos: String = c0
            .query_first("SELECT @@gtid_binlog_pos")
            .await
            .unwrap()
            .unwrap();
        let waited: i64 = c1
            .query_first(format!("SELECT MASTER_GTID_WAIT('{pos}', 10)"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(waited, 0, "replica did not catch up to {pos}");
        let n: i64 = c1
            .query_first("SELECT COUNT(*) FROM t.x")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1);
        drop(c1);
        p1.disconnect().await.unwrap();

        // kill -9 and restart keeps the data and the address
        db.node_mut(1).kill();
        assert!(!db.node_mut(1).is_running());
        db.node_mut(1).restart();
        let mut c1 = db.node(1).pool().get_conn().await.unwrap();
        let n: i64 = c1
            .query_first("SELECT COUNT(*) FROM t.x")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1);

        // a partition makes the node unreachable; healing restores it
        let part = db.partition(0);
        let r = tokio::time::timeout(
            Duration::from_secs(2),
            mysql_async::Conn::new(db.node(0).opts()),
        )
        .await;
        assert!(
            r.is_err() || r.unwrap().is_err(),
            "node 0 reachable through the partition"
        );
        part.heal();
        let mut c = mysql_async::Conn::new(db.node(0).opts()).await.unwrap();
        let one: i64 = c.query_first("SELECT 1").await.unwrap().unwrap();
        assert_eq!(one, 1);
        drop(c0);

        // the app account is subject to read_only; root (READ ONLY ADMIN) is not
        let mut app = mysql_async::Conn::new(db.node(1).app_opts()).await.unwrap();
        app.query_drop("CREATE TABLE a (id INT PRIMARY KEY)")
            .await
            .unwrap();
        c1.query_drop("SET GLOBAL read_only=ON").await.unwrap();
        let err = app
            .query_drop("INSERT INTO a VALUES (1)")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        c1.query_drop("INSERT INTO app.a VALUES (2)").await.unwrap();
    }
}
