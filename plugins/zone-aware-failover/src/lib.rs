//! `failover-candidate` policy: promote a safe replica in the failed primary's zone, else
//! the least-lagged safe replica anywhere; veto when no candidate holds the failed
//! primary's last known GTID set, so no acknowledged write is lost.
//!
//! Safe = healthy, no errant GTIDs, lag within `maxLagSeconds` (unknown lag allowed but
//! ranked last) and — while `vetoOnMissingGtids` is on — executed ∪ retrieved GTIDs cover
//! the primary's. Ties go to the lowest ordinal. The C, JavaScript and Python versions in
//! `plugins/{c,js,python}` implement exactly this and are tested against it.

wit_bindgen::generate!({ world: "failover-candidate-policy", path: "../../wit" });

use sdk::{Candidate, Decision, FailoverRequest};

/// The one veto reason, identical in every language's version of this policy.
pub const VETO_REASON: &str = "no candidate has the failed primary's last known GTID set; promoting any would lose acknowledged transactions";

/// Thresholds and switches, from the attachment's `settings`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Candidates lagging more than this many seconds are not promoted.
    pub max_lag_seconds: f64,
    /// Prefer safe candidates in the failed primary's zone.
    pub prefer_same_zone: bool,
    /// Veto when no candidate holds the primary's last GTID set, and only promote ones that do.
    pub veto_on_missing_gtids: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_lag_seconds: 300.0,
            prefer_same_zone: true,
            veto_on_missing_gtids: true,
        }
    }
}

struct ZoneAware;

impl sdk::Policy for ZoneAware {
    const NAME: &'static str = "zone-aware-failover";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Settings = Settings;

    fn validate(s: &Settings) -> Result<(), String> {
        if !s.max_lag_seconds.is_finite() || s.max_lag_seconds < 0.0 {
            return Err(format!(
                "maxLagSeconds must be a number >= 0, got {}",
                s.max_lag_seconds
            ));
        }
        Ok(())
    }
}

impl sdk::FailoverPolicy for ZoneAware {
    fn choose(req: &FailoverRequest, s: &Settings) -> Result<Decision, String> {
        let primary = req
            .failed_primary
            .gtid_set()
            .map_err(|e| format!("failed primary {}: {e}", req.failed_primary.pod_name))?;
        let mut holds = Vec::with_capacity(req.candidates.len());
        for c in &req.candidates {
            holds.push(
                c.holds(&primary)
                    .map_err(|e| format!("candidate {}: {e}", c.pod_name))?,
            );
        }
        if s.veto_on_missing_gtids && !primary.is_empty() && !holds.iter().any(|h| *h) {
            sdk::warn(VETO_REASON);
            return Ok(Decision::Veto(VETO_REASON.to_string()));
        }
        let lag_ok = |c: &Candidate| {
            c.lag_seconds
                .is_none_or(|l| l.is_nan() || l <= s.max_lag_seconds)
        };
        let safe: Vec<&Candidate> = req
            .candidates
            .iter()
            .zip(&holds)
            .filter(|(c, h)| {
                c.healthy && !c.has_errant_gtids() && lag_ok(c) && (**h || !s.veto_on_missing_gtids)
            })
            .map(|(c, _)| c)
            .collect();
        let zone = req
            .failed_primary
            .zone
            .as_deref()
            .filter(|_| s.prefer_same_zone);
        let same_zone: Vec<&Candidate> = safe
            .iter()
            .copied()
            .filter(|c| zone.is_some() && c.zone.as_deref() == zone)
            .collect();
        let pool = if same_zone.is_empty() {
            safe
        } else {
            same_zone
        };
        let Some(best) = pool.into_iter().min_by(|a, b| {
            rank(a)
                .partial_cmp(&rank(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        }) else {
            sdk::info("no safe candidate; abstaining");
            return Ok(Decision::Abstain);
        };
        sdk::info(&format!(
            "promoting {} (zone {:?}, lag {:?})",
            best.pod_name, best.zone, best.lag_seconds
        ));
        Ok(Decision::Promote(best.pod_name.clone()))
    }
}

/// Sort key: known lag before unknown, then lag, then ordinal.
fn rank(c: &Candidate) -> (bool, f64, u32) {
    match c.lag_seconds {
        Some(l) if !l.is_nan() => (false, l, c.ordinal),
        _ => (true, 0.0, c.ordinal),
    }
}

sdk::export_policy!(ZoneAware: [failover_candidate]);
