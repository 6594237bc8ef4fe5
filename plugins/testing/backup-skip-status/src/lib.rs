//! Test module for the backup-filter hook: leave out `sys_operator.status`, every MEMORY
//! table, and the schema named by the `skipSchema` setting.

wit_bindgen::generate!({ world: "backup-filter-policy", path: "../../../wit" });

use exports::mysql_operator::policy::backup_filter::{self, BackupFilterRequest, Exclusions, TableRef};
use exports::mysql_operator::policy::meta::{self, ModuleInfo};

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
        ModuleInfo { name: "backup-skip-status".into(), version: "1.0.0".into() }
    }

    fn validate_settings(settings: String) -> Result<(), String> {
        match setting(&settings, "skipSchema") {
            Some(s) if s.is_empty() => Err("skipSchema must not be empty".into()),
            _ => Ok(()),
        }
    }
}

impl backup_filter::Guest for Policy {
    fn filter(req: BackupFilterRequest) -> Result<Exclusions, String> {
        let tables = req
            .tables
            .iter()
            .filter(|t| (t.schema == "sys_operator" && t.name == "status") || t.engine.eq_ignore_ascii_case("memory"))
            .map(|t| TableRef { schema: t.schema.clone(), name: t.name.clone() })
            .collect();
        let schemas = setting(&req.settings, "skipSchema").into_iter().collect();
        Ok(Exclusions { tables, schemas })
    }
}

export!(Policy);
