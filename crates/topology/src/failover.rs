//! Failover and planned switchover: fence, collect candidates, detect errant GTIDs, ask
//! the `failover-candidate` hook (built-in rule on abstain), wait for the relay log,
//! promote, repoint. A veto or no safe candidate leaves the cluster read-only with the
//! reason, unless `allow_data_loss` is set.

use crate::execute::{ExecError, Servers};
use crate::model::{Event, Memory, NodeState};
use crate::observe::observe_node;
use flavor::GtidSet;
use policy::{
    BuiltinFailover, Candidate, ClusterInfo, Decision, FailedPrimary, FailoverCandidate,
    FailoverReason, FailoverRequest,
};
use std::time::Instant;

/// Everything a failover consults besides the servers.
pub struct FailoverInput<'a> {
    pub cluster: &'a ClusterInfo,
    pub hook: &'a dyn FailoverCandidate,
    /// The hook's settings (JSON text).
    pub settings: &'a str,
}

/// Observe every node but `skip` concurrently.
pub async fn observe_all(servers: &Servers, skip: Option<&str>) -> Vec<NodeState> {
    let futs = servers
        .nodes
        .iter()
        .filter(|n| Some(n.name.as_str()) != skip)
        .map(|n| {
            observe_node(
                servers.flavor,
                n,
                &servers.nodes,
                &servers.creds,
                servers.config.probe_timeout,
            )
        });
    futures::future::join_all(futs).await
}

/// Pure: build the hook's candidate list from observed replicas. Errant = executed minus
/// everything that came from the (old) primary: its last known set and every replica's
/// received set. Without a known old primary (bootstrap) only remembered errant sets count.
pub fn candidates(
    replicas: &[NodeState],
    ordinals: &dyn Fn(&str) -> u32,
    last_primary: Option<&GtidSet>,
    remembered_errant: &std::collections::BTreeMap<String, GtidSet>,
) -> Vec<Candidate> {
    let seen: Vec<_> = replicas
        .iter()
        .filter_map(|n| n.seen.as_ref().map(|s| (n, s)))
        .collect();
    let mut reference = last_primary.cloned();
    if let Some(r) = reference.as_mut() {
        for (_, s) in &seen {
            if let Some(rep) = &s.replica {
                *r = r.union(&rep.retrieved);
            }
        }
    }
    seen.iter()
        .map(|(n, s)| {
            let retrieved = s
                .replica
                .as_ref()
                .map(|r| r.retrieved.clone())
                .unwrap_or_else(|| GtidSet::empty(s.executed.format()));
            let mut errant = match &reference {
                Some(r) => s.executed.subtract(r),
                None => GtidSet::empty(s.executed.format()),
            };
            if let Some(e) = remembered_errant.get(&n.name) {
                errant = errant.union(e);
                if errant.is_empty() {
                    // remembered but no longer computable: keep it marked
                    errant = e.clone();
                }
            }
            let errant_text = if remembered_errant.contains_key(&n.name) && errant.is_empty() {
                "remembered-errant".to_string()
            } else {
                errant.to_string()
            };
            Candidate {
                pod_name: n.name.clone(),
                ordinal: ordinals(&n.name),
                zone: None,
                labels: Default::default(),
                gtid_executed: s.executed.to_string(),
                gtid_retrieved: retrieved.to_string(),
                errant_gtids: errant_text,
                lag_seconds: s.heartbeat_lag.or(s
                    .replica
                    .as_ref()
                    .and_then(|r| r.seconds_behind.map(|x| x as f64))),
                io_thread: s
                    .replica
                    .as_ref()
                    .map(|r| r.io)
                    .unwrap_or(policy::ThreadState::Stopped),
                sql_thread: s
                    .replica
                    .as_ref()
                    .map(|r| r.sql)
                    .unwrap_or(policy::ThreadState::Stopped),
                healthy: true,
            }
        })
        .collect()
}

/// Pure: turn the hook's answer into the node to promote, or the reason not to.
/// `allow_data_loss` overrides only the built-in rule's safety veto (then the candidate
/// holding the most transactions wins); a policy's own veto is always obeyed.
pub fn choose(
    request: &FailoverRequest,
    hook: &dyn FailoverCandidate,
    allow_data_loss: bool,
) -> Result<String, String> {
    let decision = match hook.choose(request) {
        Ok(Decision::Abstain) => BuiltinFailover.choose(request),
        other => other,
    }
    .map_err(|e| format!("failover-candidate hook failed: {e}"))?;
    let name = match decision {
        Decision::Promote(n) => n,
        Decision::Veto(reason) => {
            let builtin_veto =
                matches!(BuiltinFailover.choose(request), Ok(Decision::Veto(r)) if r == reason);
            match most_advanced(request) {
                Some(best) if allow_data_loss && builtin_veto => {
                    tracing::warn!("allow_data_loss: promoting {best} although {reason}");
                    best
                }
                _ => return Err(format!("vetoed: {reason}")),
            }
        }
        Decision::Abstain => return Err("every rule abstained".into()),
    };
    let Some(c) = request.candidates.iter().find(|c| c.pod_name == name) else {
        return Err(format!("hook chose {name:?}, which is not a candidate"));
    };
    if !c.errant_gtids.trim().is_empty() && !allow_data_loss {
        return Err(format!(
            "hook chose {name}, which has errant GTIDs {}",
            c.errant_gtids
        ));
    }
    Ok(name)
}

/// The healthy candidate holding the most transactions (executed ∪ received).
fn most_advanced(request: &FailoverRequest) -> Option<String> {
    let format = match request.cluster.flavor {
        policy::Flavor::Mariadb => flavor::GtidFormat::Mariadb,
        _ => flavor::GtidFormat::Mysql,
    };
    let count = |c: &Candidate| {
        let e = GtidSet::parse(format, &c.gtid_executed).unwrap_or_else(|_| GtidSet::empty(format));
        let r =
            GtidSet::parse(format, &c.gtid_retrieved).unwrap_or_else(|_| GtidSet::empty(format));
        e.union(&r).count()
    };
    request
        .candidates
        .iter()
        .filter(|c| c.healthy)
        .max_by_key(|c| (count(c), std::cmp::Reverse(c.ordinal)))
        .map(|c| c.pod_name.clone())
}

/// Replace a lost (or absent) primary. Updates `mem` and returns what happened.
pub async fn failover(
    servers: &Servers,
    input: &FailoverInput<'_>,
    mem: &mut Memory,
    old_primary: Option<String>,
    reason: &str,
) -> Vec<Event> {
    let started = Instant::now();
    let mut events = vec![Event::FailoverStarted {
        old_primary: old_primary.clone(),
        reason: reason.to_string(),
    }];

    // 1. fence: no replica receives from the old primary any more, so it gets no acks.
    let others: Vec<String> = servers
        .nodes
        .iter()
        .filter(|n| Some(&n.name) != old_primary.as_ref())
        .map(|n| n.name.clone())
        .collect();
    let stops = futures::future::join_all(others.iter().map(|n| servers.stop_io(n))).await;
    for (n, r) in others.iter().zip(stops) {
        if r.is_ok() {
            events.push(Event::Fenced {
                node: n.clone(),
                how: "IO thread stopped".into(),
            });
        }
    }
    if let Some(old) = &old_primary {
        match tokio::time::timeout(servers.config.probe_timeout * 2, servers.fence(old)).await {
            Ok(Ok(())) => events.push(Event::Fenced {
                node: old.clone(),
                how: "set read-only".into(),
            }),
            _ => {
                tracing::info!(node = %old, "old primary unreachable; fenced by the stopped IO threads")
            }
        }
    }

    // 2. candidates, with received sets frozen now that IO threads are stopped.
    let observed = observe_all(servers, old_primary.as_deref()).await;
    let ordinal = |n: &str| {
        servers
            .nodes
            .iter()
            .find(|a| a.name == n)
            .map(|a| a.ordinal)
            .unwrap_or(u32::MAX)
    };
    let cands = candidates(
        &observed,
        &ordinal,
        mem.last_primary_executed.as_ref(),
        &mem.errant,
    );
    for c in &cands {
        if !c.errant_gtids.is_empty() && !mem.errant.contains_key(&c.pod_name) {
            events.push(Event::ErrantReplica {
                node: c.pod_name.clone(),
                gtids: c.errant_gtids.clone(),
            });
        }
    }
    if cands.is_empty() {
        return blocked(mem, events, "no reachable replica to promote".into());
    }
    let failed = old_primary.as_deref().and_then(|o| servers.addr(o).ok());
    let request = FailoverRequest {
        cluster: input.cluster.clone(),
        failed_primary: FailedPrimary {
            pod_name: old_primary.clone().unwrap_or_default(),
            ordinal: failed.map(|f| f.ordinal).unwrap_or(u32::MAX),
            zone: None,
            last_known_gtid_executed: mem
                .last_primary_executed
                .as_ref()
                .map(|g| g.to_string())
                .unwrap_or_default(),
        },
        reason: if old_primary.is_some() {
            FailoverReason::PrimaryLost
        } else {
            FailoverReason::PrimaryFenced
        },
        candidates: cands.clone(),
        settings: input.settings.to_string(),
    };

    // 3. choose. A first election (no old primary) is not a failover: the built-in rule
    // decides it, so a vetoing policy cannot keep a new cluster from ever starting.
    let hook: &dyn FailoverCandidate = if old_primary.is_some() {
        input.hook
    } else {
        &BuiltinFailover
    };
    let chosen = match choose(&request, hook, servers.config.allow_data_loss) {
        Ok(c) => c,
        Err(why) => return blocked(mem, events, why),
    };
    let Some(node) = observed.iter().find(|n| n.name == chosen) else {
        return blocked(mem, events, format!("chosen {chosen} vanished"));
    };
    let retrieved = node
        .seen
        .as_ref()
        .and_then(|s| s.replica.as_ref())
        .map(|r| r.retrieved.to_position())
        .unwrap_or_default();

    // 4. apply the relay log, 5. promote, 6. repoint.
    if let Err(e) = servers
        .wait_applied(&chosen, &retrieved, servers.config.apply_timeout)
        .await
    {
        return blocked(
            mem,
            events,
            format!("candidate did not apply its relay log: {e}"),
        );
    }
    // Semi-sync only when another node is there to acknowledge (a new cluster's first
    // primary has none yet; see Action::ConfigurePrimary).
    let others_reachable = observed
        .iter()
        .any(|n| n.name != chosen && Some(&n.name) != old_primary.as_ref() && n.seen.is_some());
    if let Err(e) = servers.configure_primary(&chosen, others_reachable).await {
        return blocked(mem, events, format!("promotion failed: {e}"));
    }
    mem.primary = Some(chosen.clone());
    mem.primary_failures = 0;
    mem.blocked = None;
    mem.last_primary_executed = None;
    events.push(Event::Promoted {
        old_primary: old_primary.clone(),
        new_primary: chosen.clone(),
        took: started.elapsed(),
    });
    let errant: Vec<&str> = cands
        .iter()
        .filter(|c| !c.errant_gtids.is_empty())
        .map(|c| c.pod_name.as_str())
        .collect();
    for c in &cands {
        if c.errant_gtids.is_empty() {
            continue;
        }
        if let Ok(g) = GtidSet::parse(servers.flavor.gtid_format(), &c.errant_gtids) {
            mem.errant.insert(c.pod_name.clone(), g);
        }
    }
    let repoint: Vec<&str> = observed
        .iter()
        .filter(|n| n.reachable() && n.name != chosen && !errant.contains(&n.name.as_str()))
        .map(|n| n.name.as_str())
        .collect();
    let results =
        futures::future::join_all(repoint.iter().map(|n| servers.replicate_from(n, &chosen))).await;
    for (n, r) in repoint.iter().zip(results) {
        events.push(match r {
            Ok(()) => Event::Repointed {
                node: n.to_string(),
                source: chosen.clone(),
            },
            Err(e) => Event::ActionFailed {
                action: format!("repoint {n}"),
                error: e.to_string(),
            },
        });
    }
    events
}

fn blocked(mem: &mut Memory, mut events: Vec<Event>, reason: String) -> Vec<Event> {
    tracing::error!("failover blocked: {reason}");
    mem.blocked = Some(reason.clone());
    events.push(Event::FailoverBlocked { reason });
    events
}

/// Planned switchover from the current primary to `target` (or the built-in choice).
/// Returns the write-unavailability window (read-only on → writable on the new primary).
pub async fn switchover(
    servers: &Servers,
    input: &FailoverInput<'_>,
    mem: &mut Memory,
    target: Option<&str>,
) -> Result<Vec<Event>, ExecError> {
    let old = mem
        .primary
        .clone()
        .ok_or_else(|| ExecError::Refused("no primary to switch over from".into()))?;
    let observed = observe_all(servers, Some(&old)).await;
    let ordinal = |n: &str| {
        servers
            .nodes
            .iter()
            .find(|a| a.name == n)
            .map(|a| a.ordinal)
            .unwrap_or(u32::MAX)
    };
    let mut cands = candidates(&observed, &ordinal, None, &mem.errant);
    cands.retain(|c| c.errant_gtids.is_empty());
    let chosen = match target {
        Some(t) => {
            if !cands.iter().any(|c| c.pod_name == t) {
                return Err(ExecError::Refused(format!(
                    "switchover target {t} is not a reachable replica without errant GTIDs"
                )));
            }
            t.to_string()
        }
        None => {
            // the failover-candidate hook decides planned switchovers too
            let old_addr = servers.addr(&old)?;
            let request = FailoverRequest {
                cluster: input.cluster.clone(),
                failed_primary: FailedPrimary {
                    pod_name: old.clone(),
                    ordinal: old_addr.ordinal,
                    zone: None,
                    last_known_gtid_executed: String::new(),
                },
                reason: FailoverReason::PlannedSwitchover,
                candidates: cands,
                settings: input.settings.to_string(),
            };
            choose(&request, input.hook, false).map_err(ExecError::Refused)?
        }
    };

    // read-only the primary (in-flight commits get the grace period), then kill the rest.
    let start = Instant::now();
    let mut c = servers.conn(&old).await?;
    let _ = tokio::time::timeout(
        servers.config.switchover_grace,
        mysql_async::prelude::Queryable::query_drop(&mut c, servers.flavor.set_read_only()),
    )
    .await;
    drop(c);
    servers.fence(&old).await?;
    let mut c = servers.conn(&old).await?;
    let (executed,): (Option<String>,) =
        mysql_async::prelude::Queryable::query_first(&mut c, servers.flavor.select_gtid_executed())
            .await
            .map_err(|e| ExecError::Node {
                node: old.clone(),
                message: e.to_string(),
            })?
            .unwrap_or((None,));
    let executed = GtidSet::parse(
        servers.flavor.gtid_format(),
        executed.as_deref().unwrap_or_default(),
    )
    .map_err(|e| ExecError::Refused(e.to_string()))?;
    // wait for the candidate to catch up, then promote and repoint (old primary included).
    if let Err(e) = servers
        .wait_applied(
            &chosen,
            &executed.to_position(),
            servers.config.apply_timeout,
        )
        .await
    {
        // roll back: the old primary takes writes again
        let _ = servers.configure_primary(&old, true).await;
        return Err(e);
    }
    // the old primary replicates from the new one: there is a replica to acknowledge
    servers.configure_primary(&chosen, true).await?;
    let unavailable = start.elapsed();
    mem.primary = Some(chosen.clone());
    mem.primary_failures = 0;
    mem.blocked = None;
    let mut events = vec![Event::SwitchoverDone {
        old_primary: old.clone(),
        new_primary: chosen.clone(),
        unavailable,
    }];
    let others: Vec<String> = servers
        .nodes
        .iter()
        .filter(|n| n.name != chosen && !mem.errant.contains_key(&n.name))
        .map(|n| n.name.clone())
        .collect();
    let results =
        futures::future::join_all(others.iter().map(|n| servers.replicate_from(n, &chosen))).await;
    for (n, r) in others.iter().zip(results) {
        events.push(match r {
            Ok(()) => Event::Repointed {
                node: n.clone(),
                source: chosen.clone(),
            },
            Err(e) => Event::ActionFailed {
                action: format!("repoint {n}"),
                error: e.to_string(),
            },
        });
    }
    Ok(events)
}

#[cfg(test)]
#[path = "failover_tests.rs"]
mod tests;
