//! One loaded module: its pre-instantiated template, the hooks it exports, and the typed
//! calls into it. Every call gets a fresh store and instance (clean state; an instance that
//! trapped is never reused), with fuel, a wall-clock deadline and memory caps, and its
//! answer is checked against the request before anyone sees it.

use crate::LoadError;
use crate::bindings::{self, exports::mysql_operator::policy as ex};
use crate::guestlog::LogLimiter;
use crate::host::{EPOCH_TICK, HostState};
use crate::limits::Limits;
use crate::metrics::Metrics;
use policy::{HookError, HookName};
use std::collections::BTreeSet;
use std::sync::Arc;
use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, Trap};

/// What a module says about itself (`meta.describe`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModuleInfo {
    pub name: String,
    pub version: String,
}

/// What the last call of a module cost; shown by the `plugin run` CLI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStats {
    pub wall_micros: u64,
    /// Fuel units (roughly Wasm instructions) consumed; 0 when fuel metering is off.
    pub fuel: u64,
    /// Largest linear memory of the instance, bytes.
    pub peak_memory_bytes: u64,
}

/// Everything [`Module::new`] needs; built by the host after type-checking.
pub(crate) struct ModuleParts {
    pub name: String,
    pub digest: String,
    pub hooks: BTreeSet<HookName>,
    pub imports_wasi: bool,
    pub limits: Limits,
    pub pre: InstancePre<HostState>,
    pub metrics: Arc<Metrics>,
}

/// A compiled, checked module ready to be called; shared by every cluster that attaches
/// the same bytes under the same name.
pub struct Module {
    name: String,
    digest: String,
    info: ModuleInfo,
    hooks: BTreeSet<HookName>,
    imports_wasi: bool,
    limits: Limits,
    pre: InstancePre<HostState>,
    meta: ex::meta::GuestIndices,
    init: Option<ex::init_script::GuestIndices>,
    backup: Option<ex::backup_filter::GuestIndices>,
    failover: Option<ex::failover_candidate::GuestIndices>,
    log: Arc<LogLimiter>,
    metrics: Arc<Metrics>,
    last_stats: std::sync::Mutex<CallStats>,
    /// Fuel given to each call (`u64::MAX` when metering is off), computed once.
    fuel: u64,
    /// Epoch ticks until a call's deadline, computed once.
    ticks: u64,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .field("info", &self.info)
            .field("hooks", &self.hooks)
            .finish()
    }
}

const MAX_MESSAGE: usize = 1024;

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

impl Module {
    pub(crate) fn new(p: ModuleParts) -> Result<Module, LoadError> {
        let link = |e: wasmtime::Error| LoadError::Link {
            module: p.name.clone(),
            reason: format!("{e:#}"),
        };
        let meta = ex::meta::GuestIndices::new(&p.pre).map_err(link)?;
        let init = p
            .hooks
            .contains(&HookName::InitScript)
            .then(|| ex::init_script::GuestIndices::new(&p.pre))
            .transpose()
            .map_err(link)?;
        let backup = p
            .hooks
            .contains(&HookName::BackupFilter)
            .then(|| ex::backup_filter::GuestIndices::new(&p.pre))
            .transpose()
            .map_err(link)?;
        let failover = p
            .hooks
            .contains(&HookName::FailoverCandidate)
            .then(|| ex::failover_candidate::GuestIndices::new(&p.pre))
            .transpose()
            .map_err(link)?;
        let fuel = if p.limits.fuel == 0 {
            u64::MAX
        } else {
            p.limits.fuel
        };
        let ticks = p
            .limits
            .timeout_ms
            .div_ceil(EPOCH_TICK.as_millis() as u64)
            .max(1)
            + 1;
        let mut m = Module {
            log: Arc::new(LogLimiter::new(&p.name)),
            info: ModuleInfo {
                name: String::new(),
                version: String::new(),
            },
            name: p.name,
            digest: p.digest,
            hooks: p.hooks,
            imports_wasi: p.imports_wasi,
            limits: p.limits,
            pre: p.pre,
            meta,
            init,
            backup,
            failover,
            metrics: p.metrics,
            last_stats: std::sync::Mutex::new(CallStats::default()),
            fuel,
            ticks,
        };
        // Instantiating once here also loads every exported hook, so type mismatches and
        // start-up traps surface at attach time, not during a failover.
        let info = m
            .run(|store, inst| {
                if let Some(i) = &m.init {
                    i.load(&mut *store, inst)?;
                }
                if let Some(b) = &m.backup {
                    b.load(&mut *store, inst)?;
                }
                if let Some(f) = &m.failover {
                    f.load(&mut *store, inst)?;
                }
                m.meta.load(&mut *store, inst)?.call_describe(&mut *store)
            })
            .map_err(|source| LoadError::Call {
                module: m.name.clone(),
                step: "describe",
                source,
            })?;
        m.info = ModuleInfo {
            name: clip(&info.name, 256),
            version: clip(&info.version, 256),
        };
        Ok(m)
    }

    /// The attachment name this module was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// sha256 of the decompressed component; the compile-cache key.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The module's own name and version from `describe`.
    pub fn info(&self) -> &ModuleInfo {
        &self.info
    }

    /// The hooks the component exports.
    pub fn hooks(&self) -> &BTreeSet<HookName> {
        &self.hooks
    }

    /// Whether the module imports WASI (and so runs with the deny-by-default stubs).
    pub fn imports_wasi(&self) -> bool {
        self.imports_wasi
    }

    /// The limits every call of this module runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Cost of the most recent call of this module (from any thread).
    pub fn last_stats(&self) -> CallStats {
        self.last_stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Checks `settings` (JSON text) on the host, then asks the module's
    /// `validate-settings`; called once when the module is attached.
    pub fn validate_settings(&self, settings: &str) -> Result<(), LoadError> {
        serde_json::from_str::<serde_json::Value>(settings).map_err(|e| {
            LoadError::SettingsNotJson {
                module: self.name.clone(),
                reason: e.to_string(),
            }
        })?;
        let answer = self
            .run(|store, inst| {
                self.meta
                    .load(&mut *store, inst)?
                    .call_validate_settings(&mut *store, settings)
            })
            .map_err(|source| LoadError::Call {
                module: self.name.clone(),
                step: "validate-settings",
                source,
            })?;
        answer.map_err(|message| LoadError::SettingsRejected {
            module: self.name.clone(),
            message: clip(&message, MAX_MESSAGE),
        })
    }

    /// Calls `init-script.render`; the answer is the script to run.
    pub fn init_script(
        &self,
        request: &policy::InitScriptRequest,
        settings: &str,
    ) -> Result<String, HookError> {
        let hook = HookName::InitScript;
        let r = (|| -> Result<String, HookError> {
            let idx = self.init.as_ref().ok_or_else(|| self.not_exported(hook))?;
            self.check_input(request)?;
            let req = bindings::init_request(request, settings);
            let script = self
                .run(|s, i| idx.load(&mut *s, i)?.call_render(&mut *s, &req))?
                .map_err(|m| self.rejected(m))?;
            self.check_output_len(script.len())?;
            Ok(script)
        })();
        self.count(hook, r)
    }

    /// Calls `backup-filter.filter`; the answer is what to leave out.
    pub fn backup_filter(
        &self,
        request: &policy::BackupFilterRequest,
        settings: &str,
    ) -> Result<policy::Exclusions, HookError> {
        let hook = HookName::BackupFilter;
        let r = (|| -> Result<policy::Exclusions, HookError> {
            let idx = self
                .backup
                .as_ref()
                .ok_or_else(|| self.not_exported(hook))?;
            self.check_input(request)?;
            let req = bindings::backup_request(request, settings);
            let ex = self
                .run(|s, i| idx.load(&mut *s, i)?.call_filter(&mut *s, &req))?
                .map_err(|m| self.rejected(m))?;
            let size: usize = ex
                .tables
                .iter()
                .map(|t| t.schema.len() + t.name.len())
                .sum::<usize>()
                + ex.schemas.iter().map(String::len).sum::<usize>();
            self.check_output_len(size)?;
            Ok(bindings::exclusions(ex))
        })();
        self.count(hook, r)
    }

    /// Calls `failover-candidate.choose`; a promoted name must be one of the candidates.
    pub fn failover(
        &self,
        request: &policy::FailoverRequest,
        settings: &str,
    ) -> Result<policy::Decision, HookError> {
        let hook = HookName::FailoverCandidate;
        let r = (|| -> Result<policy::Decision, HookError> {
            let idx = self
                .failover
                .as_ref()
                .ok_or_else(|| self.not_exported(hook))?;
            self.check_input(request)?;
            let req = bindings::failover_request(request, settings);
            let d = self
                .run(|s, i| idx.load(&mut *s, i)?.call_choose(&mut *s, &req))?
                .map_err(|m| self.rejected(m))?;
            let d = bindings::decision(d);
            match &d {
                policy::Decision::Promote(name) => {
                    self.check_output_len(name.len())?;
                    if !request.candidates.iter().any(|c| &c.pod_name == name) {
                        return Err(HookError::InvalidOutput {
                            module: self.name.clone(),
                            message: format!(
                                "chose {:?}, which is not one of the candidates [{}]",
                                clip(name, 128),
                                request
                                    .candidates
                                    .iter()
                                    .map(|c| c.pod_name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        });
                    }
                }
                policy::Decision::Veto(reason) => self.check_output_len(reason.len())?,
                policy::Decision::Abstain => {}
            }
            Ok(d)
        })();
        self.count(hook, r)
    }

    fn count<R>(&self, hook: HookName, r: Result<R, HookError>) -> Result<R, HookError> {
        self.metrics.call(&self.name, hook);
        if let Err(e) = &r {
            self.metrics.failure(&self.name, hook, e.kind());
            tracing::warn!(module = %self.name, hook = %hook, kind = e.kind(), error = %e, "policy module call failed");
        }
        r
    }

    fn not_exported(&self, hook: HookName) -> HookError {
        HookError::Unavailable {
            module: self.name.clone(),
            message: format!("the module does not export {hook}"),
        }
    }

    fn rejected(&self, message: String) -> HookError {
        HookError::Rejected {
            module: self.name.clone(),
            message: clip(&message, MAX_MESSAGE),
        }
    }

    fn check_input<T: serde::Serialize>(&self, request: &T) -> Result<(), HookError> {
        struct Count(u64);
        impl std::io::Write for Count {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0 += b.len() as u64;
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut c = Count(0);
        serde_json::to_writer(&mut c, request).map_err(|e| HookError::Unavailable {
            module: self.name.clone(),
            message: e.to_string(),
        })?;
        if c.0 > self.limits.max_input_bytes {
            return Err(HookError::Unavailable {
                module: self.name.clone(),
                message: format!(
                    "the request is {} bytes, over limits.maxInputBytes={}",
                    c.0, self.limits.max_input_bytes
                ),
            });
        }
        Ok(())
    }

    fn check_output_len(&self, len: usize) -> Result<(), HookError> {
        if len as u64 > self.limits.max_output_bytes {
            return Err(HookError::InvalidOutput {
                module: self.name.clone(),
                message: format!(
                    "the answer is {len} bytes, over limits.maxOutputBytes={}",
                    self.limits.max_output_bytes
                ),
            });
        }
        Ok(())
    }

    /// Runs `f` against a fresh instance in a fresh store with this module's limits, and
    /// turns any failure into a [`HookError`] of the right kind.
    fn run<R>(
        &self,
        f: impl FnOnce(&mut Store<HostState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<R, HookError> {
        let started = std::time::Instant::now();
        let engine = self.pre.component().engine();
        let mut store = Store::new(engine, HostState::new(&self.limits, self.log.clone()));
        store.limiter(|s| &mut s.limiter);
        let fuel = self.fuel;
        store.set_epoch_deadline(self.ticks);
        store.epoch_deadline_trap();
        let result = store.set_fuel(fuel).and_then(|()| {
            let instance = self.pre.instantiate(&mut store)?;
            f(&mut store, &instance)
        });
        store.data_mut().flush_output();
        let stats = CallStats {
            wall_micros: started.elapsed().as_micros() as u64,
            fuel: if self.limits.fuel == 0 {
                0
            } else {
                fuel.saturating_sub(store.get_fuel().unwrap_or(0))
            },
            peak_memory_bytes: store.data().limiter.peak_memory as u64,
        };
        if let Ok(mut s) = self.last_stats.lock() {
            *s = stats;
        }
        result.map_err(|e| self.classify(e, store.data()))
    }

    fn classify(&self, e: wasmtime::Error, state: &HostState) -> HookError {
        let module = self.name.clone();
        if let Some(hit) = &state.limiter.hit {
            return HookError::Memory {
                module,
                message: hit.clone(),
            };
        }
        if let Some(full) = e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
            return HookError::Unavailable {
                module,
                message: format!(
                    "{full}: too many hook calls at once for the host's instance pool; start the host with a larger PoolConfig.instances"
                ),
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => HookError::Timeout {
                module,
                message: format!("used up its fuel of {} instructions", self.limits.fuel),
            },
            Some(Trap::Interrupt) => HookError::Timeout {
                module,
                message: format!("ran past its deadline of {} ms", self.limits.timeout_ms),
            },
            Some(trap) => HookError::Trap {
                module,
                message: trap.to_string(),
            },
            None => HookError::Trap {
                module,
                message: clip(&format!("{e:#}"), MAX_MESSAGE),
            },
        }
    }
}
