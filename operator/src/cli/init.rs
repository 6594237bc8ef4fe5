//! `mysql-operator init`: the pod's init container. Fills an empty data dir (clone from a
//! healthy replica, else the primary, else pod 0 restores `initBucketURL` or starts
//! empty), then renders my.cnf and the init SQL script through the `init-script` hook (the
//! built-in script, then the modules of the pod's `plugins.json`). Any failure leaves the
//! data dir empty and exits non-zero with the cause.

use super::agent::PodArgs;
use anyhow::Context;
use backup::init::{InitSources, populate_datadir};
use backup::initsql::{DynamicConfig, default_script, render_config};
use backup::peer::PeerAuth;
use plugin::DefaultScript;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `mysql-operator init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub pod: PodArgs,
    /// Pod ordinal; read from the pod name when absent.
    #[arg(long)]
    pub ordinal: Option<u32>,
    #[arg(long, env = "MYSQL_DATADIR", default_value = "/var/lib/mysql")]
    pub datadir: PathBuf,
    /// The my.cnf mounted from the cluster's ConfigMap.
    #[arg(long, default_value = "/mnt/conf/my.cnf")]
    pub mounted_cnf: PathBuf,
    /// Where my.cnf, conf.d/ and init.sql are written.
    #[arg(long, default_value = "/etc/mysql")]
    pub conf_dir: PathBuf,
    /// The cluster's part of the init script (users, schemas), if mounted.
    #[arg(long)]
    pub base_init_sql: Option<PathBuf>,
    /// Agent address of the healthy replicas; default `<cluster>-mysql-replicas.<ns>:8080`.
    #[arg(long)]
    pub replicas_service: Option<String>,
    /// Agent address of the primary; default `<cluster>-mysql-master.<ns>:8080`.
    #[arg(long)]
    pub primary_service: Option<String>,
    /// Hostname reported to the primary; default `<pod>.mysql.<ns>`.
    #[arg(long)]
    pub report_host: Option<String>,
    /// `spec.initBucketURL`; credentials come from AWS_* / S3_ENDPOINT.
    #[arg(long, env = "INIT_BUCKET_URL")]
    pub init_bucket_url: Option<String>,
    #[arg(long, env = "BACKUP_USER")]
    pub backup_user: String,
    #[arg(long, env = "BACKUP_PASSWORD", hide_env_values = true)]
    pub backup_password: String,
    /// The plugin manifest from the cluster's ConfigMap; absent means the built-in script.
    #[arg(long, default_value = podhooks::DEFAULT_MANIFEST)]
    pub plugins_manifest: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cluster = args.pod.cluster_info()?;
    // Load the modules first: a broken manifest fails before any data is copied.
    let hooks = podhooks::PodHooks::load(
        &args.plugins_manifest,
        &cluster.name,
        policy::HookName::InitScript,
    )
    .context("loading the init-script policy modules")?;
    let ordinal = match args.ordinal {
        Some(o) => o,
        None => args.pod.ordinal()?,
    };
    let name = &args.pod.cluster_name;
    let (replicas, primary) = args.pod.peer_agents(
        args.replicas_service.as_deref(),
        args.primary_service.as_deref(),
    );
    let s3 = match args.init_bucket_url.as_deref().filter(|u| !u.is_empty()) {
        Some(_) => Some(backup::S3Settings::from_env()?),
        None => None,
    };
    let sources = InitSources {
        cluster: name.clone(),
        ordinal,
        datadir: args.datadir.clone(),
        replicas: Some(replicas),
        primary: Some(primary),
        init_bucket_url: args.init_bucket_url.clone().filter(|u| !u.is_empty()),
        s3,
        auth: PeerAuth {
            user: args.backup_user.clone(),
            password: args.backup_password.clone(),
        },
        tool: backup::tool::BackupTool::for_flavor(cluster.flavor),
        probe_timeout: Duration::from_secs(5),
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let populated = rt
        .block_on(populate_datadir(&sources))
        .context("init: filling the data dir")?;
    let source = populated.source();
    let base = match &args.base_init_sql {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading --base-init-sql {}", p.display()))?,
        None => String::new(),
    };
    let default = default_script(cluster.flavor, populated.record.as_ref(), &base);
    let request = podhooks::init_request(
        cluster,
        ordinal,
        &args.pod.pod_name,
        populated.data_dir_was_empty,
        source,
        default,
    );
    let script = match hooks.init_script(Arc::new(DefaultScript)).render(&request) {
        Ok(s) => s,
        Err(e) => {
            // Leave the data dir as we found it, so the retry sees the same context.
            if populated.data_dir_was_empty {
                backup::restore::wipe_datadir(&args.datadir).with_context(|| {
                    format!("init-script hook failed ({e}); wiping the data dir")
                })?;
            }
            return Err(anyhow::anyhow!(e).context("init-script hook"));
        }
    };
    std::fs::create_dir_all(&args.conf_dir)
        .with_context(|| format!("creating {}", args.conf_dir.display()))?;
    let init_file = args.conf_dir.join("init.sql");
    std::fs::write(&init_file, script)
        .with_context(|| format!("writing {}", init_file.display()))?;
    let report_host = args
        .report_host
        .clone()
        .unwrap_or_else(|| format!("{}.mysql.{}", args.pod.pod_name, args.pod.namespace));
    render_config(
        &args.mounted_cnf,
        &args.conf_dir,
        &DynamicConfig {
            ordinal,
            report_host: &report_host,
            init_file: &init_file,
            record: populated.record.as_ref(),
        },
    )?;
    eprintln!(
        "init done: data source {source:?}, data dir {}, config in {}",
        args.datadir.display(),
        args.conf_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
