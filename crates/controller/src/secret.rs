//! The operated Secret (`<c>-mysql-operated`): the internal accounts' users and generated
//! passwords. Existing values are always kept, so passwords are never regenerated (a new
//! password would lock the operator out of a running server).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use rand::Rng;
use rand::distr::Alphanumeric;

/// The accounts presslabs kept in the operated Secret: (user key, user, password key).
pub const ACCOUNTS: [(&str, &str, &str); 5] = [
    ("OPERATOR_USER", "sys_operator", "OPERATOR_PASSWORD"),
    (
        "REPLICATION_USER",
        "sys_replication",
        "REPLICATION_PASSWORD",
    ),
    (
        "METRICS_EXPORTER_USER",
        "sys_exporter",
        "METRICS_EXPORTER_PASSWORD",
    ),
    (
        "ORC_TOPOLOGY_USER",
        "sys_orchestrator",
        "ORC_TOPOLOGY_PASSWORD",
    ),
    ("BACKUP_USER", "sys_backups", "BACKUP_PASSWORD"),
];

/// Length of generated passwords (alphanumeric: safe in my.cnf, SQL and shell).
pub const PASSWORD_LEN: usize = 24;

fn password() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(PASSWORD_LEN)
        .map(char::from)
        .collect()
}

/// The operated Secret's data: `existing` kept as is, missing users and passwords added.
pub fn fill(existing: Option<&BTreeMap<String, ByteString>>) -> BTreeMap<String, ByteString> {
    let mut data = existing.cloned().unwrap_or_default();
    for (user_key, user, pass_key) in ACCOUNTS {
        data.entry(user_key.into())
            .or_insert_with(|| ByteString(user.as_bytes().to_vec()));
        data.entry(pass_key.into())
            .or_insert_with(|| ByteString(password().into_bytes()));
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_missing_and_keeps_existing() {
        let first = fill(None);
        assert_eq!(first.len(), ACCOUNTS.len() * 2);
        assert_eq!(first["OPERATOR_PASSWORD"].0.len(), PASSWORD_LEN);
        assert_ne!(first["OPERATOR_PASSWORD"], first["REPLICATION_PASSWORD"]);
        let mut partial = first.clone();
        partial.remove("BACKUP_PASSWORD");
        let second = fill(Some(&partial));
        assert_eq!(second["OPERATOR_PASSWORD"], first["OPERATOR_PASSWORD"]);
        assert_eq!(second["BACKUP_PASSWORD"].0.len(), PASSWORD_LEN);
        assert_eq!(
            fill(Some(&second)),
            second,
            "a full secret is never changed"
        );
    }
}
