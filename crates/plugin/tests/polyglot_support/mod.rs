//! Shared by the polyglot and example-module suites: builds the policy modules written in
//! C, JavaScript and Python from their sources (each language folder's `build.sh`, skipped
//! when a fingerprint of the sources, the WIT and the tool matches the last build), one
//! host per test binary with an on-disk compile cache, and the table of failover inputs
//! every language's version must decide identically.

#![allow(dead_code)]

use plugin::{Host, HostConfig, Limits, Module, ModuleBytes, ModuleSpec};
use policy::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const SETUP_HINT: &str =
    "run `bash scripts/setup.sh` (and `. scripts/env.sh` for PATH) to install the Wasm toolchains";

pub fn repo() -> PathBuf {
    testkit::repo_root()
}

fn target_base() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

/// Where the C/JS/Python components are built; beside the Rust plugin builds.
pub fn out_dir() -> PathBuf {
    let d = target_base().join("wasm-plugins").join("polyglot");
    std::fs::create_dir_all(&d).expect("create polyglot output dir");
    d
}

/// One of the languages a policy module is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    Rust,
    C,
    Js,
    Python,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::Rust, Lang::C, Lang::Js, Lang::Python];

    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Js => "js",
            Lang::Python => "python",
        }
    }

    /// The command whose version goes into the build fingerprint.
    fn tool(self) -> &'static [&'static str] {
        match self {
            Lang::Rust => &["rustc", "--version"],
            Lang::C => &["python3", "-m", "ziglang", "version"],
            Lang::Js => &["npm", "ls", "-g", "--prefix", "", "componentize-qjs"],
            Lang::Python => &["componentize-py", "--version"],
        }
    }
}

fn tool_version(lang: Lang) -> String {
    let argv = lang.tool();
    let mut cmd = Command::new(argv[0]);
    for a in &argv[1..] {
        if a.is_empty() {
            cmd.arg(std::env::var("MYSQL_OPERATOR_TOOLS").unwrap_or_default());
        } else {
            cmd.arg(a);
        }
    }
    match cmd.output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => panic!("`{}` is not runnable ({e}); {SETUP_HINT}", argv[0]),
    }
}

fn hash_dir(h: &mut Sha256, dir: &Path) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".wasm") || name == "__pycache__" || name == "target" {
            continue;
        }
        if p.is_dir() {
            hash_dir(h, &p);
        } else {
            h.update(name.as_bytes());
            h.update(std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())));
        }
    }
}

fn build_lock() -> &'static Mutex<BTreeMap<String, PathBuf>> {
    static L: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    L.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Builds `plugins/<lang>/<name>` with its `build.sh` (Rust: the cargo package `name`)
/// and returns the component's path. A non-Rust build is reused when the fingerprint of
/// the sources, `wit/` and the tool version is unchanged.
pub fn component(lang: Lang, name: &str) -> PathBuf {
    let key = format!("{}/{name}", lang.name());
    let mut done = build_lock().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = done.get(&key) {
        return p.clone();
    }
    let started = Instant::now();
    let path = if lang == Lang::Rust {
        testkit::wasm::rust_component(name).unwrap_or_else(|e| panic!("{e}"))
    } else {
        let src = repo().join("plugins").join(lang.name()).join(name);
        let mut h = Sha256::new();
        hash_dir(&mut h, &src);
        hash_dir(&mut h, &repo().join("wit"));
        h.update(tool_version(lang));
        let fp = hex::encode(h.finalize());
        let out = out_dir().join(format!("{}-{name}.wasm", lang.name()));
        let stamp = out.with_extension("fingerprint");
        let fresh = out.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == fp);
        if !fresh {
            let o = Command::new("bash")
                .arg(src.join("build.sh"))
                .arg(&out)
                .output()
                .unwrap_or_else(|e| panic!("running bash: {e}; {SETUP_HINT}"));
            assert!(
                o.status.success(),
                "building {key} failed ({}); {SETUP_HINT}\n{}{}",
                o.status,
                String::from_utf8_lossy(&o.stderr),
                String::from_utf8_lossy(&o.stdout)
            );
            std::fs::write(&stamp, &fp).expect("write build fingerprint");
        }
        println!(
            "[build] {key}: {} ({} bytes, {:.1} s{})",
            out.display(),
            std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0),
            started.elapsed().as_secs_f64(),
            if fresh {
                ", unchanged sources: reused"
            } else {
                ""
            }
        );
        out
    };
    done.insert(key, path.clone());
    path
}

fn shared() -> &'static (Arc<Host>, tempfile::TempDir) {
    static HOST: OnceLock<(Arc<Host>, tempfile::TempDir)> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir = tempfile::tempdir().expect("cache dir");
        (
            Host::new(HostConfig {
                cache_dir: Some(dir.path().to_path_buf()),
            })
            .expect("host"),
            dir,
        )
    })
}

/// One host per test binary, with a compile cache on disk for this run only, so each
/// module compiles once per run even when several tests load it.
pub fn host() -> Arc<Host> {
    shared().0.clone()
}

/// The shared host's on-disk compile cache; a second host over it acts like a restarted
/// operator that loads precompiled modules.
pub fn host_cache_dir() -> PathBuf {
    shared().1.path().to_path_buf()
}

/// Loads a component through the host with default limits; returns it and the load time.
pub fn load(host: &Host, name: &str, bytes: ModuleBytes) -> (Arc<Module>, Duration) {
    let started = Instant::now();
    let m = host
        .load(&ModuleSpec {
            name: name.into(),
            bytes,
            sha256: None,
            limits: Limits::default(),
        })
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    (m, started.elapsed())
}

pub fn cluster(flavor: Flavor) -> ClusterInfo {
    ClusterInfo {
        name: "shop".into(),
        namespace: "prod".into(),
        flavor,
        version: if flavor == Flavor::Mariadb {
            "10.11.6".into()
        } else {
            "8.0.36".into()
        },
        replicas: 4,
        labels: BTreeMap::from([("team".into(), "payments".into())]),
    }
}

const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
const U2: &str = "7b5d9c1e-0000-11ee-8000-0242ac120002";

/// A candidate builder for the table below.
pub struct C(Candidate);

impl C {
    pub fn new(ordinal: u32, zone: &str, executed: &str) -> C {
        C(Candidate {
            pod_name: format!("shop-mysql-{ordinal}"),
            ordinal,
            zone: (!zone.is_empty()).then(|| zone.to_string()),
            labels: BTreeMap::from([("topology.kubernetes.io/zone".into(), zone.into())]),
            gtid_executed: executed.into(),
            gtid_retrieved: String::new(),
            errant_gtids: String::new(),
            lag_seconds: Some(0.0),
            io_thread: ThreadState::Running,
            sql_thread: ThreadState::Running,
            healthy: true,
        })
    }
    pub fn lag(mut self, lag: Option<f64>) -> C {
        self.0.lag_seconds = lag;
        self
    }
    pub fn retrieved(mut self, r: &str) -> C {
        self.0.gtid_retrieved = r.into();
        self
    }
    pub fn errant(mut self, e: &str) -> C {
        self.0.errant_gtids = e.into();
        self
    }
    pub fn unhealthy(mut self) -> C {
        self.0.healthy = false;
        self.0.io_thread = ThreadState::Error;
        self
    }
}

/// One row of the shared table: a request and the decision every language must return
/// (`Err(())` when the module must refuse the request).
pub struct Case {
    pub name: &'static str,
    pub request: FailoverRequest,
    pub expected: Result<Decision, ()>,
}

fn req(
    flavor: Flavor,
    zone: Option<&str>,
    primary_gtids: &str,
    settings: &str,
    cands: Vec<C>,
) -> FailoverRequest {
    FailoverRequest {
        cluster: cluster(flavor),
        failed_primary: FailedPrimary {
            pod_name: "shop-mysql-0".into(),
            ordinal: 0,
            zone: zone.map(str::to_string),
            last_known_gtid_executed: primary_gtids.into(),
        },
        reason: FailoverReason::PrimaryLost,
        candidates: cands.into_iter().map(|c| c.0).collect(),
        settings: settings.into(),
    }
}

fn promote(n: u32) -> Result<Decision, ()> {
    Ok(Decision::Promote(format!("shop-mysql-{n}")))
}

pub const VETO: &str = "no candidate has the failed primary's last known GTID set; promoting any would lose acknowledged transactions";

/// The table every language's zone-aware-failover must agree on.
pub fn failover_table() -> Vec<Case> {
    let my = |r: &str| format!("{U1}:{r}");
    let my2 = |r: &str, s: &str| format!("{U1}:{r},\n{U2}:{s}");
    let veto = || Ok(Decision::Veto(VETO.into()));
    let ma = Flavor::Mariadb;
    let mysql = Flavor::Mysql;
    vec![
        Case {
            name: "same zone preferred over a less-lagged replica elsewhere",
            request: req(
                ma,
                Some("a"),
                "0-1-100",
                "{}",
                vec![
                    C::new(1, "b", "0-1-100").lag(Some(0.0)),
                    C::new(2, "a", "0-1-100").lag(Some(2.0)),
                    C::new(3, "a", "0-1-100").lag(Some(1.5)),
                ],
            ),
            expected: promote(3),
        },
        Case {
            name: "no safe replica in the zone: least lagged elsewhere",
            request: req(
                ma,
                Some("a"),
                "0-1-100",
                "{}",
                vec![
                    C::new(1, "a", "0-1-100").unhealthy(),
                    C::new(2, "b", "0-1-100").lag(Some(4.0)),
                    C::new(3, "c", "0-1-100").lag(Some(3.0)),
                ],
            ),
            expected: promote(3),
        },
        Case {
            name: "errant GTIDs disqualify",
            request: req(
                ma,
                Some("a"),
                "0-1-100",
                "{}",
                vec![
                    C::new(1, "a", "0-1-100,0-7-3").errant("0-7-3"),
                    C::new(2, "b", "0-1-100").lag(Some(9.0)),
                ],
            ),
            expected: promote(2),
        },
        Case {
            name: "relay log counts: executed behind but retrieved complete",
            request: req(
                ma,
                Some("a"),
                "0-1-100",
                "{}",
                vec![
                    C::new(1, "a", "0-1-90").retrieved("0-1-100").lag(Some(5.0)),
                    C::new(2, "b", "0-1-100"),
                ],
            ),
            expected: promote(1),
        },
        Case {
            name: "lossy failover vetoed (MariaDB)",
            request: req(
                ma,
                Some("a"),
                "0-1-100,1-2-7",
                "{}",
                vec![
                    C::new(1, "a", "0-1-100,1-2-6"),
                    C::new(2, "b", "0-1-99,1-2-7"),
                ],
            ),
            expected: veto(),
        },
        Case {
            name: "lossy failover allowed when the veto is off: least lagged",
            request: req(
                ma,
                Some("a"),
                "0-1-100",
                r#"{"vetoOnMissingGtids": false}"#,
                vec![
                    C::new(1, "b", "0-1-98").lag(Some(1.0)),
                    C::new(2, "c", "0-1-99").lag(Some(0.5)),
                ],
            ),
            expected: promote(2),
        },
        Case {
            name: "the one candidate holding every GTID wins over same zone",
            request: req(
                mysql,
                Some("a"),
                &my2("1-500", "1-20"),
                "{}",
                vec![
                    C::new(1, "a", &my2("1-500", "1-19")),
                    C::new(2, "b", &my("1-500"))
                        .retrieved(&format!("{U2}:1-20"))
                        .lag(Some(30.0)),
                ],
            ),
            expected: promote(2),
        },
        Case {
            name: "MySQL gap in the executed set is a missing transaction",
            request: req(
                mysql,
                None,
                &my("1-500"),
                "{}",
                vec![C::new(1, "a", &my("1-249:251-500"))],
            ),
            expected: veto(),
        },
        Case {
            name: "lag over maxLagSeconds excluded; unknown lag ranks last",
            request: req(
                mysql,
                Some("z"),
                &my("1-10"),
                r#"{"maxLagSeconds": 5}"#,
                vec![
                    C::new(1, "a", &my("1-10")).lag(Some(6.0)),
                    C::new(2, "b", &my("1-10")).lag(None),
                    C::new(3, "c", &my("1-10")).lag(Some(4.5)),
                ],
            ),
            expected: promote(3),
        },
        Case {
            name: "only unknown lag left",
            request: req(
                mysql,
                Some("z"),
                &my("1-10"),
                r#"{"maxLagSeconds": 5}"#,
                vec![
                    C::new(1, "a", &my("1-10")).lag(Some(6.0)),
                    C::new(4, "b", &my("1-10")).lag(None),
                    C::new(2, "b", &my("1-10")).lag(None),
                ],
            ),
            expected: promote(2),
        },
        Case {
            name: "zone preference off: least lagged anywhere, ties to lowest ordinal",
            request: req(
                ma,
                Some("a"),
                "0-1-5",
                r#"{"preferSameZone": false}"#,
                vec![
                    C::new(3, "a", "0-1-5").lag(Some(1.0)),
                    C::new(2, "b", "0-1-5").lag(Some(0.25)),
                    C::new(1, "c", "0-1-5").lag(Some(0.25)),
                ],
            ),
            expected: promote(1),
        },
        Case {
            name: "nobody safe: abstain",
            request: req(
                ma,
                Some("a"),
                "0-1-5",
                "{}",
                vec![
                    C::new(1, "a", "0-1-5").unhealthy(),
                    C::new(2, "b", "0-1-5").errant("0-9-1"),
                ],
            ),
            expected: Ok(Decision::Abstain),
        },
        Case {
            name: "empty primary GTID set: nothing to lose",
            request: req(
                ma,
                None,
                "",
                "{}",
                vec![
                    C::new(1, "a", "").lag(Some(2.0)),
                    C::new(2, "b", "").lag(Some(1.0)),
                ],
            ),
            expected: promote(2),
        },
        Case {
            name: "no candidates and writes to keep: veto",
            request: req(ma, Some("a"), "0-1-5", "{}", vec![]),
            expected: veto(),
        },
        Case {
            name: "unparseable candidate GTID set is refused",
            request: req(ma, Some("a"), "0-1-5", "{}", vec![C::new(1, "a", "0-1")]),
            expected: Err(()),
        },
        Case {
            name: "bad settings are refused at call time too",
            request: req(
                ma,
                Some("a"),
                "0-1-5",
                r#"{"maxLagSeconds": "ten"}"#,
                vec![C::new(1, "a", "0-1-5")],
            ),
            expected: Err(()),
        },
    ]
}

/// Settings every language must accept, and ones every language must refuse.
pub const GOOD_SETTINGS: [&str; 4] = [
    "{}",
    r#"{"maxLagSeconds": 0}"#,
    r#"{"maxLagSeconds": 12.5, "preferSameZone": false}"#,
    r#"{"vetoOnMissingGtids": false}"#,
];
pub const BAD_SETTINGS: [&str; 5] = [
    r#"{"maxLagSeconds": -1}"#,
    r#"{"maxLagSeconds": "10"}"#,
    r#"{"preferSameZone": "yes"}"#,
    r#"{"maxLag": 10}"#,
    "[1, 2]",
];

/// p50 and p99 of `n` timed runs of `f`.
pub fn percentiles(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut v: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    (v[n / 2], v[(n * 99 / 100).min(n - 1)])
}
