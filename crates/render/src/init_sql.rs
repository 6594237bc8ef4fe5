//! The default init SQL script `mysqld` runs at every start (`init-file`): the
//! `sys_operator` database with its status and heartbeat tables, and the operator's own
//! accounts — written without binary logging so it never creates GTIDs.
//!
//! The ConfigMap carries it as a template whose passwords are `${NAME}` placeholders; the
//! init container fills them from the operated Secret with [`fill_placeholders`], which
//! escapes them as SQL string literals. Passwords never appear in the ConfigMap.

use std::collections::BTreeMap;

use crate::mycnf::{ServerFlavor, ServerVersion};

/// The database the operator owns on every server (presslabs' name, kept for adoption).
pub const OPERATOR_DB: &str = "sys_operator";
/// Marks a node configured/ready for the operator (`name`, `value` rows).
pub const STATUS_TABLE: &str = "status";
/// pt-heartbeat's table, read by mysqld_exporter's `--collect.heartbeat`.
pub const HEARTBEAT_TABLE: &str = "heartbeat";

/// An account the operator needs on every server; the password is a placeholder name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Secret key holding the user name (`OPERATOR_USER`), for the fill step.
    pub user: String,
    /// Host part (`%` or `127.0.0.1`).
    pub host: String,
    /// Secret key holding the password, e.g. `OPERATOR_PASSWORD`.
    pub password_key: String,
    /// `GRANT ... ON ...` pairs.
    pub grants: Vec<(String, String)>,
    /// Whether the account may grant (the operator manages MysqlUser grants).
    pub grant_option: bool,
}

/// The operator's accounts with presslabs' user names and the grants this flavor needs.
pub fn operator_accounts(flavor: ServerFlavor, version: ServerVersion) -> Vec<Account> {
    let mariadb_split = flavor == ServerFlavor::Mariadb
        && (version.major, version.minor, version.patch) >= (10, 5, 9);
    let repl_client = if mariadb_split {
        "BINLOG MONITOR, SLAVE MONITOR"
    } else {
        "REPLICATION CLIENT"
    };
    vec![
        Account {
            user: "sys_operator".into(),
            host: "%".into(),
            password_key: "OPERATOR_PASSWORD".into(),
            grants: vec![("ALL PRIVILEGES".into(), "*.*".into())],
            grant_option: true,
        },
        Account {
            user: "sys_replication".into(),
            host: "%".into(),
            password_key: "REPLICATION_PASSWORD".into(),
            grants: vec![(
                format!("SELECT, PROCESS, RELOAD, LOCK TABLES, {repl_client}, REPLICATION SLAVE"),
                "*.*".into(),
            )],
            grant_option: false,
        },
        Account {
            user: "sys_exporter".into(),
            host: "127.0.0.1".into(),
            password_key: "METRICS_EXPORTER_PASSWORD".into(),
            grants: vec![(format!("SELECT, PROCESS, {repl_client}"), "*.*".into())],
            grant_option: false,
        },
    ]
}

fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// Escapes text for a single-quoted SQL string literal (MySQL and MariaDB rules, with
/// backslash escapes enabled as they are by default).
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The init script template, one statement per line and no comments (what `init-file`
/// accepts on every server). `extra_sql` is `spec.initFileExtraSQL`, appended after the
/// operator's part, one statement per entry, as presslabs did.
pub fn init_sql_template(
    flavor: ServerFlavor,
    version: ServerVersion,
    extra_sql: &[String],
) -> String {
    let db = quote_ident(OPERATOR_DB);
    let mut q: Vec<String> = vec![
        "SET @@SESSION.SQL_LOG_BIN = 0;".into(),
        format!("CREATE DATABASE IF NOT EXISTS {db};"),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.{} (name varchar(64) NOT NULL PRIMARY KEY, value varchar(8192) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;",
            quote_ident(STATUS_TABLE)
        ),
        format!(
            "REPLACE INTO {db}.{} VALUES ('configured', '0');",
            quote_ident(STATUS_TABLE)
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.{} (ts varchar(26) NOT NULL, server_id int unsigned NOT NULL PRIMARY KEY, file varchar(255) DEFAULT NULL, position bigint unsigned DEFAULT NULL, relay_master_log_file varchar(255) DEFAULT NULL, exec_master_log_pos bigint unsigned DEFAULT NULL) ENGINE=InnoDB;",
            quote_ident(HEARTBEAT_TABLE)
        ),
    ];
    for account in operator_accounts(flavor, version) {
        let who = format!(
            "{}@{}",
            quote_string(&account.user),
            quote_string(&account.host)
        );
        q.push(format!("CREATE USER IF NOT EXISTS {who};"));
        q.push(format!(
            "ALTER USER {who} IDENTIFIED BY '${{{}}}';",
            account.password_key
        ));
        for (privileges, on) in &account.grants {
            let with = if account.grant_option {
                " WITH GRANT OPTION"
            } else {
                ""
            };
            q.push(format!("GRANT {privileges} ON {on} TO {who}{with};"));
        }
    }
    for stmt in extra_sql {
        // init-file takes one statement per line (MySQL 5.7 and MariaDB read it so).
        let stmt = stmt.replace(['\r', '\n'], " ");
        let stmt = stmt.trim().trim_end_matches(';');
        if !stmt.is_empty() {
            q.push(format!("{stmt};"));
        }
    }
    q.push(String::new());
    q.join("\n")
}

/// Why a template could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error(
        "init SQL needs `{0}` but the operated Secret has no such key; the controller creates it, re-run after it has"
    )]
    Missing(String),
}

/// Replaces every `'${KEY}'` (a quoted placeholder) with `values[KEY]` quoted as an SQL
/// string. Text that is not a placeholder is copied unchanged.
pub fn fill_placeholders(
    template: &str,
    values: &BTreeMap<String, String>,
) -> Result<String, FillError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("'${") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("}'") else { break };
        let key = &after[..end];
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            out.push_str(&rest[..start + 3]);
            rest = after;
            continue;
        }
        let value = values
            .get(key)
            .ok_or_else(|| FillError::Missing(key.to_string()))?;
        out.push_str(&rest[..start]);
        out.push_str(&quote_string(value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ServerVersion {
        ServerVersion::parse(s).unwrap()
    }

    #[test]
    fn template_creates_tables_and_accounts_without_binlog() {
        let sql = init_sql_template(ServerFlavor::Percona, v("8.0.20"), &[]);
        let lines: Vec<&str> = sql.lines().collect();
        assert_eq!(
            lines[0], "SET @@SESSION.SQL_LOG_BIN = 0;",
            "binlog off before anything else"
        );
        assert!(sql.contains("CREATE DATABASE IF NOT EXISTS `sys_operator`;"));
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS `sys_operator`.`status` ("));
        assert!(sql.contains("REPLACE INTO `sys_operator`.`status` VALUES ('configured', '0');"));
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS `sys_operator`.`heartbeat` ("));
        assert!(sql.contains("server_id int unsigned NOT NULL PRIMARY KEY"));
        assert!(sql.contains("CREATE USER IF NOT EXISTS 'sys_operator'@'%';"));
        assert!(
            sql.contains("ALTER USER 'sys_operator'@'%' IDENTIFIED BY '${OPERATOR_PASSWORD}';")
        );
        assert!(
            sql.contains("GRANT ALL PRIVILEGES ON *.* TO 'sys_operator'@'%' WITH GRANT OPTION;")
        );
        assert!(
            sql.contains(
                "ALTER USER 'sys_replication'@'%' IDENTIFIED BY '${REPLICATION_PASSWORD}';"
            )
        );
        assert!(sql.contains("GRANT SELECT, PROCESS, RELOAD, LOCK TABLES, REPLICATION CLIENT, REPLICATION SLAVE ON *.* TO 'sys_replication'@'%';"));
        assert!(sql.contains("CREATE USER IF NOT EXISTS 'sys_exporter'@'127.0.0.1';"));
    }

    #[test]
    fn mariadb_grants_use_split_privileges() {
        let sql = init_sql_template(ServerFlavor::Mariadb, v("10.11.6"), &[]);
        assert!(
            sql.contains("BINLOG MONITOR, SLAVE MONITOR, REPLICATION SLAVE"),
            "{sql}"
        );
        assert!(!sql.contains("REPLICATION CLIENT"));
    }

    #[test]
    fn extra_sql_is_appended_one_statement_each() {
        let extra = vec![
            "CREATE DATABASE app".to_string(),
            "SET GLOBAL x=1;".to_string(),
            "  ".to_string(),
        ];
        let sql = init_sql_template(ServerFlavor::Percona, v("8.0.20"), &extra);
        assert!(
            sql.ends_with("CREATE DATABASE app;\nSET GLOBAL x=1;\n"),
            "{sql}"
        );
    }

    #[test]
    fn placeholders_are_filled_and_escaped() {
        let template = init_sql_template(ServerFlavor::Percona, v("8.0.20"), &[]);
        let values: BTreeMap<String, String> = [
            ("OPERATOR_PASSWORD", "op'; DROP DATABASE x; --"),
            ("REPLICATION_PASSWORD", "re\\pl"),
            ("METRICS_EXPORTER_PASSWORD", "m"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sql = fill_placeholders(&template, &values).unwrap();
        assert!(
            sql.contains("IDENTIFIED BY 'op\\'; DROP DATABASE x; --';"),
            "{sql}"
        );
        assert!(sql.contains("IDENTIFIED BY 're\\\\pl';"));
        assert!(sql.contains("IDENTIFIED BY 'm';"));
        assert!(!sql.contains("${"));
    }

    #[test]
    fn a_missing_secret_key_is_named() {
        let err = fill_placeholders("ALTER USER x IDENTIFIED BY '${NOPE}';", &BTreeMap::new())
            .unwrap_err();
        assert_eq!(err, FillError::Missing("NOPE".into()));
        assert!(err.to_string().contains("`NOPE`"));
    }

    #[test]
    fn non_placeholders_are_copied() {
        let t = "SELECT '${lower}', '${', 'plain';";
        assert_eq!(fill_placeholders(t, &BTreeMap::new()).unwrap(), t);
    }
}
