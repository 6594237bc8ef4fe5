//! The wasmtime engine shared by every module: its configuration, the linker holding the
//! only imports a module may use, the epoch ticker behind call deadlines, and the
//! compile-once cache (in memory and optionally on disk, keyed by sha256 and engine).

use crate::LoadError;
use crate::bindings::{self, ALLOWED_IMPORTS, META};
use crate::guestlog::LogLimiter;
use crate::limits::{CallLimiter, Limits};
use crate::metrics::Metrics;
use crate::module::{Module, ModuleParts};
use crate::pool::PoolConfig;
use crate::source::{self, ModuleBytes};
use policy::HookName;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// How often the epoch advances; call deadlines have this resolution.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Bytes of WASI stdout and of stderr kept per call (the rest is dropped).
const CAPTURE_BYTES: usize = 64 << 10;

/// How a module is given to the host.
#[derive(Debug, Clone)]
pub struct ModuleSpec {
    /// The attachment's name: shown in logs, Events and metrics.
    pub name: String,
    pub bytes: ModuleBytes,
    /// Optional sha256 pin of the decompressed component (lowercase hex).
    pub sha256: Option<String>,
    pub limits: Limits,
}

/// Host-wide options. The instance pool is sized separately, by the [`PoolConfig`] given
/// to [`Host::with_pool`]; [`Host::new`] uses its defaults (64 concurrent calls, slots of
/// 64 MiB of linear memory), and falls back to on-demand allocation with a `warn` log when
/// the pool cannot be reserved.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// Where compiled modules are kept across restarts; `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
}

/// The per-call store data: resource caps, the module's log, and (only for modules that
/// import WASI) a deny-by-default WASI context created on first use.
pub(crate) struct HostState {
    pub(crate) limiter: CallLimiter,
    pub(crate) log: Arc<LogLimiter>,
    pub(crate) wasi: Option<WasiState>,
}

pub(crate) struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl WasiState {
    /// No preopens, no environment, no arguments, empty stdin, no network (TCP, UDP and
    /// name lookup off, every address refused); stdout/stderr captured for the log. Clocks
    /// and random come from the host: language runtimes need them to start.
    fn new() -> Self {
        let stdout = MemoryOutputPipe::new(CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(CAPTURE_BYTES);
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        WasiState {
            ctx,
            table: ResourceTable::new(),
            stdout,
            stderr,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let w = self.wasi.get_or_insert_with(WasiState::new);
        WasiCtxView {
            ctx: &mut w.ctx,
            table: &mut w.table,
        }
    }
}

impl bindings::mysql_operator::policy::types::Host for HostState {}

impl bindings::mysql_operator::policy::log::Host for HostState {
    fn log(&mut self, level: bindings::mysql_operator::policy::types::LogLevel, message: String) {
        self.log.emit(bindings::log_level(level), "log", &message);
    }
}

impl HostState {
    pub(crate) fn new(limits: &Limits, log: Arc<LogLimiter>) -> Self {
        HostState {
            limiter: CallLimiter::new(limits),
            log,
            wasi: None,
        }
    }

    /// Sends whatever the module wrote to WASI stdout/stderr to the log.
    pub(crate) fn flush_output(&mut self) {
        if let Some(w) = &self.wasi {
            self.log.emit_stream("stdout", &w.stdout.contents());
            self.log.emit_stream("stderr", &w.stderr.contents());
        }
    }
}

/// The shared engine and compile cache. One per process; cheap to share behind an `Arc`.
pub struct Host {
    engine: Engine,
    linker: Linker<HostState>,
    compiled: Mutex<HashMap<String, Component>>,
    cache_dir: Option<PathBuf>,
    engine_key: String,
    metrics: Arc<Metrics>,
    /// The pool instances come from; `None` when allocating on demand.
    pool: Option<PoolConfig>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("cache_dir", &self.cache_dir)
            .field("engine_key", &self.engine_key)
            .field("pool", &self.pool)
            .finish()
    }
}

impl Host {
    /// Builds the engine (fuel metering, epoch interruption, Cranelift, the default
    /// [`PoolConfig`]) and the linker, and starts the epoch ticker thread, which stops when
    /// the host is dropped.
    pub fn new(config: HostConfig) -> Result<Arc<Host>, LoadError> {
        Host::with_pool(config, PoolConfig::default())
    }

    /// [`Host::new`] with a custom instance pool; if `pool` cannot be reserved, warns and
    /// allocates instances on demand instead.
    pub fn with_pool(config: HostConfig, pool: PoolConfig) -> Result<Arc<Host>, LoadError> {
        let mut cfg = Config::new();
        // No GC collector is compiled in (see the workspace features), so GC proposals stay off.
        cfg.wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .parallel_compilation(true)
            .gc_support(false);
        let (engine, pool) = if pool.enabled {
            let mut pooled = cfg.clone();
            pool.apply(&mut pooled);
            match Engine::new(&pooled) {
                Ok(engine) => (engine, Some(pool)),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), instances = pool.instances, "cannot reserve the Wasm instance pool; allocating instances on demand (slower per call)");
                    (Engine::new(&cfg).map_err(|e| cache_err("engine", e))?, None)
                }
            }
        } else {
            (Engine::new(&cfg).map_err(|e| cache_err("engine", e))?, None)
        };
        let mut linker: Linker<HostState> = Linker::new(&engine);
        bindings::Policy::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| cache_err("linker", e))?;
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| cache_err("linker (wasi)", e))?;
        let engine_key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            format!("{:016x}", h.finish())
        };
        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| LoadError::Cache {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| LoadError::Cache {
                path: "epoch ticker thread".into(),
                reason: e.to_string(),
            })?;
        Ok(Arc::new(Host {
            engine,
            linker,
            compiled: Mutex::new(HashMap::new()),
            cache_dir: config.cache_dir,
            engine_key,
            metrics: Arc::new(Metrics::default()),
            pool,
        }))
    }

    /// Call and failure counters of every module loaded by this host.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The instance pool in use, or `None` when instances are allocated on demand.
    pub fn pool(&self) -> Option<&PoolConfig> {
        self.pool.as_ref()
    }

    /// Drops the in-memory compiled modules (the on-disk cache stays); for memory pressure
    /// and for measuring loads from the on-disk cache.
    pub fn forget_compiled(&self) {
        if let Ok(mut c) = self.compiled.lock() {
            c.clear();
        }
    }

    /// Decodes, verifies, compiles (once per sha256), type-checks and pre-instantiates a
    /// module, then calls its `describe`. After this no call of the module waits on
    /// compilation.
    pub fn load(&self, spec: &ModuleSpec) -> Result<Arc<Module>, LoadError> {
        let name = spec.name.as_str();
        let _span = tracing::info_span!("load_module", module = name).entered();
        let (raw, digest) = source::decode(
            name,
            &spec.bytes,
            spec.sha256.as_deref(),
            spec.limits.max_module_bytes,
        )?;
        if let Some(reason) = self.pool.as_ref().and_then(|p| p.misfit(&spec.limits)) {
            return Err(LoadError::Limits {
                module: name.into(),
                reason,
            });
        }
        let component = self.compile(name, &raw, &digest)?;
        let (hooks, imports_wasi) = inspect(&self.engine, name, &component, &spec.limits)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link {
                module: name.into(),
                reason: format!("{e:#}"),
            })?;
        let module = Module::new(ModuleParts {
            name: name.to_string(),
            digest,
            hooks,
            imports_wasi,
            limits: spec.limits.clone(),
            pre,
            metrics: self.metrics.clone(),
        })?;
        tracing::info!(module = name, digest = %module.digest(), hooks = ?module.hooks(), info = ?module.info(), "policy module loaded");
        Ok(Arc::new(module))
    }

    fn compile(&self, name: &str, raw: &[u8], digest: &str) -> Result<Component, LoadError> {
        if let Some(c) = self
            .compiled
            .lock()
            .ok()
            .and_then(|m| m.get(digest).cloned())
        {
            return Ok(c);
        }
        let disk = self
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{digest}-{}.cwasm", self.engine_key)));
        let mut component = None;
        if let Some(path) = disk.as_ref().filter(|p| p.exists()) {
            // SAFETY: files in the cache directory are written only by `Component::serialize`
            // of this host (keyed by the engine's compatibility hash); wasmtime checks the
            // header and engine settings again and refuses a mismatch.
            match unsafe { Component::deserialize_file(&self.engine, path) } {
                Ok(c) => component = Some(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compiled-module cache file")
                }
            }
        }
        let component = match component {
            Some(c) => c,
            None => {
                let started = std::time::Instant::now();
                let c = Component::new(&self.engine, raw).map_err(|e| LoadError::Compile {
                    module: name.into(),
                    reason: format!("{e:#}"),
                })?;
                tracing::info!(
                    module = name,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "policy module compiled"
                );
                if let Some(path) = &disk
                    && let Err(e) = write_cache(path, &c)
                {
                    tracing::warn!(path = %path.display(), error = %e, "cannot write compiled-module cache");
                }
                c
            }
        };
        if let Ok(mut m) = self.compiled.lock() {
            m.insert(digest.to_string(), component.clone());
        }
        Ok(component)
    }
}

fn write_cache(path: &std::path::Path, c: &Component) -> Result<(), String> {
    let bytes = c.serialize().map_err(|e| e.to_string())?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

fn cache_err(what: &str, e: wasmtime::Error) -> LoadError {
    LoadError::Cache {
        path: what.into(),
        reason: format!("{e:#}"),
    }
}

/// Reads the component's type: refuses imports outside the allow-list and finds the
/// exported hooks. Returns the hooks and whether the module imports WASI.
fn inspect(
    engine: &Engine,
    name: &str,
    c: &Component,
    limits: &Limits,
) -> Result<(BTreeSet<HookName>, bool), LoadError> {
    let ty = c.component_type();
    let mut imports_wasi = false;
    for (import, _) in ty.imports(engine) {
        if ALLOWED_IMPORTS.contains(&import) {
            continue;
        }
        if import.starts_with("mysql-operator:policy/") {
            return Err(LoadError::WrongAbi {
                module: name.into(),
                expected: ALLOWED_IMPORTS.join(" or "),
                found: format!("an import of {import}"),
            });
        }
        if import.starts_with("wasi:") && limits.allow_wasi {
            imports_wasi = true;
            continue;
        }
        let allowed = if limits.allow_wasi {
            format!(
                "{} and wasi:* (deny-by-default stubs)",
                ALLOWED_IMPORTS.join(", ")
            )
        } else {
            format!(
                "{} (WASI is off for this module: limits.allowWasi=false)",
                ALLOWED_IMPORTS.join(", ")
            )
        };
        return Err(LoadError::DisallowedImport {
            module: name.into(),
            import: import.to_string(),
            allowed,
        });
    }
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    if !exports.iter().any(|e| e == META) {
        return Err(LoadError::WrongAbi {
            module: name.into(),
            expected: META.into(),
            found: exports.join(", "),
        });
    }
    let hooks: BTreeSet<HookName> = HookName::ALL
        .into_iter()
        .filter(|h| exports.iter().any(|e| e == bindings::hook_interface(*h)))
        .collect();
    if hooks.is_empty() {
        return Err(LoadError::NoHooks {
            module: name.into(),
        });
    }
    Ok((hooks, imports_wasi))
}
