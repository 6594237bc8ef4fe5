//! The Kubernetes permissions the controller needs, in one table: every kind the store
//! and the runtime touch must be covered here, and tests check it (the in-memory store
//! records each (group, resource, verb) the reconcilers used; the runtime's watches are
//! listed in [`crate::runtime::WATCHED`]). The chart's ClusterRole is compared with
//! [`required_rules`] by `mysql-operator rbac`.

use serde::Serialize;

/// One RBAC rule: an API group, a resource (`plural` or `plural/subresource`) and verbs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rule {
    /// API group (`""` for core).
    pub api_group: &'static str,
    /// Resource, e.g. `statefulsets` or `mysqlclusters/status`.
    pub resource: &'static str,
    /// Verbs, sorted.
    pub verbs: Vec<&'static str>,
}

const MYSQL: &str = "mysql.presslabs.org";
const RW: &[&str] = &["create", "delete", "get", "list", "patch", "watch"];

/// (group, resource, verbs) the controller uses, one line per resource.
const TABLE: &[(&str, &str, &[&str])] = &[
    // The custom resources: read and watched, finalizers patched, backups created/pruned.
    (MYSQL, "mysqlclusters", &["get", "list", "patch", "watch"]),
    (MYSQL, "mysqlclusters/status", &["get", "patch"]),
    // Owner references with blockOwnerDeletion (OwnerReferencesPermissionEnforcement).
    (MYSQL, "mysqlclusters/finalizers", &["update"]),
    (MYSQL, "mysqlbackups", RW),
    (MYSQL, "mysqlbackups/status", &["get", "patch"]),
    (MYSQL, "mysqldatabases", &["get", "list", "patch", "watch"]),
    (MYSQL, "mysqldatabases/status", &["get", "patch"]),
    (MYSQL, "mysqlusers", &["get", "list", "patch", "watch"]),
    (MYSQL, "mysqlusers/status", &["get", "patch"]),
    // What a cluster is made of (server-side apply creates and patches).
    ("apps", "statefulsets", RW),
    ("", "services", RW),
    ("", "configmaps", RW),
    ("", "secrets", RW),
    ("policy", "poddisruptionbudgets", RW),
    // Pod labels (role/healthy) from the HA loop; PVCs of removed ordinals.
    ("", "pods", &["delete", "get", "list", "patch", "watch"]),
    ("", "persistentvolumeclaims", &["delete", "get", "list"]),
    // One Job per backup.
    ("batch", "jobs", RW),
    // Events and leader election.
    ("", "events", &["create", "patch"]),
    (
        "coordination.k8s.io",
        "leases",
        &["create", "get", "update"],
    ),
];

/// Every permission the controller needs, sorted by group and resource.
pub fn required_rules() -> Vec<Rule> {
    let mut rules: Vec<Rule> = TABLE
        .iter()
        .map(|(g, r, v)| {
            let mut verbs = v.to_vec();
            verbs.sort_unstable();
            Rule {
                api_group: g,
                resource: r,
                verbs,
            }
        })
        .collect();
    rules.sort();
    rules
}

/// Whether the rules allow `verb` on `resource` of `group`.
pub fn allows(group: &str, resource: &str, verb: &str) -> bool {
    TABLE
        .iter()
        .any(|(g, r, v)| *g == group && *r == resource && v.contains(&verb))
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → core `""`).
pub fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

/// The uses in `uses` (group, resource, verb) that the rules do not allow.
pub fn uncovered<'a, I>(uses: I) -> Vec<(String, String, String)>
where
    I: IntoIterator<Item = &'a (String, String, String)>,
{
    uses.into_iter()
        .filter(|(g, r, v)| !allows(g, r, v))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_unique_sorted_and_cover_the_basics() {
        let rules = required_rules();
        let mut keys: Vec<_> = rules.iter().map(|r| (r.api_group, r.resource)).collect();
        keys.dedup();
        assert_eq!(keys.len(), rules.len(), "one rule per resource");
        assert!(allows("batch", "jobs", "create"));
        assert!(allows("coordination.k8s.io", "leases", "update"));
        assert!(!allows("", "nodes", "get"));
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
    }

    #[test]
    fn every_watched_kind_may_be_listed_and_watched() {
        for k in crate::runtime::WATCHED {
            let group = group_of(k.0);
            for verb in ["list", "watch", "get"] {
                assert!(
                    allows(group, k.1, verb),
                    "runtime watches {}/{} but the rules do not allow {verb}",
                    k.0,
                    k.1
                );
            }
        }
    }
}
