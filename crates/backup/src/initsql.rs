//! The init step's config half: the default init SQL script (run by mysqld as its
//! `init-file` on every start) and the dynamic my.cnf part, both derived from where the
//! data came from.
//!
//! The script runs with `sql_log_bin = 0`, so nothing it does becomes an (errant)
//! transaction. Work that must happen once per copy — setting the GTID position, dropping
//! the orphaned dictionary entries that `--tables-exclude` leaves and re-creating those
//! tables empty — sits in a block guarded by the copy's id in `sys_operator.clone_applied`,
//! so a mysqld restart without a new init run does not repeat it.

use crate::BackupError;
use crate::init::CloneRecord;
use policy::{Exclusions, Flavor};
use std::fmt::Write as _;
use std::path::Path;

/// Quote an identifier with backticks.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Quote a string literal.
pub fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// The operator's default init script for this pod; `base` is the cluster's part (users,
/// schemas) rendered elsewhere, kept verbatim after the preamble.
pub fn default_script(flavor: Flavor, record: Option<&CloneRecord>, base: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "-- mysql-operator init script");
    let _ = writeln!(s, "SET SESSION sql_log_bin = 0;");
    if let Some(r) = record {
        let _ = writeln!(
            s,
            "-- data source: {:?} from {}",
            r.source,
            r.from.as_deref().unwrap_or("-")
        );
        if let (Flavor::Mariadb, Some(gtid)) = (flavor, &r.gtid) {
            // Only while the position is still empty: later starts keep replication's own.
            let _ = writeln!(
                s,
                "SET GLOBAL gtid_slave_pos = IF(@@GLOBAL.gtid_slave_pos = '', {}, @@GLOBAL.gtid_slave_pos);",
                quote_str(gtid)
            );
        }
        if !is_empty(&r.exclusions) {
            let _ = writeln!(s, "CREATE DATABASE IF NOT EXISTS sys_operator;");
            let _ = writeln!(
                s,
                "CREATE TABLE IF NOT EXISTS sys_operator.clone_applied (id VARCHAR(64) NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB;"
            );
            let _ = writeln!(s, "{}", once_block(r));
        }
    }
    if !base.trim().is_empty() {
        s.push_str(base.trim_end());
        s.push('\n');
    }
    s
}

fn is_empty(e: &Exclusions) -> bool {
    e.tables.is_empty() && e.schemas.is_empty()
}

/// One line (init-file reads one statement per line): drop the orphans, re-create the
/// excluded tables empty, remember the copy id.
fn once_block(r: &CloneRecord) -> String {
    let mut body = String::new();
    for schema in &r.exclusions.schemas {
        let _ = write!(body, "DROP DATABASE IF EXISTS {}; ", quote_ident(schema));
    }
    for t in &r.exclusions.tables {
        let _ = write!(
            body,
            "DROP TABLE IF EXISTS {}.{}; ",
            quote_ident(&t.schema),
            quote_ident(&t.name)
        );
    }
    for t in &r.exclusions.tables {
        let _ = write!(
            body,
            "CREATE DATABASE IF NOT EXISTS {}; ",
            quote_ident(&t.schema)
        );
    }
    for stmt in &r.create_statements {
        let one_line: String = stmt.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = write!(body, "{}; ", one_line.trim_end_matches(';'));
    }
    format!(
        "BEGIN NOT ATOMIC IF NOT EXISTS (SELECT 1 FROM sys_operator.clone_applied WHERE id = {id}) THEN {body}INSERT INTO sys_operator.clone_applied (id) VALUES ({id}); END IF; END;",
        id = quote_str(&r.clone_id)
    )
}

/// The replication filters a filtered copy needs: excluded tables stay out of its
/// replication, or the first row event for one stops the applier.
pub fn replication_filters(ex: &Exclusions) -> String {
    let mut s = String::new();
    for schema in &ex.schemas {
        let _ = writeln!(s, "replicate-wild-ignore-table = {schema}.%");
    }
    for t in &ex.tables {
        let _ = writeln!(s, "replicate-ignore-table = {}.{}", t.schema, t.name);
    }
    s
}

/// Facts for the dynamic part of my.cnf.
#[derive(Debug, Clone)]
pub struct DynamicConfig<'a> {
    pub ordinal: u32,
    /// `spec.serverIDOffset`: `server-id` = offset + ordinal.
    pub server_id_offset: u32,
    /// The data dir mysqld and the backup tool use.
    pub datadir: &'a Path,
    /// Extra `[mysqld]` lines, e.g. the flavor's `read-only` options.
    pub extra_lines: &'a [&'a str],
    /// The pod's stable DNS name, reported to the primary.
    pub report_host: &'a str,
    /// Path mysqld reads as `init-file`.
    pub init_file: &'a Path,
    pub record: Option<&'a CloneRecord>,
}

/// Copy the mounted my.cnf to `conf_dir/my.cnf` and write `conf_dir/conf.d/10-dynamic.cnf`
/// (server id, report host, data dir, init file, the extra lines, replication filters of
/// a filtered copy).
pub fn render_config(
    mounted_cnf: &Path,
    conf_dir: &Path,
    cfg: &DynamicConfig<'_>,
) -> Result<(), BackupError> {
    let conf_d = conf_dir.join("conf.d");
    std::fs::create_dir_all(&conf_d).map_err(|e| BackupError::io(&conf_d, e))?;
    let mut base =
        std::fs::read_to_string(mounted_cnf).map_err(|e| BackupError::io(mounted_cnf, e))?;
    let include = format!("!includedir {}", conf_d.display());
    if !base.contains(&include) {
        if !base.ends_with('\n') {
            base.push('\n');
        }
        base.push_str(&include);
        base.push('\n');
    }
    let target = conf_dir.join("my.cnf");
    std::fs::write(&target, base).map_err(|e| BackupError::io(&target, e))?;
    let mut dynamic = String::from("# written by mysql-operator init; do not edit\n[mysqld]\n");
    let _ = writeln!(
        dynamic,
        "server-id = {}",
        cfg.server_id_offset.saturating_add(cfg.ordinal)
    );
    let _ = writeln!(dynamic, "report-host = {}", cfg.report_host);
    let _ = writeln!(dynamic, "datadir = {}", cfg.datadir.display());
    let _ = writeln!(dynamic, "init-file = {}", cfg.init_file.display());
    for line in cfg.extra_lines {
        let _ = writeln!(dynamic, "{line}");
    }
    if let Some(r) = cfg.record {
        dynamic.push_str(&replication_filters(&r.exclusions));
    }
    let path = conf_d.join("10-dynamic.cnf");
    std::fs::write(&path, dynamic).map_err(|e| BackupError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::{DataSource, TableRef};

    fn record() -> CloneRecord {
        CloneRecord {
            source: DataSource::PeerClone,
            from: Some("mysql-1:8080".into()),
            gtid: Some("0-1-42".into()),
            exclusions: Exclusions {
                tables: vec![TableRef {
                    schema: "sys_operator".into(),
                    name: "status".into(),
                }],
                schemas: vec![],
            },
            create_statements: vec!["CREATE TABLE `sys_operator`.`status` (\n  `k` int\n)".into()],
            clone_id: "c-1".into(),
        }
    }

    #[test]
    fn filtered_clone_drops_orphans_once_and_sets_gtid() {
        let s = default_script(
            Flavor::Mariadb,
            Some(&record()),
            "CREATE USER IF NOT EXISTS x;",
        );
        assert!(s.starts_with("-- mysql-operator init script\nSET SESSION sql_log_bin = 0;"));
        assert!(
            s.contains("IF(@@GLOBAL.gtid_slave_pos = '', '0-1-42'"),
            "{s}"
        );
        let block = s
            .lines()
            .find(|l| l.starts_with("BEGIN NOT ATOMIC"))
            .unwrap();
        let drop = block
            .find("DROP TABLE IF EXISTS `sys_operator`.`status`")
            .unwrap();
        let create = block
            .find("CREATE TABLE `sys_operator`.`status` ( `k` int )")
            .unwrap();
        assert!(drop < create, "{block}");
        assert!(block.contains("WHERE id = 'c-1'"));
        assert!(s.trim_end().ends_with("CREATE USER IF NOT EXISTS x;"));
        assert_eq!(
            replication_filters(&record().exclusions),
            "replicate-ignore-table = sys_operator.status\n"
        );
    }

    #[test]
    fn unfiltered_and_mysql_scripts_stay_minimal() {
        let mut r = record();
        r.exclusions = Exclusions::default();
        let s = default_script(Flavor::Mysql, Some(&r), "");
        assert!(
            !s.contains("gtid_slave_pos") && !s.contains("BEGIN NOT ATOMIC"),
            "{s}"
        );
    }

    #[test]
    fn renders_config_files() {
        let d = tempfile::tempdir().unwrap();
        let mounted = d.path().join("mounted.cnf");
        std::fs::write(&mounted, "[mysqld]\nmax_connections = 10").unwrap();
        let conf = d.path().join("etc");
        let init = d.path().join("init.sql");
        let r = record();
        render_config(
            &mounted,
            &conf,
            &DynamicConfig {
                ordinal: 2,
                server_id_offset: 100,
                datadir: Path::new("/var/lib/mysql"),
                extra_lines: &["read-only = ON"],
                report_host: "c-mysql-2.mysql",
                init_file: &init,
                record: Some(&r),
            },
        )
        .unwrap();
        let main = std::fs::read_to_string(conf.join("my.cnf")).unwrap();
        assert!(main.contains("max_connections = 10\n!includedir"));
        let dynamic = std::fs::read_to_string(conf.join("conf.d/10-dynamic.cnf")).unwrap();
        assert!(dynamic.contains("server-id = 102"));
        assert!(dynamic.contains("datadir = /var/lib/mysql\n"));
        assert!(dynamic.contains("read-only = ON\n"));
        assert!(dynamic.contains("replicate-ignore-table = sys_operator.status"));
        let err = render_config(
            &d.path().join("nope"),
            &conf,
            &DynamicConfig {
                ordinal: 0,
                server_id_offset: 100,
                datadir: Path::new("/d"),
                extra_lines: &[],
                report_host: "h",
                init_file: &init,
                record: None,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
