//! HA scenarios on real MariaDB (3 nodes each, own 127.x addresses): kill -9 under load,
//! network partition, errant replica, vetoing policy, planned switchover under load.
//! Scenarios run in parallel (one tokio runtime each).

mod common;

use common::*;
use mysql_async::prelude::*;
use mysql_operator_topology::Event;
use policy::{BuiltinFailover, Decision, FailoverCandidate, FailoverRequest, HookError};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_primary_under_load_loses_no_acknowledged_write() {
    let mut c = start("kill9", 3, Arc::new(BuiltinFailover)).await;
    let old = c.primary().await;
    let load = Load::start(&c, 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed_at = Instant::now();
    c.db.node_mut(c.index(&old)).kill();
    let ev = c
        .wait_event(Duration::from_secs(30), "Promoted", |e| {
            matches!(e, Event::Promoted { .. })
        })
        .await;
    let Event::Promoted { new_primary, .. } = ev else {
        unreachable!()
    };
    assert_ne!(new_primary, old);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let acked = load.stop().await;
    let first_after = acked
        .iter()
        .find(|(_, t)| *t > killed_at)
        .map(|(_, t)| *t - killed_at);
    eprintln!("failover: kill -9 -> first acknowledged write on the new primary: {first_after:?}");
    assert!(
        first_after.is_some(),
        "no write succeeded after the failover"
    );
    assert!(first_after.unwrap() < Duration::from_secs(30));
    c.app_write(&new_primary, 10_000_000)
        .await
        .expect("new primary accepts writes");
    assert_all_acked_present(&c, &new_primary, &acked).await;

    // rejoin: the old primary comes back (read-only, as configured) and is either
    // repointed (no errant GTIDs) or reported (a commit that was never acknowledged).
    c.db.node_mut(c.index(&old)).restart();
    let ev = c
        .wait_event(Duration::from_secs(20), "rejoin", |e| match e {
            Event::Repointed { node, .. } | Event::ErrantReplica { node, .. } => node == &old,
            _ => false,
        })
        .await;
    eprintln!("old primary on return: {ev}");
    assert!(
        c.app_write(&old, 10_000_001).await.is_err(),
        "old primary must not accept writes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitioned_primary_is_fenced_and_refuses_writes_after_healing() {
    let mut c = start("partition", 3, Arc::new(BuiltinFailover)).await;
    let old = c.primary().await;
    let load = Load::start(&c, 0);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let part = c.db.partition(c.index(&old));
    let ev = c
        .wait_event(Duration::from_secs(40), "Promoted", |e| {
            matches!(e, Event::Promoted { .. })
        })
        .await;
    let Event::Promoted { new_primary, .. } = ev else {
        unreachable!()
    };
    assert_ne!(new_primary, old);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let acked = load.stop().await;
    part.heal();
    // after healing, the engine sees the old primary writable and fences it
    c.wait_event(Duration::from_secs(20), "old primary fenced", |e| match e {
        Event::SplitBrainFenced { node } | Event::Fenced { node, .. } => node == &old,
        _ => false,
    })
    .await;
    let err = c
        .app_write(&old, 20_000_000)
        .await
        .expect_err("old primary must refuse writes after healing");
    assert!(
        err.contains("read-only") || err.contains("read_only") || err.contains("1290"),
        "{err}"
    );
    c.app_write(&new_primary, 20_000_001)
        .await
        .expect("new primary accepts writes");
    assert_all_acked_present(&c, &new_primary, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errant_replica_is_never_promoted() {
    let mut c = start("errant", 3, Arc::new(BuiltinFailover)).await;
    let old = c.primary().await;
    let replicas: Vec<String> = c
        .addrs
        .iter()
        .map(|a| a.name.clone())
        .filter(|n| n != &old)
        .collect();
    // give the errant replica the most recent data too, so only errant detection saves us
    c.app_write(&old, 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let errant = replicas[0].clone();
    let mut root = c.root(&errant).await;
    // root holds READ ONLY ADMIN: this write goes through read_only, as a careless admin's would
    root.query_drop("INSERT INTO app.t VALUES (999, UTC_TIMESTAMP(6))")
        .await
        .unwrap();
    c.wait_event(
        Duration::from_secs(10),
        "ErrantReplica",
        |e| matches!(e, Event::ErrantReplica { node, .. } if node == &errant),
    )
    .await;
    c.db.node_mut(c.index(&old)).kill();
    let ev = c
        .wait_event(Duration::from_secs(30), "Promoted", |e| {
            matches!(e, Event::Promoted { .. })
        })
        .await;
    let Event::Promoted { new_primary, .. } = ev else {
        unreachable!()
    };
    assert_eq!(
        new_primary, replicas[1],
        "the errant replica {errant} must not be promoted"
    );
    let mem = c.engine.memory().await.unwrap();
    assert!(
        mem.errant.contains_key(&errant),
        "errant replica remembered: {mem:?}"
    );
}

/// A policy that refuses every failover (stands in for a Wasm module's veto).
struct Maintenance;
impl FailoverCandidate for Maintenance {
    fn choose(&self, _r: &FailoverRequest) -> Result<Decision, HookError> {
        Ok(Decision::Veto(
            "maintenance window: failover frozen by policy".into(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vetoing_policy_blocks_promotion_and_reports_why() {
    let mut c = start("veto", 3, Arc::new(Maintenance)).await;
    let old = c.primary().await;
    c.db.node_mut(c.index(&old)).kill();
    let ev = c
        .wait_event(Duration::from_secs(30), "FailoverBlocked", |e| {
            matches!(e, Event::FailoverBlocked { .. })
        })
        .await;
    assert!(ev.to_string().contains("maintenance window"), "{ev}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mem = c.engine.memory().await.unwrap();
    assert_eq!(
        mem.primary.as_deref(),
        Some(old.as_str()),
        "no promotion happened"
    );
    assert!(
        mem.blocked
            .as_deref()
            .unwrap_or_default()
            .contains("maintenance window"),
        "{mem:?}"
    );
    for a in c.addrs.iter().filter(|a| a.name != old) {
        assert!(
            c.app_write(&a.name, 5).await.is_err(),
            "{} must stay read-only",
            a.name
        );
    }
    // the primary returns: it takes writes again and the replicas follow it
    c.db.node_mut(c.index(&old)).restart();
    c.wait_replicating(Duration::from_secs(30)).await;
    c.app_write(&old, 6)
        .await
        .expect("returned primary accepts writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn switchover_under_load_loses_no_acknowledged_write() {
    let c = start("switchover", 3, Arc::new(BuiltinFailover)).await;
    let old = c.primary().await;
    let load = Load::start(&c, 0);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let events = c.engine.switchover(None).await.expect("switchover");
    let Some(Event::SwitchoverDone {
        new_primary,
        unavailable,
        ..
    }) = events.first().cloned()
    else {
        panic!("no SwitchoverDone in {events:?}")
    };
    eprintln!("switchover {old} -> {new_primary}: writes unavailable {unavailable:?}");
    assert_ne!(new_primary, old);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let acked = load.stop().await;
    assert_all_acked_present(&c, &new_primary, &acked).await;
    c.wait_replicating(Duration::from_secs(20)).await;
    assert!(
        c.app_write(&old, 30_000_000).await.is_err(),
        "old primary is a read-only replica now"
    );
}
