//! Command-line surface: the subcommand enum and its dispatch.
//!
//! Adding a subcommand: a module here with an `Args` struct (clap) and
//! `run(args) -> anyhow::Result<ExitCode>`, one variant in [`Command`], one arm in [`run`].

mod agent;
mod backup;
mod controller;
mod crd;
mod images;
mod init;
mod plugin;
mod rbac;
mod render;
mod sandbox;
mod validate;
mod version;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "mysql-operator",
    version,
    about = "Kubernetes operator for MySQL and MariaDB clusters (presslabs-compatible, Wasm policies)"
)]
pub struct Cli {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "MYSQL_OPERATOR_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version, the API group and the policy ABI it speaks.
    Version(version::Args),
    /// Start N local mariadbd servers, run the HA engine on them and print topology changes.
    Sandbox(sandbox::Args),
    /// Print the four CustomResourceDefinitions (generated from the API types) as YAML.
    Crd(crd::Args),
    /// Check manifests against the CRD schemas and the semantic rules; exit 1 on any error.
    Validate(validate::Args),
    /// Print the objects the operator would create for the MysqlClusters in FILE, as YAML.
    Render(render::Args),
    /// Run the operator: reconcilers, HA, backups, policy modules (the chart's Deployment).
    Controller(controller::Args),
    /// Run the sidecar beside mysqld: /health, /ready, the /xbackup clone and backup stream.
    Agent(agent::Args),
    /// Prepare a pod's data dir (clone, restore or fresh) and render its config and init script.
    Init(init::Args),
    /// Stream a backup from a healthy node's agent to S3.
    Backup(backup::Args),
    /// Policy-module author tools: inspect a module, run one of its hooks.
    Plugin(plugin::Args),
    /// Print the RBAC rules the controller needs (from its code) as JSON or ClusterRole YAML.
    Rbac(rbac::Args),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Version(args) => version::run(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Crd(args) => crd::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Render(args) => render::run(args),
        Command::Controller(args) => controller::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Init(args) => init::run(args),
        Command::Backup(args) => backup::run(args),
        Command::Plugin(args) => plugin::run(args),
        Command::Rbac(args) => rbac::run(args),
    }
}

/// Logs go to stderr so that commands printing manifests keep stdout clean. Without
/// `RUST_LOG` the long-running roles (controller, agent, init, backup) log at info —
/// what they decide and do is their output — and the one-shot commands only warnings.
pub fn init_logging(format: LogFormat, command: &Command) {
    use tracing_subscriber::{EnvFilter, fmt};
    let default = match command {
        Command::Controller(_) | Command::Agent(_) | Command::Init(_) | Command::Backup(_) => {
            "info"
        }
        _ => "warn",
    };
    // An empty RUST_LOG (a chart value left blank) means "not set", not "errors only".
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    // Colours only on a terminal: a pod's log (kubectl logs, a log shipper) gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
