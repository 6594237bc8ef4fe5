//! `backup-filter` policy: leaves out tables matching `schema.table` patterns (`*`, `?`,
//! `\` escapes) and tables of the listed storage engines; a pattern whose table part is `*`
//! excludes the matching schemas whole. Optionally only for some kinds of stream.
//!
//! Settings: `{"exclude": ["tmp_*.*", "*.sessions"], "engines": ["MEMORY"],
//! "kinds": ["peer-clone", "scheduled-backup", "on-demand-backup"]}` — every field optional;
//! `kinds` defaults to all. Bad patterns, engines or kinds are refused at attach time.

wit_bindgen::generate!({ world: "backup-filter-policy", path: "../../wit" });

use sdk::{BackupFilterRequest, BackupKind, Exclusions, TablePattern};

/// What to leave out, and for which streams.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `schema.table` patterns.
    pub exclude: Vec<String>,
    /// Storage engines (case-insensitive), e.g. `MEMORY`, `BLACKHOLE`.
    pub engines: Vec<String>,
    /// Stream kinds the filter applies to; absent means all.
    pub kinds: Option<Vec<String>>,
}

const KINDS: [(&str, BackupKind); 3] = [
    ("scheduled-backup", BackupKind::ScheduledBackup),
    ("on-demand-backup", BackupKind::OnDemandBackup),
    ("peer-clone", BackupKind::PeerClone),
];

struct Compiled {
    patterns: Vec<TablePattern>,
    engines: Vec<String>,
    kinds: Option<Vec<BackupKind>>,
}

fn compile(s: &Settings) -> Result<Compiled, String> {
    let patterns = s
        .exclude
        .iter()
        .map(|p| TablePattern::new(p).map_err(|e| format!("exclude: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    for e in &s.engines {
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!(
                "engines: {e:?} is not a storage engine name (letters, digits, `_`), e.g. \"MEMORY\""
            ));
        }
    }
    let kinds = match &s.kinds {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|k| {
                    KINDS.iter().find(|(n, _)| n == k).map(|(_, v)| *v).ok_or_else(|| {
                        format!("kinds: {k:?} is not one of \"scheduled-backup\", \"on-demand-backup\", \"peer-clone\"")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(Compiled {
        patterns,
        engines: s.engines.iter().map(|e| e.to_ascii_uppercase()).collect(),
        kinds,
    })
}

struct BackupFilter;

impl sdk::Policy for BackupFilter {
    const NAME: &'static str = "backup-filter";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Settings = Settings;

    fn validate(s: &Settings) -> Result<(), String> {
        compile(s).map(|_| ())
    }
}

impl sdk::BackupFilterPolicy for BackupFilter {
    fn filter(req: &BackupFilterRequest, s: &Settings) -> Result<Exclusions, String> {
        let c = compile(s)?;
        let mut out = Exclusions::default();
        if c.kinds.as_ref().is_some_and(|k| !k.contains(&req.kind)) {
            return Ok(out);
        }
        for t in &req.tables {
            if c.patterns
                .iter()
                .any(|p| p.is_whole_schema() && p.schema.matches(&t.schema))
            {
                out.schemas.push(t.schema.clone());
            } else if c.engines.contains(&t.engine.to_ascii_uppercase())
                || c.patterns.iter().any(|p| t.matches(p))
            {
                out.tables.push(t.to_ref());
            }
        }
        let out = out.normalized();
        sdk::debug(&format!(
            "excluding {} schema(s) and {} table(s)",
            out.schemas.len(),
            out.tables.len()
        ));
        Ok(out)
    }
}

sdk::export_policy!(BackupFilter: [backup_filter]);
