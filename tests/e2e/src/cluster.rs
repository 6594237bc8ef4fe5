//! A MysqlCluster as the suite sees it: its pods, roles, status, and replication state.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use api::{ConditionStatus, MysqlCluster};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde::Serialize;

use crate::ctx::{Ctx, field};
use crate::wait::{Check, Fatal, image_problem, label, name, pod_ready, pod_summary, wait_until};

/// presslabs' pod label naming the cluster.
pub const CLUSTER_LABEL: &str = "mysql.presslabs.org/cluster";
/// Field manager of everything the suite applies.
pub const MANAGER: &str = "mysql-operator-e2e";

/// `<c>-mysql-<n>`.
pub fn pod_name(cluster: &str, ordinal: u32) -> String {
    format!("{cluster}-mysql-{ordinal}")
}

/// `<c>-mysql-master`.
pub fn master_service(cluster: &str) -> String {
    format!("{cluster}-mysql-master")
}

/// `data-<c>-mysql-<n>`.
pub fn pvc_name(cluster: &str, ordinal: u32) -> String {
    format!("data-{cluster}-mysql-{ordinal}")
}

/// Server-side apply of any namespaced object in the test namespace.
pub async fn apply<K>(api: &Api<K>, obj: &K) -> Result<K>
where
    K: kube::Resource + Clone + Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let name = obj.meta().name.clone().context("object without a name")?;
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .with_context(|| format!("applying {} {name}", K::kind(&Default::default())))
}

/// The cluster's pods, sorted by name.
pub async fn cluster_pods(ctx: &Ctx, cluster: &str) -> Result<Vec<Pod>> {
    let mut pods = ctx
        .pods()
        .list(&ListParams::default().labels(&format!("{CLUSTER_LABEL}={cluster}")))
        .await
        .with_context(|| format!("listing the pods of {cluster}"))?
        .items;
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(pods)
}

/// The pods carrying `role=master` (not being deleted).
pub fn masters(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && label(p, "role") == Some("master"))
        .map(|p| name(p).to_string())
        .collect()
}

/// Why `n` pods of the cluster are not yet Running/Ready with exactly one `role=master`,
/// `role=replica` on the others and `healthy=yes` on all, and the status agreeing
/// (`readyNodes`, one node entry per pod); `None` when they are. An image that cannot be
/// pulled is [`Fatal`].
pub fn healthy_problem(
    pods: &[Pod],
    status: Option<&api::MysqlClusterStatus>,
    n: usize,
) -> Result<Option<String>> {
    for p in pods {
        if let Some(msg) = image_problem(p) {
            return Err(Fatal(msg).into());
        }
    }
    let summary = || pods.iter().map(pod_summary).collect::<Vec<_>>().join("; ");
    let live: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    if live.len() != n || pods.len() != n {
        return Ok(Some(format!(
            "{} pods (want {n}): {}",
            pods.len(),
            summary()
        )));
    }
    if !live.iter().all(|p| pod_ready(p)) {
        return Ok(Some(format!("not all Ready: {}", summary())));
    }
    let masters = masters(pods);
    let replicas = live
        .iter()
        .filter(|p| label(p, "role") == Some("replica"))
        .count();
    let healthy = live
        .iter()
        .filter(|p| label(p, "healthy") == Some("yes"))
        .count();
    if masters.len() != 1 || replicas != n - 1 || healthy != n {
        return Ok(Some(format!("labels not settled: {}", summary())));
    }
    let Some(st) = status else {
        return Ok(Some("no status yet".into()));
    };
    if st.ready_nodes != n as i32 || st.nodes.len() != n {
        return Ok(Some(format!(
            "status.readyNodes={} with {} node entries (want {n}); pods: {}",
            st.ready_nodes,
            st.nodes.len(),
            summary()
        )));
    }
    Ok(None)
}

/// A `Ready=False` the operator keeps until the user changes something (a bad spec, a
/// missing Secret): waiting longer does not help.
pub fn user_error(c: &MysqlCluster) -> Option<String> {
    let r = c.status.as_ref()?.condition("Ready")?;
    let permanent = ["InvalidSpec", "SecretNotFound", "SecretInvalid"];
    (r.status == ConditionStatus::False && permanent.contains(&r.reason.as_str())).then(|| {
        format!(
            "MysqlCluster {}: Ready=False {}: {}",
            c.metadata.name.as_deref().unwrap_or("?"),
            r.reason,
            r.message
        )
    })
}

/// Waits until the cluster has `n` healthy pods (see [`healthy_problem`]); returns the
/// primary's pod name.
pub async fn wait_healthy(ctx: &Ctx, cluster: &str, n: usize, timeout: Duration) -> Result<String> {
    let clusters: Api<MysqlCluster> = ctx.api();
    wait_until(
        &format!(
            "cluster {cluster}: {n} pods Ready, one role=master, healthy=yes, status.readyNodes={n}"
        ),
        timeout,
        Duration::from_secs(2),
        || async {
            let pods = cluster_pods(ctx, cluster).await?;
            let c = clusters.get(cluster).await?;
            if let Some(msg) = user_error(&c) {
                return Err(Fatal(msg).into());
            }
            Ok(match healthy_problem(&pods, c.status.as_ref(), n)? {
                Some(why) => Check::Pending(why),
                None => Check::Done(masters(&pods).remove(0)),
            })
        },
    )
    .await
}

/// Polls (every 100 ms) until a pod other than `old` carries `role=master`; returns it and
/// the time it took from `since`.
pub async fn wait_new_master(
    ctx: &Ctx,
    cluster: &str,
    old: &str,
    since: Instant,
    timeout: Duration,
) -> Result<(String, Duration)> {
    wait_until(
        &format!("a pod other than {old} labelled role=master"),
        timeout,
        Duration::from_millis(100),
        || async {
            let pods = cluster_pods(ctx, cluster).await?;
            let m = masters(&pods);
            Ok(match m.iter().find(|p| p.as_str() != old) {
                Some(p) => Check::Done((p.clone(), since.elapsed())),
                None => Check::Pending(pods.iter().map(pod_summary).collect::<Vec<_>>().join("; ")),
            })
        },
    )
    .await
}

/// Replication state of one replica, from `SHOW SLAVE STATUS` and the semi-sync status.
#[derive(Debug, Clone)]
pub struct ReplicaState {
    pub pod: String,
    pub io_running: String,
    pub sql_running: String,
    pub master_host: String,
    pub using_gtid: String,
    pub gtid_io_pos: String,
    pub last_error: String,
    pub semi_sync_slave: String,
}

impl ReplicaState {
    /// Replicating from `primary` with GTIDs and semi-sync on.
    pub fn problem(&self, primary: &str) -> Option<String> {
        let mut p = Vec::new();
        if self.io_running != "Yes" {
            p.push(format!("Slave_IO_Running={}", self.io_running));
        }
        if self.sql_running != "Yes" {
            p.push(format!("Slave_SQL_Running={}", self.sql_running));
        }
        if !self.master_host.starts_with(primary) {
            p.push(format!(
                "Master_Host={} (primary is {primary})",
                self.master_host
            ));
        }
        if self.using_gtid == "No" || self.using_gtid.is_empty() {
            p.push(format!("Using_Gtid={:?}", self.using_gtid));
        }
        if self.semi_sync_slave != "ON" {
            p.push(format!(
                "Rpl_semi_sync_slave_status={}",
                self.semi_sync_slave
            ));
        }
        if !self.last_error.is_empty() {
            p.push(format!("Last_Error={}", self.last_error));
        }
        if p.is_empty() {
            None
        } else {
            Some(format!("{}: {}", self.pod, p.join(", ")))
        }
    }
}

/// Reads a replica's state.
pub async fn replica_state(ctx: &Ctx, pod: &str) -> Result<ReplicaState> {
    let s = ctx.sql_vertical(pod, "SHOW SLAVE STATUS").await?;
    let get = |k: &str| field(&s, k).unwrap_or("").to_string();
    let semi = ctx
        .sql(pod, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_slave_status'")
        .await?;
    Ok(ReplicaState {
        pod: pod.to_string(),
        io_running: get("Slave_IO_Running"),
        sql_running: get("Slave_SQL_Running"),
        master_host: get("Master_Host"),
        using_gtid: get("Using_Gtid"),
        gtid_io_pos: get("Gtid_IO_Pos"),
        last_error: [get("Last_IO_Error"), get("Last_SQL_Error")]
            .into_iter()
            .filter(|e| !e.is_empty())
            .collect::<Vec<_>>()
            .join(" / "),
        semi_sync_slave: status_value(&semi),
    })
}

/// The value of a `SHOW STATUS LIKE 'x'` batch answer (`name<TAB>value`).
pub fn status_value(out: &str) -> String {
    out.lines()
        .next()
        .and_then(|l| l.split('\t').nth(1))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Waits until every replica has applied everything the primary had binlogged when this
/// was called (`MASTER_GTID_WAIT` on the primary's `gtid_binlog_pos`); returns that position.
pub async fn wait_replicas_caught_up(
    ctx: &Ctx,
    primary: &str,
    replicas: &[String],
    timeout: Duration,
) -> Result<String> {
    let pos = ctx
        .sql_value(primary, "SELECT @@GLOBAL.gtid_binlog_pos")
        .await?;
    for r in replicas {
        let secs = timeout.as_secs().max(1);
        let got = ctx
            .sql_value(r, &format!("SELECT MASTER_GTID_WAIT('{pos}', {secs})"))
            .await?;
        if got != "0" {
            let state = replica_state(ctx, r)
                .await
                .map(|s| format!("{s:?}"))
                .unwrap_or_default();
            bail!(
                "replica {r} did not reach the primary {primary}'s position {pos} within {secs}s \
                 (MASTER_GTID_WAIT returned {got}); its gtid_current_pos is {}; {state}",
                ctx.sql_value(r, "SELECT @@GLOBAL.gtid_current_pos")
                    .await
                    .unwrap_or_default()
            );
        }
    }
    Ok(pos)
}

/// Every cluster node's `Ready` condition and node conditions, as one line each.
pub fn status_lines(c: &MysqlCluster) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(st) = &c.status {
        out.push(format!("readyNodes={}", st.ready_nodes));
        for cond in &st.conditions {
            out.push(format!(
                "condition {}={:?} ({}: {})",
                cond.type_, cond.status, cond.reason, cond.message
            ));
        }
        for n in &st.nodes {
            let conds: Vec<String> = n
                .conditions
                .iter()
                .map(|c| format!("{}={:?}", c.type_, c.status))
                .collect();
            out.push(format!("node {}: {}", n.name, conds.join(" ")));
        }
    }
    out
}

/// Checks `status.nodes`: one entry per pod, the primary `Master=True ReadOnly=False`, the
/// replicas `Master=False Replicating=True ReadOnly=True Lagged=False`; and `Ready=True`.
pub fn status_problems(c: &MysqlCluster, primary: &str, n: usize) -> Vec<String> {
    let mut p = Vec::new();
    let Some(st) = &c.status else {
        return vec!["no status".into()];
    };
    match st.condition("Ready") {
        Some(r) if r.status == ConditionStatus::True => {}
        Some(r) => p.push(format!(
            "Ready={:?} ({}: {})",
            r.status, r.reason, r.message
        )),
        None => p.push("no Ready condition".into()),
    }
    if st.nodes.len() != n {
        p.push(format!("{} node entries, want {n}", st.nodes.len()));
    }
    for node in &st.nodes {
        let cond = |t: &str| {
            node.conditions
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.status)
                .unwrap_or(ConditionStatus::Unknown)
        };
        let is_primary = node.name.starts_with(&format!("{primary}."));
        let want: &[(&str, ConditionStatus)] = if is_primary {
            &[
                ("Master", ConditionStatus::True),
                ("ReadOnly", ConditionStatus::False),
            ]
        } else {
            &[
                ("Master", ConditionStatus::False),
                ("Replicating", ConditionStatus::True),
                ("ReadOnly", ConditionStatus::True),
                ("Lagged", ConditionStatus::False),
            ]
        };
        for (t, s) in want {
            if cond(t) != *s {
                p.push(format!("node {}: {t}={:?}, want {s:?}", node.name, cond(t)));
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, role: &str, ready: bool) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"role": role, "healthy": "yes"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .unwrap()
    }

    fn status(ready_nodes: i32, nodes: usize) -> api::MysqlClusterStatus {
        serde_json::from_value(serde_json::json!({
            "readyNodes": ready_nodes,
            "nodes": (0..nodes).map(|i| serde_json::json!({"name": format!("c-mysql-{i}.mysql.ns")})).collect::<Vec<_>>()
        }))
        .unwrap()
    }

    #[test]
    fn healthy_needs_one_master_ready_pods_and_status() {
        let pods = vec![
            pod("c-mysql-0", "master", true),
            pod("c-mysql-1", "replica", true),
            pod("c-mysql-2", "replica", true),
        ];
        assert_eq!(
            healthy_problem(&pods, Some(&status(3, 3)), 3).unwrap(),
            None
        );
        assert!(
            healthy_problem(&pods, Some(&status(2, 3)), 3)
                .unwrap()
                .unwrap()
                .contains("readyNodes=2")
        );
        assert!(healthy_problem(&pods, None, 3).unwrap().is_some());
        assert!(
            healthy_problem(&pods[..2], Some(&status(3, 3)), 3)
                .unwrap()
                .unwrap()
                .contains("2 pods")
        );
        let two_masters = vec![
            pod("c-mysql-0", "master", true),
            pod("c-mysql-1", "master", true),
        ];
        assert!(
            healthy_problem(&two_masters, Some(&status(2, 2)), 2)
                .unwrap()
                .unwrap()
                .contains("labels")
        );
        let not_ready = vec![
            pod("c-mysql-0", "master", true),
            pod("c-mysql-1", "replica", false),
        ];
        assert!(
            healthy_problem(&not_ready, Some(&status(2, 2)), 2)
                .unwrap()
                .unwrap()
                .contains("not all Ready")
        );
        assert_eq!(masters(&pods), vec!["c-mysql-0".to_string()]);
    }

    #[test]
    fn node_conditions_are_checked_per_role() {
        let c: MysqlCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "mysql.presslabs.org/v1alpha1", "kind": "MysqlCluster",
            "metadata": {"name": "c"}, "spec": {"secretName": "s"},
            "status": {"readyNodes": 2,
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "ClusterReady"}],
                "nodes": [
                    {"name": "c-mysql-0.mysql.ns", "conditions": [
                        {"type": "Master", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                        {"type": "ReadOnly", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
                    {"name": "c-mysql-1.mysql.ns", "conditions": [
                        {"type": "Master", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                        {"type": "Replicating", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                        {"type": "ReadOnly", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                        {"type": "Lagged", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
                ]}
        }))
        .unwrap();
        assert!(
            status_problems(&c, "c-mysql-0", 2).is_empty(),
            "{:?}",
            status_problems(&c, "c-mysql-0", 2)
        );
        let wrong = status_problems(&c, "c-mysql-1", 2);
        assert!(
            wrong
                .iter()
                .any(|p| p.contains("c-mysql-1.mysql.ns: Master=False, want True")),
            "{wrong:?}"
        );
        assert_eq!(status_lines(&c).len(), 4);
    }

    #[test]
    fn replica_problems_name_the_field() {
        let ok = ReplicaState {
            pod: "c-mysql-1".into(),
            io_running: "Yes".into(),
            sql_running: "Yes".into(),
            master_host: "c-mysql-0.mysql.ns".into(),
            using_gtid: "Slave_Pos".into(),
            gtid_io_pos: "0-100-5".into(),
            last_error: String::new(),
            semi_sync_slave: "ON".into(),
        };
        assert_eq!(ok.problem("c-mysql-0"), None);
        let bad = ReplicaState {
            io_running: "Connecting".into(),
            semi_sync_slave: "OFF".into(),
            ..ok
        };
        let p = bad.problem("c-mysql-0").unwrap();
        assert!(
            p.contains("Slave_IO_Running=Connecting")
                && p.contains("Rpl_semi_sync_slave_status=OFF"),
            "{p}"
        );
        assert_eq!(status_value("Rpl_semi_sync_master_status\tON\n"), "ON");
    }
}
