//! The topology decision as a pure function: observed state + memory → actions + new
//! memory. No I/O, so every situation (healthy, primary lost, split brain, errant
//! replica, lagging candidates, all replicas down, flapping) is a table-driven test.

use crate::model::{Action, Config, Memory, NodeState};

/// The result of one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub memory: Memory,
}

/// Decide what to do. `nodes` must be observed replicas first and the believed primary
/// last, so a replica's executed set can never be ahead of the primary's by timing alone.
pub fn decide(nodes: &[NodeState], memory: &Memory, config: &Config) -> Plan {
    let mut mem = memory.clone();
    let mut actions = Vec::new();

    let Some(primary) = mem.primary.clone() else {
        return bootstrap(nodes, mem);
    };
    let Some(p) = nodes.iter().find(|n| n.name == primary) else {
        mem.primary = None;
        return bootstrap(nodes, mem);
    };

    match &p.seen {
        None => {
            mem.primary_failures += 1;
            if mem.primary_failures >= config.failure_threshold {
                if !replica_can_take_over(nodes, &primary, &mem) {
                    let reason = format!(
                        "primary {primary} lost and no reachable replica without errant GTIDs to promote"
                    );
                    if mem.blocked.as_deref() != Some(&reason) {
                        actions.push(Action::Report {
                            node: None,
                            message: reason.clone(),
                        });
                    }
                    mem.blocked = Some(reason);
                } else {
                    actions.push(Action::Failover {
                        old_primary: Some(primary.clone()),
                        reason: format!(
                            "primary {primary} unreachable for {} consecutive probes: {}",
                            mem.primary_failures,
                            p.error.as_deref().unwrap_or("no answer")
                        ),
                    });
                }
            }
            return Plan {
                actions,
                memory: mem,
            };
        }
        Some(seen) => {
            // Back read-only after failed probes: mariadbd restarted (every server starts
            // read-only), e.g. killed and restarted by the kubelet within the failure
            // threshold. Its crash recovery dropped the commit it was still waiting to
            // have acknowledged (MariaDB with rpl-semi-sync-slave-enabled), which a
            // replica may hold: a replica is promoted (it has every acknowledged write),
            // as for a lost primary. Restarted in place only when no replica can take
            // over, or when that failover was already tried and blocked.
            if mem.primary_failures > 0
                && seen.read_only
                && mem.blocked.is_none()
                && replica_can_take_over(nodes, &primary, &mem)
            {
                actions.push(Action::Failover {
                    old_primary: Some(primary.clone()),
                    reason: format!(
                        "primary {primary} restarted (read-only after {} failed probes)",
                        mem.primary_failures
                    ),
                });
                return Plan {
                    actions,
                    memory: mem,
                };
            }
            mem.primary_failures = 0;
            mem.blocked = None;
            mem.last_primary_executed = Some(seen.executed.clone());
            // Semi-sync waits only once a replica replicates from the primary (see
            // Action::ConfigurePrimary); a write acknowledged before any replica existed
            // had no failover target to lose it to.
            let joined = nodes
                .iter()
                .filter(|n| n.name != primary)
                .filter_map(|n| n.seen.as_ref()?.replica.as_ref())
                .filter(|r| {
                    r.source_node.as_deref() == Some(primary.as_str())
                        && r.io == policy::ThreadState::Running
                })
                .count();
            let wants_semi = config.semi_sync && joined > 0;
            if seen.read_only || seen.replica.is_some() || (wants_semi && !seen.semi_sync_source) {
                actions.push(Action::ConfigurePrimary {
                    node: primary.clone(),
                    semi_sync: wants_semi || seen.semi_sync_source,
                });
            }
            for n in nodes.iter().filter(|n| n.name != primary) {
                let Some(s) = &n.seen else { continue };
                let errant = s.executed.subtract(&seen.executed);
                if !errant.is_empty() || mem.errant.contains_key(&n.name) {
                    if !s.read_only {
                        actions.push(Action::SetReadOnly {
                            node: n.name.clone(),
                            reason: "writable with errant transactions (split-brain evidence)"
                                .into(),
                        });
                    }
                    if !mem.errant.contains_key(&n.name) {
                        actions.push(Action::Report {
                            node: Some(n.name.clone()),
                            message: format!("errant GTIDs {errant}: not joined, needs a re-clone"),
                        });
                        mem.errant.insert(n.name.clone(), errant);
                    }
                    continue;
                }
                if !s.read_only {
                    actions.push(Action::SetReadOnly {
                        node: n.name.clone(),
                        reason: format!(
                            "writable while {primary} is primary (split-brain evidence)"
                        ),
                    });
                }
                // A stopped SQL thread beside a healthy IO thread is a replica paused on
                // purpose (mariabackup --safe-slave-backup while it serves a clone or a
                // backup; the tool restarts it): repointing it would wait for the backup's
                // lock while holding the replication lock the backup needs next.
                let pointed = s.replica.as_ref().is_some_and(|r| {
                    r.source_node.as_deref() == Some(primary.as_str())
                        && r.io != policy::ThreadState::Stopped
                        && r.io != policy::ThreadState::Error
                        && r.sql != policy::ThreadState::Error
                });
                if !pointed || (wants_semi && !s.semi_sync_replica) {
                    actions.push(Action::ReplicateFrom {
                        node: n.name.clone(),
                        source: primary.clone(),
                    });
                }
            }
        }
    }
    Plan {
        actions,
        memory: mem,
    }
}

/// Whether a node other than `primary` is reachable and free of errant GTIDs.
fn replica_can_take_over(nodes: &[NodeState], primary: &str, mem: &Memory) -> bool {
    nodes
        .iter()
        .any(|n| n.name != primary && n.reachable() && !mem.errant.contains_key(&n.name))
}

/// No primary remembered (first start, or an engine restarted mid-failover).
fn bootstrap(nodes: &[NodeState], mut mem: Memory) -> Plan {
    let mut actions = Vec::new();
    let writable: Vec<&NodeState> = nodes.iter().filter(|n| n.writable()).collect();
    match writable.len() {
        1 => {
            mem.primary = Some(writable[0].name.clone());
            mem.primary_failures = 0;
        }
        0 => {
            if nodes.iter().any(|n| n.reachable()) {
                actions.push(Action::Failover {
                    old_primary: None,
                    reason: "no writable node: electing the most advanced safe replica".into(),
                });
            }
        }
        _ => {
            // Several writable nodes: keep the one holding everything the others have;
            // if none does, fence them all and report (never guess).
            let keep = writable.iter().find(|a| {
                writable.iter().all(|b| match (&a.seen, &b.seen) {
                    (Some(sa), Some(sb)) => sa.executed.contains(&sb.executed),
                    _ => false,
                })
            });
            for n in &writable {
                if Some(&n.name) != keep.map(|k| &k.name) {
                    actions.push(Action::SetReadOnly {
                        node: n.name.clone(),
                        reason: "several writable nodes (split-brain evidence)".into(),
                    });
                }
            }
            match keep {
                Some(k) => mem.primary = Some(k.name.clone()),
                None => {
                    let reason =
                        "several writable nodes with diverged data: all fenced".to_string();
                    actions.push(Action::Report {
                        node: None,
                        message: reason.clone(),
                    });
                    mem.blocked = Some(reason);
                }
            }
        }
    }
    Plan {
        actions,
        memory: mem,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
