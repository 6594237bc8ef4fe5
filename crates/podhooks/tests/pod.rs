//! The pod-side hooks with real parts: manifests written by render's own code, real Wasm
//! components built from `plugins/`, real mariadbd and mariabackup.
//! - no manifest → built-in rules; render's manifest format is what the loader reads;
//! - a clone through the agent whose `backup-filter` modules (`backup-filter` patterns
//!   and engines, `status-table-fix`) decide from the real table list leaves those tables
//!   out, and the init step's `init-script` chain (`status-table-fix`) on that replica
//!   produces the script the restarted server runs;
//! - a trapping module (`plugins/testing/adversarial`) and one that does not load:
//!   `Ignore` → built-in result; `Fail` → the hook fails naming the module (HTTP 500 with
//!   `X-Backup-Status: Failed` on the agent).

use backup::init::{InitSources, populate_datadir};
use backup::initsql::{default_script, replication_filters};
use backup::peer::PeerAuth;
use backup::tool::BackupTool;
use mysql_async::prelude::Queryable;
use mysql_operator_podhooks as podhooks;
use plugin::{DefaultScript, NoExclusions};
use podhooks::PodHooks;
use policy::{
    BackupFilter, BackupFilterRequest, BackupKind, ClusterInfo, DataSource, Flavor, HookName,
    TableInfo,
};
use render::plugins::{PluginInput, manifest, manifest_json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::mariadb::{MariaDb, Node, ROOT_PASSWORD};
use testkit::wasm;

const USER: &str = "backup-user";
const PASSWORD: &str = "backup-pass";

fn cluster() -> ClusterInfo {
    ClusterInfo {
        name: "pod".into(),
        namespace: "default".into(),
        flavor: Flavor::Mariadb,
        version: "10.11".into(),
        replicas: 2,
        labels: BTreeMap::new(),
    }
}

/// One `spec.plugins` entry whose component is the file at `path`.
struct Plugin<'a> {
    name: &'a str,
    path: PathBuf,
    hooks: Option<Vec<&'a str>>,
    policy: &'a str,
    settings: serde_json::Value,
}

/// Writes `plugins.json` as render produces it, with each module's path pointed at the
/// built component (the pod mounts it under /etc/mysql-operator/plugins/<name>/).
fn write_manifest(dir: &Path, plugins: &[Plugin]) -> PathBuf {
    let inputs: Vec<PluginInput> = plugins
        .iter()
        .map(|p| PluginInput {
            name: p.name.into(),
            config_map_name: format!("{}-module", p.name),
            config_map_key: "module.wasm".into(),
            sha256: None,
            hooks: p
                .hooks
                .as_ref()
                .map(|h| h.iter().map(|s| s.to_string()).collect()),
            failure_policy: p.policy.into(),
            settings: p.settings.clone(),
        })
        .collect();
    let mut m = manifest(&inputs).expect("render accepts the plugin entries");
    for (entry, p) in m.plugins.iter_mut().zip(plugins) {
        assert!(
            entry.path.starts_with("/etc/mysql-operator/plugins/"),
            "{}",
            entry.path
        );
        entry.path = p.path.display().to_string();
    }
    let path = dir.join("plugins.json");
    std::fs::write(&path, manifest_json(&m)).unwrap();
    path
}

fn component(package: &str) -> PathBuf {
    wasm::rust_component(package).unwrap_or_else(|e| panic!("{e}"))
}

fn filter_request(tables: Vec<TableInfo>) -> BackupFilterRequest {
    BackupFilterRequest {
        cluster: cluster(),
        kind: BackupKind::ScheduledBackup,
        tables,
        settings: "{}".into(),
    }
}

fn table(schema: &str, name: &str, engine: &str) -> TableInfo {
    TableInfo {
        schema: schema.into(),
        name: name.into(),
        engine: engine.into(),
        size_bytes: 16384,
    }
}

#[test]
fn missing_manifest_and_render_format() {
    let dir = tempfile::tempdir().unwrap();
    let none = PodHooks::load(
        &dir.path().join("plugins.json"),
        "pod",
        HookName::BackupFilter,
    )
    .expect("a missing manifest is not an error");
    assert!(none.modules().is_empty());
    let ex = none
        .backup_filter(Arc::new(NoExclusions))
        .exclusions(&filter_request(vec![table("app", "t", "InnoDB")]))
        .unwrap();
    assert!(ex.tables.is_empty() && ex.schemas.is_empty());

    // render's manifest as the ConfigMap carries it, module files not mounted: loads,
    // both entries attached (as unavailable), Ignore → the built-in answer.
    let inputs = vec![
        PluginInput {
            name: "first".into(),
            config_map_name: "m1".into(),
            config_map_key: "module.wasm".into(),
            sha256: None,
            hooks: Some(vec!["backup-filter".into()]),
            failure_policy: "Ignore".into(),
            settings: serde_json::json!({"exclude": ["a.*"]}),
        },
        PluginInput {
            name: "second".into(),
            config_map_name: "m2".into(),
            config_map_key: "module.wasm".into(),
            sha256: None,
            hooks: None,
            failure_policy: "Ignore".into(),
            settings: serde_json::Value::Null,
        },
        PluginInput {
            name: "third".into(),
            config_map_name: "m3".into(),
            config_map_key: "module.wasm".into(),
            sha256: None,
            hooks: Some(vec!["failover-candidate".into()]),
            failure_policy: "Fail".into(),
            settings: serde_json::json!({}),
        },
    ];
    let path = dir.path().join("plugins.json");
    std::fs::write(&path, manifest_json(&manifest(&inputs).unwrap())).unwrap();
    let hooks =
        PodHooks::load(&path, "pod", HookName::BackupFilter).expect("render's format loads");
    assert_eq!(
        hooks.modules(),
        ["first", "second"],
        "only the entries serving backup-filter"
    );
    let ex = hooks
        .backup_filter(Arc::new(NoExclusions))
        .exclusions(&filter_request(vec![table("a", "t", "InnoDB")]))
        .expect("Ignore: unavailable modules are skipped");
    assert!(ex.tables.is_empty());

    // A manifest from a newer operator is refused with both versions named.
    std::fs::write(&path, r#"{"version": 2, "plugins": []}"#).unwrap();
    let err = PodHooks::load(&path, "pod", HookName::BackupFilter).unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");
}

#[test]
fn trapping_or_unloadable_module_follows_failure_policy() {
    let dir = tempfile::tempdir().unwrap();
    let adversarial = component("adversarial");
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm not really").unwrap();
    let request = podhooks::init_request(
        cluster(),
        1,
        "pod-mysql-1",
        true,
        DataSource::PeerClone,
        None,
        "SELECT 1;\n".into(),
    );
    for (module, path, settings) in [
        (
            "adversarial",
            adversarial.clone(),
            serde_json::json!({"mode": "trap"}),
        ),
        ("garbage", garbage.clone(), serde_json::json!({})),
    ] {
        for policy in ["Ignore", "Fail"] {
            let sub = dir.path().join(format!("{module}-{policy}"));
            std::fs::create_dir_all(&sub).unwrap();
            let manifest = write_manifest(
                &sub,
                &[Plugin {
                    name: module,
                    path: path.clone(),
                    hooks: Some(vec!["init-script", "backup-filter"]),
                    policy,
                    settings: settings.clone(),
                }],
            );
            let init = PodHooks::load(&manifest, "pod", HookName::InitScript).unwrap();
            let script = init.init_script(Arc::new(DefaultScript)).render(&request);
            let filter = PodHooks::load(&manifest, "pod", HookName::BackupFilter).unwrap();
            let ex = filter
                .backup_filter(Arc::new(NoExclusions))
                .exclusions(&filter_request(vec![table("app", "t", "InnoDB")]));
            println!("{module}/{policy}: init-script {script:?}; backup-filter {ex:?}");
            match policy {
                "Ignore" => {
                    assert_eq!(script.unwrap(), "SELECT 1;\n", "{module}: built-in script");
                    assert!(
                        ex.unwrap().tables.is_empty(),
                        "{module}: built-in exclusions"
                    );
                }
                _ => {
                    let e = script.unwrap_err();
                    assert_eq!(e.module(), module, "{e}");
                    assert!(e.to_string().contains(module), "{e}");
                    let e = ex.unwrap_err();
                    assert_eq!(e.module(), module, "{e}");
                }
            }
        }
    }
}

/// A running agent for `node`; stopped when the sender drops.
async fn start_agent(
    node: &Node,
    filter: Arc<dyn BackupFilter>,
    scratch: &Path,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let a = agent::Agent {
        cluster: cluster(),
        pod_name: format!("pod-mysql-{}", node.index),
        backup_user: USER.into(),
        backup_password: PASSWORD.into(),
        mysql: agent::MysqlAccess {
            host: node.host.to_string(),
            port: node.port,
            socket: None,
            user: "root".into(),
            password: ROOT_PASSWORD.into(),
        },
        tool: BackupTool::Mariabackup,
        defaults_file: Some(node.cnf.clone()),
        scratch_dir: scratch.join(format!("xb-{}", node.index)),
        backup_extra_args: Vec::new(),
        filter,
        heartbeat: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        agent::serve(listener, a, async {
            let _ = rx.await;
        })
        .await
        .expect("agent serves");
    });
    (addr, tx)
}

async fn exec(pool: &mysql_async::Pool, sql: &str) {
    let mut c = pool.get_conn().await.unwrap();
    c.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"));
}

/// GET `path` with Basic auth and `TE: trailers`: status, headers, body, trailers.
async fn xbackup(addr: &str) -> (u16, hyper::HeaderMap, Vec<u8>, Option<hyper::HeaderMap>) {
    use http_body_util::BodyExt;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/xbackup?kind=scheduled-backup")
        .header("host", addr)
        .header("te", "trailers")
        .header(
            "authorization",
            PeerAuth {
                user: USER.into(),
                password: PASSWORD.into(),
            }
            .header(),
        )
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let collected = resp.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned();
    (status, headers, collected.to_bytes().to_vec(), trailers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clone_through_agent_with_modules_then_init_script_on_the_replica() {
    let dir = tempfile::tempdir().unwrap();
    let filter_module = component("backup-filter");
    let status_fix = component("status-table-fix");
    let adversarial = component("adversarial");
    let manifest = write_manifest(
        dir.path(),
        &[
            Plugin {
                name: "skip-logs",
                path: filter_module,
                hooks: None,
                policy: "Fail",
                settings: serde_json::json!({"exclude": ["app.big_*"], "engines": ["MEMORY"]}),
            },
            Plugin {
                name: "status-table-fix",
                path: status_fix,
                hooks: None,
                policy: "Fail",
                settings: serde_json::json!({"tables": ["sys_operator.status"]}),
            },
        ],
    );

    let mut db = MariaDb::start(2);
    let p0 = db.node(0).pool();
    exec(&p0, "CREATE DATABASE IF NOT EXISTS sys_operator").await;
    exec(&p0, "CREATE TABLE sys_operator.status (name VARCHAR(64) PRIMARY KEY, value VARCHAR(255)) ENGINE=InnoDB").await;
    exec(
        &p0,
        "INSERT INTO sys_operator.status VALUES ('configured', '1')",
    )
    .await;
    exec(&p0, "CREATE DATABASE IF NOT EXISTS app").await;
    exec(
        &p0,
        "CREATE TABLE app.kept (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
    )
    .await;
    exec(
        &p0,
        "CREATE TABLE app.big_log (id INT PRIMARY KEY, msg TEXT) ENGINE=InnoDB",
    )
    .await;
    exec(
        &p0,
        "CREATE TABLE app.sessions (id INT PRIMARY KEY, s VARCHAR(64)) ENGINE=MEMORY",
    )
    .await;
    exec(
        &p0,
        "INSERT INTO app.kept SELECT seq, seq FROM app.seq_1_to_1000",
    )
    .await;
    exec(
        &p0,
        "INSERT INTO app.big_log SELECT seq, REPEAT('m', 500) FROM app.seq_1_to_2000",
    )
    .await;
    exec(
        &p0,
        "INSERT INTO app.sessions SELECT seq, 's' FROM app.seq_1_to_10",
    )
    .await;

    // The agent on pod 0 with the manifest's backup-filter chain.
    let start = Instant::now();
    let agent_hooks = PodHooks::load(&manifest, "pod", HookName::BackupFilter).unwrap();
    println!(
        "agent: loaded {:?} in {:?}",
        agent_hooks.modules(),
        start.elapsed()
    );
    assert_eq!(agent_hooks.modules(), ["skip-logs", "status-table-fix"]);
    let (addr, _stop) = start_agent(
        db.node(0),
        agent_hooks.backup_filter(Arc::new(NoExclusions)),
        dir.path(),
    )
    .await;

    // Pod 1's init step: clone from the primary's agent, then the init-script chain.
    let init_hooks = PodHooks::load(&manifest, "pod", HookName::InitScript).unwrap();
    assert_eq!(
        init_hooks.modules(),
        ["status-table-fix"],
        "skip-logs exports no init-script"
    );
    let node = db.node_mut(1);
    node.stop();
    backup::restore::wipe_datadir(&node.datadir).unwrap();
    let sources = InitSources {
        cluster: "pod".into(),
        ordinal: 1,
        datadir: node.datadir.clone(),
        replicas: None,
        primary: Some(addr.clone()),
        init_bucket_url: None,
        s3: None,
        auth: PeerAuth {
            user: USER.into(),
            password: PASSWORD.into(),
        },
        tool: BackupTool::Mariabackup,
        restore_args: Default::default(),
        probe_timeout: Duration::from_secs(2),
    };
    let populated = populate_datadir(&sources)
        .await
        .expect("clone through the agent");
    let record = populated.record.clone().expect("clone record");
    let mut excluded: Vec<String> = record
        .exclusions
        .tables
        .iter()
        .map(|t| format!("{}.{}", t.schema, t.name))
        .collect();
    excluded.sort();
    assert_eq!(
        excluded,
        ["app.big_log", "app.sessions", "sys_operator.status"],
        "patterns, the MEMORY engine and status-table-fix's own half, from the real table list"
    );
    assert_eq!(populated.source(), DataSource::PeerClone);

    let request = podhooks::init_request(
        cluster(),
        1,
        "pod-mysql-1",
        populated.data_dir_was_empty,
        populated.source(),
        None,
        default_script(Flavor::Mariadb, Some(&record), ""),
    );
    let script = init_hooks
        .init_script(Arc::new(DefaultScript))
        .render(&request)
        .expect("init-script chain");
    assert!(
        script.starts_with("-- status-table-fix: pod-mysql-1 is not the primary"),
        "the module's script comes first:\n{script}"
    );
    assert!(
        script.contains("DROP TABLE IF EXISTS `sys_operator`.`status`;"),
        "{script}"
    );
    assert!(
        script.ends_with(&request.default_script),
        "then the default script"
    );
    let init_file = node.datadir.with_extension("init.sql");
    std::fs::write(&init_file, &script).unwrap();
    let mut cnf = std::fs::read_to_string(&node.cnf).unwrap();
    cnf.push_str(&format!("[mariadbd]\ninit-file={}\n", init_file.display()));
    cnf.push_str(&replication_filters(&record.exclusions));
    std::fs::write(&node.cnf, cnf).unwrap();
    node.restart();

    // The server ran the script: the excluded tables exist empty and usable (no orphan
    // dictionary entries), the kept table is complete.
    let p1 = db.node(1).pool();
    let mut c1 = p1.get_conn().await.unwrap();
    for t in ["sys_operator.status", "app.big_log", "app.sessions"] {
        let (s, n) = t.split_once('.').unwrap();
        let rows: Option<i64> = c1
            .query_first(format!("SELECT COUNT(*) FROM `{s}`.`{n}`"))
            .await
            .unwrap_or_else(|e| panic!("{t} unusable on the clone: {e}"));
        assert_eq!(rows, Some(0), "{t} must arrive empty");
    }
    let kept: Option<i64> = c1
        .query_first("SELECT COUNT(*) FROM app.kept")
        .await
        .unwrap();
    assert_eq!(kept, Some(1000));
    drop(c1);

    // Fail vs Ignore on a trapping module at the agent: 500 naming the module with
    // `X-Backup-Status: Failed`; with Ignore the stream is served and succeeds.
    for policy in ["Fail", "Ignore"] {
        let sub = dir.path().join(policy);
        std::fs::create_dir_all(&sub).unwrap();
        let m = write_manifest(
            &sub,
            &[Plugin {
                name: "adversarial",
                path: adversarial.clone(),
                hooks: Some(vec!["backup-filter"]),
                policy,
                settings: serde_json::json!({"mode": "trap"}),
            }],
        );
        let hooks = PodHooks::load(&m, "pod", HookName::BackupFilter).unwrap();
        let (a, _s) = start_agent(
            db.node(0),
            hooks.backup_filter(Arc::new(NoExclusions)),
            &sub,
        )
        .await;
        let (status, headers, body, trailers) = xbackup(&a).await;
        let trailer = trailers
            .as_ref()
            .and_then(|t| t.get("x-backup-status"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        println!(
            "trapping module, failurePolicy {policy}: HTTP {status}, {} body bytes, trailer {trailer:?}",
            body.len()
        );
        if policy == "Fail" {
            assert_eq!(status, 500);
            let text = String::from_utf8_lossy(&body);
            assert!(
                text.contains("adversarial") && text.contains("trapped"),
                "{text}"
            );
            assert_eq!(headers.get("x-backup-status").unwrap(), "Failed");
            assert_eq!(trailer.as_deref(), Some("Failed"));
        } else {
            assert_eq!(status, 200);
            assert_eq!(trailer.as_deref(), Some("Success"));
            assert!(
                body.len() > 1 << 20,
                "a real xbstream: {} bytes",
                body.len()
            );
        }
    }
}

#[test]
fn a_restarted_pods_role_comes_from_the_primarys_agent() {
    use policy::NodeRole;
    let role = |primary: Option<&str>| {
        podhooks::init_request(
            cluster(),
            1,
            "pod-mysql-1",
            false,
            DataSource::Existing,
            primary,
            String::new(),
        )
        .role
    };
    assert_eq!(role(Some("pod-mysql-0")), NodeRole::Replica);
    assert_eq!(role(Some("pod-mysql-1")), NodeRole::Primary);
    assert_eq!(role(None), NodeRole::Unknown);
}
