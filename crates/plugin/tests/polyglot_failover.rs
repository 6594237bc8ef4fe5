//! The zone-aware failover policy written in Rust, C, JavaScript and Python, each built from
//! source here and run through the real host: same decisions on a shared table, same
//! settings verdicts, the Python module loaded from ConfigMap-sized parts, and the cost of
//! each language (size, first load = compile, precompiled load, per call) printed next to
//! Rust's. Run with `-- --nocapture` to see the figures.

mod polyglot_support;

use plugin::{Host, HostConfig, Module, ModuleBytes, PartsManifest};
use policy::{Decision, HookError};
use polyglot_support::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const PACKAGE: &str = "zone-aware-failover";

/// A module loaded once per test binary, with what loading it cost.
struct Loaded {
    module: Arc<Module>,
    bytes: Vec<u8>,
    first_load: Duration,
}

/// One slot per language, filled by the first test that needs it.
type Slots = Mutex<BTreeMap<Lang, Arc<OnceLock<Arc<Loaded>>>>>;

fn loaded(lang: Lang) -> Arc<Loaded> {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    let slot = SLOTS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(lang)
        .or_default()
        .clone();
    slot.get_or_init(|| {
        let path = component(lang, PACKAGE);
        let bytes = std::fs::read(&path).unwrap();
        let (module, first_load) = load(
            &host(),
            &format!("zaf-{}", lang.name()),
            ModuleBytes::Single(bytes.clone()),
        );
        Arc::new(Loaded {
            module,
            bytes,
            first_load,
        })
    })
    .clone()
}

fn show(r: &Result<Decision, HookError>) -> String {
    match r {
        Ok(d) => format!("{d:?}"),
        Err(e) => format!("error: {e}"),
    }
}

fn check_table(lang: Lang) {
    let l = loaded(lang);
    let mut wrong = Vec::new();
    for case in failover_table() {
        let got = l.module.failover(&case.request, &case.request.settings);
        let ok = match (&case.expected, &got) {
            (Ok(want), Ok(d)) => want == d,
            (Err(()), Err(HookError::Rejected { .. })) => true,
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "  {}: expected {:?}, got {}",
                case.name,
                case.expected,
                show(&got)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} decided differently from the table:\n{}",
        lang.name(),
        wrong.join("\n")
    );
}

#[test]
fn rust_decides_the_shared_table() {
    check_table(Lang::Rust);
}

#[test]
fn c_decides_like_rust() {
    check_table(Lang::C);
}

#[test]
fn javascript_decides_like_rust() {
    check_table(Lang::Js);
}

#[test]
fn python_decides_like_rust() {
    check_table(Lang::Python);
}

#[test]
fn every_language_accepts_and_refuses_the_same_settings() {
    let mut wrong = Vec::new();
    for lang in Lang::ALL {
        let l = loaded(lang);
        for s in GOOD_SETTINGS {
            if let Err(e) = l.module.validate_settings(s) {
                wrong.push(format!("{} refused good settings {s}: {e}", lang.name()));
            }
        }
        for s in BAD_SETTINGS {
            match l.module.validate_settings(s) {
                Err(plugin::LoadError::SettingsRejected { message, .. }) => {
                    assert!(
                        !message.is_empty(),
                        "{} refused {s} without a reason",
                        lang.name()
                    )
                }
                other => wrong.push(format!(
                    "{} accepted bad settings {s}: {other:?}",
                    lang.name()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn python_module_loads_from_configmap_parts() {
    let l = loaded(Lang::Python);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&l.bytes).unwrap();
    let gz = gz.finish().unwrap();
    // One ConfigMap holds 1 MiB including base64's 4/3 growth: 700 KiB of binary per part.
    let (manifest, parts) = PartsManifest::split("zaf-py.wasm.gz", &gz, 700 << 10);
    println!(
        "[configmap] python: {} bytes raw, {} gzip, {} parts of <= 700 KiB",
        l.bytes.len(),
        gz.len(),
        parts.len()
    );
    assert!(
        parts.len() > 1 && parts.len() <= 12,
        "{} parts",
        parts.len()
    );
    let bytes = ModuleBytes::Parts {
        manifest: serde_json::to_vec(&manifest).unwrap(),
        parts: parts.into_iter().collect(),
    };
    let (m, took) = load(&host(), "zaf-python-parts", bytes);
    println!(
        "[configmap] python: assembled, verified and loaded from parts in {:.1} ms (compiled form reused by digest)",
        took.as_secs_f64() * 1e3
    );
    assert_eq!(
        m.digest(),
        l.module.digest(),
        "parts must reassemble to the same component"
    );
    let case = &failover_table()[0];
    assert_eq!(
        m.failover(&case.request, "{}").unwrap(),
        case.expected.clone().unwrap()
    );
}

fn gzip_len(b: &[u8]) -> usize {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b).unwrap();
    gz.finish().unwrap().len()
}

#[test]
fn cost_per_language_against_rust() {
    // The first row of the table has 3 candidates; make a 5-candidate request like the host bench.
    let mut request = failover_table().remove(0).request;
    let extra: Vec<_> = request.candidates.iter().take(2).cloned().collect();
    for (i, mut c) in extra.into_iter().enumerate() {
        c.ordinal = 10 + i as u32;
        c.pod_name = format!("shop-mysql-{}", c.ordinal);
        request.candidates.push(c);
    }
    let mut rows = Vec::new();
    for lang in Lang::ALL {
        let l = loaded(lang);
        // A second host over the shared host's on-disk cache: a restarted operator.
        let restarted = Host::new(HostConfig {
            cache_dir: Some(host_cache_dir()),
        })
        .unwrap();
        let (_, precompiled) = load(
            &restarted,
            "restarted",
            ModuleBytes::Single(l.bytes.clone()),
        );
        drop(restarted);
        let n = if lang == Lang::Python { 30 } else { 300 };
        let mut last = None;
        let (p50, p99) = percentiles(n, || last = Some(l.module.failover(&request, "{}")));
        assert_eq!(
            last.unwrap().unwrap(),
            Decision::Promote("shop-mysql-3".into()),
            "{}",
            lang.name()
        );
        rows.push((
            lang,
            l.bytes.len(),
            gzip_len(&l.bytes),
            l.first_load,
            precompiled,
            p50,
            p99,
        ));
    }
    let rust = rows[0];
    let mut out = String::from(
        "\n[cost] zone-aware-failover through the host, 5 candidates (p50/p99 = fresh instance + call)\n\
         lang     raw KB  gzip KB  first load (compile)  precompiled load   call p50    call p99   p50 vs rust\n",
    );
    for (lang, raw, gz, first, pre, p50, p99) in &rows {
        out.push_str(&format!(
            "{:<8} {:>7.0} {:>8.0} {:>17.1} ms {:>13.2} ms {:>8.1} µs {:>8.1} µs {:>10.1}x\n",
            lang.name(),
            *raw as f64 / 1024.0,
            *gz as f64 / 1024.0,
            first.as_secs_f64() * 1e3,
            pre.as_secs_f64() * 1e3,
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            p50.as_secs_f64() / rust.5.as_secs_f64(),
        ));
    }
    println!("{out}");
    let _ = std::fs::write(out_dir().join("cost.txt"), &out);
    for (lang, raw, gz, _, pre, p50, _) in &rows {
        // Generous bounds only: no call may come near a failover's time budget.
        assert!(
            *p50 < Duration::from_secs(1),
            "{} call p50 {p50:?}",
            lang.name()
        );
        assert!(
            *pre < Duration::from_secs(10),
            "{} precompiled load {pre:?}",
            lang.name()
        );
        if matches!(lang, Lang::Rust | Lang::C | Lang::Js) {
            assert!(
                *gz < 1 << 20,
                "{} must fit one ConfigMap compressed: {gz} bytes",
                lang.name()
            );
        }
        assert!(*raw > 0);
    }
}
