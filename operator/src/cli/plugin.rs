//! `mysql-operator plugin`: the policy-module author's tools — inspect what a module exports,
//! run or benchmark one of its hooks on a JSON request under the production limits, and
//! print the ConfigMap(s) and `spec.plugins` entry that ship it to a cluster.

use anyhow::Context;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use plugin::{Host, HostConfig, Limits, ModuleBytes, ModuleSpec};
use policy::HookName;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// ConfigMap data is limited to 1 MiB; keep room for the manifest and metadata.
const CONFIGMAP_BUDGET: usize = 1_000_000;

/// Largest part of a split module: 700 KiB is ~933 KiB once base64-encoded in
/// `binaryData`, under the 1 MiB a ConfigMap holds.
const PART_BYTES: usize = 700 * 1024;

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
    /// Call one hook repeatedly (fresh instance per call, as in production) and print p50/p99.
    Bench {
        module: PathBuf,
        /// init-script, backup-filter or failover-candidate.
        #[arg(long)]
        hook: String,
        /// The request as JSON, as for `run`.
        #[arg(long)]
        input: PathBuf,
        /// The module's settings as a JSON file (default `{}`).
        #[arg(long)]
        settings: Option<PathBuf>,
        /// Number of timed calls.
        #[arg(long, default_value_t = 200)]
        iterations: usize,
    },
    /// Print the ConfigMap manifest(s) holding the module (zstd-compressed `binaryData`,
    /// split over several ConfigMaps when over ~700 KiB) and the `spec.plugins` entry
    /// pinning its sha256 (as YAML comments, so the output can go to `kubectl apply -f -`).
    Configmap {
        module: PathBuf,
        /// Name of the ConfigMap (and of the module in `spec.plugins`).
        #[arg(long)]
        name: String,
        /// Namespace of the ConfigMap(s): the cluster's.
        #[arg(long)]
        namespace: Option<String>,
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
        Command::Bench {
            module,
            hook,
            input,
            settings,
            iterations,
        } => bench(&module, &hook, &input, settings.as_deref(), iterations),
        Command::Configmap {
            module,
            name,
            namespace,
        } => configmap(&module, &name, namespace.as_deref()),
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

/// A module loaded with its settings checked and a request parsed for one hook.
struct Prepared {
    module: std::sync::Arc<plugin::Module>,
    hook: HookName,
    request: Request,
    settings: String,
    load_time: Duration,
}

enum Request {
    InitScript(policy::InitScriptRequest),
    BackupFilter(policy::BackupFilterRequest),
    Failover(policy::FailoverRequest),
}

impl Prepared {
    fn new(
        path: &Path,
        hook: &str,
        input: &Path,
        settings: Option<&Path>,
        limits: Limits,
    ) -> anyhow::Result<Prepared> {
        let hook = HookName::parse(hook).with_context(|| {
            format!("--hook {hook:?}: expected init-script, backup-filter or failover-candidate")
        })?;
        let settings = match settings {
            Some(p) => String::from_utf8(read(p)?)
                .with_context(|| format!("--settings {}: not UTF-8", p.display()))?,
            None => "{}".to_string(),
        };
        let started = Instant::now();
        let module = load(path, limits)?;
        let load_time = started.elapsed();
        module.validate_settings(&settings)?;
        let input_bytes = read(input)?;
        let bad_input = |e: serde_json::Error| {
            anyhow::anyhow!(
                "--input {}: not a valid {hook} request: {e}",
                input.display()
            )
        };
        let request = match hook {
            HookName::InitScript => {
                Request::InitScript(serde_json::from_slice(&input_bytes).map_err(bad_input)?)
            }
            HookName::BackupFilter => {
                Request::BackupFilter(serde_json::from_slice(&input_bytes).map_err(bad_input)?)
            }
            HookName::FailoverCandidate => {
                Request::Failover(serde_json::from_slice(&input_bytes).map_err(bad_input)?)
            }
        };
        Ok(Prepared {
            module,
            hook,
            request,
            settings,
            load_time,
        })
    }

    /// One call through the host (fresh instance, production limits), as JSON.
    fn call(&self) -> Result<serde_json::Value, policy::HookError> {
        let (m, s) = (&self.module, &self.settings);
        match &self.request {
            Request::InitScript(r) => m
                .init_script(r, s)
                .map(|s| serde_json::json!({ "script": s })),
            Request::BackupFilter(r) => m.backup_filter(r, s).map(|e| serde_json::json!(e)),
            Request::Failover(r) => m.failover(r, s).map(|d| serde_json::json!(d)),
        }
    }
}

fn run_hook(
    path: &Path,
    hook: &str,
    input: &Path,
    settings: Option<&Path>,
    limits: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let limits: Limits = match limits {
        Some(p) => serde_json::from_slice(&read(p)?)
            .with_context(|| format!("--limits {}: not valid limits JSON", p.display()))?,
        None => Limits::default(),
    };
    let p = Prepared::new(path, hook, input, settings, limits)?;
    let started = Instant::now();
    let result = p.call();
    let wall = started.elapsed();
    let stats = p.module.last_stats();
    eprintln!(
        "{}: wall {:.1} µs (host {} µs in the call), fuel {} instructions, peak memory {} bytes, load {:.1} ms",
        p.hook,
        wall.as_secs_f64() * 1e6,
        stats.wall_micros,
        stats.fuel,
        stats.peak_memory_bytes,
        p.load_time.as_secs_f64() * 1e3
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

fn bench(
    path: &Path,
    hook: &str,
    input: &Path,
    settings: Option<&Path>,
    iterations: usize,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(iterations > 0, "--iterations must be at least 1");
    let p = Prepared::new(path, hook, input, settings, Limits::default())?;
    // One untimed call: a module that fails here would only measure its error path.
    if let Err(e) = p.call() {
        eprintln!("error: {e} (kind {})", e.kind());
        return Ok(ExitCode::FAILURE);
    }
    let mut times: Vec<Duration> = Vec::with_capacity(iterations);
    let mut fuel: Vec<u64> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        let r = p.call();
        times.push(t.elapsed());
        fuel.push(p.module.last_stats().fuel);
        if let Err(e) = r {
            eprintln!("error: {e} (kind {})", e.kind());
            return Ok(ExitCode::FAILURE);
        }
    }
    times.sort();
    fuel.sort();
    let pct = |q: usize| (iterations * q / 100).min(iterations - 1);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{}: {iterations} calls (fresh instance + call), p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs, fuel p50 {}, first load (compile) {:.1} ms",
        p.hook,
        us(times[pct(50)]),
        us(times[pct(99)]),
        us(times[iterations - 1]),
        fuel[pct(50)],
        p.load_time.as_secs_f64() * 1e3
    );
    Ok(ExitCode::SUCCESS)
}

fn config_map(name: &str, namespace: Option<&str>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: namespace.map(str::to_string),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/component".to_string(),
                "policy-module".to_string(),
            )])),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The ConfigMaps holding `raw` compressed: one when it fits, else the manifest's
/// ConfigMap `name` plus `name-part-<i>` ConfigMaps, in the format the controller's
/// resolver (`controller::plugins`) reads. Returns them and the key `spec.plugins` names.
fn module_config_maps(
    raw: &[u8],
    name: &str,
    namespace: Option<&str>,
) -> anyhow::Result<(Vec<ConfigMap>, String)> {
    let packed = plugin::source::compress_zstd(raw).context("zstd-compressing the module")?;
    let key = format!("{name}.wasm.zst");
    let mut main = config_map(name, namespace);
    if packed.len() <= PART_BYTES {
        main.binary_data = Some(BTreeMap::from([(key.clone(), ByteString(packed))]));
        return Ok((vec![main], key));
    }
    let (split, chunks) = plugin::PartsManifest::split(&key, &packed, PART_BYTES);
    let mut maps = Vec::new();
    let mut parts = Vec::new();
    for (i, ((part_key, chunk), r)) in chunks.into_iter().zip(&split.parts).enumerate() {
        let cm_name = format!("{name}-part-{i}");
        parts.push(serde_json::json!({
            "name": part_key,
            "configMap": cm_name,
            "sha256": r.sha256,
        }));
        let mut cm = config_map(&cm_name, namespace);
        cm.binary_data = Some(BTreeMap::from([(part_key, ByteString(chunk))]));
        maps.push(cm);
    }
    let manifest = serde_json::json!({ "parts": parts, "sha256": split.sha256 });
    main.data = Some(BTreeMap::from([(
        key.clone(),
        serde_json::to_string_pretty(&manifest)?,
    )]));
    maps.insert(0, main);
    Ok((maps, key))
}

fn configmap(path: &Path, name: &str, namespace: Option<&str>) -> anyhow::Result<ExitCode> {
    let m = load(path, Limits::default())?;
    let (raw, digest) = plugin::source::decode(
        m.name(),
        &ModuleBytes::Single(read(path)?),
        None,
        Limits::default().max_module_bytes,
    )?;
    let (maps, key) = module_config_maps(&raw, name, namespace)?;
    let spec = api::PluginSpec {
        name: name.to_string(),
        config_map: api::ConfigMapKeyRef {
            name: name.to_string(),
            key,
        },
        sha256: Some(digest),
        hooks: Some(
            m.hooks()
                .iter()
                .filter_map(|h| {
                    api::Hook::ALL
                        .into_iter()
                        .find(|a| a.as_str() == h.as_str())
                })
                .collect(),
        ),
        failure_policy: api::FailurePolicy::default(),
        settings: None,
    };
    let snippet = serde_yaml_ng::to_string(&serde_json::json!({ "plugins": [spec] }))?;
    println!(
        "# {} ({} {}), {} raw bytes, {} ConfigMap(s). Apply with `kubectl apply -f -`, then add\n# to the MysqlCluster spec (settings: optional, the module's JSON settings):",
        m.info().name,
        m.info().version,
        m.hooks()
            .iter()
            .map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(","),
        raw.len(),
        maps.len()
    );
    for line in snippet.lines() {
        println!("#   {line}");
    }
    for cm in &maps {
        println!("---\n{}", serde_yaml_ng::to_string(cm)?.trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
