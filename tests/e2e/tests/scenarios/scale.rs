//! Scenario 5: Scale 3 -> 2 -> 3: the removed ordinal's PVC is deleted and the new pod is a fresh
//! clone from a peer, Ready and replicating with equal row counts. Then a replica whose
//! PVC is deleted (PVC + pod) re-clones with equal row counts.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, DeleteParams};
use mysql_operator_e2e::Ctx;
use mysql_operator_e2e::cluster::{
    cluster_pods, pvc_name, replica_state, wait_healthy, wait_replicas_caught_up,
};
use mysql_operator_e2e::figures::secs;
use mysql_operator_e2e::wait::{Check, label, name, pod_summary, wait_until};
use mysql_operator_e2e::writer;

use super::{State, patch_cluster};

/// Row counts of the writer's table on every pod, after the replicas caught up; fails
/// unless they are equal. Returns the count.
pub async fn equal_row_counts(ctx: &Ctx, cluster: &str) -> Result<u64> {
    let pods = cluster_pods(ctx, cluster).await?;
    let primary = pods
        .iter()
        .find(|p| label(p, "role") == Some("master"))
        .map(|p| name(p).to_string())
        .ok_or_else(|| anyhow::anyhow!("no role=master pod"))?;
    let replicas: Vec<String> = pods
        .iter()
        .map(|p| name(p).to_string())
        .filter(|p| *p != primary)
        .collect();
    wait_replicas_caught_up(ctx, &primary, &replicas, ctx.s.timeout(120)).await?;
    let q = format!("SELECT COUNT(*) FROM {}.{}", writer::DB, writer::TABLE);
    let mut counts = Vec::new();
    for p in pods.iter().map(name) {
        let n: u64 = ctx.sql_value(p, &q).await?.parse()?;
        counts.push((p.to_string(), n));
    }
    let want = counts
        .iter()
        .find(|(p, _)| *p == primary)
        .map(|(_, n)| *n)
        .unwrap_or(0);
    ensure!(
        counts.iter().all(|(_, n)| *n == want),
        "row counts differ: {counts:?}"
    );
    println!("  row counts equal on every pod: {counts:?}");
    Ok(want)
}

pub async fn run(ctx: &Ctx, st: &mut State) -> Result<()> {
    let cluster = st.cluster_name();
    wait_healthy(ctx, &cluster, 3, ctx.s.timeout(600)).await?;
    let pvcs: Api<PersistentVolumeClaim> = ctx.api();

    // 3 -> 2
    let t = Instant::now();
    patch_cluster(ctx, &cluster, serde_json::json!({"replicas": 2})).await?;
    wait_healthy(ctx, &cluster, 2, ctx.s.timeout(600)).await?;
    ctx.figures
        .add(5, "scale 3 -> 2: two healthy pods", secs(t.elapsed()));
    let removed = pvc_name(&cluster, 2);
    wait_until(
        &format!("PVC {removed} deleted (cleanupPVCs)"),
        ctx.s.timeout(300),
        Duration::from_secs(2),
        || async {
            Ok(match pvcs.get_opt(&removed).await? {
                None => Check::Done(()),
                Some(p) => Check::Pending(format!(
                    "{removed} phase {:?}, deleting: {}",
                    p.status.and_then(|s| s.phase),
                    p.metadata.deletion_timestamp.is_some()
                )),
            })
        },
    )
    .await?;

    // 2 -> 3: ordinal 2 starts empty and clones from a peer.
    let t = Instant::now();
    patch_cluster(ctx, &cluster, serde_json::json!({"replicas": 3})).await?;
    let primary = wait_healthy(ctx, &cluster, 3, ctx.s.timeout(900)).await?;
    ctx.figures.add(
        5,
        "scale 2 -> 3: fresh pod cloned, Ready and healthy",
        secs(t.elapsed()),
    );
    let fresh = format!("{cluster}-mysql-2");
    ensure!(fresh != primary, "the fresh pod {fresh} became the primary");
    let s = replica_state(ctx, &fresh).await?;
    ensure!(
        s.problem(&primary).is_none(),
        "{}",
        s.problem(&primary).unwrap_or_default()
    );
    let rows = equal_row_counts(ctx, &cluster).await?;
    ctx.figures.add(
        5,
        "rows after the fresh clone (equal on 3 pods)",
        rows.to_string(),
    );

    // A replica loses its PVC.
    let victim = cluster_pods(ctx, &cluster)
        .await?
        .iter()
        .filter(|p| label(p, "role") == Some("replica"))
        .map(|p| name(p).to_string())
        .max()
        .ok_or_else(|| anyhow::anyhow!("no replica"))?;
    let claim = pvc_name(&cluster, victim.rsplit('-').next().unwrap_or("0").parse()?);
    let old_pvc_uid = pvcs.get(&claim).await?.metadata.uid;
    let old_pod_uid = ctx.pods().get(&victim).await?.metadata.uid;
    println!("  deleting PVC {claim} and pod {victim}");
    let t = Instant::now();
    pvcs.delete(&claim, &DeleteParams::default()).await?;
    ctx.pods().delete(&victim, &DeleteParams::default()).await?;
    // The StatefulSet recreates the pod and, once the old claim is gone, a new claim.
    // A pod recreated while the old claim was still terminating can stay Pending on it:
    // delete that pod once more.
    let stuck_since: Mutex<Option<Instant>> = Mutex::new(None);
    let redeleted = AtomicBool::new(false);
    wait_until(
        &format!("pod {victim} recreated on a new PVC {claim}"),
        ctx.s.timeout(600),
        Duration::from_secs(2),
        || async {
            let pod = ctx.pods().get_opt(&victim).await?;
            let pvc = pvcs.get_opt(&claim).await?;
            let new_pod = pod.as_ref().is_some_and(|p| p.metadata.uid != old_pod_uid);
            let new_pvc = pvc.as_ref().is_some_and(|p| p.metadata.uid != old_pvc_uid);
            if new_pod && new_pvc {
                return Ok(Check::Done(()));
            }
            let pending = pod
                .as_ref()
                .is_some_and(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"));
            if new_pod && pending && !new_pvc {
                let since = *stuck_since.lock().expect("lock").get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(60) && !redeleted.swap(true, Ordering::SeqCst) {
                    println!("  pod {victim} is Pending on the deleted claim for 60 s: deleting it once more");
                    ctx.pods().delete(&victim, &DeleteParams::default()).await?;
                }
            }
            Ok(Check::Pending(format!(
                "pod: {}; pvc: {}",
                pod.as_ref().map(pod_summary).unwrap_or_else(|| "none".into()),
                match &pvc {
                    None => "none".into(),
                    Some(p) if p.metadata.uid == old_pvc_uid => "old one, terminating".to_string(),
                    Some(p) => format!("new, {:?}", p.status.as_ref().and_then(|s| s.phase.clone())),
                }
            )))
        },
    )
    .await?;
    let primary = wait_healthy(ctx, &cluster, 3, ctx.s.timeout(900)).await?;
    ctx.figures.add(
        5,
        "PVC + pod deleted -> re-cloned, Ready and healthy",
        secs(t.elapsed()),
    );
    let s = replica_state(ctx, &victim).await?;
    ensure!(
        s.problem(&primary).is_none(),
        "{}",
        s.problem(&primary).unwrap_or_default()
    );
    let after = equal_row_counts(ctx, &cluster).await?;
    ensure!(
        after == rows,
        "rows {after} after the re-clone, {rows} before"
    );
    Ok(())
}
