//! The status-table workaround as a policy module. Clones taken with
//! `--tables-exclude=sys_operator.status` leave an orphaned InnoDB dictionary entry on the
//! restored node (MySQL 8: "Tablespace is missing for table `sys_operator`.`status`";
//! MariaDB: SELECT says the table does not exist, CREATE TABLE says it exists). On a pod
//! that is not the primary this module puts `DROP TABLE IF EXISTS` — which clears the orphan
//! — before the operator's default script, which then re-creates the table cleanly; the
//! drop is kept out of the binary log so it never becomes an errant transaction. On the
//! primary the default script runs unchanged. Its `backup-filter` half leaves the same
//! tables out of clones and backups.
//!
//! Settings: `{"tables": ["sys_operator.status"]}` (the default).

wit_bindgen::generate!({
    inline: r#"
        package mysql-operator:status-table-fix;
        world status-table-fix {
            include mysql-operator:policy/init-script-policy@0.1.0;
            include mysql-operator:policy/backup-filter-policy@0.1.0;
        }
    "#,
    path: "../../wit",
    world: "mysql-operator:status-table-fix/status-table-fix",
    generate_all,
});

use sdk::{BackupFilterRequest, Exclusions, InitScriptRequest, TableRef};

/// Which tables to clean and exclude.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `schema.table` names (plain identifiers, no patterns).
    pub tables: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tables: vec!["sys_operator.status".into()],
        }
    }
}

fn identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

/// Splits and checks `schema.table`.
fn table_ref(entry: &str) -> Result<TableRef, String> {
    match entry.split_once('.') {
        Some((s, t)) if identifier(s) && identifier(t) => Ok(TableRef {
            schema: s.into(),
            name: t.into(),
        }),
        _ => Err(format!(
            "tables: {entry:?} is not `schema.table` made of letters, digits, `_` or `$` (at most 64 each), e.g. \"sys_operator.status\""
        )),
    }
}

fn tables(s: &Settings) -> Result<Vec<TableRef>, String> {
    s.tables.iter().map(|t| table_ref(t)).collect()
}

struct StatusTableFix;

impl sdk::Policy for StatusTableFix {
    const NAME: &'static str = "status-table-fix";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Settings = Settings;

    fn validate(s: &Settings) -> Result<(), String> {
        tables(s).map(|_| ())
    }
}

impl sdk::InitScriptPolicy for StatusTableFix {
    fn render(req: &InitScriptRequest, s: &Settings) -> Result<String, String> {
        if !req.is_non_primary() {
            return Ok(req.default_script.clone());
        }
        let mut sql = format!(
            "-- status-table-fix: {} is not the primary; drop tables a clone may have left half-copied.\n\
             SET @status_table_fix_log_bin = @@SESSION.sql_log_bin;\n\
             SET SESSION sql_log_bin = 0;\n",
            req.pod_name
        );
        for t in tables(s)? {
            sql.push_str(&format!(
                "DROP TABLE IF EXISTS `{}`.`{}`;\n",
                t.schema, t.name
            ));
        }
        sql.push_str("SET SESSION sql_log_bin = @status_table_fix_log_bin;\n");
        sql.push_str(&req.default_script);
        sdk::info(&format!(
            "{}: dropping {} table(s) before the default script",
            req.pod_name,
            s.tables.len()
        ));
        Ok(sql)
    }
}

impl sdk::BackupFilterPolicy for StatusTableFix {
    fn filter(_req: &BackupFilterRequest, s: &Settings) -> Result<Exclusions, String> {
        Ok(Exclusions {
            tables: tables(s)?,
            schemas: Vec::new(),
        })
    }
}

sdk::export_policy!(StatusTableFix: [init_script, backup_filter]);
