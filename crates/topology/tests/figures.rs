//! Measured figures (printed, with only generous upper bounds asserted): failover time
//! (kill -9 of the primary → first successful write on the new primary, as a client sees
//! it) and switchover write-unavailability, over repeated runs, as p50/p95.

mod common;

use common::*;
use mysql_operator_topology::Event;
use policy::BuiltinFailover;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_and_switchover_figures() {
    let mut c = start("figures", 3, Arc::new(BuiltinFailover)).await;
    let mut failovers = Vec::new();
    let mut id = 1_000_000u64;
    for run in 0..RUNS {
        let old = c.primary().await;
        let killed_at = Instant::now();
        c.db.node_mut(c.index(&old)).kill();
        // a client probing every 20 ms for a node that takes the write
        let took = loop {
            id += 1;
            let mut ok = false;
            for a in c.addrs.iter().filter(|a| a.name != old) {
                if c.app_write(&a.name, id).await.is_ok() {
                    ok = true;
                    break;
                }
            }
            if ok {
                break killed_at.elapsed();
            }
            assert!(
                killed_at.elapsed() < Duration::from_secs(60),
                "run {run}: no write accepted within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        failovers.push(took);
        eprintln!("failover run {run}: {took:?}");
        c.db.node_mut(c.index(&old)).restart();
        let ev = c
            .wait_event(Duration::from_secs(30), "rejoin", |e| match e {
                Event::Repointed { node, .. } | Event::ErrantReplica { node, .. } => node == &old,
                _ => false,
            })
            .await;
        if matches!(ev, Event::ErrantReplica { .. }) {
            eprintln!(
                "run {run}: old primary kept an unacknowledged commit (errant); stopping failover runs"
            );
            break;
        }
        c.wait_replicating(Duration::from_secs(30)).await;
    }

    let mut switchovers = Vec::new();
    let mut client_gaps = Vec::new();
    for run in 0..RUNS {
        let load = Load::start(&c, 2_000_000 + run as u64 * 100_000);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let events = c.engine.switchover(None).await.expect("switchover");
        let Some(Event::SwitchoverDone { unavailable, .. }) = events.first().cloned() else {
            panic!("no SwitchoverDone in {events:?}")
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let acked = load.stop().await;
        let gap = acked
            .windows(2)
            .map(|w| w[1].1 - w[0].1)
            .max()
            .unwrap_or_default();
        eprintln!("switchover run {run}: engine {unavailable:?}, client max gap {gap:?}");
        switchovers.push(unavailable);
        client_gaps.push(gap);
        c.wait_replicating(Duration::from_secs(30)).await;
    }

    let (fp50, fp95) = (pct(&mut failovers, 0.5), pct(&mut failovers, 0.95));
    let (sp50, sp95) = (pct(&mut switchovers, 0.5), pct(&mut switchovers, 0.95));
    let (gp50, gp95) = (pct(&mut client_gaps, 0.5), pct(&mut client_gaps, 0.95));
    println!(
        "FIGURES failover kill-9 -> first write: p50 {fp50:?} p95 {fp95:?} over {} runs",
        failovers.len()
    );
    println!(
        "FIGURES switchover write-unavailability (engine): p50 {sp50:?} p95 {sp95:?} over {RUNS} runs"
    );
    println!(
        "FIGURES switchover longest client write gap: p50 {gp50:?} p95 {gp95:?} over {RUNS} runs"
    );
    assert!(
        fp50 < Duration::from_secs(30),
        "failover p50 {fp50:?} is far beyond any target"
    );
    assert!(
        sp50 < Duration::from_secs(15),
        "switchover p50 {sp50:?} is far beyond any target"
    );
}
