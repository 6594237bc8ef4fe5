//! The default init SQL script `mysqld` runs at every start (`init-file`): the
//! `sys_operator` database with its status and heartbeat tables (defined once, in
//! [`flavor::schema`]), and the operator's own accounts — written without binary logging
//! so it never creates GTIDs.
//!
//! The ConfigMap carries it as a template whose passwords are `${NAME}` placeholders; the
//! init container fills them from the operated Secret with [`fill_placeholders`], which
//! escapes them as SQL string literals. Passwords never appear in the ConfigMap.
//! [`first_start_sql`] is the part only a freshly initialised data dir gets: root's
//! password and the user Secret's application account and schema.

use std::collections::BTreeMap;

use crate::mycnf::{ServerFlavor, ServerVersion};
use crate::secret;

pub use flavor::schema::{HEARTBEAT_TABLE, OPERATOR_DB, STATUS_TABLE};

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
    let v = (version.major, version.minor, version.patch);
    let mariadb_split = flavor == ServerFlavor::Mariadb && v >= (10, 5, 9);
    let repl_client = if mariadb_split {
        "BINLOG MONITOR, SLAVE MONITOR"
    } else {
        "REPLICATION CLIENT"
    };
    // The backup tool on a replica runs `STOP SLAVE SQL_THREAD` (--safe-slave-backup):
    // MariaDB ≥ 10.5.2 needs REPLICATION SLAVE ADMIN for it, MySQL 8 the dynamic
    // REPLICATION_SLAVE_ADMIN (and BACKUP_ADMIN for LOCK INSTANCE FOR BACKUP); older
    // servers only have SUPER.
    let stop_replica = match flavor {
        ServerFlavor::Mariadb if v >= (10, 5, 2) => "REPLICATION SLAVE ADMIN",
        ServerFlavor::Mysql | ServerFlavor::Percona if v >= (8, 0, 0) => {
            "BACKUP_ADMIN, REPLICATION_SLAVE_ADMIN"
        }
        _ => "SUPER",
    };
    vec![
        Account {
            user: secret::OPERATOR_ACCOUNT.into(),
            host: "%".into(),
            password_key: secret::OPERATOR_PASSWORD.into(),
            grants: vec![("ALL PRIVILEGES".into(), "*.*".into())],
            grant_option: true,
        },
        Account {
            user: secret::REPLICATION_ACCOUNT.into(),
            host: "%".into(),
            password_key: secret::REPLICATION_PASSWORD.into(),
            grants: vec![(
                format!(
                    "SELECT, PROCESS, RELOAD, LOCK TABLES, {repl_client}, REPLICATION SLAVE, {stop_replica}"
                ),
                "*.*".into(),
            )],
            grant_option: false,
        },
        Account {
            user: secret::METRICS_EXPORTER_ACCOUNT.into(),
            host: "127.0.0.1".into(),
            password_key: secret::METRICS_EXPORTER_PASSWORD.into(),
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
        format!("{};", flavor::schema::CREATE_OPERATOR_DB),
        format!("{};", flavor::schema::CREATE_STATUS_TABLE),
        format!(
            "REPLACE INTO {db}.{} VALUES ('configured', '0');",
            quote_ident(STATUS_TABLE)
        ),
        format!("{};", flavor::schema::CREATE_HEARTBEAT_TABLE),
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

/// What the user's Secret asks the first start to create (`spec.secretName`'s keys).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct FirstStart {
    /// `ROOT_PASSWORD`: root's password, for `root@localhost` and `root@%`.
    pub root_password: String,
    /// `USER` and `PASSWORD`: an application account with every privilege on `DATABASE`.
    pub user: Option<(String, String)>,
    /// `DATABASE`: a schema to create.
    pub database: Option<String>,
}

impl std::fmt::Debug for FirstStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstStart")
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// The statements only a freshly initialised data dir gets (what the server images'
/// entrypoints did from `MYSQL_ROOT_PASSWORD`, `MYSQL_USER`, … for presslabs): root's
/// password on `localhost` and `%`, the application schema and account. One statement
/// per line, idempotent, for the init-file after [`init_sql_template`]'s part (which
/// turns binary logging off first).
pub fn first_start_sql(f: &FirstStart) -> String {
    let pw = quote_string(&f.root_password);
    let mut q = vec![
        format!("ALTER USER 'root'@'localhost' IDENTIFIED BY {pw};"),
        "CREATE USER IF NOT EXISTS 'root'@'%';".to_string(),
        format!("ALTER USER 'root'@'%' IDENTIFIED BY {pw};"),
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;".to_string(),
    ];
    if let Some(db) = f.database.as_deref().filter(|d| !d.is_empty()) {
        q.push(format!(
            "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4;",
            quote_ident(db)
        ));
    }
    if let Some((user, password)) = f.user.as_ref().filter(|(u, _)| !u.is_empty()) {
        let who = format!("{}@'%'", quote_string(user));
        q.push(format!("CREATE USER IF NOT EXISTS {who};"));
        q.push(format!(
            "ALTER USER {who} IDENTIFIED BY {};",
            quote_string(password)
        ));
        if let Some(db) = f.database.as_deref().filter(|d| !d.is_empty()) {
            q.push(format!(
                "GRANT ALL PRIVILEGES ON {}.* TO {who};",
                quote_ident(db)
            ));
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
        assert!(sql.contains("GRANT SELECT, PROCESS, RELOAD, LOCK TABLES, REPLICATION CLIENT, REPLICATION SLAVE, BACKUP_ADMIN, REPLICATION_SLAVE_ADMIN ON *.* TO 'sys_replication'@'%';"));
        let old = init_sql_template(ServerFlavor::Percona, v("5.7"), &[]);
        assert!(old.contains("REPLICATION SLAVE, SUPER ON *.* TO 'sys_replication'"));
        assert!(sql.contains("CREATE USER IF NOT EXISTS 'sys_exporter'@'127.0.0.1';"));
    }

    #[test]
    fn mariadb_grants_use_split_privileges() {
        let sql = init_sql_template(ServerFlavor::Mariadb, v("10.11.6"), &[]);
        assert!(
            sql.contains(
                "BINLOG MONITOR, SLAVE MONITOR, REPLICATION SLAVE, REPLICATION SLAVE ADMIN ON *.* TO 'sys_replication'"
            ),
            "{sql}"
        );
        assert!(!sql.contains("REPLICATION CLIENT"));
    }

    #[test]
    fn first_start_sets_root_and_the_application_account() {
        let sql = first_start_sql(&FirstStart {
            root_password: "r'oot".into(),
            user: Some(("app".into(), "pw".into())),
            database: Some("shop".into()),
        });
        let lines: Vec<&str> = sql.lines().collect();
        assert_eq!(
            lines,
            [
                "ALTER USER 'root'@'localhost' IDENTIFIED BY 'r\\'oot';",
                "CREATE USER IF NOT EXISTS 'root'@'%';",
                "ALTER USER 'root'@'%' IDENTIFIED BY 'r\\'oot';",
                "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;",
                "CREATE DATABASE IF NOT EXISTS `shop` CHARACTER SET utf8mb4;",
                "CREATE USER IF NOT EXISTS 'app'@'%';",
                "ALTER USER 'app'@'%' IDENTIFIED BY 'pw';",
                "GRANT ALL PRIVILEGES ON `shop`.* TO 'app'@'%';",
            ]
        );
        let only_root = first_start_sql(&FirstStart {
            root_password: "x".into(),
            ..FirstStart::default()
        });
        assert_eq!(only_root.lines().count(), 4);
        assert!(
            !format!(
                "{:?}",
                FirstStart {
                    root_password: "secret".into(),
                    ..FirstStart::default()
                }
            )
            .contains("secret")
        );
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
