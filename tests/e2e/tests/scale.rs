//! The operator at scale on a real API server (any kubeconfig; the local node in CI):
//! N MysqlClusters whose pods never run (a nodeSelector no node has) and whose pod names
//! resolve nowhere — the operator runs as a child process outside the cluster, in a mount
//! namespace whose `/etc/resolv.conf` names a DNS server that never answers, so every
//! lookup of a pod name is as slow as the system resolver allows (5 s × 2 attempts).
//!
//! It prints: the first full pass (start → every StatefulSet exists), the operator's RSS,
//! CPU and API requests, the latency from a spec change to the applied StatefulSet
//! (p50/p95), SIGTERM → exit, and a steady pass (a restarted operator over N existing
//! clusters: time to reconcile all, and the API writes it made — the goal is none).
//!
//! `cargo test -p mysql-operator-e2e --test scale` (CI: 200 clusters, generous bounds
//! asserted: StatefulSets within 60 s, exit within 10 s of SIGTERM, no write in the steady
//! pass); `bash scripts/bench-scale.sh` runs it with 1 000 clusters. Env: `SCALE_CLUSTERS`,
//! `SCALE_CHANGES` (spec changes timed, default 20), `SCALE_NAMESPACE` (`mysql-scale`),
//! `MYSQL_OPERATOR_BIN` (default: `mysql-operator` next to this test's target dir),
//! `SCALE_OPERATOR_ARGS` (extra `controller` flags, e.g. `--max-concurrent-reconciles 16`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use api::MysqlCluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use mysql_operator_e2e::settings::{LOCAL_NODE_KUBECONFIG, kubeconfig_file};

/// A DNS server address on loopback that receives queries and never answers.
const SILENT_DNS: &str = "127.0.0.153:53";
const METRICS_PORT: u16 = 18480;
const HEALTH_PORT: u16 = 18481;

struct Opts {
    clusters: usize,
    changes: usize,
    namespace: String,
    bin: PathBuf,
    kubeconfig: PathBuf,
}

fn main() -> ExitCode {
    mysql_operator_e2e::harness::main("scale", || async {
        match run().await {
            Ok(()) => {
                println!("scale passed");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("scale FAILED: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

fn opts() -> Result<Opts> {
    let num = |k: &str, d: usize| -> Result<usize> {
        match std::env::var(k) {
            Ok(v) => v
                .trim()
                .parse()
                .with_context(|| format!("{k}={v}: not a number")),
            Err(_) => Ok(d),
        }
    };
    let bin = match std::env::var_os("MYSQL_OPERATOR_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            // target/<profile>/deps/scale-<hash> → target/<profile>/mysql-operator
            let exe = std::env::current_exe().context("locating this test binary")?;
            exe.parent()
                .and_then(Path::parent)
                .map(|d| d.join("mysql-operator"))
                .ok_or_else(|| {
                    anyhow!("cannot derive the operator's path from {}", exe.display())
                })?
        }
    };
    if !bin.is_file() {
        bail!(
            "the operator binary {} is missing: build it with `cargo build -p mysql-operator` \
             (or set MYSQL_OPERATOR_BIN)",
            bin.display()
        );
    }
    let Some(kubeconfig) = kubeconfig_file() else {
        bail!(
            "no kubeconfig (KUBECONFIG, ~/.kube/config or {LOCAL_NODE_KUBECONFIG}): start the \
             local node with `bash scripts/local-cluster.sh up` or point KUBECONFIG at a cluster"
        );
    };
    Ok(Opts {
        clusters: num("SCALE_CLUSTERS", 200)?,
        changes: num("SCALE_CHANGES", 20)?,
        namespace: std::env::var("SCALE_NAMESPACE").unwrap_or_else(|_| "mysql-scale".into()),
        bin,
        kubeconfig,
    })
}

async fn run() -> Result<()> {
    let o = opts()?;
    let kc = Kubeconfig::read_from(&o.kubeconfig)
        .with_context(|| format!("reading {}", o.kubeconfig.display()))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    let client = Client::try_from(config)?;
    client
        .apiserver_version()
        .await
        .context("the API server does not answer: `bash scripts/local-cluster.sh up`")?;
    println!(
        "=== operator at scale: {} MysqlClusters in {} (kubeconfig {}) ===",
        o.clusters,
        o.namespace,
        o.kubeconfig.display()
    );
    refuse_other_operators(&client).await?;
    // CRDs this run installs go again at the end (a later `helm install` must own them).
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let installed_here = crds
        .get_opt("mysqlclusters.mysql.presslabs.org")
        .await?
        .is_none();
    install_crds(&o)?;
    fresh_namespace(&client, &o.namespace).await?;
    let result = measure(&client, &o).await;
    println!("cleanup: deleting namespace {}", o.namespace);
    if let Err(e) = delete_namespace(&client, &o.namespace).await {
        println!("cleanup: {e:#}");
    }
    if installed_here {
        println!("cleanup: removing the CRDs this run installed");
        if let Err(e) = kubectl_crds(&o, "delete") {
            println!("cleanup: {e:#}");
        }
    }
    result
}

/// An operator already running in the cluster would reconcile the scale namespace too.
async fn refuse_other_operators(client: &Client) -> Result<()> {
    let deps: Api<Deployment> = Api::all(client.clone());
    let lp = ListParams::default().labels("app.kubernetes.io/name=mysql-operator");
    let running: Vec<String> = deps
        .list(&lp)
        .await?
        .items
        .iter()
        .filter(|d| d.spec.replicas.unwrap_or(1) > 0)
        .map(|d| {
            format!(
                "{}/{}",
                d.metadata.namespace.clone().unwrap_or_default(),
                d.metadata.name.clone().unwrap_or_default()
            )
        })
        .collect();
    if !running.is_empty() {
        bail!(
            "another mysql-operator runs in this cluster ({}): it would reconcile the scale \
             namespace too; uninstall it first (`helm uninstall`)",
            running.join(", ")
        );
    }
    Ok(())
}

/// `kubectl <verb>` of the operator's CRDs (`mysql-operator crd`).
fn kubectl_crds(o: &Opts, verb: &str) -> Result<()> {
    let crds = Command::new(&o.bin)
        .arg("crd")
        .output()
        .context("mysql-operator crd")?;
    if !crds.status.success() {
        bail!(
            "mysql-operator crd: {}",
            String::from_utf8_lossy(&crds.stderr)
        );
    }
    let args: &[&str] = if verb == "apply" {
        &["apply", "--server-side", "--force-conflicts", "-f", "-"]
    } else {
        &["delete", "--ignore-not-found", "-f", "-"]
    };
    let mut cmd = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", &o.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("kubectl (install it: it ships with the local node's setup)")?;
    cmd.stdin
        .take()
        .ok_or_else(|| anyhow!("kubectl stdin"))?
        .write_all(&crds.stdout)?;
    if !cmd.wait()?.success() {
        bail!("kubectl {verb} of the CRDs failed");
    }
    Ok(())
}

fn install_crds(o: &Opts) -> Result<()> {
    kubectl_crds(o, "apply")?;
    let wait = Command::new("kubectl")
        .args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/mysqlclusters.mysql.presslabs.org",
        ])
        .env("KUBECONFIG", &o.kubeconfig)
        .stdout(Stdio::null())
        .status()?;
    if !wait.success() {
        bail!("the MysqlCluster CRD did not become Established");
    }
    Ok(())
}

async fn delete_namespace(client: &Client, ns: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(ns, &DeleteParams::background()).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    while api.get_opt(ns).await?.is_some() {
        if Instant::now() > deadline {
            bail!("namespace {ns} still terminating after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

async fn fresh_namespace(client: &Client, ns: &str) -> Result<()> {
    delete_namespace(client, ns).await?;
    let api: Api<Namespace> = Api::all(client.clone());
    let nsobj: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}
    }))?;
    api.create(&PostParams::default(), &nsobj).await?;
    Ok(())
}

fn cluster_name(i: usize) -> String {
    format!("scale-{i:04}")
}

async fn create_clusters(client: &Client, o: &Opts) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &o.namespace);
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "scale-secret"},
        "stringData": {"ROOT_PASSWORD": "not-used-pods-never-run"}
    }))?;
    secrets.create(&PostParams::default(), &secret).await?;
    let api: Api<MysqlCluster> = Api::namespaced(client.clone(), &o.namespace);
    futures::stream::iter(0..o.clusters)
        .map(|i| {
            let api = api.clone();
            async move {
                let obj: MysqlCluster = serde_json::from_value(serde_json::json!({
                    "apiVersion": "mysql.presslabs.org/v1alpha1",
                    "kind": "MysqlCluster",
                    "metadata": {"name": cluster_name(i)},
                    "spec": {
                        "replicas": 2,
                        "secretName": "scale-secret",
                        "mysqlVersion": "10.11",
                        "flavor": "mariadb",
                        "volumeSpec": {"emptyDir": {}},
                        // No node has this label: the pods stay Pending, nothing runs.
                        "podSpec": {"nodeSelector": {"mysql-operator.scale/none": "true"}}
                    }
                }))?;
                api.create(&PostParams::default(), &obj).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// A UDP socket on loopback that swallows every query.
fn silent_dns() -> Result<Arc<AtomicU64>> {
    let sock = std::net::UdpSocket::bind(SILENT_DNS)
        .with_context(|| format!("binding the silent DNS server on {SILENT_DNS} (needs root)"))?;
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while sock.recv_from(&mut buf).is_ok() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(seen)
}

/// The operator's `/etc/resolv.conf` (bind-mounted in its own mount namespace).
fn resolv_conf() -> Result<PathBuf> {
    let p = std::env::temp_dir().join(format!(
        "mysql-operator-scale-resolv-{}.conf",
        std::process::id()
    ));
    let host = SILENT_DNS.split(':').next().unwrap_or("127.0.0.153");
    std::fs::write(
        &p,
        format!("nameserver {host}\noptions timeout:5 attempts:2\n"),
    )?;
    Ok(p)
}

/// Run `argv` with the silent resolv.conf in place of the system's.
fn in_silent_dns(resolv: &Path, argv: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"")
        .arg(resolv)
        .args(argv);
    c
}

struct Operator {
    child: Child,
    started: Instant,
    log: PathBuf,
}

fn start_operator(o: &Opts, resolv: &Path, run: u32) -> Result<Operator> {
    let log = std::env::temp_dir().join(format!("mysql-operator-scale-{run}.log"));
    let file = std::fs::File::create(&log)?;
    let bin = o.bin.to_string_lossy().into_owned();
    let metrics = METRICS_PORT.to_string();
    let health = HEALTH_PORT.to_string();
    let child = in_silent_dns(
        resolv,
        &[
            &bin,
            "controller",
            "--namespace",
            &o.namespace,
            "--leader-elect=false",
            "--metrics-port",
            &metrics,
            "--health-port",
            &health,
        ],
    )
    .args(
        std::env::var("SCALE_OPERATOR_ARGS")
            .unwrap_or_default()
            .split_whitespace(),
    )
    .env("KUBECONFIG", &o.kubeconfig)
    .env("RUST_LOG", "info")
    .stdout(file.try_clone()?)
    .stderr(file)
    .spawn()
    .context("starting the operator under unshare (util-linux)")?;
    Ok(Operator {
        child,
        started: Instant::now(),
        log,
    })
}

impl Operator {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (VmRSS, VmHWM) in MiB.
    fn rss(&self) -> (f64, f64) {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let kb = |k: &str| {
            s.lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (kb("VmRSS:"), kb("VmHWM:"))
    }

    /// User + system CPU seconds so far.
    fn cpu(&self) -> f64 {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after = s.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (tick(11) + tick(12)) / 100.0
    }

    fn alive(&mut self) -> Result<()> {
        if let Some(st) = self.child.try_wait()? {
            bail!(
                "the operator exited ({st}); its log:\n{}",
                tail(&self.log, 30)
            );
        }
        Ok(())
    }

    /// SIGTERM, then the time until it exited (killed after 30 s).
    fn terminate(&mut self) -> Result<Duration> {
        let t = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        loop {
            if let Some(st) = self.child.try_wait()? {
                let took = t.elapsed();
                if !st.success() {
                    bail!(
                        "the operator exited with {st} after SIGTERM:\n{}",
                        tail(&self.log, 30)
                    );
                }
                return Ok(took);
            }
            if t.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "the operator did not exit within 30 s of SIGTERM; its log:\n{}",
                    tail(&self.log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Operator {
    /// A failed run leaves no operator behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn tail(p: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The operator's Prometheus text (plain HTTP/1.0 on loopback).
fn scrape() -> Result<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", METRICS_PORT))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// Sum of the samples of `family` whose labels contain every `want` pair.
fn metric(text: &str, family: &str, want: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(family) && !l.starts_with('#'))
        .filter(|l| {
            want.iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[derive(Default, Debug, Clone, Copy)]
struct Requests {
    reads: u64,
    writes: u64,
    reconciles: u64,
}

fn requests() -> Result<Requests> {
    let m = scrape()?;
    let verb = |v: &str| metric(&m, "mysql_operator_kube_requests_total", &[("verb", v)]);
    Ok(Requests {
        reads: (verb("get") + verb("watch")) as u64,
        writes: (verb("create") + verb("update") + verb("patch") + verb("delete")) as u64,
        reconciles: metric(
            &m,
            "mysql_operator_reconciles_total",
            &[("kind", "MysqlCluster")],
        ) as u64,
    })
}

/// Wait until the metrics answer, then until writes stop for `quiet` (max `limit`).
async fn settle(op: &mut Operator, quiet: Duration, limit: Duration) -> Result<Requests> {
    let t = Instant::now();
    let mut last = loop {
        op.alive()?;
        if let Ok(r) = requests() {
            break r;
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("the operator's /metrics never answered on port {METRICS_PORT}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        op.alive()?;
        if t.elapsed() > limit {
            bail!(
                "the operator kept writing for {limit:?} ({} writes so far)",
                last.writes
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = requests()?;
        if now.writes != last.writes {
            since = Instant::now();
        }
        last = now;
    }
    Ok(last)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn measure(client: &Client, o: &Opts) -> Result<()> {
    let t = Instant::now();
    create_clusters(client, o).await?;
    println!(
        "created {} MysqlClusters in {:.1} s (operator not started yet)",
        o.clusters,
        t.elapsed().as_secs_f64()
    );
    let queries = silent_dns()?;
    let resolv = resolv_conf()?;
    // Show how slow a pod name is for the system resolver in the operator's namespace.
    let probe_host = format!("{}-mysql-0.mysql.{}", cluster_name(0), o.namespace);
    let mut getent = in_silent_dns(&resolv, &["getent", "hosts", &probe_host])
        .stdout(Stdio::null())
        .spawn()?;
    let getent_thread = std::thread::spawn(move || {
        let t = Instant::now();
        loop {
            if let Ok(Some(_)) = getent.try_wait() {
                return Some(t.elapsed());
            }
            if t.elapsed() > Duration::from_secs(60) {
                let _ = getent.kill();
                let _ = getent.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });

    // Run 1: every cluster is new.
    let mut op = start_operator(o, &resolv, 1)?;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &o.namespace);
    let mut rss_peak = 0.0f64;
    let first_pass = loop {
        op.alive()?;
        let n = sts.list_metadata(&ListParams::default()).await?.items.len();
        rss_peak = rss_peak.max(op.rss().0);
        if n >= o.clusters {
            break op.started.elapsed();
        }
        if op.started.elapsed() > Duration::from_secs(600) {
            bail!("after 600 s only {n} of {} StatefulSets exist", o.clusters);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "run 1: all {} StatefulSets exist {:.1} s after the operator started",
        o.clusters,
        first_pass.as_secs_f64()
    );
    let getent_took = getent_thread.join().ok().flatten();
    let run1 = settle(&mut op, Duration::from_secs(5), Duration::from_secs(600)).await?;
    let (rss1, hwm1) = op.rss();
    let cpu1 = op.cpu();
    println!(
        "run 1 settled after {:.1} s: {} writes, {} reads, RSS {rss1:.1} MiB (peak {hwm1:.1}), CPU {cpu1:.1} s",
        op.started.elapsed().as_secs_f64(),
        run1.writes,
        run1.reads
    );

    // Spec change → applied StatefulSet, one cluster at a time.
    let clusters: Api<MysqlCluster> = Api::namespaced(client.clone(), &o.namespace);
    let mut latencies = Vec::new();
    for k in 0..o.changes.min(o.clusters) {
        let i = k * o.clusters / o.changes.min(o.clusters).max(1);
        let name = cluster_name(i);
        let value = format!("change-{k}");
        let patch = serde_json::json!({"spec": {"podSpec": {"annotations": {"scale.mysql-operator/change": value}}}});
        let t = Instant::now();
        clusters
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let sts_name = format!("{name}-mysql");
        loop {
            let s = sts.get(&sts_name).await?;
            let got = s
                .spec
                .template
                .metadata
                .and_then(|m| m.annotations)
                .unwrap_or_default();
            if got.get("scale.mysql-operator/change") == Some(&value) {
                latencies.push(t.elapsed().as_secs_f64());
                break;
            }
            if t.elapsed() > Duration::from_secs(60) {
                bail!("{name}: the spec change did not reach StatefulSet {sts_name} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let p50 = percentile(&mut latencies.clone(), 0.5);
    let p95 = percentile(&mut latencies.clone(), 0.95);
    let lmax = latencies.iter().cloned().fold(0.0, f64::max);
    let exit1 = op.terminate()?;
    println!("run 1: exited {:.2} s after SIGTERM", exit1.as_secs_f64());

    // Run 2: a restarted operator over existing clusters — the steady pass.
    let mut op = start_operator(o, &resolv, 2)?;
    let steady = loop {
        op.alive()?;
        if let Ok(r) = requests()
            && r.reconciles >= o.clusters as u64
        {
            break op.started.elapsed();
        }
        if op.started.elapsed() > Duration::from_secs(600) {
            bail!(
                "the restarted operator did not reconcile {} clusters within 600 s",
                o.clusters
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let run2 = settle(&mut op, Duration::from_secs(5), Duration::from_secs(300)).await?;
    let (rss2, hwm2) = op.rss();
    let cpu2 = op.cpu();
    let up2 = op.started.elapsed().as_secs_f64();
    let exit2 = op.terminate()?;
    let queries = queries.load(Ordering::Relaxed);

    println!(
        "\n=== figures: {} MysqlClusters, 2 replicas each, pods Pending, pod names unresolvable (silent DNS) ===",
        o.clusters
    );
    println!(
        "system resolver, one pod name, in the operator's namespace: {}",
        getent_took.map_or("> 60 s (killed)".to_string(), |d| format!(
            "{:.1} s",
            d.as_secs_f64()
        ))
    );
    println!("DNS queries the silent server received: {queries}");
    println!(
        "first full pass (start → every StatefulSet exists): {:.1} s (goal: seconds)",
        first_pass.as_secs_f64()
    );
    println!(
        "first run API requests: {} writes, {} reads ({:.1} writes per cluster)",
        run1.writes,
        run1.reads,
        run1.writes as f64 / o.clusters as f64
    );
    println!(
        "operator RSS: {rss1:.1} MiB settled, {:.1} MiB peak (first run); {rss2:.1} / {hwm2:.1} MiB (restarted) (goal ≤ 64 MiB)",
        hwm1.max(rss_peak)
    );
    println!(
        "operator CPU: {cpu1:.1} s in the first run, {cpu2:.1} s in {up2:.0} s of the restarted run"
    );
    println!(
        "spec change → applied StatefulSet ({} changes): p50 {:.3} s, p95 {:.3} s, max {:.3} s (goal p50 ≤ 1 s)",
        latencies.len(),
        p50,
        p95,
        lmax
    );
    println!(
        "steady pass (restarted operator reconciles all {}): {:.1} s, {} API writes (goal 0), {} reads",
        o.clusters,
        steady.as_secs_f64(),
        run2.writes,
        run2.reads
    );
    println!(
        "SIGTERM → exit: {:.2} s (first run), {:.2} s (restarted) (goal ≤ 10 s)",
        exit1.as_secs_f64(),
        exit2.as_secs_f64()
    );

    // Generous bounds only.
    let mut failures = Vec::new();
    if first_pass > Duration::from_secs(60) {
        failures.push(format!(
            "first pass took {:.1} s (bound 60 s)",
            first_pass.as_secs_f64()
        ));
    }
    for (run, d) in [(1, exit1), (2, exit2)] {
        if d > Duration::from_secs(10) {
            failures.push(format!(
                "run {run}: exit took {:.1} s after SIGTERM (bound 10 s)",
                d.as_secs_f64()
            ));
        }
    }
    if run2.writes > 0 {
        failures.push(format!(
            "the steady pass wrote {} times (must be 0)",
            run2.writes
        ));
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}
