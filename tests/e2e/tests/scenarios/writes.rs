//! Scenario 3: A client writes numbered rows through `<cluster>-mysql-master` while (a) the primary
//! pod is deleted (switchover) and (b) the primary's mariadbd is killed with SIGKILL
//! (failover). Every acknowledged row must be on the new primary; the write gaps and the
//! time until the `role=master` label moved are the figures.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use kube::api::{DeleteParams, LogParams};
use mysql_operator_e2e::Ctx;
use mysql_operator_e2e::cluster::{master_service, wait_healthy, wait_new_master};
use mysql_operator_e2e::figures::{ms, secs};
use mysql_operator_e2e::wait::{Check, wait_until};
use mysql_operator_e2e::writer::{self, WriterLog};

use super::{State, now_ms, start_pod};

const WRITER: &str = "e2e-writer";

/// Kills every mariadbd visible from the container (the pod shares one process namespace).
pub const KILL_MARIADBD: &str = r#"n=0; for p in /proc/[0-9]*; do c=$(cat $p/comm 2>/dev/null); if [ "$c" = mariadbd ] || [ "$c" = mysqld ]; then kill -9 ${p#/proc/} && n=$((n+1)); fi; done; echo "killed $n""#;

async fn writer_log(ctx: &Ctx) -> Result<WriterLog> {
    let lp = LogParams {
        container: Some("writer".into()),
        ..LogParams::default()
    };
    let text = ctx
        .pods()
        .logs(WRITER, &lp)
        .await
        .context("reading the writer's log")?;
    Ok(writer::parse(&text))
}

/// Waits until the writer got an acknowledgement after `after_ms`.
async fn wait_acked_after(ctx: &Ctx, after_ms: i64, what: &str) -> Result<()> {
    wait_until(
        what,
        ctx.s.timeout(180),
        Duration::from_millis(500),
        || async {
            let w = writer_log(ctx).await?;
            Ok(match w.acks.iter().find(|(_, t)| *t > after_ms) {
                Some(_) => Check::Done(()),
                None => Check::Pending(format!(
                    "{} acks so far, last failure: {}",
                    w.acks.len(),
                    w.fails
                        .last()
                        .map(|f| f.2.clone())
                        .unwrap_or_else(|| "none".into())
                )),
            })
        },
    )
    .await
}

pub async fn run(ctx: &Ctx, st: &mut State) -> Result<()> {
    let result = faults_under_writes(ctx, st).await;
    if result.is_err() {
        // Show what the client saw, and stop it: later scenarios compare row counts.
        if let Ok(text) = ctx
            .pods()
            .logs(
                WRITER,
                &LogParams {
                    container: Some("writer".into()),
                    tail_lines: Some(30),
                    ..LogParams::default()
                },
            )
            .await
        {
            println!("--- last lines of the writer's log:");
            for line in text.lines() {
                println!("    {line}");
            }
        }
        let _ = ctx
            .exec(
                WRITER,
                "writer",
                &["touch".into(), "/tmp/stop".into()],
                Duration::from_secs(30),
            )
            .await;
    }
    result
}

async fn faults_under_writes(ctx: &Ctx, st: &mut State) -> Result<()> {
    let cluster = st.cluster_name();
    let p0 = wait_healthy(ctx, &cluster, 3, ctx.s.timeout(600)).await?;
    let host = format!("{}.{}", master_service(&cluster), ctx.s.namespace);
    let pod = writer::pod(
        WRITER,
        &host,
        &ctx.s.tools_image,
        &ctx.s.pull_policy,
        &ctx.s.writer_pause,
    );
    start_pod(ctx, &pod, ctx.s.timeout(180)).await?;
    println!(
        "  writer pod {WRITER} inserts through {host}:3306 as {}",
        writer::USER
    );
    wait_until(
        "the writer's first 50 acknowledged INSERTs",
        ctx.s.timeout(180),
        Duration::from_secs(1),
        || async {
            let w = writer_log(ctx).await?;
            Ok(if w.acks.len() >= 50 {
                Check::Done(())
            } else {
                Check::Pending(format!(
                    "{} acks, {} failures (last: {})",
                    w.acks.len(),
                    w.fails.len(),
                    w.fails.last().map(|f| f.2.clone()).unwrap_or_default()
                ))
            })
        },
    )
    .await?;

    // (a) switchover: delete the primary's pod.
    println!("  (a) switchover: deleting the primary's pod {p0}");
    let fault_a = now_ms();
    let t = Instant::now();
    ctx.pods().delete(&p0, &DeleteParams::default()).await?;
    let (p1, label_a) = wait_new_master(ctx, &cluster, &p0, t, ctx.s.timeout(180)).await?;
    println!("  role=master moved {p0} -> {p1}");
    ctx.figures.add(
        3,
        "switchover: pod delete -> role=master on the new primary",
        secs(label_a),
    );
    let moved_a = fault_a + label_a.as_millis() as i64;
    wait_acked_after(ctx, moved_a, "an acknowledged write after the switchover").await?;
    ctx.figures.add(
        3,
        "switchover: pod delete -> first acknowledged write after the label moved",
        ms(first_ack_after(ctx, moved_a).await? - fault_a),
    );
    let back = wait_healthy(ctx, &cluster, 3, ctx.s.timeout(600)).await?;
    ensure!(
        back == p1,
        "after the switchover the primary is {back}, the label had moved to {p1}"
    );
    println!("  {p0} is back as a replica; 3 pods healthy");
    tokio::time::sleep(Duration::from_secs(5)).await;

    // (b) failover: SIGKILL the primary's mariadbd.
    println!("  (b) failover: kill -9 of mariadbd in {p1}");
    let fault_b = now_ms();
    let t = Instant::now();
    let out = ctx
        .sh(&p1, "mysql", KILL_MARIADBD, Duration::from_secs(30))
        .await?;
    let killed = out.stdout.trim().to_string();
    if !out.success() || killed == "killed 0" || killed.is_empty() {
        bail!(
            "no mariadbd process killed from the mysql container of {p1} ({killed:?}, stderr {:?}): \
             the pods need `shareProcessNamespace: true` and a mysql container running mariadbd",
            out.stderr.trim()
        );
    }
    let (p2, label_b) = wait_new_master(ctx, &cluster, &p1, t, ctx.s.timeout(180)).await?;
    println!("  {killed}; role=master moved {p1} -> {p2}");
    ctx.figures.add(
        3,
        "failover: kill -9 mariadbd -> role=master on the new primary",
        secs(label_b),
    );
    let moved_b = fault_b + label_b.as_millis() as i64;
    wait_acked_after(ctx, moved_b, "an acknowledged write after the failover").await?;
    ctx.figures.add(
        3,
        "failover: kill -9 -> first acknowledged write after the label moved",
        ms(first_ack_after(ctx, moved_b).await? - fault_b),
    );
    let primary = wait_healthy(ctx, &cluster, 3, ctx.s.timeout(900)).await?;
    ensure!(
        primary == p2,
        "after the failover the primary is {primary}, the label had moved to {p2}"
    );
    println!("  {p1} is back as a replica; 3 pods healthy");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Stop the writer and compare what it was told with what the primary has.
    ctx.exec(
        WRITER,
        "writer",
        &["touch".into(), "/tmp/stop".into()],
        Duration::from_secs(30),
    )
    .await?
    .ok("stopping the writer")?;
    let w = wait_until(
        "the writer to stop",
        ctx.s.timeout(60),
        Duration::from_millis(500),
        || async {
            let w = writer_log(ctx).await?;
            Ok(if w.stopped.is_some() {
                Check::Done(w)
            } else {
                Check::Pending(format!("{} acks", w.acks.len()))
            })
        },
    )
    .await?;
    let rows = ctx
        .sql(
            &primary,
            &format!("SELECT n FROM {}.{}", writer::DB, writer::TABLE),
        )
        .await?;
    let present: BTreeSet<u64> = rows.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let missing = writer::missing(&w.acks, &present);
    ctx.figures
        .add(3, "writes acknowledged", w.acks.len().to_string());
    ctx.figures.add(
        3,
        "writes failed (not acknowledged, retried as the next n)",
        w.fails.len().to_string(),
    );
    ctx.figures
        .add(3, "acknowledged writes lost", missing.len().to_string());
    if let Some(g) = writer::gap_after(&w.acks, fault_a, 30_000) {
        ctx.figures.add(
            3,
            "switchover: longest write gap within 30 s of the pod delete",
            ms(g),
        );
    }
    if let Some(g) = writer::gap_after(&w.acks, fault_b, 30_000) {
        ctx.figures.add(
            3,
            "failover: longest write gap within 30 s of the kill",
            ms(g),
        );
    }
    if let Some((g, _)) = writer::longest_gap(&w.acks) {
        ctx.figures
            .add(3, "longest gap between two acknowledged writes", ms(g));
    }
    let mut errors: Vec<&str> = w.fails.iter().map(|f| f.2.as_str()).collect();
    errors.sort_unstable();
    errors.dedup();
    for e in errors.iter().take(8) {
        println!("  writer error seen: {e}");
    }
    ensure!(
        missing.is_empty(),
        "{} acknowledged writes are not on the primary {primary} (rows present: {}); first missing n: {:?}",
        missing.len(),
        present.len(),
        &missing[..missing.len().min(20)]
    );
    println!(
        "  all {} acknowledged rows are on the primary {primary} ({} rows in the table)",
        w.acks.len(),
        present.len()
    );
    ctx.pods()
        .delete(WRITER, &DeleteParams::default().grace_period(0))
        .await?;
    Ok(())
}

async fn first_ack_after(ctx: &Ctx, after_ms: i64) -> Result<i64> {
    let w = writer_log(ctx).await?;
    w.acks
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| *t > after_ms)
        .min()
        .context("no acknowledged write after the fault")
}
