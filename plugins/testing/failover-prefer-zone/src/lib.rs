//! Test module for the failover-candidate hook: promote the safe replica (healthy, no
//! errant GTIDs) with the least lag in the zone named by the `zone` setting; abstain when
//! there is none; veto planned switchovers when `vetoSwitchover` is "yes".

wit_bindgen::generate!({ world: "failover-candidate-policy", path: "../../../wit" });

use exports::mysql_operator::policy::failover_candidate::{self, Decision, FailoverReason, FailoverRequest};
use exports::mysql_operator::policy::meta::{self, ModuleInfo};
use mysql_operator::policy::log::log;
use mysql_operator::policy::types::LogLevel;

struct Policy;

/// A top-level string setting from the settings JSON (these tests use flat objects only).
fn setting(settings: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\"");
    let rest = &settings[settings.find(&pat)? + pat.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

impl meta::Guest for Policy {
    fn describe() -> ModuleInfo {
        ModuleInfo { name: "failover-prefer-zone".into(), version: "1.0.0".into() }
    }

    fn validate_settings(settings: String) -> Result<(), String> {
        match setting(&settings, "zone") {
            Some(z) if !z.is_empty() => Ok(()),
            _ => Err("settings need a non-empty \"zone\", e.g. {\"zone\":\"eu-1a\"}".into()),
        }
    }
}

impl failover_candidate::Guest for Policy {
    fn choose(req: FailoverRequest) -> Result<Decision, String> {
        let zone = setting(&req.settings, "zone").ok_or("no zone setting")?;
        if matches!(req.reason, FailoverReason::PlannedSwitchover) && setting(&req.settings, "vetoSwitchover").as_deref() == Some("yes") {
            return Ok(Decision::Veto("planned switchovers are vetoed by policy".into()));
        }
        let best = req
            .candidates
            .iter()
            .filter(|c| c.healthy && c.errant_gtids.is_empty() && c.zone.as_deref() == Some(zone.as_str()))
            .min_by(|a, b| {
                let la = a.lag_seconds.unwrap_or(f64::INFINITY);
                let lb = b.lag_seconds.unwrap_or(f64::INFINITY);
                la.total_cmp(&lb).then(a.ordinal.cmp(&b.ordinal))
            });
        match best {
            Some(c) => {
                log(LogLevel::Info, &format!("promoting {} in zone {zone}", c.pod_name));
                Ok(Decision::Promote(c.pod_name.clone()))
            }
            None => Ok(Decision::Abstain),
        }
    }
}

export!(Policy);
