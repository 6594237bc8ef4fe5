//! `mysql-operator controller`: the operator process — kube client, leader election on a
//! Lease, the cluster controller, `/healthz` `/readyz` and `/metrics`, graceful shutdown
//! on SIGTERM/SIGINT. The reconcilers themselves live in `crates/controller`.
//!
//! Wiring (shared files, left to the lead): `mod controller;`, a `Controller(controller::Args)`
//! variant and its arm in `cli/mod.rs`; `controller`, `kube`, `tokio`, `axum`,
//! `prometheus-client` in `operator/Cargo.toml`. Not compiled until then.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::controller::lease::{self, LeaseConfig};
use ::controller::metrics::Metrics;
use ::controller::runtime::{RuntimeOptions, run_clusters};
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
    /// Image of the init and agent containers of the clusters' pods.
    #[arg(long, env = "SIDECAR_IMAGE", default_value = concat!("ghcr.io/mysql-operator/mysql-operator:", env!("CARGO_PKG_VERSION")))]
    pub sidecar_image: String,
    /// At most this many clusters are reconciled at once.
    #[arg(long, default_value_t = 4)]
    pub max_concurrent_reconciles: u16,
    /// Operator-wide default policy modules (YAML list of `spec.plugins` entries).
    /// Read and validated at start; attaching them to clusters is not wired yet.
    #[arg(long)]
    pub default_plugins: Option<PathBuf>,
    /// Delete the data PVCs of ordinals removed by a scale-down (as presslabs did).
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    pub cleanup_pvcs: bool,
}

#[derive(Clone)]
struct Health {
    ready: Arc<AtomicBool>,
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(h): State<Health>) -> (StatusCode, &'static str) {
    if h.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn metrics(State(reg): State<Arc<Registry>>) -> (StatusCode, String) {
    let mut out = String::new();
    match prometheus_client::encoding::text::encode(&mut out, &reg) {
        Ok(()) => (StatusCode::OK, out),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
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
    if let Some(path) = &args.default_plugins {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --default-plugins {}", path.display()))?;
        let defaults: Vec<api::PluginSpec> = serde_yaml_ng::from_str(&text).with_context(|| {
            format!(
                "--default-plugins {}: expected a list of spec.plugins entries",
                path.display()
            )
        })?;
        info!(
            count = defaults.len(),
            "operator-wide default modules read (not attached yet)"
        );
    }
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API (in-cluster or kubeconfig)")?;

    let mut registry = Registry::default();
    let m = Metrics::register(&mut registry);
    let health = Health {
        ready: Arc::new(AtomicBool::new(false)),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let health_app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health.clone());
    let metrics_app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(Arc::new(registry));
    let health_srv = tokio::spawn(serve(args.health_port, health_app, stop_rx.clone()));
    let metrics_srv = tokio::spawn(serve(args.metrics_port, metrics_app, stop_rx.clone()));
    // Standby replicas are ready too: they serve probes and wait for the Lease.
    health.ready.store(true, Ordering::Relaxed);

    let lease_cfg = LeaseConfig {
        namespace: args.leader_election_namespace.clone(),
        name: args.leader_election_id.clone(),
        identity: std::env::var("POD_NAME")
            .unwrap_or_else(|_| format!("mysql-operator-{}", std::process::id())),
        duration: Duration::from_secs(15),
        renew_every: Duration::from_secs(5),
    };
    let lease_api: kube::Api<Lease> = kube::Api::namespaced(client.clone(), &lease_cfg.namespace);

    let (sig_tx, sig_rx) = watch::channel(false);
    tokio::spawn(async move {
        signal().await;
        info!("shutting down");
        let _ = sig_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // Without election this sender stays alive (and `true`) for the whole run.
    let (_always_leading, always_rx) = watch::channel(true);
    let mut leading = if args.leader_elect {
        tokio::select! {
            rx = lease::acquire(lease_api.clone(), lease_cfg.clone()) => rx,
            _ = stopped(sig_rx.clone()) => {
                let _ = stop_tx.send(true);
                return Ok(());
            }
        }
    } else {
        always_rx
    };

    let opts = RuntimeOptions {
        namespace: Some(args.namespace.trim().to_string()).filter(|n| !n.is_empty()),
        concurrency: args.max_concurrent_reconciles.max(1),
        cluster: ::controller::Options {
            sidecar_image: args.sidecar_image.clone(),
            cleanup_pvcs: args.cleanup_pvcs,
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
    run_clusters(client, opts, m, stop_controller).await;
    if args.leader_elect {
        lease::release(&lease_api, &lease_cfg).await;
    }
    let _ = stop_tx.send(true);
    for srv in [health_srv, metrics_srv] {
        if let Ok(Err(e)) = srv.await {
            warn!(error = %e, "HTTP server");
        }
    }
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
    rt.block_on(main_loop(args))?;
    Ok(ExitCode::SUCCESS)
}
