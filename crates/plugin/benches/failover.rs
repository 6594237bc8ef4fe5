//! Cost of one failover-candidate decision with 5 candidates through the Wasm host (fresh
//! instance from the cached template + call, pooled and on demand) next to the same rule
//! in plain Rust; the
//! first call after load (compile + instantiate); and the load of a precompiled module.
//! Prints p50/p99 and the ratio before criterion's own report.

use criterion::Criterion;
use plugin::{Host, HostConfig, Limits, ModuleBytes, ModuleSpec, PoolConfig};
use policy::*;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SETTINGS: &str = r#"{"zone":"b"}"#;

/// The module's rule (prefer zone b, least lag, safe) written as a built-in Rust rule.
struct PreferZone(String);

impl FailoverCandidate for PreferZone {
    fn choose(&self, r: &FailoverRequest) -> Result<Decision, HookError> {
        Ok(r.candidates
            .iter()
            .filter(|c| {
                c.healthy && c.errant_gtids.is_empty() && c.zone.as_deref() == Some(self.0.as_str())
            })
            .min_by(|a, b| {
                a.lag_seconds
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.lag_seconds.unwrap_or(f64::INFINITY))
                    .then(a.ordinal.cmp(&b.ordinal))
            })
            .map(|c| Decision::Promote(c.pod_name.clone()))
            .unwrap_or(Decision::Abstain))
    }
}

fn request() -> FailoverRequest {
    let c = |ordinal: u32, zone: &str, lag: f64, errant: &str| Candidate {
        pod_name: format!("shop-mysql-{ordinal}"),
        ordinal,
        zone: Some(zone.into()),
        labels: BTreeMap::from([("role".into(), "replica".into())]),
        gtid_executed: "0-1-100,1-2-7".into(),
        gtid_retrieved: "0-1-100,1-2-7".into(),
        errant_gtids: errant.into(),
        lag_seconds: Some(lag),
        io_thread: ThreadState::Running,
        sql_thread: ThreadState::Running,
        healthy: true,
    };
    FailoverRequest {
        cluster: ClusterInfo {
            name: "shop".into(),
            namespace: "prod".into(),
            flavor: Flavor::Mariadb,
            version: "10.11.6".into(),
            replicas: 6,
            labels: BTreeMap::new(),
        },
        failed_primary: FailedPrimary {
            pod_name: "shop-mysql-0".into(),
            ordinal: 0,
            zone: Some("a".into()),
            last_known_gtid_executed: "0-1-100".into(),
        },
        reason: FailoverReason::PrimaryLost,
        candidates: vec![
            c(1, "a", 0.5, ""),
            c(2, "a", 0.0, ""),
            c(3, "b", 9.0, ""),
            c(4, "b", 1.0, ""),
            c(5, "c", 0.0, "0-9-3"),
        ],
        settings: SETTINGS.into(),
    }
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

fn main() {
    let bytes = testkit::wasm::bytes(testkit::wasm::rust_component("failover-prefer-zone"));
    let cache = tempfile::tempdir().expect("tempdir");
    let host = Host::new(HostConfig {
        cache_dir: Some(cache.path().to_path_buf()),
    })
    .expect("host");
    assert!(
        host.pool().is_some(),
        "the instance pool could not be reserved; the figures would be on-demand ones"
    );
    let spec = ModuleSpec {
        name: "zone".into(),
        bytes: ModuleBytes::Single(bytes),
        sha256: None,
        limits: Limits::default(),
    };
    let req = request();
    let builtin = PreferZone("b".into());

    // First use: compile + pre-instantiate + describe, then the first call.
    let t = Instant::now();
    let module = host.load(&spec).expect("load");
    let d = module.failover(&req, SETTINGS).expect("call");
    let first = t.elapsed();
    assert_eq!(d, Decision::Promote("shop-mysql-4".into()));
    assert_eq!(d, builtin.choose(&req).expect("builtin"));

    // Precompiled load: from the on-disk cache, in-memory cache dropped.
    let mut loads = Vec::new();
    for _ in 0..50 {
        host.forget_compiled();
        let t = Instant::now();
        black_box(host.load(&spec).expect("load"));
        loads.push(t.elapsed());
    }
    let (load_p50, load_p99) = percentiles(loads);

    let mut wasm = Vec::new();
    let mut native = Vec::new();
    for _ in 0..20_000 {
        let t = Instant::now();
        black_box(module.failover(black_box(&req), SETTINGS).expect("call"));
        wasm.push(t.elapsed());
        let t = Instant::now();
        black_box(builtin.choose(black_box(&req)).expect("builtin"));
        native.push(t.elapsed());
    }
    // The same decision with instances allocated on demand (no pool), for comparison.
    let on_demand = Host::with_pool(
        HostConfig::default(),
        PoolConfig {
            enabled: false,
            ..PoolConfig::default()
        },
    )
    .expect("host");
    let od_module = on_demand.load(&spec).expect("load");
    let mut od = Vec::new();
    for _ in 0..5_000 {
        let t = Instant::now();
        black_box(od_module.failover(black_box(&req), SETTINGS).expect("call"));
        od.push(t.elapsed());
    }
    let (o50, o99) = percentiles(od);
    let (w50, w99) = percentiles(wasm);
    let (n50, n99) = percentiles(native);
    println!("failover decision, 5 candidates, 20000 calls:");
    println!("  wasm host (fresh instance + call): p50 {w50:?}  p99 {w99:?}");
    println!("  same, on-demand allocation (5000): p50 {o50:?}  p99 {o99:?}");
    println!("  built-in Rust rule:                p50 {n50:?}  p99 {n99:?}");
    println!(
        "  ratio wasm/built-in at p50: {:.0}x",
        w50.as_secs_f64() / n50.as_secs_f64().max(1e-9)
    );
    println!("first call after load (compile + instantiate + call): {first:?}");
    println!("load of a precompiled module (on-disk cache): p50 {load_p50:?}  p99 {load_p99:?}");

    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("failover-candidate");
        g.bench_function("wasm host: fresh instance + call", |b| {
            b.iter(|| module.failover(black_box(&req), SETTINGS))
        });
        g.bench_function("built-in Rust rule", |b| {
            b.iter(|| builtin.choose(black_box(&req)))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("module load");
        g.sample_size(10);
        let host2: Arc<Host> = Host::new(HostConfig::default()).expect("host");
        g.bench_function("compile + instantiate + first call", |b| {
            b.iter(|| {
                host2.forget_compiled();
                host2.load(&spec).expect("load").failover(&req, SETTINGS)
            })
        });
        g.bench_function("precompiled (on-disk cache)", |b| {
            b.iter(|| {
                host.forget_compiled();
                host.load(&spec).expect("load")
            })
        });
        g.finish();
    }
    c.final_summary();
}
