//! `mysql-operator sandbox`: start N real `mariadbd` servers on loopback addresses, run
//! the HA engine against them (with heartbeat writers, as the agent would) and print
//! topology changes as they happen — the playground for policy authors. Ctrl-C (or
//! `--duration`) stops everything and removes the servers' directories.
//!
//! `--plugins DIR` attaches every policy module in DIR (`*.wasm`, gzip or zstd allowed),
//! in file-name order, through the same host and registry the controller uses; a module's
//! settings come from `<stem>.settings.json` beside it. Failover then asks those modules
//! first and the built-in rule last, exactly as in a cluster.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use testkit::mariadb::{self, MariaDb, Options};
use topology::{Config, Credentials, Engine, Heartbeat, NodeAddr};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of servers (one primary, the rest replicas).
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Stop after this many seconds instead of waiting for Ctrl-C.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Promote even when no candidate is safe (may lose acknowledged writes).
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Asynchronous replication instead of lossless semi-sync.
    #[arg(long)]
    pub no_semi_sync: bool,
    /// Attach the policy modules in this directory (`*.wasm`, optionally `.gz`/`.zst`).
    #[arg(long, value_name = "DIR")]
    pub plugins: Option<PathBuf>,
}

/// Loads every module in `dir` into a registry for the sandbox cluster, refusing to start
/// when one fails to load or rejects its settings (the author wants to know at once).
fn attach_plugins(dir: &Path, cluster: &str) -> anyhow::Result<plugin::Registry> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("--plugins {}: cannot read the directory", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            [".wasm", ".wasm.gz", ".wasm.zst"]
                .iter()
                .any(|ext| name.ends_with(ext))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!(
            "--plugins {}: no *.wasm modules found (build one with `cargo build --release --target wasm32-wasip2`)",
            dir.display()
        );
    }
    let mut specs = Vec::new();
    for path in &files {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let stem = file_name
            .split(".wasm")
            .next()
            .unwrap_or(file_name)
            .to_string();
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let settings_path = dir.join(format!("{stem}.settings.json"));
        let settings = if settings_path.exists() {
            std::fs::read_to_string(&settings_path)
                .with_context(|| format!("reading {}", settings_path.display()))?
        } else {
            "{}".to_string()
        };
        specs.push(plugin::AttachmentSpec {
            module: plugin::ModuleSpec {
                name: stem,
                bytes: plugin::ModuleBytes::Single(bytes),
                sha256: None,
                limits: plugin::Limits::default(),
            },
            hooks: Vec::new(),
            settings,
            failure_policy: plugin::FailurePolicy::Ignore,
        });
    }
    let host =
        plugin::Host::new(plugin::HostConfig::default()).context("starting the Wasm host")?;
    let registry = plugin::Registry::new(
        host,
        Arc::new(plugin::LogEvents),
        plugin::BreakerConfig::default(),
    );
    for outcome in registry.sync(cluster, &specs) {
        match outcome.result {
            Ok(digest) => println!("plugin {} attached (sha256 {digest})", outcome.name),
            Err(err) => anyhow::bail!("plugin {} did not load: {err}", outcome.name),
        }
    }
    Ok(registry)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.replicas == 0 || args.replicas > 9 {
        anyhow::bail!("--replicas must be between 1 and 9 (got {})", args.replicas);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(sandbox(args))
}

async fn sandbox(args: Args) -> anyhow::Result<ExitCode> {
    let n = args.replicas;
    // Load modules before starting servers: a bad module should cost the author nothing.
    let failover: Arc<dyn policy::FailoverCandidate> = match &args.plugins {
        Some(dir) => {
            let registry = attach_plugins(dir, "sandbox")?;
            Arc::new(registry.failover_chain("sandbox", Arc::new(policy::BuiltinFailover)))
        }
        None => Arc::new(policy::BuiltinFailover),
    };
    let db = tokio::task::spawn_blocking(move || {
        MariaDb::try_start(Options {
            nodes: n,
            read_only: true,
            ..Options::default()
        })
    })
    .await
    .context("server start task")?
    .context("starting mariadbd (run `bash scripts/setup.sh` if it is missing)")?;
    let addrs: Vec<NodeAddr> = db
        .nodes()
        .iter()
        .map(|nd| NodeAddr {
            name: format!("sandbox-mysql-{}", nd.index),
            ordinal: nd.index as u32,
            host: nd.host.to_string(),
            port: nd.port,
        })
        .collect();
    for (a, nd) in addrs.iter().zip(db.nodes()) {
        println!(
            "node {} at {}:{} (mysql -h {} -P {} -u root -p{} | socket {})",
            a.name,
            a.host,
            a.port,
            a.host,
            a.port,
            mariadb::ROOT_PASSWORD,
            nd.socket.display()
        );
    }
    let config = Config {
        allow_data_loss: args.allow_data_loss,
        semi_sync: !args.no_semi_sync,
        ..Config::default()
    };
    let cluster = policy::ClusterInfo {
        name: "sandbox".into(),
        namespace: "default".into(),
        flavor: policy::Flavor::Mariadb,
        version: "10.11".into(),
        replicas: n as u32,
        labels: Default::default(),
    };
    let creds = Credentials {
        admin_user: "root".into(),
        admin_password: mariadb::ROOT_PASSWORD.into(),
        repl_user: mariadb::REPL_USER.into(),
        repl_password: mariadb::REPL_PASSWORD.into(),
    };
    let engine = Engine::new(
        cluster,
        flavor::Flavor::Mariadb,
        addrs,
        creds,
        config,
        failover,
    )
    .spawn();
    let mut events = engine.subscribe();
    let heartbeats: Vec<Heartbeat> = db
        .nodes()
        .iter()
        .map(|nd| Heartbeat::spawn(nd.opts(), Duration::from_secs(1)))
        .collect();
    println!("engine running; Ctrl-C to stop");
    let deadline = async {
        match args.duration {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut deadline => break,
            ev = events.recv() => match ev {
                Ok(e) => println!("{e}"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => println!("({k} events skipped)"),
                Err(_) => break,
            },
        }
    }
    engine.stop();
    engine.stopped().await;
    for h in heartbeats {
        h.stop().await;
    }
    drop(db);
    println!("sandbox stopped; servers removed");
    Ok(ExitCode::SUCCESS)
}
