//! The operated Secret `<c>-mysql-operated`: the accounts the operator, replication, the
//! metrics exporter and backup streams use, with presslabs' keys and user names.
//!
//! Rendering never invents passwords: a key without a known value gets [`PLACEHOLDER`],
//! and the controller fills real random ones (keeping any already in the cluster).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use crate::meta::Ctx;

/// Keys of the operated Secret. The pods get the whole Secret as environment
/// (`envFrom`), so these are also the environment variable names the pod-side CLI reads.
pub const BACKUP_USER: &str = "BACKUP_USER";
pub const BACKUP_PASSWORD: &str = "BACKUP_PASSWORD";
pub const METRICS_EXPORTER_USER: &str = "METRICS_EXPORTER_USER";
pub const METRICS_EXPORTER_PASSWORD: &str = "METRICS_EXPORTER_PASSWORD";
pub const OPERATOR_USER: &str = "OPERATOR_USER";
pub const OPERATOR_PASSWORD: &str = "OPERATOR_PASSWORD";
pub const REPLICATION_USER: &str = "REPLICATION_USER";
pub const REPLICATION_PASSWORD: &str = "REPLICATION_PASSWORD";

/// The accounts' names (presslabs'). `sys_backups` is the agent's HTTP basic-auth user,
/// not a server account.
pub const BACKUP_ACCOUNT: &str = "sys_backups";
pub const METRICS_EXPORTER_ACCOUNT: &str = "sys_exporter";
pub const OPERATOR_ACCOUNT: &str = "sys_operator";
pub const REPLICATION_ACCOUNT: &str = "sys_replication";

/// Keys of the user's Secret (`spec.secretName`), presslabs': `ROOT_PASSWORD` is
/// required; `USER`, `PASSWORD` and `DATABASE` create an application account and schema
/// when the first pod initialises an empty data dir.
pub const USER_ROOT_PASSWORD: &str = "ROOT_PASSWORD";
pub const USER_USER: &str = "USER";
pub const USER_PASSWORD: &str = "PASSWORD";
pub const USER_DATABASE: &str = "DATABASE";

/// Marks a password the controller generates when it creates the Secret.
pub const PLACEHOLDER: &str = "<generated-by-controller>";

/// User-name keys with their fixed values (presslabs' account names).
pub const USERS: &[(&str, &str)] = &[
    (BACKUP_USER, BACKUP_ACCOUNT),
    (METRICS_EXPORTER_USER, METRICS_EXPORTER_ACCOUNT),
    (OPERATOR_USER, OPERATOR_ACCOUNT),
    (REPLICATION_USER, REPLICATION_ACCOUNT),
];

/// Password keys the controller generates once and never rotates on its own.
pub const PASSWORD_KEYS: &[&str] = &[
    BACKUP_PASSWORD,
    METRICS_EXPORTER_PASSWORD,
    OPERATOR_PASSWORD,
    REPLICATION_PASSWORD,
];

/// The Secret with the user names and, for each password, `passwords[key]` when given
/// (the controller passes the live ones) or [`PLACEHOLDER`].
pub fn operated_secret(ctx: &Ctx, passwords: &BTreeMap<String, String>) -> Secret {
    let mut data: BTreeMap<String, String> = USERS
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    for key in PASSWORD_KEYS {
        let value = passwords
            .get(*key)
            .cloned()
            .unwrap_or_else(|| PLACEHOLDER.to_string());
        data.insert((*key).to_string(), value);
    }
    Secret {
        metadata: ctx.owned_meta(ctx.names.operated(), &[]),
        type_: Some("Opaque".into()),
        string_data: Some(data),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx::new("c", Some("ns"), None, "8.0.20", &BTreeMap::new())
    }

    #[test]
    fn placeholders_only_never_real_passwords() {
        let s = operated_secret(&ctx(), &BTreeMap::new());
        assert_eq!(s.metadata.name.as_deref(), Some("c-mysql-operated"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        assert!(s.data.is_none());
        let d = s.string_data.unwrap();
        assert_eq!(d.len(), 8);
        assert_eq!(d["OPERATOR_USER"], "sys_operator");
        assert_eq!(d["REPLICATION_USER"], "sys_replication");
        assert_eq!(d["METRICS_EXPORTER_USER"], "sys_exporter");
        assert_eq!(d["BACKUP_USER"], "sys_backups");
        for key in PASSWORD_KEYS {
            assert_eq!(d[*key], PLACEHOLDER, "{key}");
        }
    }

    #[test]
    fn given_passwords_are_used() {
        let pw = BTreeMap::from([("OPERATOR_PASSWORD".to_string(), "s3cret".to_string())]);
        let d = operated_secret(&ctx(), &pw).string_data.unwrap();
        assert_eq!(d["OPERATOR_PASSWORD"], "s3cret");
        assert_eq!(d["REPLICATION_PASSWORD"], PLACEHOLDER);
    }

    #[test]
    fn key_lists_are_sorted() {
        assert!(PASSWORD_KEYS.windows(2).all(|w| w[0] < w[1]));
        assert!(USERS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
