//! `mysql-operator plugin`: the policy-module author's tools — inspect what a module exports
//! and run one of its hooks on a JSON request under the production limits.

use anyhow::Context;
use plugin::{Host, HostConfig, Limits, ModuleBytes, ModuleSpec};
use policy::HookName;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// ConfigMap data is limited to 1 MiB; keep room for the manifest and metadata.
const CONFIGMAP_BUDGET: usize = 1_000_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Show the hooks a module exports, its ABI, sha256, sizes and whether it fits a ConfigMap.
    Inspect {
        /// The component (`.wasm`, or gzip/zstd-compressed).
        module: PathBuf,
    },
    /// Run one hook on a JSON request and print the JSON answer, with the production limits.
    Run {
        module: PathBuf,
        /// init-script, backup-filter or failover-candidate.
        #[arg(long)]
        hook: String,
        /// The request as JSON (the `policy` crate's request type for the hook, camelCase).
        #[arg(long)]
        input: PathBuf,
        /// The module's settings as a JSON file (default `{}`).
        #[arg(long)]
        settings: Option<PathBuf>,
        /// Limits as a JSON file (camelCase fields of `limits`; defaults otherwise).
        #[arg(long)]
        limits: Option<PathBuf>,
    },
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn load(path: &Path, limits: Limits) -> anyhow::Result<std::sync::Arc<plugin::Module>> {
    let host = Host::new(HostConfig::default())?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "module".into());
    Ok(host.load(&ModuleSpec {
        name,
        bytes: ModuleBytes::Single(read(path)?),
        sha256: None,
        limits,
    })?)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Inspect { module } => inspect(&module),
        Command::Run {
            module,
            hook,
            input,
            settings,
            limits,
        } => run_hook(
            &module,
            &hook,
            &input,
            settings.as_deref(),
            limits.as_deref(),
        ),
    }
}

fn inspect(path: &Path) -> anyhow::Result<ExitCode> {
    let stored = read(path)?;
    let m = load(path, Limits::default())?;
    let (raw, _) = plugin::source::decode(
        m.name(),
        &ModuleBytes::Single(stored.clone()),
        None,
        Limits::default().max_module_bytes,
    )?;
    let zstd = plugin::source::compress_zstd(&raw)?.len();
    let out = serde_json::json!({
        "name": m.info().name,
        "version": m.info().version,
        "abi": format!("mysql-operator:policy@{}", plugin::ABI_VERSION),
        "sha256": m.digest(),
        "hooks": m.hooks().iter().map(|h| h.as_str()).collect::<Vec<_>>(),
        "importsWasi": m.imports_wasi(),
        "storedBytes": stored.len(),
        "rawBytes": raw.len(),
        "zstdBytes": zstd,
        "fitsOneConfigMap": zstd <= CONFIGMAP_BUDGET,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

fn run_hook(
    path: &Path,
    hook: &str,
    input: &Path,
    settings: Option<&Path>,
    limits: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let hook = HookName::parse(hook).with_context(|| {
        format!("--hook {hook:?}: expected init-script, backup-filter or failover-candidate")
    })?;
    let limits: Limits = match limits {
        Some(p) => serde_json::from_slice(&read(p)?)
            .with_context(|| format!("--limits {}: not valid limits JSON", p.display()))?,
        None => Limits::default(),
    };
    let settings = match settings {
        Some(p) => String::from_utf8(read(p)?)
            .with_context(|| format!("--settings {}: not UTF-8", p.display()))?,
        None => "{}".to_string(),
    };
    let m = load(path, limits)?;
    m.validate_settings(&settings)?;
    let input_bytes = read(input)?;
    let bad_input = |e: serde_json::Error| {
        anyhow::anyhow!(
            "--input {}: not a valid {hook} request: {e}",
            input.display()
        )
    };
    let result = match hook {
        HookName::InitScript => {
            let req: policy::InitScriptRequest =
                serde_json::from_slice(&input_bytes).map_err(bad_input)?;
            m.init_script(&req, &settings)
                .map(|s| serde_json::json!({ "script": s }))
        }
        HookName::BackupFilter => {
            let req: policy::BackupFilterRequest =
                serde_json::from_slice(&input_bytes).map_err(bad_input)?;
            m.backup_filter(&req, &settings)
                .map(|e| serde_json::json!(e))
        }
        HookName::FailoverCandidate => {
            let req: policy::FailoverRequest =
                serde_json::from_slice(&input_bytes).map_err(bad_input)?;
            m.failover(&req, &settings).map(|d| serde_json::json!(d))
        }
    };
    let stats = m.last_stats();
    eprintln!(
        "wall {} µs, fuel {}, peak memory {} bytes",
        stats.wall_micros, stats.fuel, stats.peak_memory_bytes
    );
    match result {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e} (kind {})", e.kind());
            Ok(ExitCode::FAILURE)
        }
    }
}
