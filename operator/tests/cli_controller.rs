//! `mysql-operator controller` without a Kubernetes API server (none runs on the test
//! machines): the real binary serves `/healthz` at once, fails `/readyz` with the reason
//! (missing kubeconfig, or an API server that does not answer), serves `/metrics`, and
//! exits 0 on SIGTERM. A bad `--default-plugins` file stops it at start with the file
//! named. What needs an API server (leader election, the controllers) is not covered here.
//!
//! TODO(issue 7): parked under tests/pending/ (not compiled by cargo) because the operator
//! binary could not be rebuilt before the deadline; it compiled under
//! `cargo clippy -p mysql-operator --all-targets` but was never run. Move it back to
//! operator/tests/ and run `cargo test -p mysql-operator --test cli_controller`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mysql-operator");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `GET path` on 127.0.0.1:port: (status, body), or `None` while nothing listens.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Poll until `f` holds (generous bound: the machine is shared).
fn wait_for(what: &str, child: &mut Child, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if f() {
            return t.elapsed();
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("the controller exited ({st}) before {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within 60s");
}

struct Running {
    child: Child,
    health: u16,
    metrics: u16,
    _home: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(kubeconfig: Option<&str>) -> Running {
    let home = tempfile::tempdir().expect("temp home");
    let health = free_port();
    let metrics = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "controller",
        "--leader-elect",
        "false",
        "--health-port",
        &health.to_string(),
        "--metrics-port",
        &metrics.to_string(),
    ])
    .env("HOME", home.path())
    .env_remove("KUBERNETES_SERVICE_HOST")
    .env_remove("KUBERNETES_SERVICE_PORT")
    .env("RUST_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    match kubeconfig {
        Some(text) => {
            let path = home.path().join("kubeconfig");
            std::fs::write(&path, text).expect("write kubeconfig");
            cmd.env("KUBECONFIG", &path);
        }
        None => {
            cmd.env("KUBECONFIG", home.path().join("missing"));
        }
    }
    let child = cmd.spawn().expect("start mysql-operator controller");
    Running {
        child,
        health,
        metrics,
        _home: home,
    }
}

fn sigterm_exits_zero(r: &mut Running) -> Duration {
    let t = Instant::now();
    let st = Command::new("kill")
        .args(["-TERM", &r.child.id().to_string()])
        .status()
        .expect("kill(1)");
    assert!(st.success());
    loop {
        if let Some(st) = r.child.try_wait().expect("wait") {
            assert!(st.success(), "graceful shutdown exits 0, got {st}");
            return t.elapsed();
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no exit within 30s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn without_kubeconfig_healthz_is_ok_and_readyz_says_why() {
    let mut r = start(None);
    let health = r.health;
    let took = wait_for("/healthz answers", &mut r.child, || {
        get(health, "/healthz").is_some_and(|(s, b)| s == 200 && b == "ok")
    });
    println!("/healthz served {} ms after start", took.as_millis());
    let mut last = None;
    wait_for(
        "/readyz reports the missing configuration",
        &mut r.child,
        || {
            last = get(health, "/readyz");
            last.as_ref()
                .is_some_and(|(s, b)| *s == 503 && b.contains("Kubernetes API unreachable"))
        },
    );
    let (_, body) = last.expect("readyz body");
    println!("/readyz: {}", body.trim());
    assert!(
        body.contains("KUBECONFIG") || body.contains("kubeconfig"),
        "names the configuration: {body}"
    );
    let (status, metrics) = get(r.metrics, "/metrics").expect("/metrics answers");
    assert_eq!(status, 200);
    // Families without samples are not encoded; the build info is there from the start.
    assert!(
        metrics.contains("mysql_operator_build_info{version=\"")
            && metrics.trim_end().ends_with("# EOF"),
        "build info in:\n{metrics}"
    );
    println!("/metrics before any reconcile:\n{}", metrics.trim());
    let took = sigterm_exits_zero(&mut r);
    println!("SIGTERM to exit: {} ms", took.as_millis());
}

#[test]
fn unreachable_api_server_fails_readyz_with_the_cause() {
    let dead = free_port();
    let kubeconfig = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: http://127.0.0.1:{dead}
users:
- name: u
  user:
    token: t
contexts:
- name: x
  context: {{cluster: c, user: u}}
current-context: x
"
    );
    let mut r = start(Some(&kubeconfig));
    let health = r.health;
    let mut last = None;
    wait_for("/readyz reports the dead API server", &mut r.child, || {
        last = get(health, "/readyz");
        last.as_ref()
            .is_some_and(|(s, b)| *s == 503 && b.contains("did not answer"))
    });
    println!("/readyz: {}", last.expect("body").1.trim());
    assert_eq!(get(health, "/healthz").map(|(s, _)| s), Some(200));
    sigterm_exits_zero(&mut r);
}

#[test]
fn bad_default_plugins_file_stops_at_start_naming_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("defaults.yaml");
    std::fs::write(
        &file,
        "- name: a\n  configMap: {name: cm, key: k}\n- name: a\n  configMap: {name: cm, key: k}\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["controller", "--leader-elect", "false", "--default-plugins"])
        .arg(&file)
        .args(["--health-port", &free_port().to_string()])
        .args(["--metrics-port", &free_port().to_string()])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("defaults.yaml") && err.contains("listed twice"),
        "{err}"
    );
}
