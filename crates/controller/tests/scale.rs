//! Scale: 200 clusters reconciled through the in-memory store with bounded concurrency,
//! printing the time and the process's peak RSS (target: operator under 64 MiB).

mod common;

use std::time::Instant;

use api::MysqlCluster;
use common::*;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use mysql_operator_controller::store::{Kind, ObjectKey};

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clusters() {
    const N: usize = 200;
    let s = mysql_operator_controller::MemoryStore::new();
    for i in 0..N {
        let ns = format!("ns-{i}");
        let mut c = doc("MysqlCluster");
        c["metadata"]["namespace"] = ns.clone().into();
        s.seed(&Kind::of::<MysqlCluster>(), c, "kubectl").unwrap();
        let mut sec = doc("Secret");
        sec["metadata"]["namespace"] = ns.into();
        s.seed(&Kind::of::<Secret>(), sec, "kubectl").unwrap();
    }
    let rss_before = peak_rss_kib();
    let r = reconciler(&s);
    let t = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..N)
        .map(|i| {
            let r = &r;
            async move { r.reconcile(&format!("ns-{i}"), CLUSTER).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let first = t.elapsed();
    assert!(
        results.iter().all(Result::is_ok),
        "every reconcile succeeds"
    );
    s.clear_writes();
    let t2 = Instant::now();
    for i in 0..N {
        r.reconcile(&format!("ns-{i}"), CLUSTER).await.unwrap();
    }
    let steady = t2.elapsed();
    assert!(s.writes().is_empty(), "steady state writes nothing");
    for i in 0..N {
        let k = ObjectKey::of::<StatefulSet>(&format!("ns-{i}"), "mysql-cluster-test-mysql");
        assert!(s.object(&k).is_some(), "cluster {i} has its StatefulSet");
    }
    let peak = peak_rss_kib();
    println!(
        "scale: {N} clusters, first reconcile {:?} ({:?}/cluster), steady-state pass {:?}, {} objects stored, \
         peak RSS {} MiB (before reconciling {} MiB; includes the in-memory API server and the test harness)",
        first,
        first / N as u32,
        steady,
        s.len(),
        peak / 1024,
        rss_before / 1024
    );
    assert!(
        first.as_secs() < 120,
        "generous bound: 200 clusters in under 2 minutes"
    );
    assert!(peak < 1024 * 1024, "generous bound: under 1 GiB peak RSS");
}
