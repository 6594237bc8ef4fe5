//! The HA loop against the in-memory API server, with the cluster's pods backed by REAL
//! mariadbd servers (tests/testkit): labels and status.nodes converge; the primary pod
//! marked for deletion is switched away from first; kill -9 of the primary promotes a
//! replica, moves the labels, records a Failover Event and metric, and loses no
//! acknowledged write; `readOnly: true` leaves nothing writable. The write load finds the
//! primary the way a client of the `<c>-mysql-master` Service would: by the pod labels.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::MysqlCluster;
use common::*;
use k8s_openapi::api::core::v1::{Pod, Secret};
use mysql_async::prelude::*;
use mysql_operator_controller::ha::{HaConfig, StaticResolver, Supervisor};
use mysql_operator_controller::metrics::{ClusterLabels, Metrics};
use mysql_operator_controller::store::{Kind, MemoryStore, MetadataPatch, Store};
use serde_json::{Value, json};
use testkit::mariadb::{self, MariaDb, Options};

const POD_PREFIX: &str = "mysql-cluster-test-mysql-";

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The seed cluster as a MariaDB cluster of `n` nodes, its operated Secret holding the
/// testkit accounts, and one pod per node (with a finalizer, so a delete only marks it).
fn store_for(db: &MariaDb, read_only: bool) -> (MemoryStore, StaticResolver) {
    let s = store_with(true);
    edit_cluster(&s, |c| mariadb_spec(c, db.len(), read_only));
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "mysql-cluster-test-mysql-operated", "namespace": NS},
        "data": {
            "OPERATOR_USER": b64("root"), "OPERATOR_PASSWORD": b64(mariadb::ROOT_PASSWORD),
            "REPLICATION_USER": b64(mariadb::REPL_USER),
            "REPLICATION_PASSWORD": b64(mariadb::REPL_PASSWORD)}});
    s.seed(&Kind::of::<Secret>(), secret, "mysql-operator")
        .expect("operated secret");
    let mut table = HashMap::new();
    for nd in db.nodes() {
        seed_pod(&s, nd.index);
        table.insert(
            format!("{POD_PREFIX}{}", nd.index),
            (nd.host.to_string(), nd.port),
        );
    }
    (s, StaticResolver(table))
}

fn seed_pod(s: &MemoryStore, i: usize) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{POD_PREFIX}{i}"), "namespace": NS,
            "finalizers": ["test/hold"],
            "labels": render::names::selector_labels(CLUSTER)}});
    s.seed(&Kind::of::<Pod>(), pod, "statefulset-controller")
        .expect("pod");
}

/// The spec fields every test cluster shares: a MariaDB 10.11 cluster of `replicas`.
fn mariadb_spec(c: &mut Value, replicas: usize, read_only: bool) {
    c["spec"]["replicas"] = (replicas as i64).into();
    c["spec"]["mysqlVersion"] = "10.11".into();
    c["spec"]["flavor"] = "mariadb".into();
    c["spec"]["image"] = "mariadb:10.11".into();
    c["spec"]["readOnly"] = read_only.into();
}

/// `@@read_only` of node `i`, asked as root.
async fn read_only_of(db: &MariaDb, i: usize) -> i64 {
    let mut c = mysql_async::Conn::new(db.node(i).opts()).await.unwrap();
    let v = c.query_first("SELECT @@read_only").await.unwrap().unwrap();
    drop(c);
    v
}

/// What the StatefulSet controller does once a deleted pod's containers stopped: the
/// pod goes away (its finalizer is released) and comes back under the same name.
async fn recreate_pod(s: &MemoryStore, pod: &str) {
    s.patch_metadata(
        &key::<Pod>(pod),
        &MetadataPatch {
            finalizers: Some(vec![]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(get::<Pod>(s, pod).is_none());
    seed_pod(s, index_of(pod));
}

fn cluster(s: &MemoryStore) -> MysqlCluster {
    serde_json::from_value(get::<MysqlCluster>(s, CLUSTER).expect("cluster")).expect("typed")
}

fn labels_of(s: &MemoryStore) -> Vec<(String, Option<String>, Option<String>)> {
    let mut v: Vec<_> = s
        .objects_of(&Kind::of::<Pod>())
        .into_iter()
        .map(|p| {
            let l = &p["metadata"]["labels"];
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                l["role"].as_str().map(str::to_string),
                l["healthy"].as_str().map(str::to_string),
            )
        })
        .collect();
    v.sort();
    v
}

/// The pod labelled `role=master` (what the master Service selects), if exactly one.
fn labelled_master(s: &MemoryStore) -> Option<String> {
    let m: Vec<String> = labels_of(s)
        .into_iter()
        .filter(|(_, r, _)| r.as_deref() == Some("master"))
        .map(|(n, _, _)| n)
        .collect();
    (m.len() == 1).then(|| m[0].clone())
}

fn index_of(pod: &str) -> usize {
    pod.trim_start_matches(POD_PREFIX).parse().expect("ordinal")
}

async fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            eprintln!("{what}: after {} ms", t.elapsed().as_millis());
            return v;
        }
        assert!(
            t.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn status(s: &MemoryStore) -> Value {
    get::<MysqlCluster>(s, CLUSTER).expect("cluster")["status"].clone()
}

fn converged(s: &MemoryStore, n: usize) -> Option<String> {
    let master = labelled_master(s)?;
    let all_healthy = labels_of(s)
        .iter()
        .all(|(_, r, h)| r.is_some() && h.as_deref() == Some("yes"));
    let st = status(s);
    let nodes = st["nodes"].as_array()?;
    let masters = nodes
        .iter()
        .filter(|nd| {
            nd["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Master" && c["status"] == "True")
            })
        })
        .count();
    (all_healthy && nodes.len() == n && masters == 1 && st["readyNodes"] == n as i64)
        .then_some(master)
}

fn condition_of(s: &MemoryStore, t: &str) -> Option<Value> {
    condition(s, t)
}

/// Writes ids to the pod labelled master, recording each acknowledged one; on an error it
/// looks the master up again (as a client behind the master Service would).
struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Vec<i64>>,
}

impl Load {
    fn start(s: MemoryStore, addrs: HashMap<String, mysql_async::Opts>, first: i64) -> Load {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let st = stop.clone();
        let task = tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut id = first;
            let mut conn: Option<mysql_async::Conn> = None;
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                if conn.is_none() {
                    let Some(m) = labelled_master(&s) else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    conn = tokio::time::timeout(
                        Duration::from_secs(1),
                        mysql_async::Conn::new(addrs[&m].clone()),
                    )
                    .await
                    .ok()
                    .and_then(Result::ok);
                    if conn.is_none() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                let r = tokio::time::timeout(
                    Duration::from_secs(5),
                    c.exec_drop("INSERT INTO app.t VALUES (?, UTC_TIMESTAMP(6))", (id,)),
                )
                .await;
                match r {
                    Ok(Ok(())) => acked.push(id),
                    _ => {
                        conn = None;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                id += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            acked
        });
        Load { stop, task }
    }

    async fn stop(self) -> Vec<i64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.expect("load task")
    }
}

async fn assert_acked_present(db: &MariaDb, pod: &str, acked: &[i64]) {
    let mut c = mysql_async::Conn::new(db.node(index_of(pod)).opts())
        .await
        .expect("connect to primary");
    let ids: Vec<i64> = c.query("SELECT id FROM app.t").await.expect("ids");
    let have: std::collections::HashSet<i64> = ids.into_iter().collect();
    let missing: Vec<&i64> = acked.iter().filter(|i| !have.contains(i)).collect();
    eprintln!(
        "acknowledged writes: {}, present on {pod}: {}, missing: {}",
        acked.len(),
        acked.len() - missing.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
}

fn counter(m: &Metrics, which: &str) -> u64 {
    let l = ClusterLabels {
        cluster: format!("{NS}/{CLUSTER}"),
    };
    match which {
        "failovers" => m.failovers.get_or_create(&l).get(),
        _ => m.switchovers.get_or_create(&l).get(),
    }
}

fn config() -> HaConfig {
    HaConfig {
        status_interval: Duration::from_millis(300),
        ..HaConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn labels_converge_switchover_before_delete_and_failover_on_kill9() {
    let mut db = MariaDb::start_with(Options {
        nodes: 3,
        read_only: true,
        ..Options::default()
    });
    let (s, resolver) = store_for(&db, false);
    let metrics = Metrics::default();
    let sup = Supervisor::new(s.clone(), None, resolver, metrics.clone(), config());
    sup.sync(&cluster(&s)).await.expect("HA loop starts");
    assert_eq!(sup.clusters(), vec![format!("{NS}/{CLUSTER}")]);
    // An unchanged cluster keeps its loop.
    sup.sync(&cluster(&s)).await.unwrap();

    let first = wait_for(
        "labels and status.nodes converge",
        Duration::from_secs(60),
        || converged(&s, 3),
    )
    .await;
    eprintln!("pods: {:?}", labels_of(&s));
    assert_eq!(condition_of(&s, "Ready").unwrap()["status"], "True");
    assert_eq!(
        condition_of(&s, "FailoverInProgress").unwrap()["status"],
        "False"
    );
    assert_eq!(condition_of(&s, "ReadOnly").unwrap()["status"], "False");
    let st = status(&s);
    assert!(
        st["nodes"][0]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with(".mysql.default")),
        "presslabs' node names: {st}"
    );

    let mut root = mysql_async::Conn::new(db.node(index_of(&first)).opts())
        .await
        .unwrap();
    root.query_drop(
        "CREATE TABLE IF NOT EXISTS app.t (id BIGINT PRIMARY KEY, at DATETIME(6) NOT NULL)",
    )
    .await
    .unwrap();
    drop(root);
    let opts: HashMap<String, mysql_async::Opts> = db
        .nodes()
        .iter()
        .map(|n| (format!("{POD_PREFIX}{}", n.index), n.app_opts()))
        .collect();
    let load = Load::start(s.clone(), opts.clone(), 0);
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // --- The primary pod is being deleted (rolling update, drain): switchover first.
    s.delete(&key::<Pod>(&first)).await.unwrap();
    let t = Instant::now();
    let second = wait_for(
        "switchover away from the deleting primary",
        Duration::from_secs(30),
        || labelled_master(&s).filter(|m| m != &first),
    )
    .await;
    eprintln!(
        "switchover: deleting pod -> master label moved in {} ms",
        t.elapsed().as_millis()
    );
    assert!(s.events().iter().any(|e| e.reason == "SwitchoverStarted"));
    wait_for("Switchover Event", Duration::from_secs(10), || {
        s.events()
            .iter()
            .any(|e| e.reason == "Switchover")
            .then_some(())
    })
    .await;
    for e in s.events() {
        eprintln!("event {} {}: {}", e.type_, e.reason, e.message);
    }
    assert_eq!(counter(&metrics, "switchovers"), 1);
    assert_eq!(
        counter(&metrics, "failovers"),
        0,
        "the first election is no failover"
    );
    assert!(
        get::<Pod>(&s, &first).is_some(),
        "the switchover ran while the old primary's pod still existed"
    );
    assert_eq!(
        read_only_of(&db, index_of(&first)).await,
        1,
        "the old primary was made read-only by the switchover"
    );
    // The StatefulSet controller recreates the pod (the server keeps running as a replica).
    recreate_pod(&s, &first).await;
    wait_for(
        "recreated pod labelled replica",
        Duration::from_secs(30),
        || converged(&s, 3).filter(|m| m == &second),
    )
    .await;

    // --- kill -9 the primary: a replica is promoted, labels move, nothing acked is lost.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    db.node_mut(index_of(&second)).kill();
    wait_for("FailoverStarted Event", Duration::from_secs(30), || {
        s.events()
            .iter()
            .any(|e| e.reason == "FailoverStarted")
            .then_some(())
    })
    .await;
    let third = wait_for(
        "master label on a promoted replica",
        Duration::from_secs(40),
        || labelled_master(&s).filter(|m| m != &second),
    )
    .await;
    eprintln!(
        "failover: kill -9 -> master label moved in {} ms",
        killed_at.elapsed().as_millis()
    );
    let ev = wait_for("Failover Event and metric", Duration::from_secs(10), || {
        (counter(&metrics, "failovers") == 1)
            .then(|| s.events().iter().find(|e| e.reason == "Failover").cloned())
            .flatten()
    })
    .await;
    eprintln!("event: {}", ev.message);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let acked = load.stop().await;
    let after = acked.len();
    assert!(after > 10, "the load made progress: {after} writes");
    assert_acked_present(&db, &third, &acked).await;
    let labels = labels_of(&s);
    let dead = labels
        .iter()
        .find(|(n, _, _)| n == &second)
        .expect("killed pod listed");
    assert_eq!(
        dead.2.as_deref(),
        Some("no"),
        "the killed node is unhealthy"
    );
    assert_eq!(
        condition_of(&s, "FailoverInProgress").unwrap()["status"],
        "False"
    );

    sup.remove(NS, CLUSTER).await;
    assert!(sup.clusters().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_only_cluster_has_nothing_writable_and_is_fed_by_the_reconciler() {
    // Servers start writable; the cluster says readOnly: true.
    let db = MariaDb::start_with(Options {
        nodes: 2,
        read_only: false,
        ..Options::default()
    });
    let (s, resolver) = store_for(&db, true);
    let metrics = Metrics::default();
    let sup = Supervisor::new(s.clone(), None, resolver, metrics.clone(), config());
    // The production path: the cluster reconciler tells the supervisor.
    let mut r = reconciler(&s);
    r.ha = Some(Arc::new(sup.clone()));
    r.reconcile(NS, CLUSTER).await.expect("reconcile");
    assert_eq!(sup.clusters(), vec![format!("{NS}/{CLUSTER}")]);

    wait_for(
        "ReadOnly events for both nodes",
        Duration::from_secs(30),
        || (s.events().iter().filter(|e| e.reason == "ReadOnly").count() == 2).then_some(()),
    )
    .await;
    for nd in db.nodes() {
        let mut c = mysql_async::Conn::new(nd.app_opts()).await.unwrap();
        let err = c
            .query_drop("CREATE TABLE app.x (id INT PRIMARY KEY)")
            .await
            .expect_err("nothing writable under readOnly");
        assert!(
            err.to_string().contains("read-only") || err.to_string().contains("1290"),
            "{err}"
        );
    }
    assert_eq!(condition_of(&s, "ReadOnly").unwrap()["status"], "True");
    wait_for("status.nodes reported", Duration::from_secs(10), || {
        (status(&s)["nodes"].as_array().map(Vec::len) == Some(2)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !s.events()
            .iter()
            .any(|e| e.reason == "PrimaryElected" || e.reason == "Failover"),
        "no promotion under readOnly: {:?}",
        s.events()
    );
    assert_eq!(counter(&metrics, "failovers"), 0);
    let ro = Mutex::new(Vec::new());
    for nd in db.nodes() {
        let mut c = mysql_async::Conn::new(nd.opts()).await.unwrap();
        let v: i64 = c.query_first("SELECT @@read_only").await.unwrap().unwrap();
        ro.lock().unwrap().push(v);
    }
    assert_eq!(*ro.lock().unwrap(), vec![1, 1]);

    // Deleting the cluster stops its loop.
    s.delete(&key::<MysqlCluster>(CLUSTER)).await.unwrap();
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert!(sup.clusters().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_down_that_removes_the_primary_switches_over_first() {
    let db = MariaDb::start_with(Options {
        nodes: 3,
        read_only: true,
        ..Options::default()
    });
    let (s, resolver) = store_for(&db, false);
    let sup = Supervisor::new(s.clone(), None, resolver, Metrics::default(), config());
    let mut r = reconciler(&s);
    r.ha = Some(Arc::new(sup.clone()));
    r.reconcile(NS, CLUSTER).await.expect("reconcile");
    let mut primary = wait_for("labels converge", Duration::from_secs(60), || {
        converged(&s, 3)
    })
    .await;
    if index_of(&primary) == 0 {
        // Move the primary off pod 0 the way a user would: delete its pod.
        s.delete(&key::<Pod>(&primary)).await.unwrap();
        let old = primary.clone();
        primary = wait_for("switchover away", Duration::from_secs(30), || {
            labelled_master(&s).filter(|m| m != &old)
        })
        .await;
        recreate_pod(&s, &old).await;
        let want = primary.clone();
        wait_for("pod 0 back as a replica", Duration::from_secs(30), || {
            converged(&s, 3).filter(|m| m == &want)
        })
        .await;
    }
    let keep = index_of(&primary);
    assert!(keep >= 1);
    eprintln!("primary {primary}: scaling 3 -> {keep}");
    edit_cluster(&s, |c| mariadb_spec(c, keep, false));
    let before = s.events().len();
    r.reconcile(NS, CLUSTER)
        .await
        .expect("reconcile the scale-down");
    let ev = s
        .events()
        .into_iter()
        .find(|e| e.reason == "SwitchoverBeforeScaleDown")
        .expect("a SwitchoverBeforeScaleDown Event");
    eprintln!("event: {}", ev.message);
    let sts = get::<k8s_openapi::api::apps::v1::StatefulSet>(&s, "mysql-cluster-test-mysql")
        .expect("statefulset");
    assert_eq!(
        sts["spec"]["replicas"], keep as i64,
        "the scale-down went ahead"
    );
    assert_eq!(
        read_only_of(&db, index_of(&primary)).await,
        1,
        "the removed primary was made read-only before the scale-down"
    );
    assert_eq!(
        read_only_of(&db, 0).await,
        0,
        "pod 0 is the writable primary"
    );
    // The loop restarts with the smaller node list and keeps pod 0.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<_> = s.events().into_iter().skip(before).collect();
    assert!(
        !after.iter().any(|e| e.reason == "FailoverStarted"),
        "no failover: {after:?}"
    );
    // (The removed pods stay in this store: no StatefulSet controller deletes them.)
    wait_for("pod 0 labelled master", Duration::from_secs(10), || {
        labels_of(&s)
            .into_iter()
            .any(|(n, r, _)| n == format!("{POD_PREFIX}0") && r.as_deref() == Some("master"))
            .then_some(())
    })
    .await;
    sup.remove(NS, CLUSTER).await;
}
