//! Scenario 4: A MysqlDatabase and a MysqlUser become Ready and are usable from a client pod: the
//! user connects through the `-master` Service, creates a table in its database, and is
//! refused everywhere else.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use api::{MysqlDatabase, MysqlUser};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use mysql_operator_e2e::Ctx;
use mysql_operator_e2e::cluster::{
    apply, cluster_pods, master_service, wait_healthy, wait_replicas_caught_up,
};
use mysql_operator_e2e::figures::secs;
use mysql_operator_e2e::manifests::{self, client_pod};
use mysql_operator_e2e::wait::{Check, name, wait_until};

use super::{State, start_pod};

pub const CLIENT: &str = "e2e-client";
const DB: &str = "appdb";
const USER: &str = "appuser";
const PASSWORD: &str = "appuser-pw-e2e";

fn ready(conditions: &[api::database::ResourceCondition]) -> Result<(), String> {
    match conditions.iter().find(|c| c.type_ == "Ready") {
        Some(c) if c.status == api::ConditionStatus::True => Ok(()),
        Some(c) => Err(format!("Ready={:?} {}: {}", c.status, c.reason, c.message)),
        None => Err("no Ready condition yet".into()),
    }
}

pub async fn run(ctx: &Ctx, st: &mut State) -> Result<()> {
    let cluster = st.cluster_name();
    let primary = wait_healthy(ctx, &cluster, 3, ctx.s.timeout(600)).await?;
    let secrets: Api<Secret> = ctx.api();
    let dbs: Api<MysqlDatabase> = ctx.api();
    let users: Api<MysqlUser> = ctx.api();
    apply(
        &secrets,
        &manifests::password_secret("appuser-password", PASSWORD),
    )
    .await?;
    let t = Instant::now();
    apply(&dbs, &manifests::database(DB, &cluster, DB)).await?;
    apply(
        &users,
        &manifests::user(USER, &cluster, USER, "appuser-password", DB),
    )
    .await?;
    wait_until(
        &format!("MysqlDatabase {DB} and MysqlUser {USER} Ready"),
        ctx.s.timeout(180),
        Duration::from_secs(1),
        || async {
            let d = dbs.get(DB).await?;
            let u = users.get(USER).await?;
            let dr = ready(&d.status.map(|s| s.conditions).unwrap_or_default());
            let ur = ready(&u.status.map(|s| s.conditions).unwrap_or_default());
            Ok(match (dr, ur) {
                (Ok(()), Ok(())) => Check::Done(()),
                (d, u) => Check::Pending(format!("database: {d:?}; user: {u:?}")),
            })
        },
    )
    .await?;
    ctx.figures.add(
        4,
        "MysqlDatabase + MysqlUser applied -> Ready",
        secs(t.elapsed()),
    );

    start_pod(ctx, &client_pod(CLIENT, &ctx.s), ctx.s.timeout(180)).await?;
    let host = format!("{}.{}", master_service(&cluster), ctx.s.namespace);
    let client = |sql: String| {
        let host = host.clone();
        async move {
            ctx.exec(
                CLIENT,
                "client",
                &[
                    "env".into(),
                    format!("MYSQL_PWD={PASSWORD}"),
                    "mariadb".into(),
                    "--protocol=tcp".into(),
                    "-h".into(),
                    host,
                    "-u".into(),
                    USER.into(),
                    "--connect-timeout=5".into(),
                    "-N".into(),
                    "-B".into(),
                    "-e".into(),
                    sql,
                ],
                Duration::from_secs(60),
            )
            .await
        }
    };
    let got = wait_until(
        &format!("{USER} creating a table in {DB} through {host}"),
        ctx.s.timeout(60),
        Duration::from_secs(2),
        || async {
            let out = client(format!(
                "CREATE TABLE IF NOT EXISTS {DB}.e2e_t (id INT PRIMARY KEY, v VARCHAR(32)); \
                 REPLACE INTO {DB}.e2e_t VALUES (1, 'hello-e2e'); SELECT v FROM {DB}.e2e_t WHERE id = 1"
            ))
            .await?;
            Ok(if out.success() {
                Check::Done(out.stdout.trim().to_string())
            } else {
                Check::Pending(out.stderr.trim().to_string())
            })
        },
    )
    .await?;
    ensure!(
        got == "hello-e2e",
        "{USER} read back {got:?}, want hello-e2e"
    );
    println!("  {USER} connected through {host}, created {DB}.e2e_t and read back {got:?}");

    // Least privilege: nothing outside its database.
    let out = client(format!(
        "SELECT COUNT(*) FROM {}.{}",
        mysql_operator_e2e::writer::DB,
        mysql_operator_e2e::writer::TABLE
    ))
    .await?;
    ensure!(
        !out.success() && out.stderr.contains("denied"),
        "{USER} could read another database (exit {:?}, stderr {:?})",
        out.code,
        out.stderr.trim()
    );
    println!("  {USER} is refused outside {DB}: {}", out.stderr.trim());

    // The table reached the replicas.
    let replicas: Vec<String> = cluster_pods(ctx, &cluster)
        .await?
        .iter()
        .map(|p| name(p).to_string())
        .filter(|p| *p != primary)
        .collect();
    wait_replicas_caught_up(ctx, &primary, &replicas, ctx.s.timeout(60)).await?;
    for r in &replicas {
        let v = ctx
            .sql_value(r, &format!("SELECT v FROM {DB}.e2e_t WHERE id = 1"))
            .await?;
        ensure!(v == "hello-e2e", "replica {r} has {v:?} in {DB}.e2e_t");
    }
    println!("  {DB}.e2e_t replicated to {}", replicas.join(", "));
    Ok(())
}
