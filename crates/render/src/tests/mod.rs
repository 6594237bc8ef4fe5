//! Field-by-field tests of a whole cluster's rendering, and the helpers they share.

mod example;
mod spec;

use api::MysqlCluster;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde_json::json;

use crate::cluster::{RenderOptions, Rendered, render};

pub(crate) fn cluster(spec: serde_json::Value) -> MysqlCluster {
    serde_json::from_value(json!({
        "apiVersion": "mysql.presslabs.org/v1alpha1",
        "kind": "MysqlCluster",
        "metadata": {"name": "mysql-cluster-test", "namespace": "db"},
        "spec": spec,
    }))
    .unwrap()
}

/// The manifest in `/work/shared/examples/cluster.yaml`, as JSON.
pub(crate) fn example() -> MysqlCluster {
    cluster(json!({
        "replicas": 3,
        "secretName": "my-secret",
        "mysqlVersion": "8.0.20",
        "volumeSpec": {"persistentVolumeClaim": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}},
        "podSpec": {"resources": {"requests": {"cpu": "8", "memory": "16Gi"}, "limits": {"cpu": "8", "memory": "16Gi"}}},
        "mysqlConf": {"innodb-buffer-pool-size": "6Gi"},
    }))
}

pub(crate) fn rendered(c: &MysqlCluster) -> Rendered {
    render(c, &RenderOptions::default()).unwrap()
}

pub(crate) fn pod(r: &Rendered) -> &PodSpec {
    r.stateful_set.spec.template.spec.as_ref().unwrap()
}

pub(crate) fn container<'a>(r: &'a Rendered, name: &str) -> &'a Container {
    pod(r)
        .containers
        .iter()
        .chain(pod(r).init_containers.iter().flatten())
        .find(|c| c.name == name)
        .unwrap()
}

pub(crate) fn env_value(c: &Container, name: &str) -> Option<String> {
    c.env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

pub(crate) fn my_cnf(r: &Rendered) -> String {
    r.config_map.data.as_ref().unwrap()["my.cnf"].clone()
}
