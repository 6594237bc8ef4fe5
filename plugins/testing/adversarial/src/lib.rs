//! Test module that misbehaves on purpose in every hook, as the `mode` setting says:
//! `loop`, `memory`, `trap`, `huge-output`, `invalid-candidate`, `refuse`, `log-flood`,
//! `reject-settings` (refused at attach time) or `ok` (behaves).

wit_bindgen::generate!({ world: "policy", path: "../../../wit" });

use exports::mysql_operator::policy::backup_filter::{self, BackupFilterRequest, Exclusions};
use exports::mysql_operator::policy::failover_candidate::{self, Decision, FailoverRequest};
use exports::mysql_operator::policy::init_script::{self, InitScriptRequest};
use exports::mysql_operator::policy::meta::{self, ModuleInfo};
use mysql_operator::policy::log::log;
use mysql_operator::policy::types::LogLevel;
use std::hint::black_box;

struct Policy;

const MODES: [&str; 9] =
    ["loop", "memory", "trap", "huge-output", "invalid-candidate", "refuse", "log-flood", "reject-settings", "ok"];

/// A top-level string setting from the settings JSON (these tests use flat objects only).
fn setting(settings: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\"");
    let rest = &settings[settings.find(&pat)? + pat.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// Does the bad thing; `Ok(Some(s))` is an oversized answer, `Ok(None)` a normal one.
fn misbehave(settings: &str) -> Result<Option<String>, String> {
    match setting(settings, "mode").as_deref() {
        Some("loop") => {
            let mut i: u64 = 0;
            loop {
                i = black_box(i.wrapping_add(1));
            }
        }
        Some("memory") => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(black_box(vec![1u8; 1 << 20]));
            }
        }
        Some("trap") => panic!("adversarial module traps on purpose"),
        Some("huge-output") => Ok(Some("x".repeat(2 << 20))),
        Some("refuse") => Err("refused on purpose".into()),
        Some("log-flood") => {
            for i in 0..10_000 {
                log(LogLevel::Warn, &format!("flood line {i}"));
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

impl meta::Guest for Policy {
    fn describe() -> ModuleInfo {
        ModuleInfo { name: "adversarial".into(), version: "0.0.1".into() }
    }

    fn validate_settings(settings: String) -> Result<(), String> {
        match setting(&settings, "mode").as_deref() {
            Some("reject-settings") => Err("mode reject-settings: these settings are refused on purpose".into()),
            Some(m) if MODES.contains(&m) => Ok(()),
            other => Err(format!("unknown mode {other:?}; one of {MODES:?}")),
        }
    }
}

impl init_script::Guest for Policy {
    fn render(req: InitScriptRequest) -> Result<String, String> {
        Ok(misbehave(&req.settings)?.unwrap_or(req.default_script))
    }
}

impl backup_filter::Guest for Policy {
    fn filter(req: BackupFilterRequest) -> Result<Exclusions, String> {
        let schemas = misbehave(&req.settings)?.into_iter().collect();
        Ok(Exclusions { tables: Vec::new(), schemas })
    }
}

impl failover_candidate::Guest for Policy {
    fn choose(req: FailoverRequest) -> Result<Decision, String> {
        if setting(&req.settings, "mode").as_deref() == Some("invalid-candidate") {
            return Ok(Decision::Promote("no-such-pod".into()));
        }
        Ok(match misbehave(&req.settings)? {
            Some(huge) => Decision::Veto(huge),
            None => Decision::Abstain,
        })
    }
}

export!(Policy);
