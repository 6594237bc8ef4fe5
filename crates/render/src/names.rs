//! Object names, labels, ports and in-pod paths shared by every rendered object — the
//! compatibility contract with presslabs in one place, so adopted clusters keep their
//! objects and DNS names.

use std::collections::BTreeMap;

/// The governing headless Service, shared by every cluster in a namespace (presslabs).
pub const HEADLESS_SERVICE: &str = "mysql";
/// The PVC template name of the data volume.
pub const DATA_VOLUME: &str = "data";

/// mysqld's port and its port name.
pub const MYSQL_PORT: i32 = 3306;
pub const MYSQL_PORT_NAME: &str = "mysql";
/// The agent's HTTP port (`/health`, `/ready`, `/xbackup`), presslabs' sidecar port.
pub const AGENT_PORT: i32 = 8080;
pub const AGENT_PORT_NAME: &str = "sidecar-http";
/// The metrics exporter's port, path and port name (presslabs' values).
pub const EXPORTER_PORT: i32 = 9125;
pub const EXPORTER_PORT_NAME: &str = "prometheus";
pub const EXPORTER_PATH: &str = "/metrics";

/// Where mysqld's configuration lives in the pod (an emptyDir the init step fills).
pub const CONF_DIR: &str = "/etc/mysql";
/// Where the rendered ConfigMap is mounted for the init step and the agent.
pub const CONFIG_MAP_DIR: &str = "/mnt/conf";
/// The data directory.
pub const DATA_DIR: &str = "/var/lib/mysql";
/// Client options (operator account) written by the init step; not `.cnf` so mysqld
/// does not include it.
pub const CLIENT_CONF: &str = "/etc/mysql/client.conf";
/// Where each plugin's ConfigMap is mounted: `<dir>/<plugin name>/<key>`.
pub const PLUGINS_DIR: &str = "/etc/mysql-operator/plugins";

/// Keys of the rendered ConfigMap.
pub const MY_CNF_KEY: &str = "my.cnf";
pub const INIT_SQL_KEY: &str = "init.sql";
pub const PLUGINS_KEY: &str = "plugins.json";

/// The label presslabs selected a cluster's pods by.
pub const CLUSTER_LABEL: &str = "mysql.presslabs.org/cluster";
/// Pod labels the operator maintains for the master/replicas Services.
pub const ROLE_LABEL: &str = "role";
pub const HEALTHY_LABEL: &str = "healthy";

/// Names of one cluster's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    cluster: String,
}

impl Names {
    pub fn new(cluster: &str) -> Names {
        Names {
            cluster: cluster.to_string(),
        }
    }
    pub fn cluster(&self) -> &str {
        &self.cluster
    }
    /// `<c>-mysql`: StatefulSet.
    pub fn stateful_set(&self) -> String {
        format!("{}-mysql", self.cluster)
    }
    /// `<c>-mysql`: ConfigMap with `my.cnf`.
    pub fn config_map(&self) -> String {
        format!("{}-mysql", self.cluster)
    }
    /// `<c>-mysql`: Service over every healthy node.
    pub fn healthy_service(&self) -> String {
        format!("{}-mysql", self.cluster)
    }
    /// `<c>-mysql-master`: Service over the primary.
    pub fn master_service(&self) -> String {
        format!("{}-mysql-master", self.cluster)
    }
    /// `<c>-mysql-replicas`: Service over healthy replicas.
    pub fn replicas_service(&self) -> String {
        format!("{}-mysql-replicas", self.cluster)
    }
    /// `<c>-mysql-operated`: the operator's Secret, and the cluster's own headless Service.
    pub fn operated(&self) -> String {
        format!("{}-mysql-operated", self.cluster)
    }
    /// `<c>-mysql`: PodDisruptionBudget.
    pub fn pdb(&self) -> String {
        format!("{}-mysql", self.cluster)
    }
    /// DNS name of pod `ordinal` through the governing Service.
    pub fn pod_host(&self, ordinal: u32, namespace: &str) -> String {
        format!(
            "{}-{ordinal}.{HEADLESS_SERVICE}.{namespace}",
            self.stateful_set()
        )
    }
}

/// The labels that select a cluster's pods; immutable in the StatefulSet, so exactly
/// presslabs' three.
pub fn selector_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (CLUSTER_LABEL.to_string(), cluster.to_string()),
        ("app.kubernetes.io/name".to_string(), "mysql".to_string()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            "mysql.presslabs.org".to_string(),
        ),
    ])
}

/// Presslabs' full label set: selector labels plus instance, version, component (and
/// part-of), where instance/component/part-of can be overridden by the cluster's
/// annotations of the same key.
pub fn cluster_labels(
    cluster: &str,
    mysql_version: &str,
    annotations: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut labels = selector_labels(cluster);
    let from_annotation = |key: &str, default: &str| {
        annotations
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    labels.insert(
        "app.kubernetes.io/instance".into(),
        from_annotation("app.kubernetes.io/instance", cluster),
    );
    labels.insert(
        "app.kubernetes.io/version".into(),
        mysql_version.to_string(),
    );
    labels.insert(
        "app.kubernetes.io/component".into(),
        from_annotation("app.kubernetes.io/component", "database"),
    );
    if let Some(part_of) = annotations.get("app.kubernetes.io/part-of") {
        labels.insert("app.kubernetes.io/part-of".into(), part_of.clone());
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_presslabs() {
        let n = Names::new("mysql-cluster-test");
        assert_eq!(n.stateful_set(), "mysql-cluster-test-mysql");
        assert_eq!(n.config_map(), "mysql-cluster-test-mysql");
        assert_eq!(n.healthy_service(), "mysql-cluster-test-mysql");
        assert_eq!(n.master_service(), "mysql-cluster-test-mysql-master");
        assert_eq!(n.replicas_service(), "mysql-cluster-test-mysql-replicas");
        assert_eq!(n.operated(), "mysql-cluster-test-mysql-operated");
        assert_eq!(n.pdb(), "mysql-cluster-test-mysql");
        assert_eq!(n.pod_host(2, "db"), "mysql-cluster-test-mysql-2.mysql.db");
    }

    #[test]
    fn selector_is_presslabs_three_labels() {
        let s = selector_labels("c");
        assert_eq!(s.len(), 3);
        assert_eq!(s["mysql.presslabs.org/cluster"], "c");
        assert_eq!(s["app.kubernetes.io/name"], "mysql");
        assert_eq!(s["app.kubernetes.io/managed-by"], "mysql.presslabs.org");
    }

    #[test]
    fn labels_take_overrides_from_annotations() {
        let l = cluster_labels("c", "8.0.20", &BTreeMap::new());
        assert_eq!(l["app.kubernetes.io/instance"], "c");
        assert_eq!(l["app.kubernetes.io/version"], "8.0.20");
        assert_eq!(l["app.kubernetes.io/component"], "database");
        assert!(!l.contains_key("app.kubernetes.io/part-of"));
        assert_eq!(l.len(), 6);

        let ann = BTreeMap::from([
            ("app.kubernetes.io/instance".to_string(), "shop".to_string()),
            ("app.kubernetes.io/component".to_string(), "db".to_string()),
            ("app.kubernetes.io/part-of".to_string(), "store".to_string()),
        ]);
        let l = cluster_labels("c", "5.7", &ann);
        assert_eq!(l["app.kubernetes.io/instance"], "shop");
        assert_eq!(l["app.kubernetes.io/component"], "db");
        assert_eq!(l["app.kubernetes.io/part-of"], "store");
    }
}
