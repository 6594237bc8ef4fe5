//! Unit tests of the pure parts of failover: candidate building and choice validation.

use super::*;
use policy::{Flavor, HookError, ThreadState};

fn cand(name: &str, exec: &str, ret: &str, errant: &str) -> Candidate {
    Candidate {
        pod_name: name.into(),
        ordinal: name.trim_start_matches('n').parse().unwrap_or(9),
        zone: None,
        labels: Default::default(),
        gtid_executed: exec.into(),
        gtid_retrieved: ret.into(),
        errant_gtids: errant.into(),
        lag_seconds: None,
        io_thread: ThreadState::Stopped,
        sql_thread: ThreadState::Running,
        healthy: true,
    }
}

fn request(c: Vec<Candidate>) -> FailoverRequest {
    FailoverRequest {
        cluster: ClusterInfo {
            name: "c".into(),
            namespace: "ns".into(),
            flavor: Flavor::Mariadb,
            version: "10.11".into(),
            replicas: 3,
            labels: Default::default(),
        },
        failed_primary: FailedPrimary {
            pod_name: "n0".into(),
            ordinal: 0,
            zone: None,
            last_known_gtid_executed: "0-1-10".into(),
        },
        reason: FailoverReason::PrimaryLost,
        candidates: c,
        settings: "{}".into(),
    }
}

struct Fixed(Result<Decision, HookError>);
impl FailoverCandidate for Fixed {
    fn choose(&self, _r: &FailoverRequest) -> Result<Decision, HookError> {
        self.0.clone()
    }
}

#[test]
fn abstain_falls_back_to_the_builtin_rule() {
    let r = request(vec![
        cand("n1", "0-1-9", "0-1-9", ""),
        cand("n2", "0-1-9", "0-1-10", ""),
    ]);
    assert_eq!(
        choose(&r, &Fixed(Ok(Decision::Abstain)), false),
        Ok("n2".into())
    );
}

#[test]
fn a_policy_veto_is_obeyed_even_with_allow_data_loss() {
    let r = request(vec![cand("n1", "0-1-10", "0-1-10", "")]);
    let veto = Fixed(Ok(Decision::Veto("frozen".into())));
    assert_eq!(choose(&r, &veto, true), Err("vetoed: frozen".into()));
}

#[test]
fn allow_data_loss_overrides_only_the_builtin_safety_veto() {
    // both replicas carry errant GTIDs: the built-in rule vetoes
    let r = request(vec![
        cand("n1", "0-1-10,0-2-1", "0-1-10", "0-2-1"),
        cand("n2", "0-1-8,0-3-1", "0-1-8", "0-3-1"),
    ]);
    assert!(
        choose(&r, &BuiltinFailover, false)
            .unwrap_err()
            .starts_with("vetoed")
    );
    assert_eq!(choose(&r, &BuiltinFailover, true), Ok("n1".into()));
}

#[test]
fn a_hook_pick_that_is_unknown_or_errant_is_refused() {
    let r = request(vec![
        cand("n1", "0-1-10,0-2-1", "0-1-10", "0-2-1"),
        cand("n2", "0-1-10", "0-1-10", ""),
    ]);
    let unknown = Fixed(Ok(Decision::Promote("n7".into())));
    assert!(
        choose(&r, &unknown, false)
            .unwrap_err()
            .contains("not a candidate")
    );
    let errant = Fixed(Ok(Decision::Promote("n1".into())));
    assert!(choose(&r, &errant, false).unwrap_err().contains("errant"));
    let failed = Fixed(Err(HookError::Trap {
        module: "m".into(),
        message: "boom".into(),
    }));
    assert!(
        choose(&r, &failed, false)
            .unwrap_err()
            .contains("hook failed")
    );
}

#[test]
fn candidates_mark_errant_against_primary_and_received_sets() {
    use crate::model::{NodeState, ReplicaStatus, Seen};
    use flavor::GtidFormat;
    let g = |s: &str| GtidSet::parse(GtidFormat::Mariadb, s).unwrap();
    let node = |name: &str, exec: &str, ret: &str| NodeState {
        name: name.into(),
        seen: Some(Seen {
            server_id: 2,
            read_only: true,
            executed: g(exec),
            replica: Some(ReplicaStatus {
                source_host: "h".into(),
                source_port: 1,
                source_node: Some("n0".into()),
                io: ThreadState::Stopped,
                sql: ThreadState::Running,
                last_error: String::new(),
                retrieved: g(ret),
                seconds_behind: None,
            }),
            heartbeat_lag: None,
            semi_sync_source: false,
            semi_sync_replica: true,
        }),
        error: None,
    };
    // n1 received 0-1-12 after the engine last saw the primary at 0-1-10: not errant.
    // n2 has a local write 0-3-1: errant.
    let nodes = vec![
        node("n1", "0-1-12", "0-1-12"),
        node("n2", "0-1-10,0-3-1", "0-1-10"),
    ];
    let ord = |n: &str| n.trim_start_matches('n').parse().unwrap_or(0);
    let c = candidates(&nodes, &ord, Some(&g("0-1-10")), &Default::default());
    assert_eq!(c[0].errant_gtids, "");
    assert_eq!(c[1].errant_gtids, "0-3-1");
}
