//! The scenarios, in order, and what they share.

mod accounts;
mod backup;
mod leader;
mod operator;
mod plugin;
mod scale;
mod seed;
mod writes;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use api::{MysqlBackup, MysqlCluster, MysqlDatabase, MysqlUser};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use mysql_operator_e2e::Ctx;
use mysql_operator_e2e::wait::{Check, Fatal, image_problem, pod_ready, pod_summary, wait_until};

/// What scenarios hand on to later ones.
pub struct State {
    /// The fixture cluster (images set) and its Secret.
    pub fixture: MysqlCluster,
    pub secret: Secret,
    /// Whether the suite installed the CRDs with the release (else they existed before).
    pub crds_from_release: bool,
    /// Whether `helm install` ran (cleanup uninstalls).
    pub installed: bool,
}

impl State {
    pub fn new(fixture: MysqlCluster, secret: Secret) -> State {
        State {
            fixture,
            secret,
            crds_from_release: true,
            installed: false,
        }
    }

    pub fn cluster_name(&self) -> String {
        self.fixture.metadata.name.clone().unwrap_or_default()
    }
}

/// Runs scenario `n`.
pub async fn run(n: u32, ctx: &Ctx, st: &mut State) -> Result<()> {
    match n {
        1 => operator::run(ctx, st).await,
        2 => seed::run(ctx, st).await,
        3 => writes::run(ctx, st).await,
        4 => accounts::run(ctx, st).await,
        5 => scale::run(ctx, st).await,
        6 => backup::run(ctx, st).await,
        7 => plugin::run(ctx, st).await,
        8 => leader::run(ctx, st).await,
        _ => bail!("no scenario {n}"),
    }
}

/// Milliseconds since the epoch (compared with the writer pod's `date +%s%3N`).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Creates a namespace labelled as the suite's (ok when it exists).
pub async fn create_namespace(ctx: &Ctx, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/created-by": "mysql-operator-e2e"}}
    }))?;
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating namespace {name}")),
    }
}

/// Merge-patches the spec of a MysqlCluster.
pub async fn patch_cluster(ctx: &Ctx, name: &str, spec: serde_json::Value) -> Result<MysqlCluster> {
    let api: Api<MysqlCluster> = ctx.api();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "spec": spec })),
    )
    .await
    .with_context(|| format!("patching MysqlCluster {name} with {spec}"))
}

/// Creates a pod (replacing a leftover of the same name) and waits until it runs.
pub async fn start_pod(ctx: &Ctx, pod: &Pod, timeout: Duration) -> Result<()> {
    let name = pod.metadata.name.clone().context("pod without name")?;
    let pods = ctx.pods();
    if pods.get_opt(&name).await?.is_some() {
        pods.delete(&name, &DeleteParams::default().grace_period(0))
            .await?;
        wait_until(
            &format!("old pod {name} gone"),
            Duration::from_secs(60),
            Duration::from_secs(1),
            || async {
                Ok(match pods.get_opt(&name).await? {
                    None => Check::Done(()),
                    Some(p) => Check::Pending(pod_summary(&p)),
                })
            },
        )
        .await?;
    }
    pods.create(&PostParams::default(), pod)
        .await
        .with_context(|| format!("creating pod {name}"))?;
    wait_pod_running(ctx, &name, timeout).await
}

/// Waits until a pod of the test namespace is Running and Ready.
pub async fn wait_pod_running(ctx: &Ctx, name: &str, timeout: Duration) -> Result<()> {
    let pods = ctx.pods();
    wait_until(
        &format!("pod {name} Running"),
        timeout,
        Duration::from_secs(1),
        || async {
            let p = pods.get(name).await?;
            if let Some(msg) = image_problem(&p) {
                return Err(Fatal(msg).into());
            }
            if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed") {
                return Err(Fatal(format!("pod {name} failed: {}", pod_summary(&p))).into());
            }
            Ok(if pod_ready(&p) {
                Check::Done(())
            } else {
                Check::Pending(pod_summary(&p))
            })
        },
    )
    .await
}

/// Waits until a Deployment has `replicas` updated, ready pods.
pub async fn wait_deployment(
    api: &Api<Deployment>,
    pods: &Api<Pod>,
    name: &str,
    selector: &str,
    replicas: i32,
    timeout: Duration,
) -> Result<()> {
    wait_until(
        &format!("Deployment {name}: {replicas} updated replica(s) Ready"),
        timeout,
        Duration::from_secs(2),
        || async {
            let list = pods
                .list(&ListParams::default().labels(selector))
                .await?
                .items;
            for p in &list {
                if let Some(msg) = image_problem(p) {
                    return Err(Fatal(msg).into());
                }
            }
            let d = api.get(name).await?;
            let generation = d.metadata.generation.unwrap_or(0);
            let s = d.status.clone().unwrap_or_default();
            let done = s.observed_generation.unwrap_or(0) >= generation
                && s.updated_replicas.unwrap_or(0) == replicas
                && s.ready_replicas.unwrap_or(0) == replicas
                && s.replicas.unwrap_or(0) == replicas;
            Ok(if done {
                Check::Done(())
            } else {
                Check::Pending(format!(
                    "replicas={:?} updated={:?} ready={:?}; pods: {}",
                    s.replicas,
                    s.updated_replicas,
                    s.ready_replicas,
                    list.iter().map(pod_summary).collect::<Vec<_>>().join("; ")
                ))
            })
        },
    )
    .await
}

/// The Events about one object of the test namespace, oldest first, as
/// `(reason, message)`.
pub async fn events_about(ctx: &Ctx, name: &str) -> Result<Vec<(String, String)>> {
    let api: Api<Event> = ctx.api();
    let mut list = api
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await?
        .items;
    list.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default()
    });
    Ok(list
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect())
}

/// The StatefulSet's generation now (before a change that rolls the pods).
pub async fn sts_generation(ctx: &Ctx, name: &str) -> Result<i64> {
    let api: Api<StatefulSet> = ctx.api();
    Ok(api.get(name).await?.metadata.generation.unwrap_or(0))
}

/// Waits until the StatefulSet changed after `old_generation` and rolled out completely.
pub async fn wait_rolled(
    ctx: &Ctx,
    name: &str,
    old_generation: i64,
    replicas: i32,
    timeout: Duration,
) -> Result<()> {
    let api: Api<StatefulSet> = ctx.api();
    wait_until(
        &format!("StatefulSet {name} changed (generation > {old_generation}) and rolled out to {replicas} pods"),
        timeout,
        Duration::from_secs(2),
        || async {
            let s = api.get(name).await?;
            let generation = s.metadata.generation.unwrap_or(0);
            let st = s.status.clone().unwrap_or_default();
            let done = generation > old_generation
                && st.observed_generation.unwrap_or(0) >= generation
                && st.update_revision.is_some()
                && st.update_revision == st.current_revision
                && st.updated_replicas.unwrap_or(0) == replicas
                && st.ready_replicas.unwrap_or(0) == replicas;
            Ok(if done {
                Check::Done(())
            } else {
                Check::Pending(format!(
                    "generation {generation} (observed {:?}), revision {:?} -> {:?}, updated {:?}, ready {:?}",
                    st.observed_generation, st.current_revision, st.update_revision, st.updated_replicas, st.ready_replicas
                ))
            })
        },
    )
    .await
}

/// Removes what the suite created: the custom resources first (while the operator still
/// runs, so their finalizers are handled), then the release, then both namespaces.
/// With `E2E_KEEP=1` everything stays and the commands to remove it are printed.
pub async fn cleanup(ctx: &Ctx, st: &State) {
    let ns = &ctx.s.namespace;
    let opns = &ctx.s.operator_namespace;
    if ctx.s.keep {
        println!(
            "\nE2E_KEEP=1: kept everything. Remove it with:\n  helm uninstall -n {opns} {}\n  kubectl delete ns {ns} {opns}",
            ctx.s.release
        );
        return;
    }
    println!("\n=== cleanup ===");
    let dp = DeleteParams::default();
    let users: Api<MysqlUser> = ctx.api();
    let dbs: Api<MysqlDatabase> = ctx.api();
    let backups: Api<MysqlBackup> = ctx.api();
    let clusters: Api<MysqlCluster> = ctx.api();
    let lp = ListParams::default();
    let _ = users.delete_collection(&dp, &lp).await;
    let _ = dbs.delete_collection(&dp, &lp).await;
    let _ = backups.delete_collection(&dp, &lp).await;
    let _ = clusters.delete_collection(&dp, &lp).await;
    let gone = wait_until(
        "the suite's custom resources deleted",
        Duration::from_secs(120),
        Duration::from_secs(2),
        || async {
            let left = users.list(&lp).await.map(|l| l.items.len()).unwrap_or(0)
                + dbs.list(&lp).await.map(|l| l.items.len()).unwrap_or(0)
                + backups.list(&lp).await.map(|l| l.items.len()).unwrap_or(0)
                + clusters.list(&lp).await.map(|l| l.items.len()).unwrap_or(0);
            Ok(if left == 0 {
                Check::Done(())
            } else {
                Check::Pending(format!("{left} left"))
            })
        },
    )
    .await;
    if let Err(e) = gone {
        println!("  {e:#}; removing their finalizers");
        let clear = Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}}));
        let pp = PatchParams::default();
        for u in users.list(&lp).await.map(|l| l.items).unwrap_or_default() {
            let _ = users
                .patch(&u.metadata.name.unwrap_or_default(), &pp, &clear)
                .await;
        }
        for d in dbs.list(&lp).await.map(|l| l.items).unwrap_or_default() {
            let _ = dbs
                .patch(&d.metadata.name.unwrap_or_default(), &pp, &clear)
                .await;
        }
        for b in backups.list(&lp).await.map(|l| l.items).unwrap_or_default() {
            let _ = backups
                .patch(&b.metadata.name.unwrap_or_default(), &pp, &clear)
                .await;
        }
        for c in clusters
            .list(&lp)
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let _ = clusters
                .patch(&c.metadata.name.unwrap_or_default(), &pp, &clear)
                .await;
        }
    }
    if st.installed {
        let args: Vec<String> = [
            "uninstall",
            "-n",
            opns,
            &ctx.s.release,
            "--wait",
            "--timeout",
            "180s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match ctx.helm(&args, Duration::from_secs(240)).await {
            Ok(o) if o.success() => println!("  helm uninstall {}: done", ctx.s.release),
            Ok(o) => println!(
                "  helm uninstall {} failed: {}",
                ctx.s.release,
                o.stderr.trim()
            ),
            Err(e) => println!("  helm uninstall {} failed: {e:#}", ctx.s.release),
        }
    }
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    for n in [ns, opns] {
        match namespaces.delete(n, &dp).await {
            Ok(_) => println!("  namespace {n}: deleting"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => println!("  namespace {n}: delete failed: {e}"),
        }
    }
    let _ = wait_until(
        "the suite's namespaces gone",
        Duration::from_secs(180),
        Duration::from_secs(2),
        || async {
            let mut left = Vec::new();
            for n in [ns, opns] {
                if namespaces.get_opt(n).await?.is_some() {
                    left.push(n.clone());
                }
            }
            Ok(if left.is_empty() {
                Check::Done(())
            } else {
                Check::Pending(format!("still there: {}", left.join(", ")))
            })
        },
    )
    .await
    .map_err(|e| println!("  {e:#}"));
}
