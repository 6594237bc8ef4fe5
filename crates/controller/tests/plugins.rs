//! Policy modules from ConfigMaps: missing ConfigMap and bad digest reported per module
//! (condition + Event) while the rest of the cluster is reconciled; a ConfigMap change
//! swaps the module and rolls the pods.

mod common;

use base64::Engine;
use common::*;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use mysql_operator_controller::desired::CONFIG_REV;
use mysql_operator_controller::store::Kind;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Bytes with the Wasm magic and version: what the resolver checks (compilation and
/// `validate-settings` belong to the Wasm host, crates/plugin).
fn module(fill: u8) -> Vec<u8> {
    let mut v = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    v.extend(std::iter::repeat_n(fill, 4096));
    v
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn put_module(s: &mysql_operator_controller::MemoryStore, cm: &str, bytes: &[u8]) {
    let v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm, "namespace": NS},
        "binaryData": {"policy.wasm": base64::engine::general_purpose::STANDARD.encode(bytes)}});
    s.seed(&Kind::of::<ConfigMap>(), v, "kubectl").unwrap();
}

fn with_plugins(s: &mysql_operator_controller::MemoryStore, plugins: Value) {
    edit_cluster(s, |c| c["spec"]["plugins"] = plugins);
}

fn manifest(s: &mysql_operator_controller::MemoryStore) -> Vec<Value> {
    let cm = get::<ConfigMap>(s, "mysql-cluster-test-mysql").expect("cluster ConfigMap");
    // render's manifest: {"version": 1, "plugins": [...]}, verified modules only.
    let m: Value =
        serde_json::from_str(cm["data"]["plugins.json"].as_str().expect("plugins.json")).unwrap();
    m["plugins"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn missing_configmap_and_bad_digest_are_reported_and_the_cluster_still_reconciled() {
    let s = store_with(true);
    put_module(&s, "good-cm", &module(1));
    put_module(&s, "pinned-cm", &module(2));
    with_plugins(
        &s,
        json!([
            {"name": "good", "configMap": {"name": "good-cm", "key": "policy.wasm"}},
            {"name": "absent", "configMap": {"name": "nope", "key": "policy.wasm"}},
            {"name": "pinned", "configMap": {"name": "pinned-cm", "key": "policy.wasm"}, "sha256": sha(&module(9))},
        ]),
    );
    reconciler(&s).reconcile(NS, CLUSTER).await.unwrap();
    let c = condition(&s, "PluginFailed").expect("PluginFailed condition");
    assert_eq!(c["status"], "True");
    let msg = c["message"].as_str().unwrap();
    assert!(
        msg.contains("module absent: ConfigMap nope not found"),
        "{msg}"
    );
    assert!(msg.contains("module pinned: digest mismatch"), "{msg}");
    assert!(!msg.contains("module good"), "{msg}");
    let failed: Vec<_> = s
        .events()
        .into_iter()
        .filter(|e| e.reason == "PluginFailed")
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|e| e.type_ == "Warning"));
    assert!(
        failed
            .iter()
            .any(|e| e.message.starts_with("module absent:"))
    );

    // The rest of the cluster is there, and the good module is in the pods' manifest.
    let sts =
        get::<StatefulSet>(&s, "mysql-cluster-test-mysql").expect("StatefulSet applied anyway");
    let m = manifest(&s);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["name"], "good");
    assert_eq!(m[0]["sha256"], sha(&module(1)));
    let vols = sts["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    assert!(vols.iter().any(|v| v["configMap"]["name"] == "good-cm"));

    // Fix both: the condition clears, no new failure events.
    put_module(&s, "nope", &module(3));
    put_module(&s, "pinned-cm", &module(9));
    reconciler(&s).reconcile(NS, CLUSTER).await.unwrap();
    let c = condition(&s, "PluginFailed").unwrap();
    assert_eq!(c["status"], "False");
    assert_eq!(manifest(&s).len(), 3);
}

#[tokio::test]
async fn configmap_change_swaps_the_module_and_rolls_the_pods() {
    let s = store_with(true);
    put_module(&s, "policy", &module(1));
    with_plugins(
        &s,
        json!([{"name": "candidate", "configMap": {"name": "policy", "key": "policy.wasm"}}]),
    );
    let r = reconciler(&s);
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(
        r.attached.digest(&format!("{NS}/{CLUSTER}"), "candidate"),
        Some(sha(&module(1)))
    );
    let rev = |s: &mysql_operator_controller::MemoryStore| {
        get::<StatefulSet>(s, "mysql-cluster-test-mysql").unwrap()["spec"]["template"]["metadata"]["annotations"]
            [CONFIG_REV]
            .clone()
    };
    let rev1 = rev(&s);
    s.clear_writes();
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(s.writes(), vec![], "unchanged module: no writes");

    put_module(&s, "policy", &module(2));
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(
        r.attached.digest(&format!("{NS}/{CLUSTER}"), "candidate"),
        Some(sha(&module(2)))
    );
    let swap = s
        .events()
        .into_iter()
        .find(|e| e.message.contains("swapped"))
        .expect("swap event");
    assert!(swap.message.contains(&sha(&module(2))), "{}", swap.message);
    assert_eq!(manifest(&s)[0]["sha256"], sha(&module(2)));
    assert_ne!(rev(&s), rev1, "pods restart onto the new module");
    assert_eq!(condition(&s, "PluginFailed").unwrap()["status"], "False");
}
