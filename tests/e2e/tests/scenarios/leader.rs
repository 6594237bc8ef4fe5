//! Scenario 8: The operator with two replicas and leader election: the Lease holder's pod is
//! deleted, the other pod takes the Lease, and a cluster change is still reconciled.

use std::time::{Duration, Instant};

use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams};
use mysql_operator_e2e::Ctx;
use mysql_operator_e2e::cluster::wait_healthy;
use mysql_operator_e2e::figures::secs;
use mysql_operator_e2e::wait::{Check, name, wait_until};

use super::{State, patch_cluster, wait_deployment};

async fn holder(leases: &Api<Lease>, lease: &str) -> Result<Option<String>> {
    Ok(leases
        .get_opt(lease)
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty()))
}

pub async fn run(ctx: &Ctx, st: &mut State) -> Result<()> {
    let cluster = st.cluster_name();
    wait_healthy(ctx, &cluster, 3, ctx.s.timeout(600)).await?;
    let s = &ctx.s;
    let chart = s.repo_root.join("charts/mysql-operator");
    let args: Vec<String> = vec![
        "upgrade".into(),
        s.release.clone(),
        chart.display().to_string(),
        "-n".into(),
        s.operator_namespace.clone(),
        "--reuse-values".into(),
        "--set".into(),
        "replicas=2".into(),
        "--timeout".into(),
        "5m".into(),
    ];
    println!("  helm {}", args.join(" "));
    ctx.helm(&args, Duration::from_secs(360))
        .await?
        .ok("helm upgrade --set replicas=2")?;
    let name_ = s.operator_fullname();
    let deployments: Api<Deployment> = ctx.op_api();
    let pods: Api<Pod> = ctx.op_api();
    let selector = format!(
        "app.kubernetes.io/instance={},app.kubernetes.io/component=controller",
        s.release
    );
    wait_deployment(&deployments, &pods, &name_, &selector, 2, s.timeout(300)).await?;

    let leases: Api<Lease> = ctx.op_api();
    let lease = name_.clone();
    let leader = wait_until(
        &format!("Lease {lease} held by one of the operator pods"),
        s.timeout(120),
        Duration::from_secs(1),
        || async {
            let names: Vec<String> = pods
                .list(&ListParams::default().labels(&selector))
                .await?
                .items
                .iter()
                .map(|p| name(p).to_string())
                .collect();
            let h = holder(&leases, &lease).await?;
            Ok(match h {
                Some(h) if names.contains(&h) => Check::Done(h),
                other => Check::Pending(format!("holder {other:?}, pods {names:?}")),
            })
        },
    )
    .await?;
    println!("  leader: {leader}; deleting its pod");
    let t = Instant::now();
    pods.delete(&leader, &DeleteParams::default()).await?;
    let next = wait_until(
        &format!("another pod holding Lease {lease}"),
        s.timeout(180),
        Duration::from_millis(250),
        || async {
            let h = holder(&leases, &lease).await?;
            Ok(match h {
                Some(h) if h != leader => Check::Done(h),
                other => Check::Pending(format!("holder {other:?}")),
            })
        },
    )
    .await?;
    ctx.figures.add(
        8,
        "leader pod deleted -> Lease held by the other pod",
        secs(t.elapsed()),
    );
    println!("  new leader: {next}");

    // The new leader reconciles: a spec change reaches the PodDisruptionBudget.
    let t = Instant::now();
    patch_cluster(ctx, &cluster, serde_json::json!({"minAvailable": "1"})).await?;
    let pdbs: Api<PodDisruptionBudget> = ctx.api();
    let pdb = format!("{cluster}-mysql");
    wait_until(
        &format!("PodDisruptionBudget {pdb} minAvailable=1 (reconciled by the new leader)"),
        s.timeout(180),
        Duration::from_secs(1),
        || async {
            let m = pdbs.get(&pdb).await?.spec.and_then(|s| s.min_available);
            Ok(match m {
                Some(IntOrString::Int(1)) => Check::Done(()),
                Some(IntOrString::String(ref v)) if v == "1" => Check::Done(()),
                other => Check::Pending(format!("minAvailable {other:?}")),
            })
        },
    )
    .await?;
    ctx.figures.add(
        8,
        "cluster change after the takeover -> reconciled",
        secs(t.elapsed()),
    );
    wait_deployment(&deployments, &pods, &name_, &selector, 2, s.timeout(300)).await?;
    Ok(())
}
