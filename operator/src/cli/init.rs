//! `mysql-operator init`: the pod's init container. Fills an empty data dir (clone from a
//! healthy replica, else the primary, else pod 0 restores `initBucketURL` or initialises
//! an empty one with the server's own tool), then writes what mysqld reads: my.cnf with
//! the per-pod part (server id, data dir, init file, read-only), the init SQL script —
//! the ConfigMap's template filled from the operated Secret, root's password and the user
//! Secret's account on a fresh data dir, then the `init-script` hook (the built-in script,
//! then the modules of the pod's `plugins.json`) — and `client.conf` for the liveness
//! probe. Every name and path is [`render::pod`]'s. Any failure leaves a data dir it
//! filled empty and exits non-zero with the cause.

use super::agent::PodArgs;
use anyhow::Context;
use backup::init::{InitSources, populate_datadir};
use backup::initsql::{DynamicConfig, default_script, render_config};
use backup::peer::PeerAuth;
use backup::tool::RestoreArgs;
use plugin::DefaultScript;
use policy::DataSource;
use render::init_sql::{FirstStart, fill_placeholders, first_start_sql};
use render::pod::{env, flag, path};
use render::secret;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
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
    #[arg(long, default_value = path::DATA_DIR)]
    pub datadir: PathBuf,
    /// The my.cnf mounted from the cluster's ConfigMap.
    #[arg(long, default_value = path::MOUNTED_MY_CNF)]
    pub mounted_cnf: PathBuf,
    /// The init SQL template mounted from the cluster's ConfigMap (`'${KEY}'`
    /// placeholders filled from the operated Secret).
    #[arg(long, default_value = path::MOUNTED_INIT_SQL)]
    pub init_sql_template: PathBuf,
    /// Where my.cnf, conf.d/, init.sql and client.conf are written.
    #[arg(long, default_value = path::CONF_DIR)]
    pub conf_dir: PathBuf,
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
    #[arg(long, env = env::INIT_BUCKET_URL)]
    pub init_bucket_url: Option<String>,
    #[arg(long, env = secret::BACKUP_USER)]
    pub backup_user: String,
    #[arg(long, env = secret::BACKUP_PASSWORD, hide_env_values = true)]
    pub backup_password: String,
    /// The operator account (client.conf, the init SQL's placeholders).
    #[arg(long, env = secret::OPERATOR_USER)]
    pub operator_user: String,
    #[arg(long, env = secret::OPERATOR_PASSWORD, hide_env_values = true)]
    pub operator_password: String,
    #[arg(long, env = secret::REPLICATION_PASSWORD, hide_env_values = true)]
    pub replication_password: String,
    #[arg(long, env = secret::METRICS_EXPORTER_PASSWORD, hide_env_values = true)]
    pub metrics_exporter_password: String,
    /// The user Secret's `ROOT_PASSWORD`: root's password on a fresh data dir.
    #[arg(long, env = env::MYSQL_ROOT_PASSWORD, hide_env_values = true)]
    pub root_password: String,
    /// The user Secret's `USER`/`PASSWORD`/`DATABASE`: created on a fresh data dir.
    #[arg(long = "app-user", env = env::MYSQL_USER)]
    pub app_user: Option<String>,
    #[arg(long = "app-password", env = env::MYSQL_PASSWORD, hide_env_values = true)]
    pub app_password: Option<String>,
    #[arg(long = "app-database", env = env::MYSQL_DATABASE)]
    pub app_database: Option<String>,
    /// `spec.xbstreamExtraArgs`, one per flag: appended to the stream extractor.
    #[arg(long = flag::XBSTREAM_EXTRA_ARG, value_name = "ARG", allow_hyphen_values = true)]
    pub xbstream_extra_args: Vec<String>,
    /// `spec.xtrabackupPrepareExtraArgs`, one per flag: appended to `--prepare`.
    #[arg(long = flag::XTRABACKUP_PREPARE_EXTRA_ARG, value_name = "ARG", allow_hyphen_values = true)]
    pub prepare_extra_args: Vec<String>,
    /// `--user` for the data dir initialisation when running as root (tests); the pod
    /// runs as UID 999 and leaves it unset.
    #[arg(long, hide = true)]
    pub mysqld_user: Option<String>,
    /// The plugin manifest from the cluster's ConfigMap; absent means the built-in script.
    #[arg(long, default_value = path::MOUNTED_PLUGINS)]
    pub plugins_manifest: PathBuf,
    /// Print the settings as parsed (passwords as their length) and exit: the pod
    /// contract's round-trip test, and a debugging aid.
    #[arg(long, hide = true)]
    pub print_config: bool,
}

impl Args {
    /// The parsed settings, passwords replaced by their length.
    fn summary(&self) -> serde_json::Value {
        let len = |s: &str| format!("<{} chars>", s.chars().count());
        serde_json::json!({
            "clusterName": self.pod.cluster_name,
            "namespace": self.pod.namespace,
            "podName": self.pod.pod_name,
            "flavor": self.pod.flavor.as_str(),
            "version": self.pod.server_version.map(|v| v.to_string()),
            "serverIdOffset": self.pod.server_id_offset,
            "replicas": self.pod.replicas,
            "datadir": self.datadir,
            "mountedCnf": self.mounted_cnf,
            "initSqlTemplate": self.init_sql_template,
            "confDir": self.conf_dir,
            "plugins": self.plugins_manifest,
            "initBucketUrl": self.init_bucket_url,
            "backupUser": self.backup_user,
            "backupPassword": len(&self.backup_password),
            "operatorUser": self.operator_user,
            "operatorPassword": len(&self.operator_password),
            "replicationPassword": len(&self.replication_password),
            "metricsExporterPassword": len(&self.metrics_exporter_password),
            "rootPassword": len(&self.root_password),
            "appUser": self.app_user,
            "appPassword": self.app_password.as_deref().map(len),
            "appDatabase": self.app_database,
            "xbstreamExtraArgs": self.xbstream_extra_args,
            "prepareExtraArgs": self.prepare_extra_args,
        })
    }

    /// The operated Secret's values by key, for the init SQL template's placeholders.
    fn secret_values(&self) -> BTreeMap<String, String> {
        [
            (secret::BACKUP_PASSWORD, &self.backup_password),
            (secret::OPERATOR_PASSWORD, &self.operator_password),
            (secret::REPLICATION_PASSWORD, &self.replication_password),
            (
                secret::METRICS_EXPORTER_PASSWORD,
                &self.metrics_exporter_password,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.print_config {
        println!("{}", serde_json::to_string_pretty(&args.summary())?);
        return Ok(ExitCode::SUCCESS);
    }
    let cluster = args.pod.cluster_info()?;
    let flavor = args.pod.flavor;
    // Read what the ConfigMap gives first: a broken mount or manifest fails before any
    // data is copied.
    let hooks = podhooks::PodHooks::load(
        &args.plugins_manifest,
        &cluster.name,
        policy::HookName::InitScript,
    )
    .context("loading the init-script policy modules")?;
    let template = std::fs::read_to_string(&args.init_sql_template).with_context(|| {
        format!(
            "reading the init SQL template {} (the cluster ConfigMap's `{}`)",
            args.init_sql_template.display(),
            render::names::INIT_SQL_KEY
        )
    })?;
    let operator_sql = fill_placeholders(&template, &args.secret_values())
        .context("filling the init SQL template from the operated Secret")?;
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
        primary: Some(primary.clone()),
        init_bucket_url: args.init_bucket_url.clone().filter(|u| !u.is_empty()),
        s3,
        auth: PeerAuth {
            user: args.backup_user.clone(),
            password: args.backup_password.clone(),
        },
        tool: backup::tool::BackupTool::for_flavor(cluster.flavor),
        restore_args: RestoreArgs {
            extract: args.xbstream_extra_args.clone(),
            prepare: args.prepare_extra_args.clone(),
        },
        probe_timeout: Duration::from_secs(5),
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let populated = rt
        .block_on(populate_datadir(&sources))
        .context("init: filling the data dir")?;
    let source = populated.source();
    let fresh = populated.data_dir_was_empty && source == DataSource::Fresh;

    // The config first: initialising a data dir reads it (page size, case sensitivity).
    std::fs::create_dir_all(&args.conf_dir)
        .with_context(|| format!("creating {}", args.conf_dir.display()))?;
    let init_file = args.conf_dir.join("init.sql");
    let report_host = args
        .report_host
        .clone()
        .unwrap_or_else(|| format!("{}.mysql.{}", args.pod.pod_name, args.pod.namespace));
    render_config(
        &args.mounted_cnf,
        &args.conf_dir,
        &DynamicConfig {
            ordinal,
            server_id_offset: args.pod.server_id_offset,
            datadir: &args.datadir,
            extra_lines: render::pod::read_only_options(flavor),
            report_host: &report_host,
            init_file: &init_file,
            record: populated.record.as_ref(),
        },
    )?;
    let my_cnf = args.conf_dir.join("my.cnf");
    if fresh && let Err(e) = initialize_datadir(&args, &my_cnf) {
        backup::restore::wipe_datadir(&args.datadir)
            .with_context(|| format!("{e:#}; wiping the data dir"))?;
        return Err(e);
    }

    let mut base = operator_sql;
    if fresh {
        base.push_str(&first_start_sql(&FirstStart {
            root_password: args.root_password.clone(),
            user: args
                .app_user
                .clone()
                .filter(|u| !u.is_empty())
                .map(|u| (u, args.app_password.clone().unwrap_or_default())),
            database: args.app_database.clone().filter(|d| !d.is_empty()),
        }));
    }
    let default = default_script(cluster.flavor, populated.record.as_ref(), &base);
    // A restart: who is the primary now (the `-master` Service's agent), for the hook's
    // role. Asked only when a module is attached.
    let primary_pod = if source == DataSource::Existing && !hooks.is_empty() {
        rt.block_on(backup::peer::agent_pod(&primary, Duration::from_secs(3)))
    } else {
        None
    };
    let request = podhooks::init_request(
        cluster,
        ordinal,
        &args.pod.pod_name,
        populated.data_dir_was_empty,
        source,
        primary_pod.as_deref(),
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
    write_private(&init_file, &script)?;
    write_private(
        &args.conf_dir.join(client_conf_name()),
        &client_conf(&args.operator_user, &args.operator_password)?,
    )?;
    eprintln!(
        "init done: data source {source:?}{}, data dir {}, config in {}",
        if fresh { " (initialised)" } else { "" },
        args.datadir.display(),
        args.conf_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `client.conf`'s file name (the contract names its full path).
fn client_conf_name() -> &'static str {
    Path::new(path::CLIENT_CONF)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("client.conf")
}

/// `[client]` options for `mariadb-admin`/`mysqladmin` in the mysql container: the
/// operator account over TCP (the container does not share init's socket path).
fn client_conf(user: &str, password: &str) -> anyhow::Result<String> {
    for (what, v) in [("user", user), ("password", password)] {
        anyhow::ensure!(
            !v.chars()
                .any(|c| c.is_control() || c == '"' || c == '\\' || c == '\''),
            "the operator account's {what} has a quote, backslash or control character, \
             which an option file cannot carry; regenerate the operated Secret"
        );
    }
    Ok(format!(
        "# written by mysql-operator init: the liveness probe's account\n[client]\nuser = \"{user}\"\npassword = \"{password}\"\nhost = 127.0.0.1\nport = {}\nprotocol = tcp\n",
        render::names::MYSQL_PORT
    ))
}

/// Write a file only its owner (UID 999, shared by init, mysql and agent) may read.
fn write_private(file: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(file);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("writing {}", file.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", file.display()))
}

/// Initialise the empty data dir with the server's own tool (from the tools image),
/// reading the config just written.
fn initialize_datadir(args: &Args, my_cnf: &Path) -> anyhow::Result<()> {
    let cmd = render::pod::initialize_command(
        args.pod.flavor,
        &my_cnf.display().to_string(),
        &args.datadir.display().to_string(),
        args.mysqld_user.as_deref(),
    );
    let (program, rest) = cmd
        .split_first()
        .context("empty data dir initialisation command")?;
    eprintln!("initialising the empty data dir: {}", cmd.join(" "));
    let out = std::process::Command::new(program)
        .args(rest)
        .output()
        .with_context(|| {
            format!(
                "running {program}: the tools image must provide the server's initialisation \
                 tool (see render::pod)"
            )
        })?;
    if !out.status.success() {
        let tail = |b: &[u8]| {
            let s = String::from_utf8_lossy(b);
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        anyhow::bail!(
            "{} failed ({}):\n{}\n{}",
            cmd.join(" "),
            out.status,
            tail(&out.stdout),
            tail(&out.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_conf_uses_tcp_and_refuses_unquotable_passwords() {
        let c = client_conf("sys_operator", "abcXYZ123").unwrap();
        assert!(c.contains("[client]\nuser = \"sys_operator\"\npassword = \"abcXYZ123\"\nhost = 127.0.0.1\nport = 3306\n"));
        assert!(client_conf("u", "a\"b").is_err());
        assert_eq!(client_conf_name(), "client.conf");
    }
}
