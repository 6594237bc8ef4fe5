//! `mysql-operator backup`: one backup run, as the scheduler's Job or by hand. Pulls the
//! stream from a healthy replica's agent (the primary's when none answers), compresses
//! it and uploads it to `<backupURL>/<name>.xbackup.<ext>` (see the backup crate).
//! `--delete URL` removes a stored backup instead (retention with
//! `backupRemoteDeletePolicy: delete`).

use super::agent::PodArgs;
use anyhow::Context;
use backup::job::{BackupJob, backup_name, run_backup};
use backup::peer::PeerAuth;
use backup::{Compression, ObjectUrl, S3Settings, S3Store, UploadOptions};
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `mysql-operator backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub pod: PodArgs,
    /// The cluster's `backupURL` prefix (`s3://bucket/path`).
    #[arg(long, env = "BACKUP_URL", required_unless_present_any = ["destination", "delete"])]
    pub backup_url: Option<String>,
    /// Backup name; default `<cluster>-<UTC timestamp>` as presslabs.
    #[arg(long)]
    pub name: Option<String>,
    /// Full destination object URL, instead of --backup-url and --name.
    #[arg(long)]
    pub destination: Option<String>,
    /// zstd (default, fast) or gzip (readable by presslabs' restore).
    #[arg(long, env = "BACKUP_COMPRESSION", default_value = "zstd")]
    pub compression: String,
    /// scheduled-backup or on-demand-backup (what the backup-filter hook sees).
    #[arg(long, default_value = "on-demand-backup")]
    pub kind: String,
    #[arg(long)]
    pub replicas_service: Option<String>,
    #[arg(long)]
    pub primary_service: Option<String>,
    #[arg(long, env = render::secret::BACKUP_USER, required_unless_present = "delete")]
    pub backup_user: Option<String>,
    #[arg(
        long,
        env = render::secret::BACKUP_PASSWORD,
        hide_env_values = true,
        required_unless_present = "delete"
    )]
    pub backup_password: Option<String>,
    /// Delete this stored backup and exit.
    #[arg(long, value_name = "URL")]
    pub delete: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let s3 = S3Settings::from_env()?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if let Some(url) = &args.delete {
        let obj = ObjectUrl::parse("--delete", url)?;
        rt.block_on(S3Store::new(&s3).delete(&obj))?;
        eprintln!("deleted {obj}");
        return Ok(ExitCode::SUCCESS);
    }
    let compression = Compression::parse(&args.compression).with_context(|| {
        format!(
            "--compression `{}`: use zstd, gzip or none",
            args.compression
        )
    })?;
    let destination = match (&args.destination, &args.backup_url) {
        (Some(d), _) => ObjectUrl::parse("--destination", d)?,
        (None, Some(prefix)) => {
            let name = args
                .name
                .clone()
                .unwrap_or_else(|| backup_name(&args.pod.cluster_name, chrono::Utc::now()));
            ObjectUrl::parse("backupURL", prefix)?.backup_object(&name, compression)
        }
        (None, None) => anyhow::bail!("give --backup-url (or BACKUP_URL) or --destination"),
    };
    let name = &args.pod.cluster_name;
    let (replicas, primary) = args.pod.peer_agents(
        args.replicas_service.as_deref(),
        args.primary_service.as_deref(),
    );
    let job = BackupJob {
        cluster: name.clone(),
        replicas: Some(replicas),
        primary: Some(primary),
        auth: PeerAuth {
            user: args.backup_user.clone().unwrap_or_default(),
            password: args.backup_password.clone().unwrap_or_default(),
        },
        destination,
        s3: s3.clone(),
        kind: args.kind.clone(),
        options: UploadOptions {
            compression,
            storage_class: s3.storage_class.clone(),
            ..UploadOptions::default()
        },
        probe_timeout: Duration::from_secs(5),
    };
    let report = rt.block_on(run_backup(&job))?;
    println!("{}", report.object);
    eprintln!(
        "backup stored: {} ({} bytes read, {} stored, {} parts, {:.1}s)",
        report.object,
        report.raw_bytes,
        report.stored_bytes,
        report.parts,
        report.elapsed.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
