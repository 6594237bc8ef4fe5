//! Object metadata common to everything rendered for one cluster: namespace, labels and
//! the owner reference that lets Kubernetes garbage-collect the objects with the cluster.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::names::{Names, cluster_labels, selector_labels};

/// API version and kind of the owner, as presslabs set it.
pub const OWNER_API_VERSION: &str = "mysql.presslabs.org/v1alpha1";
pub const OWNER_KIND: &str = "MysqlCluster";

/// Per-cluster facts every object's metadata is built from.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub names: Names,
    pub namespace: Option<String>,
    /// Presslabs' full label set for the cluster.
    pub labels: BTreeMap<String, String>,
    /// The three labels selecting the cluster's pods.
    pub selector: BTreeMap<String, String>,
    /// Set when the cluster came from the API server (it has a uid).
    pub owner: Option<OwnerReference>,
}

impl Ctx {
    /// Builds the context; `uid` is `None` for manifests read from a file.
    pub fn new(
        cluster: &str,
        namespace: Option<&str>,
        uid: Option<&str>,
        mysql_version: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Ctx {
        Ctx {
            names: Names::new(cluster),
            namespace: namespace.map(str::to_string),
            labels: cluster_labels(cluster, mysql_version, annotations),
            selector: selector_labels(cluster),
            owner: uid.map(|uid| OwnerReference {
                api_version: OWNER_API_VERSION.into(),
                kind: OWNER_KIND.into(),
                name: cluster.into(),
                uid: uid.into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }),
        }
    }

    /// Metadata for an object the cluster owns, with the cluster labels plus `extra`.
    pub fn owned_meta(&self, name: String, extra: &[(&str, &str)]) -> ObjectMeta {
        let mut labels = self.labels.clone();
        for (k, v) in extra {
            labels.insert((*k).to_string(), (*v).to_string());
        }
        ObjectMeta {
            name: Some(name),
            namespace: self.namespace.clone(),
            labels: Some(labels),
            owner_references: self.owner.clone().map(|o| vec![o]),
            ..ObjectMeta::default()
        }
    }

    /// Selector labels plus `extra` (e.g. `role: master`).
    pub fn selector_with(&self, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut s = self.selector.clone();
        for (k, v) in extra {
            s.insert((*k).to_string(), (*v).to_string());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_reference_only_with_uid() {
        let none = Ctx::new("c", Some("ns"), None, "8.0", &BTreeMap::new());
        assert!(none.owned_meta("x".into(), &[]).owner_references.is_none());
        let some = Ctx::new("c", Some("ns"), Some("u-1"), "8.0", &BTreeMap::new());
        let refs = some.owned_meta("x".into(), &[]).owner_references.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].api_version, "mysql.presslabs.org/v1alpha1");
        assert_eq!(refs[0].kind, "MysqlCluster");
        assert_eq!(refs[0].name, "c");
        assert_eq!(refs[0].uid, "u-1");
        assert_eq!(refs[0].controller, Some(true));
    }

    #[test]
    fn meta_carries_namespace_labels_and_extras() {
        let ctx = Ctx::new("c", Some("ns"), None, "8.0", &BTreeMap::new());
        let m = ctx.owned_meta("obj".into(), &[("generated", "true")]);
        assert_eq!(m.name.as_deref(), Some("obj"));
        assert_eq!(m.namespace.as_deref(), Some("ns"));
        let labels = m.labels.unwrap();
        assert_eq!(labels["generated"], "true");
        assert_eq!(labels["mysql.presslabs.org/cluster"], "c");
        assert_eq!(ctx.selector_with(&[("role", "master")])["role"], "master");
    }
}
