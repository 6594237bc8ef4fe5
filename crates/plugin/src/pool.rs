//! Sizing of wasmtime's pooling instance allocator. Every hook call instantiates a fresh
//! component; with the pool, its linear memories, tables and instance metadata come from
//! slots reserved once when the host starts and are reset in place (copy-on-write image,
//! dirty pages only) instead of being mapped and unmapped per call, which is most of the
//! cost of an on-demand instantiation.
//!
//! The pool is engine-wide, so its ceilings bound every module: a module whose own
//! `limits.memoryBytes` or `limits.tableElements` is above the pool's is refused at load
//! with the knob to raise. The per-module caps are still enforced by the store's
//! `ResourceLimiter`, which sees every growth before the pool does.

use crate::limits::Limits;
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How the host reserves instance slots; pass a custom one to
/// [`Host::with_pool`](crate::Host::with_pool). The defaults suit the operator (a few
/// concurrent hook calls, modules within the default [`Limits`]); every field can be
/// overridden. When the pool cannot be reserved (address space limits), the host warns and
/// falls back to on-demand allocation, which works the same but costs more per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// `false` skips the pool and allocates every instance on demand.
    pub enabled: bool,
    /// Component instances alive at once, i.e. hook calls in flight across all modules
    /// (a call beyond this fails as `unavailable`, naming this knob).
    pub instances: u32,
    /// Linear memories and tables reserved per component instance (a Rust or C module
    /// has one memory; Python and JavaScript runtimes a few).
    pub memories_per_instance: u32,
    /// Core module instances per component instance; only bounds metadata, no memory is
    /// reserved for it.
    pub core_instances_per_instance: u32,
    /// Largest linear memory a slot can hold, bytes: the ceiling of any module's
    /// `limits.memoryBytes`. Costs address space only.
    pub max_memory_bytes: u64,
    /// Largest table a slot can hold, elements: the ceiling of `limits.tableElements`.
    pub table_elements: u64,
    /// Bytes at the start of each linear memory kept mapped between calls and reset by
    /// copying only the pages the call dirtied (Linux `PAGEMAP_SCAN`), instead of
    /// `madvise` and fresh page faults on the next call. Covers a Rust module's shadow
    /// stack and data; `0` decommits everything.
    pub memory_keep_resident: u64,
    /// Same as `memory_keep_resident`, for tables.
    pub table_keep_resident: u64,
    /// Compile bounds and other checks into the code instead of relying on guard pages
    /// and signal handlers. Linear memory then needs no `mprotect` when an instance is
    /// created, grows or is reset, which is most of what is left of the per-call cost
    /// once the pool removes `mmap`; the guest code pays a compare per memory access.
    /// Slots then reserve only `max_memory_bytes` of address space each.
    pub explicit_checks: bool,
    /// Used slots kept warm for modules that are not running (bounds the resident memory
    /// of idle modules).
    pub max_unused_warm_slots: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        let limits = Limits::default();
        PoolConfig {
            enabled: true,
            instances: 64,
            memories_per_instance: 2,
            core_instances_per_instance: limits.instances,
            max_memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            memory_keep_resident: 2 << 20,
            table_keep_resident: 64 << 10,
            max_unused_warm_slots: 16,
            explicit_checks: true,
        }
    }
}

impl PoolConfig {
    /// Switches `cfg` to the pooling allocator sized by this config.
    pub(crate) fn apply(&self, cfg: &mut Config) {
        let total = |per: u32| self.instances.saturating_mul(per.max(1));
        let mut p = PoolingAllocationConfig::new();
        p.total_component_instances(self.instances.max(1))
            .total_core_instances(total(self.core_instances_per_instance))
            .total_memories(total(self.memories_per_instance))
            .total_tables(total(self.memories_per_instance))
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            // Metadata is allocated per instance and only checked against these sizes, so
            // generous values cost nothing and let large runtimes (Python, JS) in.
            .max_core_instance_size(16 << 20)
            .max_component_instance_size(64 << 20)
            .max_memory_size(usize::try_from(self.max_memory_bytes).unwrap_or(usize::MAX))
            .table_elements(usize::try_from(self.table_elements).unwrap_or(usize::MAX))
            .linear_memory_keep_resident(
                usize::try_from(self.memory_keep_resident).unwrap_or(usize::MAX),
            )
            .table_keep_resident(usize::try_from(self.table_keep_resident).unwrap_or(usize::MAX))
            .max_unused_warm_slots(self.max_unused_warm_slots)
            // Reset only the pages a call dirtied (Linux 6.7+); elsewhere the kept-resident
            // prefix is cleared whole, see `memory_keep_resident`.
            .pagemap_scan(Enabled::Auto);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
        if self.explicit_checks {
            cfg.signals_based_traps(false)
                .memory_guard_size(0)
                .memory_reservation(self.max_memory_bytes);
        }
    }

    /// Why a module with `limits` cannot run in this pool, if it cannot.
    pub(crate) fn misfit(&self, limits: &Limits) -> Option<String> {
        if limits.memory_bytes > self.max_memory_bytes {
            return Some(format!(
                "limits.memoryBytes={} is above the host's instance pool slot of {} bytes; lower it or start the host with a larger PoolConfig.max_memory_bytes",
                limits.memory_bytes, self.max_memory_bytes
            ));
        }
        if limits.table_elements > self.table_elements {
            return Some(format!(
                "limits.tableElements={} is above the host's instance pool slot of {} elements; lower it or start the host with a larger PoolConfig.table_elements",
                limits.table_elements, self.table_elements
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::PoolConfig;
    use crate::{Host, HostConfig, Limits, LoadError, ModuleBytes, ModuleSpec};
    use policy::*;
    use std::collections::BTreeMap;

    fn spec(package: &str, limits: Limits) -> ModuleSpec {
        ModuleSpec {
            name: format!("{package}-{}", limits.memory_bytes),
            bytes: ModuleBytes::Single(testkit::wasm::bytes(testkit::wasm::rust_component(
                package,
            ))),
            sha256: None,
            limits,
        }
    }

    fn request() -> FailoverRequest {
        let c = |ordinal: u32, zone: &str| Candidate {
            pod_name: format!("db-{ordinal}"),
            ordinal,
            zone: Some(zone.into()),
            labels: BTreeMap::new(),
            gtid_executed: "0-1-10".into(),
            gtid_retrieved: "0-1-10".into(),
            errant_gtids: String::new(),
            lag_seconds: Some(f64::from(ordinal)),
            io_thread: ThreadState::Running,
            sql_thread: ThreadState::Running,
            healthy: true,
        };
        FailoverRequest {
            cluster: ClusterInfo {
                name: "db".into(),
                namespace: "ns".into(),
                flavor: Flavor::Mariadb,
                version: "10.11".into(),
                replicas: 3,
                labels: BTreeMap::new(),
            },
            failed_primary: FailedPrimary {
                pod_name: "db-0".into(),
                ordinal: 0,
                zone: Some("a".into()),
                last_known_gtid_executed: "0-1-10".into(),
            },
            reason: FailoverReason::PrimaryLost,
            candidates: vec![c(1, "a"), c(2, "b")],
            settings: String::new(),
        }
    }

    #[test]
    fn default_host_pools_instances_and_reuses_slots() {
        let host = Host::new(HostConfig::default()).expect("host");
        assert_eq!(
            host.pool(),
            Some(&PoolConfig::default()),
            "the default pool could not be reserved on this machine (see the warn log)"
        );
        let m = host
            .load(&spec("failover-prefer-zone", Limits::default()))
            .expect("load");
        // Far more calls than slots: each call returns its slot, so none runs out.
        for _ in 0..(PoolConfig::default().instances * 4) {
            let d = m.failover(&request(), r#"{"zone":"b"}"#).expect("call");
            assert_eq!(d, Decision::Promote("db-2".into()));
        }
    }

    #[test]
    fn the_module_cap_not_the_slot_stops_a_memory_bomb() {
        let host = Host::new(HostConfig::default()).expect("host");
        assert!(host.pool().is_some(), "pool not reserved");
        // A cap below the slot, and a cap equal to it: both reported by the store's
        // limiter with the module's own cap.
        for cap in [8u64 << 20, PoolConfig::default().max_memory_bytes] {
            let limits = Limits {
                memory_bytes: cap,
                ..Limits::default()
            };
            let m = host.load(&spec("adversarial", limits)).expect("load");
            let e = m
                .failover(&request(), r#"{"mode":"memory"}"#)
                .expect_err("bomb must fail");
            println!("cap {cap}: {e}");
            assert_eq!(e.kind(), "memory", "{e}");
            assert!(e.to_string().contains(&format!("cap {cap}")), "{e}");
            // The slot is clean for the next call.
            let ok = m.failover(&request(), r#"{"mode":"ok"}"#);
            assert!(ok.is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn a_module_cap_above_the_slot_is_refused_at_load() {
        let host = Host::new(HostConfig::default()).expect("host");
        assert!(host.pool().is_some(), "pool not reserved");
        let limits = Limits {
            memory_bytes: PoolConfig::default().max_memory_bytes * 2,
            ..Limits::default()
        };
        let e = host
            .load(&spec("failover-prefer-zone", limits))
            .expect_err("must be refused");
        assert!(matches!(e, LoadError::Limits { .. }), "{e}");
        assert!(e.to_string().contains("PoolConfig.max_memory_bytes"), "{e}");
    }

    #[test]
    fn an_unreservable_pool_falls_back_to_on_demand() {
        // 128 slots of 2^46 bytes each: more address space than x86-64 or arm64 has.
        let pool = PoolConfig {
            max_memory_bytes: 1 << 46,
            ..PoolConfig::default()
        };
        let host = Host::with_pool(HostConfig::default(), pool).expect("host");
        assert_eq!(host.pool(), None, "the pool should not fit");
        let m = host
            .load(&spec("failover-prefer-zone", Limits::default()))
            .expect("load");
        let d = m.failover(&request(), r#"{"zone":"a"}"#).expect("call");
        assert_eq!(d, Decision::Promote("db-1".into()));
        let limits = Limits {
            memory_bytes: 8 << 20,
            ..Limits::default()
        };
        let bomb = host.load(&spec("adversarial", limits)).expect("load");
        let e = bomb
            .failover(&request(), r#"{"mode":"memory"}"#)
            .expect_err("bomb must fail");
        assert_eq!(e.kind(), "memory", "{e}");
    }
}
