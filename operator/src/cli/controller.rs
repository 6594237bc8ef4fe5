//! `mysql-operator controller`: the operator process — kube client, leader election on a
//! Lease, the controllers (clusters, backups and their schedule, databases, users), the
//! Wasm module registry, `/healthz` `/readyz` and `/metrics`, graceful shutdown on
//! SIGTERM/SIGINT. `/healthz` answers from the start; `/readyz` fails with the reason
//! until the API server answers. The reconcilers themselves live in `crates/controller`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ::controller::lease::{self, LeaseConfig};
use ::controller::metrics::Metrics;
use ::controller::runtime::{RuntimeOptions, run as run_controllers};
use ::controller::store::KubeStore;
use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::ArgAction;
use k8s_openapi::api::coordination::v1::Lease;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{info, warn};

/// Options of `mysql-operator controller` (the chart passes each of them).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Watch only this namespace (presslabs' `watchNamespace`); empty: all namespaces.
    #[arg(long, env = "WATCH_NAMESPACE", default_value = "")]
    pub namespace: String,
    /// Elect a leader among replicas with a Lease.
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    pub leader_elect: bool,
    /// Namespace of the Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub leader_election_namespace: String,
    /// Name of the Lease.
    #[arg(long, default_value = "mysql-operator-leader-election")]
    pub leader_election_id: String,
    /// Port of `/metrics`.
    #[arg(long, default_value_t = 8080)]
    pub metrics_port: u16,
    /// Port of `/healthz` and `/readyz`.
    #[arg(long, default_value_t = 8081)]
    pub health_port: u16,
    /// Images of the clusters' pods (the same flags as `render`).
    #[command(flatten)]
    pub images: super::images::ImageArgs,
    /// At most this many clusters are reconciled at once.
    #[arg(long, default_value_t = 4)]
    pub max_concurrent_reconciles: u16,
    /// Operator-wide default policy modules: a YAML or JSON list of `spec.plugins`
    /// entries, attached to every cluster that lists no module of the same name (the
    /// ConfigMaps must exist in each cluster's namespace).
    #[arg(long)]
    pub default_plugins: Option<PathBuf>,
    /// Delete the data PVCs of ordinals removed by a scale-down (as presslabs did).
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    pub cleanup_pvcs: bool,
}

#[derive(Clone)]
struct Health {
    /// `Ok` when the API server answered; `Err(reason)` is what `/readyz` reports.
    ready: Arc<Mutex<Result<(), String>>>,
}

impl Health {
    fn set(&self, r: Result<(), String>) {
        *self.ready.lock().unwrap_or_else(|p| p.into_inner()) = r;
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(h): State<Health>) -> (StatusCode, String) {
    match &*h.ready.lock().unwrap_or_else(|p| p.into_inner()) {
        Ok(()) => (StatusCode::OK, "ok".into()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
    }
}

#[derive(Clone)]
struct MetricsState {
    registry: Arc<Registry>,
    metrics: Metrics,
    /// The Wasm host, once connected: its call counters are copied on each scrape.
    plugins: Arc<OnceLock<Arc<plugin::Registry>>>,
}

async fn metrics(State(st): State<MetricsState>) -> (StatusCode, String) {
    if let Some(r) = st.plugins.get() {
        st.metrics.copy_plugin_host(&r.host().metrics().snapshot());
    }
    let mut out = String::new();
    match prometheus_client::encoding::text::encode(&mut out, &st.registry) {
        Ok(()) => (StatusCode::OK, out),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Read `--default-plugins`: a YAML (or JSON) list of `spec.plugins` entries.
fn read_default_plugins(path: &Path) -> anyhow::Result<Vec<api::PluginSpec>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --default-plugins {}", path.display()))?;
    let defaults: Vec<api::PluginSpec> = serde_yaml_ng::from_str(&text).with_context(|| {
        format!(
            "--default-plugins {}: expected a list of spec.plugins entries (name, configMap, ...)",
            path.display()
        )
    })?;
    let mut names = std::collections::BTreeSet::new();
    for d in &defaults {
        if d.name.trim().is_empty() || d.config_map.name.trim().is_empty() {
            anyhow::bail!(
                "--default-plugins {}: every entry needs a name and a configMap name",
                path.display()
            );
        }
        if !names.insert(d.name.clone()) {
            anyhow::bail!(
                "--default-plugins {}: module {} is listed twice",
                path.display(),
                d.name
            );
        }
    }
    Ok(defaults)
}

/// The backups' object store for the controller: `crates/backup`'s S3 client, configured
/// per call from the backup Secret (presslabs variable names).
#[derive(Clone, Copy, Debug, Default)]
struct S3Remote;

fn s3_for(
    url: &str,
    vars: &std::collections::BTreeMap<String, String>,
) -> Result<(backup::S3Store, backup::ObjectUrl), String> {
    let settings = backup::S3Settings::from_vars(vars).map_err(|e| e.to_string())?;
    let obj = backup::ObjectUrl::parse("backupURL", url).map_err(|e| e.to_string())?;
    Ok((backup::S3Store::new(&settings), obj))
}

impl ::controller::backup::RemoteStore for S3Remote {
    async fn delete(
        &self,
        url: &str,
        vars: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), String> {
        let (s3, obj) = s3_for(url, vars)?;
        s3.delete(&obj).await.map_err(|e| e.to_string())
    }

    async fn size(
        &self,
        url: &str,
        vars: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<u64>, String> {
        let (s3, obj) = s3_for(url, vars)?;
        s3.head(&obj).await.map_err(|e| e.to_string())
    }
}

/// A client whose API server answered (kubeconfig or in-cluster config).
/// A client for the in-cluster or KUBECONFIG configuration whose every request is
/// counted in `mysql_operator_kube_requests_total{verb}`.
async fn connect(metrics: &Metrics) -> anyhow::Result<kube::Client> {
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes client configuration (in-cluster or KUBECONFIG)")?;
    let m = metrics.clone();
    let count = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        m.count_kube_request(req.method().as_str(), req.uri().query());
        req
    });
    let client = kube::client::ClientBuilder::try_from(config)
        .context("building the Kubernetes client")?
        .with_layer(&count)
        .build();
    client
        .apiserver_version()
        .await
        .context("the Kubernetes API server did not answer")?;
    Ok(client)
}

async fn serve(port: u16, app: Router, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
        .with_context(|| format!("serving on {addr}"))
}

async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the controller");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn main_loop(args: Args) -> anyhow::Result<()> {
    let default_plugins = match &args.default_plugins {
        Some(path) => read_default_plugins(path)?,
        None => Vec::new(),
    };
    info!(
        count = default_plugins.len(),
        "operator-wide default modules"
    );

    let mut registry = Registry::default();
    let m = Metrics::register(&mut registry);
    // Always present, so a scrape shows the operator is up (and which build) before any
    // reconcile has filled the other families.
    registry.register(
        "mysql_operator_build",
        "The operator's version",
        prometheus_client::metrics::info::Info::new(vec![(
            "version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]),
    );
    let health = Health {
        ready: Arc::new(Mutex::new(Err("starting".into()))),
    };
    let plugins = Arc::new(OnceLock::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let health_app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health.clone());
    let metrics_app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(MetricsState {
            registry: Arc::new(registry),
            metrics: m.clone(),
            plugins: plugins.clone(),
        });
    let health_srv = tokio::spawn(serve(args.health_port, health_app, stop_rx.clone()));
    let metrics_srv = tokio::spawn(serve(args.metrics_port, metrics_app, stop_rx.clone()));

    let (sig_tx, sig_rx) = watch::channel(false);
    tokio::spawn(async move {
        signal().await;
        info!("shutting down");
        let _ = sig_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let stop_servers =
        |tx: watch::Sender<bool>, servers: [tokio::task::JoinHandle<anyhow::Result<()>>; 2]| async move {
            let _ = tx.send(true);
            for srv in servers {
                if let Ok(Err(e)) = srv.await {
                    warn!(error = %e, "HTTP server");
                }
            }
        };

    // Serve /healthz from the start; /readyz says why the API server is not reachable.
    let mut failures = 0u32;
    let client = loop {
        match connect(&m).await {
            Ok(c) => break c,
            Err(e) => {
                let reason = format!("Kubernetes API unreachable: {e:#}");
                warn!(%reason, "retrying");
                health.set(Err(reason));
                failures += 1;
                tokio::select! {
                    _ = tokio::time::sleep(::controller::runtime::backoff(failures.min(5))) => {}
                    _ = stopped(sig_rx.clone()) => {
                        stop_servers(stop_tx, [health_srv, metrics_srv]).await;
                        return Ok(());
                    }
                }
            }
        }
    };
    // Standby replicas are ready too: they serve probes and wait for the Lease.
    health.set(Ok(()));
    let reporter = std::env::var("POD_NAME").unwrap_or_else(|_| "mysql-operator".into());
    let module_registry = match ::controller::runtime::plugin_registry(
        KubeStore::new(client.clone(), reporter),
        m.clone(),
    ) {
        Ok(r) => {
            let _ = plugins.set(r.clone());
            Some(r)
        }
        Err(e) => {
            warn!(error = %e, "the Wasm host did not start: policy modules are not run by the operator");
            None
        }
    };

    let lease_cfg = LeaseConfig {
        namespace: args.leader_election_namespace.clone(),
        name: args.leader_election_id.clone(),
        identity: std::env::var("POD_NAME")
            .unwrap_or_else(|_| format!("mysql-operator-{}", std::process::id())),
        duration: Duration::from_secs(15),
        renew_every: Duration::from_secs(5),
    };
    let lease_api: kube::Api<Lease> = kube::Api::namespaced(client.clone(), &lease_cfg.namespace);

    // Without election this sender stays alive (and `true`) for the whole run.
    let (_always_leading, always_rx) = watch::channel(true);
    let mut leading = if args.leader_elect {
        tokio::select! {
            rx = lease::acquire(lease_api.clone(), lease_cfg.clone()) => rx,
            _ = stopped(sig_rx.clone()) => {
                stop_servers(stop_tx, [health_srv, metrics_srv]).await;
                return Ok(());
            }
        }
    } else {
        always_rx
    };

    let opts = RuntimeOptions {
        namespace: Some(args.namespace.trim().to_string()).filter(|n| !n.is_empty()),
        concurrency: args.max_concurrent_reconciles.max(1),
        render: args.images.options(None)?,
        cluster: ::controller::Options {
            sidecar_image: args.images.sidecar_image.clone(),
            cleanup_pvcs: args.cleanup_pvcs,
            default_plugins,
        },
    };
    let lost = Arc::new(AtomicBool::new(false));
    let stop_controller = {
        let lost = lost.clone();
        let sig = stopped(sig_rx.clone());
        async move {
            tokio::select! {
                _ = sig => {}
                _ = leading.wait_for(|l| !*l) => {
                    warn!("leadership lost; stopping");
                    lost.store(true, Ordering::Relaxed);
                }
            }
        }
    };
    info!(namespace = ?opts.namespace, concurrency = opts.concurrency, "controller started");
    run_controllers(client, opts, m, module_registry, S3Remote, stop_controller).await;
    if args.leader_elect {
        lease::release(&lease_api, &lease_cfg).await;
    }
    stop_servers(stop_tx, [health_srv, metrics_srv]).await;
    if lost.load(Ordering::Relaxed) {
        anyhow::bail!(
            "leadership lost: exiting so the Deployment restarts this replica as a standby"
        );
    }
    Ok(())
}

/// Run the controller until SIGTERM/SIGINT (or loss of leadership, then exit 1 so the
/// Deployment restarts it as a standby).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let res = rt.block_on(main_loop(args));
    // Work still on the blocking pool (a slow DNS lookup, say) must not hold the exit.
    rt.shutdown_timeout(Duration::from_secs(1));
    res?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::S3Remote;
    use ::controller::backup::RemoteStore;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};
    use testkit::s3::{ACCESS_KEY, REGION, SECRET_KEY, Seaweed};

    /// The remote delete a `remoteDeletePolicy: delete` backup relies on, against a real
    /// SeaweedFS: size of a stored object, delete, gone, a second delete is not an error,
    /// and a wrong secret is an error naming the cause (the finalizer then stays).
    #[tokio::test]
    async fn s3_remote_sizes_and_deletes_a_stored_backup() {
        let server = Seaweed::start(&["backups"]).expect("start SeaweedFS");
        let vars = |secret: &str| {
            BTreeMap::from([
                ("AWS_ACCESS_KEY_ID".to_string(), ACCESS_KEY.to_string()),
                ("AWS_SECRET_ACCESS_KEY".to_string(), secret.to_string()),
                ("AWS_REGION".to_string(), REGION.to_string()),
                ("S3_ENDPOINT".to_string(), server.endpoint()),
            ])
        };
        let good = vars(SECRET_KEY);
        let url = "s3://backups/shop/shop-auto-2026-11-24t05-00-00.xbackup.gz";
        let (store, obj) = super::s3_for(url, &good).expect("settings");
        let body = vec![7u8; 4096];
        let start = Instant::now();
        loop {
            let put = store
                .client()
                .put_object()
                .bucket(&obj.bucket)
                .key(&obj.key)
                .body(body.clone().into())
                .send()
                .await;
            match put {
                Ok(_) => break,
                Err(e) if start.elapsed() > Duration::from_secs(20) => {
                    panic!("bucket never became writable: {e:?}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }

        let remote = S3Remote;
        assert_eq!(remote.size(url, &good).await, Ok(Some(4096)));
        let refused = remote.delete(url, &vars("not-the-secret")).await;
        assert!(
            refused.is_err(),
            "a wrong secret must not delete: {refused:?}"
        );
        assert_eq!(
            remote.size(url, &good).await,
            Ok(Some(4096)),
            "still stored"
        );
        assert_eq!(remote.delete(url, &good).await, Ok(()));
        assert_eq!(remote.size(url, &good).await, Ok(None));
        assert_eq!(
            remote.delete(url, &good).await,
            Ok(()),
            "already gone is fine"
        );
        let bad = remote.size("http://nowhere/x", &good).await;
        println!("bad URL: {bad:?}; wrong secret: {refused:?}");
        assert!(bad.is_err_and(|e| e.contains("backupURL")));
    }
}
