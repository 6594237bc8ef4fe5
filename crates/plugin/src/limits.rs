//! Per-call resource limits of a module: the documented defaults, their per-module
//! overrides, and the `ResourceLimiter` that enforces memory and table caps in a store.

use serde::{Deserialize, Serialize};

/// Limits applied to every call of one module. Defaults suit a Rust, C or QuickJS module;
/// a Python module needs `memoryBytes` of at least 32 MiB (the default 64 MiB is enough).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Limits {
    /// Wasm instructions (fuel units) a call may execute; `0` switches fuel metering off
    /// and leaves only the wall-clock deadline.
    pub fuel: u64,
    /// Wall-clock budget of one call in milliseconds (epoch deadline, 10 ms resolution).
    pub timeout_ms: u64,
    /// Linear-memory cap of one instance, bytes.
    pub memory_bytes: u64,
    /// Cap on table elements of one table.
    pub table_elements: u64,
    /// Cap on core instances, tables and memories created for one call.
    pub instances: u32,
    /// Cap on the request the host sends, bytes of its JSON form.
    pub max_input_bytes: u64,
    /// Cap on the answer: bytes of a script or reason, or total bytes of exclusions.
    pub max_output_bytes: u64,
    /// Cap on the module itself after decompression, bytes.
    pub max_module_bytes: u64,
    /// Whether the module may import WASI interfaces (answered by deny-by-default stubs).
    pub allow_wasi: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 2_000_000_000,
            timeout_ms: 2_000,
            memory_bytes: 64 << 20,
            table_elements: 100_000,
            instances: 64,
            max_input_bytes: 4 << 20,
            max_output_bytes: 1 << 20,
            max_module_bytes: 64 << 20,
            allow_wasi: true,
        }
    }
}

/// Enforces [`Limits`] inside one store and remembers whether a cap was hit, so the host can
/// report "memory" rather than a generic trap.
#[derive(Debug)]
pub(crate) struct CallLimiter {
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
    /// Set when a growth was refused; the call then fails with kind `memory`.
    pub(crate) hit: Option<String>,
    /// Largest linear memory granted in this store, bytes.
    pub(crate) peak_memory: usize,
}

impl CallLimiter {
    pub(crate) fn new(l: &Limits) -> Self {
        CallLimiter {
            memory_bytes: usize::try_from(l.memory_bytes).unwrap_or(usize::MAX),
            table_elements: usize::try_from(l.table_elements).unwrap_or(usize::MAX),
            instances: l.instances as usize,
            hit: None,
            peak_memory: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            let msg = format!(
                "linear memory grew from {current} to {desired} bytes, cap {}",
                self.memory_bytes
            );
            self.hit = Some(msg.clone());
            return Err(wasmtime::Error::msg(msg));
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            let msg = format!(
                "table grew from {current} to {desired} elements, cap {}",
                self.table_elements
            );
            self.hit = Some(msg.clone());
            return Err(wasmtime::Error::msg(msg));
        }
        Ok(true)
    }

    // A growth the limiter allowed can still fail (the pool's slot ceiling, the module's own
    // declared maximum): trap rather than hand the module a -1 it may not check.
    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        let msg = format!("linear memory could not grow: {error:#}");
        self.hit.get_or_insert_with(|| msg.clone());
        Err(wasmtime::Error::msg(msg))
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        let msg = format!("table could not grow: {error:#}");
        self.hit.get_or_insert_with(|| msg.clone());
        Err(wasmtime::Error::msg(msg))
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}
