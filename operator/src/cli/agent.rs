//! `mysql-operator agent`: the sidecar beside mysqld — `/health`, `/ready`, the
//! `/xbackup` clone/backup stream with the `backup-filter` modules of the pod's
//! `plugins.json`, and the heartbeat writer (see the agent crate), configured from flags or
//! the pod's environment: the names are [`render::pod`]'s and [`render::secret`]'s
//! constants, the same the StatefulSet is rendered with.

use anyhow::Context;
use backup::peer::agent_address;
use render::mycnf::{ServerFlavor, ServerVersion};
use render::pod::{env, flag, path};
use render::secret;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Flags of `mysql-operator agent`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address the agent listens on (presslabs' sidecar port is 8080).
    #[arg(long, env = "AGENT_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: String,
    #[command(flatten)]
    pub pod: PodArgs,
    /// Basic-auth user peers and backup Jobs must present on /xbackup.
    #[arg(long, env = secret::BACKUP_USER)]
    pub backup_user: String,
    /// Basic-auth password for /xbackup.
    #[arg(long, env = secret::BACKUP_PASSWORD, hide_env_values = true)]
    pub backup_password: String,
    #[command(flatten)]
    pub mysql: MysqlArgs,
    /// The server's option file, passed to the backup tool.
    #[arg(long, default_value = path::MY_CNF)]
    pub defaults_file: PathBuf,
    /// Scratch directory of the backup tool (`spec.xtrabackupTargetDir`).
    #[arg(long = flag::SCRATCH_DIR, default_value = "/tmp/xtrabackup_backupfiles")]
    pub scratch_dir: PathBuf,
    /// `spec.xtrabackupExtraArgs`, one per flag: appended to the backup tool's command.
    #[arg(long = flag::XTRABACKUP_EXTRA_ARG, value_name = "ARG", allow_hyphen_values = true)]
    pub xtrabackup_extra_args: Vec<String>,
    /// Tables every stream leaves out (`schema.table`, repeatable); Wasm backup-filter
    /// modules add to these.
    #[arg(long = "exclude-table", value_name = "SCHEMA.TABLE")]
    pub exclude_tables: Vec<String>,
    /// The plugin manifest from the cluster's ConfigMap; absent means built-in rules only.
    #[arg(long, default_value = path::MOUNTED_PLUGINS)]
    pub plugins_manifest: PathBuf,
    /// Account the heartbeat writer uses (needs write access to `sys_operator`); without
    /// it no heartbeat is written.
    #[arg(long, env = secret::OPERATOR_USER)]
    pub heartbeat_user: Option<String>,
    #[arg(
        long,
        env = secret::OPERATOR_PASSWORD,
        hide_env_values = true,
        default_value = ""
    )]
    pub heartbeat_password: String,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 1)]
    pub heartbeat_interval: u64,
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
            "listen": self.listen,
            "backupUser": self.backup_user,
            "backupPassword": len(&self.backup_password),
            "mysqlUser": self.mysql.mysql_user,
            "mysqlPassword": len(&self.mysql.mysql_password),
            "heartbeatUser": self.heartbeat_user,
            "heartbeatPassword": len(&self.heartbeat_password),
            "defaultsFile": self.defaults_file,
            "scratchDir": self.scratch_dir,
            "xtrabackupExtraArgs": self.xtrabackup_extra_args,
            "plugins": self.plugins_manifest,
        })
    }
}

/// `--mysql-version` / `MY_MYSQL_VERSION`: `X`, `X.Y` or `X.Y.Z`.
fn parse_version(s: &str) -> Result<ServerVersion, String> {
    ServerVersion::parse(s).ok_or_else(|| format!("`{s}` is not a server version (X.Y.Z)"))
}

/// Who this pod is: shared by agent, init and backup. In a pod every value comes from the
/// environment the StatefulSet renders ([`render::pod::PodIdentity`]).
#[derive(Debug, Clone, clap::Args)]
pub struct PodArgs {
    #[arg(long, env = env::MY_CLUSTER_NAME)]
    pub cluster_name: String,
    #[arg(long, env = env::MY_NAMESPACE, default_value = "default")]
    pub namespace: String,
    #[arg(long, env = env::MY_POD_NAME, default_value = "")]
    pub pod_name: String,
    /// `spec.flavor` as the operator resolved it: mysql, percona or mariadb.
    #[arg(long, env = env::MY_FLAVOR)]
    pub flavor: ServerFlavor,
    /// The server version (`spec.mysqlVersion` resolved).
    #[arg(long = "mysql-version", env = env::MY_MYSQL_VERSION, value_parser = parse_version)]
    pub server_version: Option<ServerVersion>,
    /// `spec.serverIDOffset`: `server-id` = offset + pod ordinal.
    #[arg(long, env = env::MY_SERVER_ID_OFFSET, default_value_t = api::cluster::DEFAULT_SERVER_ID_OFFSET.unsigned_abs())]
    pub server_id_offset: u32,
    /// Replica count shown to hooks (not in the pod template: a scale would restart
    /// every pod); 0 = unknown.
    #[arg(long, env = env::MY_CLUSTER_REPLICAS, default_value_t = 0)]
    pub replicas: u32,
}

/// The hooks' flavor for the server flavor (the same three, one enum per crate layer).
pub fn policy_flavor(f: ServerFlavor) -> policy::Flavor {
    match f {
        ServerFlavor::Mariadb => policy::Flavor::Mariadb,
        ServerFlavor::Mysql => policy::Flavor::Mysql,
        ServerFlavor::Percona => policy::Flavor::Percona,
    }
}

impl PodArgs {
    /// The policy flavor for `--flavor`.
    pub fn flavor(&self) -> anyhow::Result<policy::Flavor> {
        Ok(policy_flavor(self.flavor))
    }

    /// What hooks see about the cluster.
    pub fn cluster_info(&self) -> anyhow::Result<policy::ClusterInfo> {
        Ok(policy::ClusterInfo {
            name: self.cluster_name.clone(),
            namespace: self.namespace.clone(),
            flavor: self.flavor()?,
            version: self
                .server_version
                .map(|v| v.to_string())
                .unwrap_or_default(),
            replicas: self.replicas,
            labels: Default::default(),
        })
    }

    /// The agents behind the cluster's replicas and master Services (presslabs' names from
    /// `render::names`, namespace-qualified), unless overridden by the flags.
    pub fn peer_agents(
        &self,
        replicas_service: Option<&str>,
        primary_service: Option<&str>,
    ) -> (String, String) {
        let names = render::names::Names::new(&self.cluster_name);
        let ns = &self.namespace;
        let host = |flag: Option<&str>, service: String| {
            agent_address(&flag.map_or_else(|| format!("{service}.{ns}"), str::to_owned))
        };
        (
            host(replicas_service, names.replicas_service()),
            host(primary_service, names.master_service()),
        )
    }

    /// The pod's ordinal from its StatefulSet name (`<cluster>-mysql-<n>`).
    pub fn ordinal(&self) -> anyhow::Result<u32> {
        self.pod_name
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse().ok())
            .with_context(|| {
                format!(
                    "cannot read the ordinal from pod name `{}`; pass --ordinal or set MY_POD_NAME",
                    self.pod_name
                )
            })
    }
}

/// How the agent reaches mysqld.
#[derive(Debug, Clone, clap::Args)]
pub struct MysqlArgs {
    #[arg(long, default_value = "127.0.0.1")]
    pub mysql_host: String,
    #[arg(long, default_value_t = render::names::MYSQL_PORT.unsigned_abs() as u16)]
    pub mysql_port: u16,
    #[arg(long)]
    pub mysql_socket: Option<PathBuf>,
    /// Account with the backup tool's privileges (presslabs used the replication user).
    #[arg(long, env = secret::REPLICATION_USER)]
    pub mysql_user: String,
    #[arg(long, env = secret::REPLICATION_PASSWORD, hide_env_values = true)]
    pub mysql_password: String,
}

/// A fixed list of exclusions given on the command line.
struct StaticExclusions(policy::Exclusions);

impl policy::BackupFilter for StaticExclusions {
    fn exclusions(
        &self,
        _request: &policy::BackupFilterRequest,
    ) -> Result<policy::Exclusions, policy::HookError> {
        Ok(self.0.clone())
    }
}

/// Parse `schema.table` flags.
pub fn parse_tables(flag: &str, values: &[String]) -> anyhow::Result<Vec<policy::TableRef>> {
    values
        .iter()
        .map(|v| match v.split_once('.') {
            Some((s, t)) if !s.is_empty() && !t.is_empty() => Ok(policy::TableRef {
                schema: s.to_string(),
                name: t.to_string(),
            }),
            _ => anyhow::bail!("{flag} `{v}`: expected schema.table"),
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.print_config {
        println!("{}", serde_json::to_string_pretty(&args.summary())?);
        return Ok(ExitCode::SUCCESS);
    }
    let cluster = args.pod.cluster_info()?;
    let tool = backup::tool::BackupTool::for_flavor(cluster.flavor);
    let exclusions = policy::Exclusions {
        tables: parse_tables("--exclude-table", &args.exclude_tables)?,
        schemas: Vec::new(),
    };
    let hooks = podhooks::PodHooks::load(
        &args.plugins_manifest,
        &cluster.name,
        policy::HookName::BackupFilter,
    )
    .context("loading the backup-filter policy modules")?;
    let filter = hooks.backup_filter(Arc::new(StaticExclusions(exclusions)));
    let heartbeat = match args.heartbeat_user.filter(|u| !u.is_empty()) {
        Some(user) => Some(agent::HeartbeatConfig {
            user,
            password: args.heartbeat_password,
            interval: std::time::Duration::from_secs(args.heartbeat_interval.max(1)),
        }),
        None => {
            tracing::warn!("no --heartbeat-user/OPERATOR_USER: the heartbeat writer is off");
            None
        }
    };
    let agent = agent::Agent {
        cluster,
        pod_name: args.pod.pod_name.clone(),
        backup_user: args.backup_user,
        backup_password: args.backup_password,
        mysql: agent::MysqlAccess {
            host: args.mysql.mysql_host,
            port: args.mysql.mysql_port,
            socket: args.mysql.mysql_socket,
            user: args.mysql.mysql_user,
            password: args.mysql.mysql_password,
        },
        tool,
        defaults_file: Some(args.defaults_file),
        scratch_dir: args.scratch_dir,
        backup_extra_args: args.xtrabackup_extra_args,
        filter,
        heartbeat,
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("binding --listen {}", args.listen))?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        agent::serve(listener, agent, shutdown).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
