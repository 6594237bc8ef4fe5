//! Scenario 2: The seed's cluster.yaml (fixture copy, resources lowered): 3 pods Running/Ready,
//! `role`/`healthy` labels, `status.readyNodes` and `status.nodes`, GTID replication with
//! semi-sync checked inside each pod.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use api::MysqlCluster;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use mysql_operator_e2e::Ctx;
use mysql_operator_e2e::cluster::{
    apply, cluster_pods, replica_state, status_lines, status_problems, status_value, wait_healthy,
    wait_replicas_caught_up,
};
use mysql_operator_e2e::figures::secs;
use mysql_operator_e2e::wait::{Check, name, wait_until};
use mysql_operator_e2e::writer;

use super::State;

pub async fn run(ctx: &Ctx, st: &mut State) -> Result<()> {
    let cluster = st.cluster_name();
    let secrets: Api<Secret> = ctx.api();
    let clusters: Api<MysqlCluster> = ctx.api();
    apply(&secrets, &st.secret).await?;
    let t = Instant::now();
    apply(&clusters, &st.fixture).await?;
    println!(
        "  applied MysqlCluster {cluster} (replicas 3, image and sidecarImage {}, flavor mariadb) and Secret {}",
        ctx.s.tools_image, st.fixture.spec.secret_name
    );
    let primary = wait_healthy(ctx, &cluster, 3, ctx.s.timeout(900)).await?;
    ctx.figures.add(
        2,
        "kubectl apply -> 3 pods Ready, labelled, readyNodes=3",
        secs(t.elapsed()),
    );

    // status.nodes and the Ready condition (the HA loop writes them every 2 s).
    let c = wait_until(
        "status.nodes: the primary Master, the replicas Replicating, and Ready=True",
        ctx.s.timeout(120),
        Duration::from_secs(2),
        || async {
            let c = clusters.get(&cluster).await?;
            let problems = status_problems(&c, &primary, 3);
            Ok(if problems.is_empty() {
                Check::Done(c)
            } else {
                Check::Pending(problems.join("; "))
            })
        },
    )
    .await?;
    for line in status_lines(&c) {
        println!("  status: {line}");
    }

    // Inside the pods: roles, read_only, replication threads, semi-sync.
    let pods = cluster_pods(ctx, &cluster).await?;
    let replicas: Vec<String> = pods
        .iter()
        .map(|p| name(p).to_string())
        .filter(|p| *p != primary)
        .collect();
    let ro = ctx.sql_value(&primary, "SELECT @@GLOBAL.read_only").await?;
    ensure!(ro == "0", "the primary {primary} has read_only={ro}");
    let semi = wait_until(
        &format!("Rpl_semi_sync_master_status=ON on the primary {primary}"),
        ctx.s.timeout(120),
        Duration::from_secs(2),
        || async {
            let status = status_value(
                &ctx.sql(
                    &primary,
                    "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'",
                )
                .await?,
            );
            let clients = status_value(
                &ctx.sql(
                    &primary,
                    "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'",
                )
                .await?,
            );
            Ok(
                if status == "ON" && clients.parse::<u32>().unwrap_or(0) >= 1 {
                    Check::Done(clients)
                } else {
                    Check::Pending(format!(
                        "Rpl_semi_sync_master_status={status:?} clients={clients:?}"
                    ))
                },
            )
        },
    )
    .await?;
    println!(
        "  primary {primary}: read_only=0, Rpl_semi_sync_master_status=ON, {semi} semi-sync replica(s) connected"
    );
    for r in &replicas {
        let state = wait_until(
            &format!("{r} replicating from {primary} (IO+SQL threads, GTID, semi-sync)"),
            ctx.s.timeout(120),
            Duration::from_secs(2),
            || async {
                let s = replica_state(ctx, r).await?;
                Ok(match s.problem(&primary) {
                    None => Check::Done(s),
                    Some(p) => Check::Pending(p),
                })
            },
        )
        .await?;
        let ro = ctx.sql_value(r, "SELECT @@GLOBAL.read_only").await?;
        ensure!(ro == "1", "replica {r} has read_only={ro}");
        println!(
            "  replica {r}: Slave_IO/SQL Running, Master_Host {}, Using_Gtid {}, Gtid_IO_Pos {}, semi-sync slave ON, read_only=1",
            state.master_host, state.using_gtid, state.gtid_io_pos
        );
    }

    // A first write (the writer's schema and account), replicated everywhere.
    ctx.sql(&primary, &writer::setup_sql()).await?;
    let pos = wait_replicas_caught_up(ctx, &primary, &replicas, ctx.s.timeout(120)).await?;
    for p in pods.iter().map(name) {
        let gtid = ctx.sql_value(p, "SELECT @@GLOBAL.gtid_current_pos").await?;
        let user = ctx
            .sql_value(
                p,
                &format!(
                    "SELECT COUNT(*) FROM mysql.user WHERE user = '{}'",
                    writer::USER
                ),
            )
            .await?;
        ensure!(
            user == "1",
            "{p}: the account created on the primary is not there ({user})"
        );
        println!("  {p}: gtid_current_pos {gtid}");
    }
    println!("  every replica applied the primary's gtid_binlog_pos {pos}");
    Ok(())
}
