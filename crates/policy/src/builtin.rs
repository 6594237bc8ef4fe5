//! The built-in `failover-candidate` rule, used when no module is attached or every
//! module abstained: promote the healthy replica without errant GTIDs whose received
//! transactions include every other candidate's, preferring the least lag.

use crate::{Candidate, Decision, FailoverCandidate, FailoverRequest, Flavor, HookError};
use flavor::{GtidFormat, GtidSet};

/// The rule itself; stateless.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinFailover;

fn format_of(f: Flavor) -> GtidFormat {
    match f {
        Flavor::Mariadb => GtidFormat::Mariadb,
        Flavor::Mysql | Flavor::Percona => GtidFormat::Mysql,
    }
}

/// Everything a candidate has that came from the primary: applied plus
/// received-but-not-applied, minus its errant transactions (which nobody should need).
fn known(format: GtidFormat, c: &Candidate) -> Result<GtidSet, String> {
    let exec =
        GtidSet::parse(format, &c.gtid_executed).map_err(|e| format!("{}: {e}", c.pod_name))?;
    let ret =
        GtidSet::parse(format, &c.gtid_retrieved).map_err(|e| format!("{}: {e}", c.pod_name))?;
    let errant = GtidSet::parse(format, &c.errant_gtids).unwrap_or_else(|_| GtidSet::empty(format));
    Ok(exec.union(&ret).subtract(&errant))
}

impl FailoverCandidate for BuiltinFailover {
    fn choose(&self, request: &FailoverRequest) -> Result<Decision, HookError> {
        let format = format_of(request.cluster.flavor);
        let invalid = |message: String| HookError::InvalidOutput {
            module: "builtin".into(),
            message,
        };
        let mut sets = Vec::new();
        for c in &request.candidates {
            sets.push((c, known(format, c).map_err(invalid)?));
        }
        let safe: Vec<_> = sets
            .iter()
            .filter(|(c, _)| c.healthy && c.errant_gtids.trim().is_empty())
            .collect();
        if safe.is_empty() {
            return Ok(Decision::Veto(
                "no healthy candidate without errant GTIDs".into(),
            ));
        }
        let mut complete: Vec<_> = safe
            .iter()
            .filter(|(_, mine)| {
                sets.iter()
                    .filter(|(o, _)| o.healthy)
                    .all(|(_, other)| mine.contains(other))
            })
            .collect();
        if complete.is_empty() {
            return Ok(Decision::Veto(
                "no safe candidate has received every transaction the other replicas received"
                    .into(),
            ));
        }
        complete.sort_by(|(a, _), (b, _)| {
            let la = a.lag_seconds.unwrap_or(f64::MAX);
            let lb = b.lag_seconds.unwrap_or(f64::MAX);
            la.total_cmp(&lb).then(a.ordinal.cmp(&b.ordinal))
        });
        Ok(Decision::Promote(complete[0].0.pod_name.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterInfo, FailedPrimary, FailoverReason, ThreadState};

    fn cand(
        name: &str,
        ord: u32,
        exec: &str,
        ret: &str,
        errant: &str,
        lag: Option<f64>,
    ) -> Candidate {
        Candidate {
            pod_name: name.into(),
            ordinal: ord,
            zone: None,
            labels: Default::default(),
            gtid_executed: exec.into(),
            gtid_retrieved: ret.into(),
            errant_gtids: errant.into(),
            lag_seconds: lag,
            io_thread: ThreadState::Stopped,
            sql_thread: ThreadState::Running,
            healthy: true,
        }
    }

    fn req(c: Vec<Candidate>) -> FailoverRequest {
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
                pod_name: "c-mysql-0".into(),
                ordinal: 0,
                zone: None,
                last_known_gtid_executed: "0-1-100".into(),
            },
            reason: FailoverReason::PrimaryLost,
            candidates: c,
            settings: "{}".into(),
        }
    }

    #[test]
    fn picks_the_replica_that_received_most() {
        let r = req(vec![
            cand("a", 1, "0-1-90", "0-1-95", "", Some(0.1)),
            cand("b", 2, "0-1-90", "0-1-100", "", Some(3.0)),
        ]);
        assert_eq!(
            BuiltinFailover.choose(&r).unwrap(),
            Decision::Promote("b".into())
        );
    }

    #[test]
    fn never_picks_an_errant_replica() {
        let r = req(vec![
            cand("a", 1, "0-1-100,0-2-1", "0-1-100", "0-2-1", Some(0.0)),
            cand("b", 2, "0-1-99", "0-1-100", "", Some(1.0)),
        ]);
        assert_eq!(
            BuiltinFailover.choose(&r).unwrap(),
            Decision::Promote("b".into())
        );
        let only_errant = req(vec![cand(
            "a",
            1,
            "0-1-100,0-2-1",
            "0-1-100",
            "0-2-1",
            None,
        )]);
        assert!(matches!(
            BuiltinFailover.choose(&only_errant).unwrap(),
            Decision::Veto(_)
        ));
    }

    #[test]
    fn ties_go_to_least_lag_then_ordinal() {
        let r = req(vec![
            cand("a", 1, "0-1-100", "0-1-100", "", Some(2.0)),
            cand("b", 2, "0-1-100", "0-1-100", "", Some(0.5)),
            cand("c", 3, "0-1-100", "0-1-100", "", Some(0.5)),
        ]);
        assert_eq!(
            BuiltinFailover.choose(&r).unwrap(),
            Decision::Promote("b".into())
        );
    }

    #[test]
    fn vetoes_when_no_candidate_is_complete() {
        // a has 0-1-100, b has 0-3-1 that a lacks (divergent histories)
        let r = req(vec![
            cand("a", 1, "0-1-100", "0-1-100", "", None),
            cand("b", 2, "0-1-99,0-3-1", "0-3-1", "", None),
        ]);
        assert!(
            matches!(BuiltinFailover.choose(&r).unwrap(), Decision::Veto(m) if m.contains("every transaction"))
        );
    }
}
