//! Scenario 6: An S3 server pod (SeaweedFS), an on-demand MysqlBackup of the cluster to it, then a
//! new cluster seeded from that backup with `initBucketURL`: equal row counts.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use api::{MysqlBackup, MysqlCluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{Api, DeleteParams, PostParams};
use mysql_operator_e2e::Ctx;
use mysql_operator_e2e::cluster::{apply, cluster_pods, wait_healthy};
use mysql_operator_e2e::figures::secs;
use mysql_operator_e2e::manifests::{self, S3_BUCKET, S3_NAME};
use mysql_operator_e2e::wait::{Check, Fatal, name, wait_until};
use mysql_operator_e2e::writer;

use super::scale::equal_row_counts;
use super::{State, patch_cluster, wait_deployment};

const BACKUP_SECRET: &str = "e2e-backup-s3";
const BACKUP: &str = "e2e-backup-1";
const RESTORED: &str = "mysql-restored";

pub async fn run(ctx: &Ctx, st: &mut State) -> Result<()> {
    let cluster = st.cluster_name();
    wait_healthy(ctx, &cluster, 3, ctx.s.timeout(600)).await?;

    // The S3 server.
    let (identities, deployment, service) = manifests::s3_server(&ctx.s);
    apply(&ctx.api::<Secret>(), &identities).await?;
    let deployments: Api<Deployment> = ctx.api();
    apply(&deployments, &deployment).await?;
    apply(&ctx.api::<Service>(), &service).await?;
    let pods: Api<Pod> = ctx.api();
    wait_deployment(
        &deployments,
        &pods,
        S3_NAME,
        &format!("app.kubernetes.io/name={S3_NAME}"),
        1,
        ctx.s.timeout(300),
    )
    .await?;
    // `weed mini` creates the bucket right after the port opens.
    tokio::time::sleep(Duration::from_secs(5)).await;
    apply(
        &ctx.api::<Secret>(),
        &manifests::backup_secret(BACKUP_SECRET, &ctx.s.namespace),
    )
    .await?;
    println!(
        "  S3 server {S3_NAME}.{}.svc:{} with bucket {S3_BUCKET}",
        ctx.s.namespace,
        manifests::S3_PORT
    );

    // The backup.
    let mut rows = equal_row_counts(ctx, &cluster).await?;
    if rows < 100 {
        // Scenario 3 did not run (E2E_ONLY): give the backup some rows.
        let primary = wait_healthy(ctx, &cluster, 3, ctx.s.timeout(60)).await?;
        ctx.sql(
            &primary,
            &format!(
                "INSERT IGNORE INTO {}.{} (n, client_ms) SELECT seq + 1000000, 0 FROM seq_1_to_500",
                writer::DB,
                writer::TABLE
            ),
        )
        .await?;
        rows = equal_row_counts(ctx, &cluster).await?;
    }
    patch_cluster(
        ctx,
        &cluster,
        serde_json::json!({"backupURL": format!("s3://{S3_BUCKET}/{cluster}"), "backupSecretName": BACKUP_SECRET}),
    )
    .await?;
    let backups: Api<MysqlBackup> = ctx.api();
    let b: MysqlBackup = serde_json::from_value(serde_json::json!({
        "apiVersion": api::API_VERSION, "kind": "MysqlBackup",
        "metadata": {"name": BACKUP},
        "spec": {"clusterName": cluster}
    }))?;
    let t = Instant::now();
    backups
        .create(&PostParams::default(), &b)
        .await
        .context("creating the MysqlBackup")?;
    let done = wait_until(
        &format!("MysqlBackup {BACKUP} Complete"),
        ctx.s.timeout(900),
        Duration::from_secs(2),
        || async {
            let b = backups.get(BACKUP).await?;
            let status = b.status.clone().unwrap_or_default();
            if let Some(f) = status
                .conditions
                .iter()
                .find(|c| c.type_ == "Failed" && c.status == api::ConditionStatus::True)
            {
                return Err(Fatal(format!(
                    "MysqlBackup {BACKUP} Failed: {}: {}",
                    f.reason, f.message
                ))
                .into());
            }
            let complete = status.completed
                || status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Complete" && c.status == api::ConditionStatus::True);
            Ok(if complete {
                Check::Done(b)
            } else {
                Check::Pending(format!(
                    "conditions {:?}",
                    status
                        .conditions
                        .iter()
                        .map(|c| format!("{}={:?} {}", c.type_, c.status, c.message))
                        .collect::<Vec<_>>()
                ))
            })
        },
    )
    .await?;
    ctx.figures
        .add(6, "MysqlBackup created -> Complete", secs(t.elapsed()));
    let url = done.spec.backup_url.clone().context(
        "the completed MysqlBackup has no spec.backupURL (the controller writes the resolved URL)",
    )?;
    println!(
        "  backup at {url} ({rows} rows in {}.{})",
        writer::DB,
        writer::TABLE
    );

    // A new cluster from it.
    let clusters: Api<MysqlCluster> = ctx.api();
    let restored = manifests::restored_cluster(&st.fixture, RESTORED, 2, &url, BACKUP_SECRET);
    let t = Instant::now();
    apply(&clusters, &restored).await?;
    wait_healthy(ctx, RESTORED, 2, ctx.s.timeout(900)).await?;
    ctx.figures.add(
        6,
        "cluster from initBucketURL -> 2 pods healthy",
        secs(t.elapsed()),
    );
    let restored_rows = equal_row_counts(ctx, RESTORED).await?;
    ensure!(
        restored_rows == rows,
        "the restored cluster has {restored_rows} rows in {}.{}, the source had {rows}",
        writer::DB,
        writer::TABLE
    );
    ctx.figures.add(
        6,
        "rows in the restored cluster (equal to the source)",
        restored_rows.to_string(),
    );

    // Free the node for the next scenarios.
    clusters.delete(RESTORED, &DeleteParams::default()).await?;
    wait_until(
        &format!("cluster {RESTORED}'s pods gone"),
        ctx.s.timeout(300),
        Duration::from_secs(2),
        || async {
            let left = cluster_pods(ctx, RESTORED).await?;
            Ok(if left.is_empty() {
                Check::Done(())
            } else {
                Check::Pending(left.iter().map(name).collect::<Vec<_>>().join(", "))
            })
        },
    )
    .await?;
    Ok(())
}
