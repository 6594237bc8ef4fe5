//! The SQL of MysqlDatabase/MysqlUser: quoting, checking names and privileges, and the
//! statements. Pure functions; every user-supplied value is checked or quoted here.

use std::collections::{BTreeMap, BTreeSet};

use api::user::MysqlPermission;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A spec value SQL cannot carry, with the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} (hint: {hint})")]
pub struct SqlInputError {
    /// Spec path at fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

fn bad(field: &str, message: impl Into<String>, hint: &str) -> SqlInputError {
    SqlInputError {
        field: field.into(),
        message: message.into(),
        hint: hint.into(),
    }
}

/// `` `name` `` with backticks doubled.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'text'` with quotes and backslashes escaped.
pub fn string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// `'user'@'host'`.
pub fn account(user: &str, host: &str) -> String {
    format!("{}@{}", string(user), string(host))
}

/// Check a database, user or host name (length, no control characters).
pub fn check_name(field: &str, value: &str, max: usize) -> Result<(), SqlInputError> {
    if value.is_empty() {
        return Err(bad(field, "is empty", "set a name"));
    }
    if value.chars().count() > max {
        return Err(bad(
            field,
            format!("is longer than {max} characters"),
            "use a shorter name",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(
            field,
            "contains control characters",
            "use printable characters only",
        ));
    }
    Ok(())
}

/// A privilege at a level: `(schema, table, PRIVILEGE)`, `*` for all schemas/tables.
pub type Grant = (String, String, String);

const PRIVILEGES: &[&str] = &[
    "ALL",
    "ALL PRIVILEGES",
    "ALTER",
    "ALTER ROUTINE",
    "CREATE",
    "CREATE ROUTINE",
    "CREATE TEMPORARY TABLES",
    "CREATE VIEW",
    "DELETE",
    "DROP",
    "EVENT",
    "EXECUTE",
    "INDEX",
    "INSERT",
    "LOCK TABLES",
    "REFERENCES",
    "SELECT",
    "SHOW VIEW",
    "TRIGGER",
    "UPDATE",
    "PROCESS",
    "RELOAD",
    "REPLICATION CLIENT",
    "REPLICATION SLAVE",
    "SHOW DATABASES",
    "SUPER",
    "CREATE USER",
    "FILE",
    "SHUTDOWN",
    "DELETE HISTORY",
];

/// The grants `permissions` ask for; `ALL PRIVILEGES` is spelt `ALL`.
pub fn desired_grants(permissions: &[MysqlPermission]) -> Result<BTreeSet<Grant>, SqlInputError> {
    let mut out = BTreeSet::new();
    for (i, p) in permissions.iter().enumerate() {
        let schema = p.schema.trim();
        check_name(&format!("spec.permissions[{i}].schema"), schema, 64)?;
        if p.tables.is_empty() {
            return Err(bad(
                &format!("spec.permissions[{i}].tables"),
                "is empty",
                "list tables, or \"*\" for all",
            ));
        }
        for (j, t) in p.tables.iter().enumerate() {
            check_name(&format!("spec.permissions[{i}].tables[{j}]"), t.trim(), 64)?;
            for (k, priv_) in p.permissions.iter().enumerate() {
                let norm = priv_
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_ascii_uppercase();
                if !PRIVILEGES.contains(&norm.as_str()) {
                    return Err(bad(
                        &format!("spec.permissions[{i}].permissions[{k}]"),
                        format!("unknown privilege {priv_:?}"),
                        "use a MySQL privilege such as SELECT, INSERT, UPDATE, DELETE or ALL PRIVILEGES",
                    ));
                }
                let norm = if norm == "ALL PRIVILEGES" {
                    "ALL".to_string()
                } else {
                    norm
                };
                out.insert((schema.to_string(), t.trim().to_string(), norm));
            }
        }
    }
    Ok(out)
}

/// `ON <level>` of a grant.
pub fn level(schema: &str, table: &str) -> String {
    let s = if schema == "*" {
        "*".to_string()
    } else {
        ident(schema)
    };
    let t = if table == "*" {
        "*".to_string()
    } else {
        ident(table)
    };
    format!("{s}.{t}")
}

/// Which grants to add and which to revoke, given what the server reports (`observed`,
/// never containing `ALL`). A level granted `ALL` keeps everything it has.
pub fn diff(desired: &BTreeSet<Grant>, observed: &BTreeSet<Grant>) -> (Vec<Grant>, Vec<Grant>) {
    let all_levels: BTreeSet<(&str, &str)> = desired
        .iter()
        .filter(|g| g.2 == "ALL")
        .map(|g| (g.0.as_str(), g.1.as_str()))
        .collect();
    let observed_levels: BTreeSet<(&str, &str)> = observed
        .iter()
        .map(|g| (g.0.as_str(), g.1.as_str()))
        .collect();
    let grant = desired
        .iter()
        .filter(|g| {
            if g.2 == "ALL" {
                !observed_levels.contains(&(g.0.as_str(), g.1.as_str()))
            } else {
                !observed.contains(*g)
            }
        })
        .cloned()
        .collect();
    let revoke = observed
        .iter()
        .filter(|g| !desired.contains(*g) && !all_levels.contains(&(g.0.as_str(), g.1.as_str())))
        .cloned()
        .collect();
    (grant, revoke)
}

/// The resource limits presslabs accepted, by spec key and mysql.user column.
pub const LIMITS: [(&str, &str); 4] = [
    ("MAX_USER_CONNECTIONS", "max_user_connections"),
    ("MAX_QUERIES_PER_HOUR", "max_questions"),
    ("MAX_UPDATES_PER_HOUR", "max_updates"),
    ("MAX_CONNECTIONS_PER_HOUR", "max_connections"),
];

/// `WITH MAX_... n ...` for every limit (absent ones reset to 0 = unlimited).
pub fn limits_clause(limits: &BTreeMap<String, Quantity>) -> Result<String, SqlInputError> {
    for k in limits.keys() {
        if !LIMITS.iter().any(|(name, _)| name == k) {
            return Err(bad(
                &format!("spec.resourceLimits.{k}"),
                "unknown limit",
                "use MAX_USER_CONNECTIONS, MAX_QUERIES_PER_HOUR, MAX_UPDATES_PER_HOUR or MAX_CONNECTIONS_PER_HOUR",
            ));
        }
    }
    let mut out = String::from("WITH");
    for (name, _) in LIMITS {
        let n = match limits.get(name) {
            None => 0,
            Some(q) => q.0.trim().parse::<u64>().map_err(|_| {
                bad(
                    &format!("spec.resourceLimits.{name}"),
                    format!("{:?} is not a whole number", q.0),
                    "write a count such as 10",
                )
            })?,
        };
        out.push_str(&format!(" {name} {n}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(schema: &str, tables: &[&str], privs: &[&str]) -> MysqlPermission {
        MysqlPermission {
            schema: schema.into(),
            tables: tables.iter().map(|s| s.to_string()).collect(),
            permissions: privs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(string("it's \\"), "'it''s \\\\'");
        assert_eq!(account("u", "%"), "'u'@'%'");
        assert_eq!(level("db", "*"), "`db`.*");
        assert_eq!(level("*", "*"), "*.*");
    }

    #[test]
    fn grants_are_normalised_and_checked() {
        let g = desired_grants(&[perm("app", &["*"], &["select", "all  privileges"])]).unwrap();
        assert!(g.contains(&("app".into(), "*".into(), "SELECT".into())));
        assert!(g.contains(&("app".into(), "*".into(), "ALL".into())));
        let err = desired_grants(&[perm("app", &["*"], &["DROP DATABASE; --"])]).unwrap_err();
        assert!(err.field.contains("permissions[0].permissions[0]"), "{err}");
    }

    #[test]
    fn diff_grants_missing_and_revokes_removed() {
        let d: BTreeSet<Grant> = [("a".into(), "*".into(), "SELECT".into())].into();
        let o: BTreeSet<Grant> = [("a".into(), "*".into(), "INSERT".into())].into();
        let (grant, revoke) = diff(&d, &o);
        assert_eq!(grant, vec![("a".into(), "*".into(), "SELECT".into())]);
        assert_eq!(revoke, vec![("a".into(), "*".into(), "INSERT".into())]);
        let all: BTreeSet<Grant> = [("a".into(), "*".into(), "ALL".into())].into();
        assert_eq!(
            diff(&all, &o),
            (vec![], vec![]),
            "ALL covers what the level has"
        );
    }

    #[test]
    fn limits() {
        let l = BTreeMap::from([("MAX_USER_CONNECTIONS".to_string(), Quantity("10".into()))]);
        assert_eq!(
            limits_clause(&l).unwrap(),
            "WITH MAX_USER_CONNECTIONS 10 MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0"
        );
        let bad = BTreeMap::from([("MAX_FOO".to_string(), Quantity("1".into()))]);
        assert!(
            limits_clause(&bad)
                .unwrap_err()
                .to_string()
                .contains("MAX_FOO")
        );
    }
}
