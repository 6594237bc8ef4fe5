//! Template policy: on failover, promote the least-lagged safe replica that carries a
//! label (e.g. `failover-preferred=true`), veto when no replica holds the failed primary's
//! transactions, and otherwise abstain so the operator's built-in rule decides.
//!
//! Settings: `{"label": "failover-preferred", "value": "true", "maxLagSeconds": 30}`.

// Bindings for one world of the policy ABI: pick the world exporting the hooks you need
// (`init-script-policy`, `backup-filter-policy`, `failover-candidate-policy`, `policy`).
wit_bindgen::generate!({ world: "failover-candidate-policy", path: "../../wit" });

use sdk::{Decision, FailoverRequest};

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    label: String,
    value: String,
    max_lag_seconds: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            label: "failover-preferred".into(),
            value: "true".into(),
            max_lag_seconds: 30.0,
        }
    }
}

struct Template;

impl sdk::Policy for Template {
    const NAME: &'static str = "policy-template";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Settings = Settings;

    fn validate(s: &Settings) -> Result<(), String> {
        if s.label.is_empty() || s.max_lag_seconds < 0.0 {
            return Err("label must be non-empty and maxLagSeconds >= 0".into());
        }
        Ok(())
    }
}

impl sdk::FailoverPolicy for Template {
    fn choose(req: &FailoverRequest, s: &Settings) -> Result<Decision, String> {
        let primary = req.failed_primary.gtid_set().map_err(|e| e.to_string())?;
        let mut safe = Vec::new();
        for c in &req.candidates {
            if c.holds(&primary).map_err(|e| e.to_string())? && c.healthy && !c.has_errant_gtids() {
                safe.push(c);
            }
        }
        if safe.is_empty() && !primary.is_empty() {
            return Ok(Decision::Veto(format!(
                "no healthy replica holds {primary}"
            )));
        }
        let best = safe
            .into_iter()
            .filter(|c| c.label(&s.label) == Some(s.value.as_str()))
            .filter(|c| c.lag_seconds.is_some_and(|l| l <= s.max_lag_seconds))
            .min_by(|a, b| {
                a.lag_seconds
                    .partial_cmp(&b.lag_seconds)
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        sdk::info(&format!("labelled choice: {:?}", best.map(|c| &c.pod_name)));
        Ok(best.map_or(Decision::Abstain, |c| Decision::Promote(c.pod_name.clone())))
    }
}

sdk::export_policy!(Template: [failover_candidate]);
