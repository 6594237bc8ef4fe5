//! Well-behaved modules through the registry: one per hook, the all-hooks world, module
//! sources (compressed, split, pinned, cached on disk), reload and last-good.

mod common;

use common::*;
use plugin::*;
use policy::*;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

#[test]
fn init_script_module_rewrites_script_on_replicas_only() {
    let (reg, events) = registry(quick_breaker());
    let out = reg.sync(
        "init",
        &[spec(
            "status-table",
            module("init-status-table"),
            "{}",
            FailurePolicy::Fail,
        )],
    );
    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
    assert!(
        matches!(&events.take()[..], [PluginEvent::Loaded { hooks, .. }] if hooks == &[HookName::InitScript])
    );
    let chain = reg.init_script_chain("init", Arc::new(DefaultScript));
    let replica = chain.render(&init_request(NodeRole::Replica)).unwrap();
    assert!(
        replica.starts_with("DROP TABLE IF EXISTS sys_operator.status;\n"),
        "{replica}"
    );
    assert!(
        replica.ends_with("CREATE TABLE IF NOT EXISTS sys_operator.status (k INT);\n"),
        "{replica}"
    );
    let unknown = chain.render(&init_request(NodeRole::Unknown)).unwrap();
    assert!(
        unknown.starts_with("DROP TABLE"),
        "first boot (unknown role) is treated as non-primary: {unknown}"
    );
    let primary = chain.render(&init_request(NodeRole::Primary)).unwrap();
    assert_eq!(primary, init_request(NodeRole::Primary).default_script);
}

#[test]
fn backup_filter_module_excludes_and_merges_with_builtin() {
    let (reg, _) = registry(quick_breaker());
    reg.sync(
        "backup",
        &[spec(
            "skip",
            module("backup-skip-status"),
            r#"{"skipSchema":"scratch"}"#,
            FailurePolicy::Fail,
        )],
    );
    let ex = reg
        .backup_filter_chain("backup", Arc::new(NoExclusions))
        .exclusions(&backup_request())
        .unwrap();
    let names: Vec<String> = ex
        .tables
        .iter()
        .map(|t| format!("{}.{}", t.schema, t.name))
        .collect();
    assert_eq!(names, ["shop.sessions", "sys_operator.status"]);
    assert_eq!(ex.schemas, ["scratch"]);
}

#[test]
fn failover_module_promotes_abstains_and_vetoes() {
    let (reg, _) = registry(quick_breaker());
    reg.sync(
        "fo",
        &[spec(
            "zone",
            module("failover-prefer-zone"),
            r#"{"zone":"b","vetoSwitchover":"yes"}"#,
            FailurePolicy::Fail,
        )],
    );
    let chain = reg.failover_chain("fo", builtin());
    assert_eq!(chain.modules(), ["zone"]);
    // zone b: ordinal 4 lags least.
    assert_eq!(
        chain
            .choose(&failover_request(FailoverReason::PrimaryLost))
            .unwrap(),
        Decision::Promote("shop-mysql-4".into())
    );
    assert_eq!(
        chain
            .choose(&failover_request(FailoverReason::PlannedSwitchover))
            .unwrap(),
        Decision::Veto("planned switchovers are vetoed by policy".into())
    );
    // zone c has only an errant replica: the module abstains and the built-in decides.
    reg.sync(
        "fo",
        &[spec(
            "zone",
            module("failover-prefer-zone"),
            r#"{"zone":"c"}"#,
            FailurePolicy::Fail,
        )],
    );
    let chain = reg.failover_chain("fo", builtin());
    assert_eq!(
        chain
            .choose(&failover_request(FailoverReason::PrimaryLost))
            .unwrap(),
        Decision::Promote("shop-mysql-1".into())
    );
}

#[test]
fn all_hooks_world_is_detected_and_chains_in_order() {
    let (reg, _) = registry(quick_breaker());
    let m = host()
        .load(&ModuleSpec {
            name: "all".into(),
            bytes: ModuleBytes::Single(module("policy-all")),
            sha256: None,
            limits: Limits::default(),
        })
        .unwrap();
    assert_eq!(
        m.hooks().iter().copied().collect::<Vec<_>>(),
        HookName::ALL.to_vec()
    );
    assert_eq!(
        m.info(),
        &ModuleInfo {
            name: "policy-all".into(),
            version: "2.0.0".into()
        }
    );
    assert!(!m.imports_wasi());
    // prefer-zone (zone c) abstains, then policy-all promotes the highest safe ordinal.
    reg.sync(
        "all",
        &[
            spec(
                "zone",
                module("failover-prefer-zone"),
                r#"{"zone":"c"}"#,
                FailurePolicy::Fail,
            ),
            spec("all", module("policy-all"), "{}", FailurePolicy::Fail),
        ],
    );
    let d = reg
        .failover_chain("all", builtin())
        .choose(&failover_request(FailoverReason::PrimaryLost))
        .unwrap();
    assert_eq!(d, Decision::Promote("shop-mysql-4".into()));
    let script = reg
        .init_script_chain("all", Arc::new(DefaultScript))
        .render(&init_request(NodeRole::Replica))
        .unwrap();
    assert!(script.ends_with("-- policy-all\n"));
    let ex = reg
        .backup_filter_chain("all", Arc::new(NoExclusions))
        .exclusions(&backup_request())
        .unwrap();
    assert_eq!(ex.schemas, ["scratch"]);
    // Attaching for a hook the module does not export is refused at attach time.
    let mut s = spec(
        "zone-init",
        module("failover-prefer-zone"),
        r#"{"zone":"a"}"#,
        FailurePolicy::Fail,
    );
    s.hooks = vec![HookName::InitScript];
    let out = reg.sync("all2", &[s]);
    assert!(
        matches!(out[0].result, Err(LoadError::HookNotExported { .. })),
        "{:?}",
        out[0].result
    );
}

#[test]
fn compressed_split_and_pinned_sources_load_and_disk_cache_is_used() {
    let raw = module("failover-prefer-zone");
    let pin = source::sha256_hex(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&raw).unwrap();
    let gz = gz.finish().unwrap();
    let zs = zstd::encode_all(&raw[..], 19).unwrap();
    println!(
        "failover-prefer-zone: raw {} B, gzip {} B, zstd {} B",
        raw.len(),
        gz.len(),
        zs.len()
    );
    let (manifest, parts) = PartsManifest::split("zone.wasm.zst", &zs, 1024);
    assert!(parts.len() > 1);
    let sources = [
        ModuleBytes::Single(raw.clone()),
        ModuleBytes::Single(gz),
        ModuleBytes::Single(zs),
        ModuleBytes::Parts {
            manifest: serde_json::to_vec(&manifest).unwrap(),
            parts: parts.into_iter().collect(),
        },
    ];
    for bytes in sources {
        let m = host()
            .load(&ModuleSpec {
                name: "zone".into(),
                bytes,
                sha256: Some(pin.clone()),
                limits: Limits::default(),
            })
            .unwrap();
        assert_eq!(m.digest(), pin);
    }

    let dir = tempfile::tempdir().unwrap();
    let spec = ModuleSpec {
        name: "zone".into(),
        bytes: ModuleBytes::Single(raw),
        sha256: None,
        limits: Limits::default(),
    };
    let cold = Host::new(HostConfig {
        cache_dir: Some(dir.path().to_path_buf()),
    })
    .unwrap();
    let t = Instant::now();
    cold.load(&spec).unwrap();
    let compile = t.elapsed();
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "one compiled file per digest and engine");
    let warm = Host::new(HostConfig {
        cache_dir: Some(dir.path().to_path_buf()),
    })
    .unwrap();
    let t = Instant::now();
    let m = warm.load(&spec).unwrap();
    let cached = t.elapsed();
    println!("load with compile: {compile:?}; load from the on-disk cache: {cached:?}");
    assert_eq!(
        m.failover(
            &failover_request(FailoverReason::PrimaryLost),
            r#"{"zone":"a"}"#
        )
        .unwrap(),
        Decision::Promote("shop-mysql-2".into())
    );
    assert!(
        cached < std::time::Duration::from_secs(2),
        "a precompiled load should be fast, took {cached:?}"
    );
}

#[test]
fn reload_picks_up_changed_module_and_keeps_last_good() {
    let (reg, events) = registry(quick_breaker());
    let req = failover_request(FailoverReason::PrimaryLost);
    reg.sync(
        "reload",
        &[spec(
            "policy",
            module("failover-prefer-zone"),
            r#"{"zone":"a"}"#,
            FailurePolicy::Fail,
        )],
    );
    let before = reg.failover_chain("reload", builtin());
    assert_eq!(
        before.choose(&req).unwrap(),
        Decision::Promote("shop-mysql-2".into())
    );

    // Same spec again: nothing reloaded.
    let out = reg.sync(
        "reload",
        &[spec(
            "policy",
            module("failover-prefer-zone"),
            r#"{"zone":"a"}"#,
            FailurePolicy::Fail,
        )],
    );
    assert!(out[0].unchanged);
    events.take();

    // The ConfigMap now holds another module: swapped in.
    let out = reg.sync(
        "reload",
        &[spec(
            "policy",
            module("policy-all"),
            r#"{"zone":"a"}"#,
            FailurePolicy::Fail,
        )],
    );
    assert!(!out[0].unchanged && out[0].result.is_ok());
    let new_digest = source::sha256_hex(&module("policy-all"));
    assert!(
        matches!(&events.take()[..], [PluginEvent::Loaded { digest, .. }] if digest == &new_digest)
    );
    let after = reg.failover_chain("reload", builtin());
    assert_eq!(
        after.choose(&req).unwrap(),
        Decision::Promote("shop-mysql-4".into())
    );
    // A chain taken before the swap keeps the version it started with.
    assert_eq!(
        before.choose(&req).unwrap(),
        Decision::Promote("shop-mysql-2".into())
    );

    // A broken update: the last good version keeps serving, and an Event says so.
    let out = reg.sync(
        "reload",
        &[spec(
            "policy",
            b"\0asm garbage".to_vec(),
            r#"{"zone":"a"}"#,
            FailurePolicy::Fail,
        )],
    );
    let err = out[0].result.as_ref().unwrap_err();
    println!("broken update: {err}");
    assert!(matches!(
        &events.take()[..],
        [PluginEvent::LoadFailed { serving_previous: Some(d), .. }] if d == &new_digest
    ));
    assert_eq!(
        reg.failover_chain("reload", builtin())
            .choose(&req)
            .unwrap(),
        Decision::Promote("shop-mysql-4".into())
    );
    assert_eq!(
        reg.status("reload")[0].digest.as_deref(),
        Some(new_digest.as_str())
    );

    // Detaching falls back to the built-in rule.
    reg.sync("reload", &[]);
    assert_eq!(
        reg.failover_chain("reload", builtin())
            .choose(&req)
            .unwrap(),
        Decision::Promote("shop-mysql-1".into())
    );
}

#[test]
fn wasi_module_loads_with_stubs_and_no_authority() {
    let bytes = testkit::wasm::bytes(testkit::wasm::wasip2_component("wasi-probe"));
    let m = host()
        .load(&ModuleSpec {
            name: "probe".into(),
            bytes: ModuleBytes::Single(bytes.clone()),
            sha256: None,
            limits: Limits::default(),
        })
        .unwrap();
    assert!(m.imports_wasi());
    let d = m
        .failover(&failover_request(FailoverReason::PrimaryLost), "{}")
        .unwrap();
    assert_eq!(d, Decision::Veto("fs=false env=0 args=0 net=false".into()));

    let strict = Limits {
        allow_wasi: false,
        ..Limits::default()
    };
    let err = host()
        .load(&ModuleSpec {
            name: "probe".into(),
            bytes: ModuleBytes::Single(bytes),
            sha256: None,
            limits: strict,
        })
        .unwrap_err();
    assert!(
        matches!(err, LoadError::DisallowedImport { ref import, .. } if import.starts_with("wasi:")),
        "{err}"
    );
    assert!(err.to_string().contains("allowWasi=false"), "{err}");
}

#[test]
fn module_logs_reach_tracing_with_module_name_rate_limited() {
    use std::sync::Mutex;
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // Global, not thread-local: tracing caches callsite interest process-wide, so a
    // thread-local subscriber misses callsites other test threads registered first.
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets a subscriber");
    {
        let m = host()
            .load(&ModuleSpec {
                name: "flooder".into(),
                bytes: ModuleBytes::Single(module("adversarial")),
                sha256: None,
                limits: Limits::default(),
            })
            .unwrap();
        m.validate_settings(r#"{"mode":"log-flood"}"#).unwrap();
        let d = m
            .failover(
                &failover_request(FailoverReason::PrimaryLost),
                r#"{"mode":"log-flood"}"#,
            )
            .unwrap();
        assert_eq!(d, Decision::Abstain);
        let z = host()
            .load(&ModuleSpec {
                name: "zone".into(),
                bytes: ModuleBytes::Single(module("failover-prefer-zone")),
                sha256: None,
                limits: Limits::default(),
            })
            .unwrap();
        z.failover(
            &failover_request(FailoverReason::PrimaryLost),
            r#"{"zone":"b"}"#,
        )
        .unwrap();
    }
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let flood = text.lines().filter(|l| l.contains("flood line")).count();
    println!("log-flood: 10000 lines logged by the module, {flood} reached the log");
    assert!(flood > 0 && flood <= 50, "{flood} lines");
    assert!(
        text.lines()
            .any(|l| l.contains("flood line") && l.contains("module=\"flooder\"")),
        "{text}"
    );
    assert!(text.contains("promoting shop-mysql-4 in zone b"), "{text}");
}
