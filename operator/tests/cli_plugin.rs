//! `mysql-operator plugin` end to end: the real binary on real components built from
//! `plugins/` — `inspect`, `run` (expected pick, lossy veto, a trap exits non-zero with the
//! reason), `bench`, and `configmap`, whose output must parse as YAML and round-trip through
//! the controller's resolver (`controller::plugins::resolve`) for a small module and for the
//! Python one split over several ConfigMaps.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use controller::MemoryStore;
use controller::store::Kind;
use k8s_openapi::api::core::v1::ConfigMap;
use serde::Deserialize;

const SETUP: &str = "run `bash scripts/setup.sh` (and `. scripts/env.sh`) for the wasm targets, wasm-tools and componentize-py";

fn repo() -> PathBuf {
    testkit::repo_root()
}

fn example(file: &str) -> PathBuf {
    repo().join("plugins/examples").join(file)
}

fn rust_module(package: &str) -> PathBuf {
    testkit::wasm::rust_component(package).unwrap_or_else(|e| panic!("{e}; {SETUP}"))
}

/// The Python failover policy (componentize-py, ~18 MB), built once per target dir.
fn python_module() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let out = base.join("wasm-plugins/cli/python-zone-aware-failover.wasm");
    if !out.exists() {
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let o = Command::new("bash")
            .arg(repo().join("plugins/python/zone-aware-failover/build.sh"))
            .arg(&out)
            .output()
            .unwrap_or_else(|e| panic!("bash: {e}"));
        assert!(
            o.status.success(),
            "building the Python module failed; {SETUP}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    out
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mysql-operator"))
        .arg("plugin")
        .args(args)
        .output()
        .expect("run mysql-operator")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> (String, String) {
    let o = cli(args);
    let (out, err) = text(&o);
    assert!(
        o.status.success(),
        "{args:?} failed: {}\n{out}{err}",
        o.status
    );
    (out, err)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn inspect_reports_hooks_abi_digest_and_sizes() {
    let m = rust_module("zone-aware-failover");
    let (out, _) = ok(&["inspect", p(&m)]);
    println!("{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hooks"], serde_json::json!(["failover-candidate"]));
    assert_eq!(v["abi"], "mysql-operator:policy@0.1.0");
    assert_eq!(v["name"], "zone-aware-failover");
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(v["importsWasi"], false);
    assert!(v["rawBytes"].as_u64().unwrap() > v["zstdBytes"].as_u64().unwrap());
    assert_eq!(v["fitsOneConfigMap"], true);
}

#[test]
fn run_picks_the_expected_candidate_and_vetoes_a_lossy_failover() {
    let m = rust_module("zone-aware-failover");
    let settings = example("zone-aware-failover.settings.json");
    let (out, err) = ok(&[
        "run",
        p(&m),
        "--hook",
        "failover-candidate",
        "--input",
        p(&example("failover-candidate.json")),
        "--settings",
        p(&settings),
    ]);
    println!("{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"decision": "promote", "value": "shop-mysql-2"})
    );
    assert!(
        err.contains("wall") && err.contains("fuel") && err.contains("peak memory"),
        "{err}"
    );

    let (out, _) = ok(&[
        "run",
        p(&m),
        "--hook",
        "failover-candidate",
        "--input",
        p(&example("failover-candidate-lossy.json")),
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "veto", "{out}");
    assert!(
        v["value"].as_str().unwrap().contains("GTID"),
        "the veto names the reason: {out}"
    );
}

#[test]
fn a_trapping_module_exits_non_zero_with_the_reason() {
    let m = rust_module("adversarial");
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("trap.json");
    std::fs::write(&settings, r#"{"mode": "trap"}"#).unwrap();
    let o = cli(&[
        "run",
        p(&m),
        "--hook",
        "failover-candidate",
        "--input",
        p(&example("failover-candidate.json")),
        "--settings",
        p(&settings),
    ]);
    let (out, err) = text(&o);
    println!("{err}");
    assert!(!o.status.success(), "a trap must fail the command: {out}");
    assert!(out.trim().is_empty(), "no JSON answer on a trap: {out}");
    assert!(err.contains("error:") && err.contains("trap"), "{err}");

    // Bad input is refused before any call, naming the file.
    let o = cli(&[
        "run",
        p(&m),
        "--hook",
        "failover-candidate",
        "--input",
        p(&example("backup-filter.json")),
        "--settings",
        p(&settings),
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("not a valid failover-candidate request"),
        "{err}"
    );
}

#[test]
fn bench_prints_percentiles() {
    let m = rust_module("zone-aware-failover");
    let (out, _) = ok(&[
        "bench",
        p(&m),
        "--hook",
        "failover-candidate",
        "--input",
        p(&example("failover-candidate.json")),
        "--iterations",
        "50",
    ]);
    println!("[bench] {out}");
    assert!(
        out.contains("50 calls") && out.contains("p50") && out.contains("p99"),
        "{out}"
    );
}

/// The YAML documents of `configmap`'s output, and the `spec.plugins` entry in its header.
fn parse_configmap_output(out: &str) -> (Vec<ConfigMap>, api::PluginSpec) {
    let maps: Vec<ConfigMap> = out
        .split("\n---\n")
        .skip(1)
        .map(|doc| serde_yaml_ng::from_str(doc).unwrap_or_else(|e| panic!("{e}\n{doc}")))
        .collect();
    let header: String = out
        .lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("#   "))
        .map(|l| format!("{l}\n"))
        .collect();
    #[derive(Deserialize)]
    struct Snippet {
        plugins: Vec<api::PluginSpec>,
    }
    let mut s: Snippet = serde_yaml_ng::from_str(&header)
        .unwrap_or_else(|e| panic!("spec.plugins snippet: {e}\n{header}"));
    assert_eq!(s.plugins.len(), 1);
    (maps, s.plugins.remove(0))
}

/// Seeds the ConfigMaps into the in-memory API server and resolves the entry as the
/// controller does; returns the bytes it verified.
fn resolve(maps: &[ConfigMap], spec: &api::PluginSpec) -> Vec<u8> {
    let store = MemoryStore::new();
    for cm in maps {
        store
            .seed(
                &Kind::of::<ConfigMap>(),
                serde_json::to_value(cm).unwrap(),
                "kubectl",
            )
            .unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ok, failed) = rt
        .block_on(controller::plugins::resolve(
            &store,
            "prod",
            std::slice::from_ref(spec),
        ))
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(ok.len(), 1);
    assert_eq!(Some(&ok[0].sha256), spec.sha256.as_ref());
    ok[0].bytes.as_ref().clone()
}

#[test]
fn configmap_output_round_trips_through_the_controller_resolver() {
    let m = rust_module("zone-aware-failover");
    let (out, _) = ok(&[
        "configmap",
        p(&m),
        "--name",
        "zone-aware",
        "--namespace",
        "prod",
    ]);
    println!("{out}");
    let (maps, spec) = parse_configmap_output(&out);
    assert_eq!(maps.len(), 1, "a small module fits one ConfigMap");
    assert_eq!(maps[0].metadata.namespace.as_deref(), Some("prod"));
    assert_eq!(spec.name, "zone-aware");
    assert_eq!(spec.config_map.name, "zone-aware");
    assert_eq!(spec.hooks, Some(vec![api::Hook::FailoverCandidate]));
    let raw = resolve(&maps, &spec);
    assert_eq!(raw, std::fs::read(&m).unwrap());
}

#[test]
fn configmap_splits_the_python_module_over_configmaps_the_resolver_reads() {
    let m = python_module();
    let (out, _) = ok(&[
        "configmap",
        p(&m),
        "--name",
        "zaf-py",
        "--namespace",
        "prod",
    ]);
    let (maps, spec) = parse_configmap_output(&out);
    let sizes: Vec<usize> = maps
        .iter()
        .map(|cm| serde_json::to_vec(cm).unwrap().len())
        .collect();
    println!(
        "[configmap] python: {} bytes raw, {} ConfigMaps, serialized sizes {sizes:?}",
        std::fs::metadata(&m).unwrap().len(),
        maps.len()
    );
    assert!(maps.len() > 2, "18 MB must be split: {}", maps.len());
    for (cm, size) in maps.iter().zip(&sizes) {
        assert!(
            *size < 1024 * 1024,
            "{:?} is {size} bytes, over what a ConfigMap holds",
            cm.metadata.name
        );
    }
    let raw = resolve(&maps, &spec);
    assert_eq!(raw, std::fs::read(&m).unwrap());

    // A part gone missing is reported, naming it.
    let store_maps: Vec<ConfigMap> = maps
        .iter()
        .filter(|cm| cm.metadata.name.as_deref() != Some("zaf-py-part-1"))
        .cloned()
        .collect();
    let store = MemoryStore::new();
    for cm in &store_maps {
        store
            .seed(
                &Kind::of::<ConfigMap>(),
                serde_json::to_value(cm).unwrap(),
                "kubectl",
            )
            .unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ok, failed) = rt
        .block_on(controller::plugins::resolve(
            &store,
            "prod",
            std::slice::from_ref(&spec),
        ))
        .unwrap();
    assert!(ok.is_empty());
    assert!(failed[0].reason.contains("zaf-py-part-1"), "{failed:?}");
}
