//! Table-driven tests of the pure decision function.

use super::*;
use crate::model::{ReplicaStatus, Seen};
use flavor::{GtidFormat, GtidSet};
use policy::ThreadState;

fn g(s: &str) -> GtidSet {
    GtidSet::parse(GtidFormat::Mariadb, s).unwrap()
}

fn primary(name: &str, exec: &str) -> NodeState {
    NodeState {
        name: name.into(),
        seen: Some(Seen {
            server_id: 1,
            read_only: false,
            executed: g(exec),
            replica: None,
            heartbeat_lag: None,
            semi_sync_source: true,
            semi_sync_replica: false,
        }),
        error: None,
    }
}

fn replica(name: &str, source: &str, exec: &str) -> NodeState {
    NodeState {
        name: name.into(),
        seen: Some(Seen {
            server_id: 2,
            read_only: true,
            executed: g(exec),
            replica: Some(ReplicaStatus {
                source_host: "h".into(),
                source_port: 3306,
                source_node: Some(source.into()),
                io: ThreadState::Running,
                sql: ThreadState::Running,
                last_error: String::new(),
                retrieved: g(exec),
                seconds_behind: Some(0),
            }),
            heartbeat_lag: Some(0.1),
            semi_sync_source: false,
            semi_sync_replica: true,
        }),
        error: None,
    }
}

fn down(name: &str) -> NodeState {
    NodeState {
        name: name.into(),
        seen: None,
        error: Some("connection refused".into()),
    }
}

/// A primary that came back after a restart: reachable, read-only, not replicating.
fn restarted(name: &str, exec: &str) -> NodeState {
    NodeState {
        seen: replica(name, "x", exec).seen.map(|mut s| {
            s.replica = None;
            s.semi_sync_source = true;
            s
        }),
        ..down(name)
    }
}

fn mem(primary: &str, failures: u32) -> Memory {
    Memory {
        primary: Some(primary.into()),
        primary_failures: failures,
        ..Memory::default()
    }
}

fn cfg() -> Config {
    Config::default()
}

fn kinds(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .map(|a| match a {
            Action::ConfigurePrimary { node, .. } => format!("primary:{node}"),
            Action::SetReadOnly { node, .. } => format!("read-only:{node}"),
            Action::ReplicateFrom { node, source } => format!("replicate:{node}<-{source}"),
            Action::Failover { old_primary, .. } => {
                format!("failover:{}", old_primary.as_deref().unwrap_or("-"))
            }
            Action::Report { node, .. } => format!("report:{}", node.as_deref().unwrap_or("-")),
        })
        .collect()
}

#[test]
fn table() {
    struct Case {
        name: &'static str,
        nodes: Vec<NodeState>,
        mem: Memory,
        want: Vec<&'static str>,
        want_primary: Option<&'static str>,
    }
    let cases = vec![
        Case {
            name: "healthy: nothing to do",
            nodes: vec![
                replica("b", "a", "0-1-10"),
                replica("c", "a", "0-1-9"),
                primary("a", "0-1-10"),
            ],
            mem: mem("a", 0),
            want: vec![],
            want_primary: Some("a"),
        },
        Case {
            name: "fresh cluster, all writable and empty: keep one, fence the rest",
            nodes: vec![primary("a", ""), primary("b", ""), primary("c", "")],
            mem: Memory::default(),
            want: vec!["read-only:b", "read-only:c"],
            want_primary: Some("a"),
        },
        Case {
            name: "fresh cluster, all read-only: elect by failover",
            nodes: vec![
                NodeState {
                    seen: replica("a", "x", "").seen.map(|mut s| {
                        s.replica = None;
                        s
                    }),
                    ..down("a")
                },
                NodeState {
                    seen: replica("b", "x", "").seen.map(|mut s| {
                        s.replica = None;
                        s
                    }),
                    ..down("b")
                },
            ],
            mem: Memory::default(),
            want: vec!["failover:-"],
            want_primary: None,
        },
        Case {
            name: "primary lost, below threshold: wait",
            nodes: vec![
                replica("b", "a", "0-1-10"),
                replica("c", "a", "0-1-10"),
                down("a"),
            ],
            mem: mem("a", 1),
            want: vec![],
            want_primary: Some("a"),
        },
        Case {
            name: "primary lost at threshold: fail over",
            nodes: vec![
                replica("b", "a", "0-1-10"),
                replica("c", "a", "0-1-10"),
                down("a"),
            ],
            mem: mem("a", 2),
            want: vec!["failover:a"],
            want_primary: Some("a"),
        },
        Case {
            name: "flapping primary: a successful probe resets the count",
            nodes: vec![
                replica("b", "a", "0-1-10"),
                replica("c", "a", "0-1-10"),
                primary("a", "0-1-10"),
            ],
            mem: mem("a", 2),
            want: vec![],
            want_primary: Some("a"),
        },
        Case {
            name: "all replicas down and primary lost: blocked, reported once",
            nodes: vec![down("b"), down("c"), down("a")],
            mem: mem("a", 5),
            want: vec!["report:-"],
            want_primary: Some("a"),
        },
        Case {
            name: "all replicas down, primary fine: nothing (writes wait for acks)",
            nodes: vec![down("b"), down("c"), primary("a", "0-1-10")],
            mem: mem("a", 0),
            want: vec![],
            want_primary: Some("a"),
        },
        Case {
            name: "split-brain evidence: a second writable node is fenced and repointed",
            nodes: vec![
                primary("b", "0-1-10"),
                replica("c", "a", "0-1-10"),
                primary("a", "0-1-10"),
            ],
            mem: mem("a", 0),
            want: vec!["read-only:b", "replicate:b<-a"],
            want_primary: Some("a"),
        },
        Case {
            name: "errant replica: reported, not repointed",
            nodes: vec![
                replica("b", "a", "0-1-10,0-2-1"),
                replica("c", "a", "0-1-10"),
                primary("a", "0-1-10"),
            ],
            mem: mem("a", 0),
            want: vec!["report:b"],
            want_primary: Some("a"),
        },
        Case {
            name: "old primary back writable with errant writes after a failover",
            nodes: vec![
                primary("a", "0-1-12"),
                replica("c", "b", "0-1-10,0-2-3"),
                primary("b", "0-1-10,0-2-3"),
            ],
            mem: mem("b", 0),
            want: vec!["read-only:a", "report:a"],
            want_primary: Some("b"),
        },
        Case {
            name: "old primary back without errant writes: rejoins as replica",
            nodes: vec![
                primary("a", "0-1-10"),
                replica("c", "b", "0-1-10,0-2-3"),
                primary("b", "0-1-10,0-2-3"),
            ],
            mem: mem("b", 0),
            want: vec!["read-only:a", "replicate:a<-b"],
            want_primary: Some("b"),
        },
        Case {
            name: "lagging replica is not a problem by itself",
            nodes: vec![
                replica("b", "a", "0-1-2"),
                replica("c", "a", "0-1-10"),
                primary("a", "0-1-100"),
            ],
            mem: mem("a", 0),
            want: vec![],
            want_primary: Some("a"),
        },
        Case {
            name: "primary came back read-only (restart) with a replica: fail over to it",
            nodes: vec![replica("b", "a", "0-1-10"), restarted("a", "0-1-10")],
            mem: mem("a", 1),
            want: vec!["failover:a"],
            want_primary: Some("a"),
        },
        Case {
            name: "primary restarted, no replica reachable: made writable again in place",
            nodes: vec![down("b"), restarted("a", "0-1-10")],
            mem: mem("a", 2),
            want: vec!["primary:a"],
            want_primary: Some("a"),
        },
        Case {
            name: "primary restarted, the failover was tried and blocked: in place",
            nodes: vec![replica("b", "a", "0-1-10"), restarted("a", "0-1-10")],
            mem: Memory {
                blocked: Some("vetoed".into()),
                ..mem("a", 1)
            },
            want: vec!["primary:a"],
            want_primary: Some("a"),
        },
        Case {
            name: "primary read-only without failed probes (set by hand): writable again",
            nodes: vec![replica("b", "a", "0-1-10"), restarted("a", "0-1-10")],
            mem: mem("a", 0),
            want: vec!["primary:a"],
            want_primary: Some("a"),
        },
    ];
    for c in cases {
        let plan = decide(&c.nodes, &c.mem, &cfg());
        assert_eq!(kinds(&plan), c.want, "case: {}", c.name);
        assert_eq!(
            plan.memory.primary.as_deref(),
            c.want_primary,
            "case: {}",
            c.name
        );
    }
}

#[test]
fn errant_is_remembered_and_reported_once() {
    let nodes = vec![replica("b", "a", "0-1-10,0-2-1"), primary("a", "0-1-10")];
    let p1 = decide(&nodes, &mem("a", 0), &cfg());
    assert!(p1.memory.errant.contains_key("b"));
    let p2 = decide(&nodes, &p1.memory, &cfg());
    assert!(p2.actions.is_empty(), "{:?}", p2.actions);
}

#[test]
fn blocked_reason_is_kept_and_not_repeated() {
    let nodes = vec![down("b"), down("a")];
    let p1 = decide(&nodes, &mem("a", 5), &cfg());
    assert!(
        p1.memory
            .blocked
            .as_deref()
            .unwrap_or_default()
            .contains("no reachable replica")
    );
    let p2 = decide(&nodes, &p1.memory, &cfg());
    assert!(p2.actions.is_empty());
}

/// Semi-sync waits start only once a replica replicates from the primary: a new
/// cluster's first primary alone must not block its commits (and with them the first
/// replica's clone) on acks nobody can send.
#[test]
fn semi_sync_source_only_with_a_joined_replica() {
    let mut alone = primary("a", "0-1-10");
    if let Some(s) = alone.seen.as_mut() {
        s.semi_sync_source = false;
    }
    let nodes = vec![alone.clone(), down("b"), down("c")];
    let plan = decide(&nodes, &mem("a", 0), &cfg());
    assert!(
        plan.actions.is_empty(),
        "a primary without replicas stays asynchronous: {:?}",
        plan.actions
    );

    let nodes = vec![alone, replica("b", "a", "0-1-10"), down("c")];
    let plan = decide(&nodes, &mem("a", 0), &cfg());
    assert!(
        plan.actions.contains(&Action::ConfigurePrimary {
            node: "a".into(),
            semi_sync: true
        }),
        "a joined replica turns semi-sync on: {:?}",
        plan.actions
    );

    let mut off = cfg();
    off.semi_sync = false;
    let nodes = vec![primary("a", "0-1-10"), replica("b", "a", "0-1-10")];
    assert!(decide(&nodes, &mem("a", 0), &off).actions.is_empty());
}

/// A replica whose SQL thread a backup paused (IO thread healthy) is left alone.
#[test]
fn a_replica_paused_by_a_backup_is_not_repointed() {
    let mut paused = replica("b", "a", "0-1-10");
    if let Some(r) = paused.seen.as_mut().and_then(|s| s.replica.as_mut()) {
        r.sql = ThreadState::Stopped;
    }
    let nodes = vec![primary("a", "0-1-10"), paused];
    let plan = decide(&nodes, &mem("a", 0), &cfg());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);

    let mut io_down = replica("b", "a", "0-1-10");
    if let Some(r) = io_down.seen.as_mut().and_then(|s| s.replica.as_mut()) {
        r.io = ThreadState::Stopped;
    }
    let nodes = vec![primary("a", "0-1-10"), io_down];
    assert_eq!(
        kinds(&decide(&nodes, &mem("a", 0), &cfg())),
        vec!["replicate:b<-a"]
    );
}
