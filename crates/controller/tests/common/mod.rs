//! Shared fixtures: the seed manifest loaded into an in-memory API server, and a reconciler.

#![allow(dead_code)]

use api::MysqlCluster;
use k8s_openapi::api::core::v1::Secret;
use mysql_operator_controller::desired::RenderCrate;
use mysql_operator_controller::store::{Kind, MemoryStore, ObjectKey};
use mysql_operator_controller::{ClusterReconciler, Options};
use serde_json::Value;

pub const NS: &str = "default";
pub const CLUSTER: &str = "mysql-cluster-test";

/// The seed manifest (a real presslabs site's), split into documents.
pub fn seed_docs() -> Vec<Value> {
    let text = include_str!("../fixtures/cluster.yaml");
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| {
            let mut v: Value =
                serde::Deserialize::deserialize(d).expect("seed manifest is valid YAML");
            v["metadata"]["namespace"] = NS.into();
            v
        })
        .collect()
}

pub fn doc(kind: &str) -> Value {
    seed_docs()
        .into_iter()
        .find(|d| d["kind"] == kind)
        .expect("kind in seed manifest")
}

/// A store holding what a user applied with kubectl: the seed cluster and optionally its Secret.
pub fn store_with(secret: bool) -> MemoryStore {
    let s = MemoryStore::new();
    s.seed(&Kind::of::<MysqlCluster>(), doc("MysqlCluster"), "kubectl")
        .expect("seed cluster");
    if secret {
        s.seed(&Kind::of::<Secret>(), doc("Secret"), "kubectl")
            .expect("seed secret");
    }
    s
}

pub fn reconciler(s: &MemoryStore) -> ClusterReconciler<MemoryStore, RenderCrate> {
    ClusterReconciler::new(
        s.clone(),
        RenderCrate::default(),
        Options {
            sidecar_image: "mo:test".into(),
            cleanup_pvcs: true,
            ..Options::default()
        },
    )
}

pub fn key<K: kube::Resource<DynamicType = ()>>(name: &str) -> ObjectKey {
    ObjectKey::of::<K>(NS, name)
}

pub fn get<K: kube::Resource<DynamicType = ()>>(s: &MemoryStore, name: &str) -> Option<Value> {
    s.object(&key::<K>(name))
}

/// Change the cluster as the user would (`kubectl apply` of an edited manifest).
pub fn edit_cluster(s: &MemoryStore, f: impl FnOnce(&mut Value)) {
    let mut c = doc("MysqlCluster");
    f(&mut c);
    s.seed(&Kind::of::<MysqlCluster>(), c, "kubectl")
        .expect("edit cluster");
}

pub fn condition(s: &MemoryStore, type_: &str) -> Option<Value> {
    let c = get::<MysqlCluster>(s, CLUSTER)?;
    c["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}
