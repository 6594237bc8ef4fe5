//! What the Kubernetes side should show for one observation of a cluster: the `role` and
//! `healthy` pod labels the Services select on, and presslabs' `status.nodes` conditions.
//! Pure functions, so the rules are unit-tested without servers.

use std::collections::BTreeMap;

use api::status::node_condition;
use api::{ConditionStatus, NodeCondition, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use policy::ThreadState;
use topology::NodeState;

/// Pod label values (presslabs': `role=master|replica`, `healthy=yes|no`).
pub const MASTER: &str = "master";
/// See [`MASTER`].
pub const REPLICA: &str = "replica";

/// Seconds of lag above which a replica counts as lagged when the cluster sets no
/// `maxSlaveLatency`.
pub const DEFAULT_MAX_LAG_SECS: f64 = 30.0;

/// One node as the Kubernetes side sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    /// Pod name.
    pub pod: String,
    /// `master` or `replica`.
    pub role: &'static str,
    /// Whether the Services may send traffic to it.
    pub healthy: bool,
    /// Lagged, Replicating, Master, ReadOnly (Unknown when unreachable).
    pub conditions: BTreeMap<&'static str, ConditionStatus>,
}

impl NodeView {
    /// The `role`/`healthy` labels for the pod.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (render::names::ROLE_LABEL.to_string(), self.role.to_string()),
            (
                render::names::HEALTHY_LABEL.to_string(),
                if self.healthy { "yes" } else { "no" }.to_string(),
            ),
        ])
    }
}

fn b(v: bool) -> ConditionStatus {
    if v {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    }
}

/// The view of each observed node. `primary` is the engine's primary (or, in a read-only
/// cluster, the node the others replicate from); `read_only` is `spec.readOnly`, under which
/// a read-only primary is still healthy.
pub fn nodes(
    observed: &[NodeState],
    primary: Option<&str>,
    read_only: bool,
    max_lag_secs: f64,
) -> Vec<NodeView> {
    observed
        .iter()
        .map(|n| {
            let is_primary = primary == Some(n.name.as_str());
            let role = if is_primary { MASTER } else { REPLICA };
            let Some(seen) = &n.seen else {
                let conditions = [
                    node_condition::LAGGED,
                    node_condition::REPLICATING,
                    node_condition::READ_ONLY,
                ]
                .into_iter()
                .map(|t| (t, ConditionStatus::Unknown))
                .chain([(node_condition::MASTER, b(is_primary))])
                .collect();
                return NodeView {
                    pod: n.name.clone(),
                    role,
                    healthy: false,
                    conditions,
                };
            };
            let replicating = seen.replica.as_ref().is_some_and(|r| {
                r.io == ThreadState::Running
                    && r.sql == ThreadState::Running
                    && primary.is_none_or(|p| r.source_node.as_deref() == Some(p))
            });
            let lag = seen.heartbeat_lag.or_else(|| {
                seen.replica
                    .as_ref()
                    .and_then(|r| r.seconds_behind.map(|s| s as f64))
            });
            let lagged = !is_primary && lag.is_some_and(|l| l > max_lag_secs);
            let healthy = if is_primary {
                read_only || !seen.read_only
            } else {
                replicating && !lagged && seen.read_only
            };
            NodeView {
                pod: n.name.clone(),
                role,
                healthy,
                conditions: BTreeMap::from([
                    (node_condition::LAGGED, b(lagged)),
                    (node_condition::REPLICATING, b(replicating)),
                    (node_condition::MASTER, b(is_primary)),
                    (node_condition::READ_ONLY, b(seen.read_only)),
                ]),
            }
        })
        .collect()
}

/// The node the other reachable nodes replicate from, when they agree (how a read-only
/// cluster, which runs no engine, still knows its primary).
pub fn replication_source(observed: &[NodeState]) -> Option<String> {
    let mut sources = observed
        .iter()
        .filter_map(|n| n.seen.as_ref()?.replica.as_ref()?.source_node.clone());
    let first = sources.next()?;
    sources.all(|s| s == first).then_some(first)
}

/// presslabs' `status.nodes` entries (named by the pod's DNS name through `host`), keeping
/// each condition's transition time from `old` when its status is unchanged.
pub fn node_statuses(
    views: &[NodeView],
    host: impl Fn(&str) -> String,
    old: &[NodeStatus],
) -> Vec<NodeStatus> {
    views
        .iter()
        .map(|v| {
            let name = host(&v.pod);
            let prev = old.iter().find(|o| o.name == name);
            let conditions = v
                .conditions
                .iter()
                .map(|(t, s)| {
                    let kept = prev
                        .and_then(|p| p.conditions.iter().find(|c| c.type_ == *t))
                        .filter(|c| c.status == *s)
                        .map(|c| c.last_transition_time.clone());
                    NodeCondition {
                        type_: (*t).to_string(),
                        status: *s,
                        last_transition_time: kept
                            .unwrap_or_else(|| Time(k8s_openapi::jiff::Timestamp::now())),
                    }
                })
                .collect();
            NodeStatus { name, conditions }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flavor::{GtidFormat, GtidSet};
    use topology::{ReplicaStatus, Seen};

    fn seen(read_only: bool, source: Option<&str>, lag: Option<f64>) -> Option<Seen> {
        Some(Seen {
            server_id: 1,
            read_only,
            executed: GtidSet::empty(GtidFormat::Mariadb),
            replica: source.map(|s| ReplicaStatus {
                source_host: "h".into(),
                source_port: 3306,
                source_node: Some(s.into()),
                io: ThreadState::Running,
                sql: ThreadState::Running,
                last_error: String::new(),
                retrieved: GtidSet::empty(GtidFormat::Mariadb),
                seconds_behind: Some(0),
            }),
            heartbeat_lag: lag,
            semi_sync_source: false,
            semi_sync_replica: false,
        })
    }

    fn node(name: &str, seen: Option<Seen>) -> NodeState {
        NodeState {
            name: name.into(),
            error: seen.is_none().then(|| "down".into()),
            seen,
        }
    }

    #[test]
    fn roles_health_and_conditions() {
        let obs = vec![
            node("p", seen(false, None, None)),
            node("r1", seen(true, Some("p"), Some(0.5))),
            node("r2", seen(true, Some("p"), Some(120.0))),
            node("r3", None),
        ];
        let v = nodes(&obs, Some("p"), false, DEFAULT_MAX_LAG_SECS);
        assert_eq!(v[0].labels()["role"], "master");
        assert_eq!(v[0].labels()["healthy"], "yes");
        assert_eq!(v[1].labels()["role"], "replica");
        assert!(v[1].healthy);
        assert!(!v[2].healthy, "lagged replica is unhealthy");
        assert_eq!(v[2].conditions["Lagged"], ConditionStatus::True);
        assert!(!v[3].healthy);
        assert_eq!(v[3].conditions["Replicating"], ConditionStatus::Unknown);
        assert_eq!(replication_source(&obs).as_deref(), Some("p"));

        // A read-only primary is unhealthy unless the cluster is read-only on purpose.
        let obs = vec![node("p", seen(true, None, None))];
        assert!(!nodes(&obs, Some("p"), false, 30.0)[0].healthy);
        assert!(nodes(&obs, Some("p"), true, 30.0)[0].healthy);
    }

    #[test]
    fn transition_times_kept_when_unchanged() {
        let obs = vec![node("p", seen(false, None, None))];
        let v = nodes(&obs, Some("p"), false, 30.0);
        let first = node_statuses(&v, |p| format!("{p}.mysql.ns"), &[]);
        assert_eq!(first[0].name, "p.mysql.ns");
        assert_eq!(first[0].conditions.len(), 4);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let again = node_statuses(&v, |p| format!("{p}.mysql.ns"), &first);
        assert_eq!(again, first);
    }
}
