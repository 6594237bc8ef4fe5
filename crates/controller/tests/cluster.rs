//! The cluster reconciler against the in-memory API server: the seed manifest, no-op
//! second reconcile, adoption of a presslabs StatefulSet, missing Secret, scale-down,
//! presslabs' finalizer, passwords kept.

mod common;

use api::MysqlCluster;
use common::*;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use mysql_operator_controller::Outcome;
use mysql_operator_controller::cluster::ORCHESTRATOR_FINALIZER;
use mysql_operator_controller::desired::{CONFIG_REV, SECRET_REV};
use mysql_operator_controller::store::{Kind, Store};
use serde_json::{Value, json};

#[tokio::test]
async fn seed_manifest_produces_the_presslabs_objects() {
    let s = store_with(true);
    let out = reconciler(&s)
        .reconcile(NS, CLUSTER)
        .await
        .expect("reconcile");
    assert!(matches!(out, Outcome::RequeueAfter(_)));
    let cluster_uid = get::<MysqlCluster>(&s, CLUSTER).unwrap()["metadata"]["uid"].clone();

    let sts = get::<StatefulSet>(&s, "mysql-cluster-test-mysql").expect("StatefulSet <c>-mysql");
    assert_eq!(sts["spec"]["replicas"], 3);
    assert_eq!(sts["spec"]["serviceName"], "mysql");
    let vct = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(vct["metadata"]["name"], "data");
    assert_eq!(vct["spec"]["resources"]["requests"]["storage"], "20Gi");
    assert_eq!(sts["metadata"]["ownerReferences"][0]["uid"], cluster_uid);
    assert_eq!(sts["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(
        sts["spec"]["selector"]["matchLabels"]["mysql.presslabs.org/cluster"],
        CLUSTER
    );
    let tmpl = &sts["spec"]["template"];
    assert_eq!(
        tmpl["spec"]["containers"][0]["image"], "percona:8.0.20-11",
        "image of the known version"
    );
    assert_eq!(
        tmpl["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "16Gi"
    );
    assert!(
        tmpl["metadata"]["annotations"][CONFIG_REV]
            .as_str()
            .is_some_and(|v| v.len() == 64)
    );
    assert!(
        tmpl["metadata"]["annotations"][SECRET_REV]
            .as_str()
            .is_some_and(|v| v.len() == 64)
    );

    for (svc, role) in [
        ("mysql-cluster-test-mysql-master", Some("master")),
        ("mysql-cluster-test-mysql-replicas", Some("replica")),
        ("mysql-cluster-test-mysql", None),
    ] {
        let v = get::<Service>(&s, svc).unwrap_or_else(|| panic!("Service {svc}"));
        assert_eq!(
            v["spec"]["selector"].get("role").and_then(|r| r.as_str()),
            role,
            "{svc}"
        );
        assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], cluster_uid);
    }
    let headless = get::<Service>(&s, "mysql").expect("headless Service mysql");
    assert_eq!(headless["spec"]["clusterIP"], "None");

    let cm = get::<ConfigMap>(&s, "mysql-cluster-test-mysql").expect("ConfigMap");
    assert!(
        cm["data"]["my.cnf"]
            .as_str()
            .unwrap()
            .contains("innodb-buffer-pool-size = 6G\n")
    );
    let sec = get::<Secret>(&s, "mysql-cluster-test-mysql-operated").expect("operated Secret");
    assert_eq!(sec["data"].as_object().unwrap().len(), 10);
    let pdb = get::<PodDisruptionBudget>(&s, "mysql-cluster-test-mysql").expect("PDB");
    assert_eq!(pdb["spec"]["minAvailable"], "50%");

    let ready = condition(&s, "Ready").expect("Ready condition");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "StatefulSetNotReady");

    // The StatefulSet controller reports the pods ready: the cluster becomes Ready.
    s.seed_status(
        &key::<StatefulSet>("mysql-cluster-test-mysql"),
        json!({"replicas": 3, "readyReplicas": 3}),
    )
    .unwrap();
    reconciler(&s).reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(condition(&s, "Ready").unwrap()["status"], "True");
    assert_eq!(
        get::<MysqlCluster>(&s, CLUSTER).unwrap()["status"]["readyNodes"],
        3
    );
}

#[tokio::test]
async fn second_reconcile_writes_nothing() {
    let s = store_with(true);
    let r = reconciler(&s);
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert!(!s.writes().is_empty());
    s.clear_writes();
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(s.writes(), vec![], "an unchanged cluster costs no writes");
    // A fresh reconciler (operator restart) is a no-op too.
    reconciler(&s).reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(s.writes(), vec![]);
}

#[tokio::test]
async fn presslabs_statefulset_is_adopted_with_its_immutable_fields() {
    let s = store_with(true);
    let uid = get::<MysqlCluster>(&s, CLUSTER).unwrap()["metadata"]["uid"].clone();
    let presslabs = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "mysql-cluster-test-mysql", "namespace": NS,
            "labels": {"app.kubernetes.io/name": "mysql", "mysql.presslabs.org/cluster": CLUSTER},
            "ownerReferences": [{"apiVersion": "mysql.presslabs.org/v1alpha1", "kind": "MysqlCluster",
                "name": CLUSTER, "uid": uid, "controller": true}]},
        "spec": {
            "replicas": 3, "serviceName": "mysql",
            "selector": {"matchLabels": {"app.kubernetes.io/name": "mysql", "mysql.presslabs.org/cluster": CLUSTER}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": "mysql", "mysql.presslabs.org/cluster": CLUSTER}},
                "spec": {"containers": [{"name": "mysql", "image": "percona:5.7"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "ssd",
                    "resources": {"requests": {"storage": "10Gi"}}}}]
        }
    });
    s.seed(
        &Kind::of::<StatefulSet>(),
        presslabs.clone(),
        "mysql-operator-presslabs",
    )
    .unwrap();
    reconciler(&s)
        .reconcile(NS, CLUSTER)
        .await
        .expect("adoption must not hit immutable fields");
    let sts = get::<StatefulSet>(&s, "mysql-cluster-test-mysql").unwrap();
    for f in ["selector", "serviceName"] {
        assert_eq!(
            sts["spec"][f], presslabs["spec"][f],
            "{f} kept as presslabs created it"
        );
    }
    let vct = &sts["spec"]["volumeClaimTemplates"];
    assert_eq!(vct.as_array().map(Vec::len), Some(1));
    assert_eq!(
        vct[0]["metadata"],
        presslabs["spec"]["volumeClaimTemplates"][0]["metadata"]
    );
    assert_eq!(
        vct[0]["spec"], presslabs["spec"]["volumeClaimTemplates"][0]["spec"],
        "storage class and size kept"
    );
    assert_eq!(sts["metadata"]["ownerReferences"][0]["uid"], uid);
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"], "percona:8.0.20-11",
        "template updated"
    );
    s.clear_writes();
    reconciler(&s).reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(s.writes(), vec![]);
}

#[tokio::test]
async fn missing_secret_sets_ready_false_and_applies_nothing() {
    let s = store_with(false);
    let before = s.len();
    reconciler(&s).reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(s.len(), before, "no partial apply");
    let ready = condition(&s, "Ready").expect("Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "SecretNotFound");
    assert!(ready["message"].as_str().unwrap().contains("my-secret"));
    let events = s.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, "SecretNotFound");
    assert!(
        s.writes()
            .iter()
            .all(|w| w.verb == "patch_status" || w.verb == "event")
    );
    // Reconciling again does not repeat the event.
    reconciler(&s).reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(s.events().len(), 1);

    // A Secret without ROOT_PASSWORD is named too.
    let mut bad = doc("Secret");
    bad["data"] = json!({"USER": "dXNlcg=="});
    s.seed(&Kind::of::<Secret>(), bad, "kubectl").unwrap();
    reconciler(&s).reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(condition(&s, "Ready").unwrap()["reason"], "SecretInvalid");
    assert_eq!(s.len(), before + 1);

    s.seed(&Kind::of::<Secret>(), doc("Secret"), "kubectl")
        .unwrap();
    reconciler(&s).reconcile(NS, CLUSTER).await.unwrap();
    assert!(get::<StatefulSet>(&s, "mysql-cluster-test-mysql").is_some());
    assert_eq!(
        condition(&s, "Ready").unwrap()["reason"],
        "StatefulSetNotReady"
    );
}

#[tokio::test]
async fn scale_down_deletes_pvcs_of_removed_ordinals_once_their_pods_are_gone() {
    let s = store_with(true);
    let r = reconciler(&s);
    r.reconcile(NS, CLUSTER).await.unwrap();
    for n in 0..3 {
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": format!("data-mysql-cluster-test-mysql-{n}"), "namespace": NS,
                "labels": {"mysql.presslabs.org/cluster": CLUSTER}}});
        s.seed(
            &Kind::of::<PersistentVolumeClaim>(),
            pvc,
            "statefulset-controller",
        )
        .unwrap();
    }
    let pod = |n: i32| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("mysql-cluster-test-mysql-{n}"), "namespace": NS}});
    for n in 0..3 {
        s.seed(&Kind::of::<Pod>(), pod(n), "statefulset-controller")
            .unwrap();
    }
    edit_cluster(&s, |c| c["spec"]["replicas"] = 1.into());
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(
        get::<StatefulSet>(&s, "mysql-cluster-test-mysql").unwrap()["spec"]["replicas"],
        1
    );
    assert!(
        get::<PersistentVolumeClaim>(&s, "data-mysql-cluster-test-mysql-2").is_some(),
        "pod 2 still running"
    );
    assert!(
        get::<PodDisruptionBudget>(&s, "mysql-cluster-test-mysql").is_none(),
        "one pod: no PDB"
    );

    // The StatefulSet controller removes pod 2, then pod 1.
    s.delete(&key::<Pod>("mysql-cluster-test-mysql-2"))
        .await
        .unwrap();
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert!(get::<PersistentVolumeClaim>(&s, "data-mysql-cluster-test-mysql-2").is_none());
    assert!(get::<PersistentVolumeClaim>(&s, "data-mysql-cluster-test-mysql-1").is_some());
    s.delete(&key::<Pod>("mysql-cluster-test-mysql-1"))
        .await
        .unwrap();
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert!(get::<PersistentVolumeClaim>(&s, "data-mysql-cluster-test-mysql-1").is_none());
    assert!(get::<PersistentVolumeClaim>(&s, "data-mysql-cluster-test-mysql-0").is_some());
}

#[tokio::test]
async fn pvc_cleanup_can_be_turned_off() {
    let s = store_with(true);
    let mut r = reconciler(&s);
    r.options.cleanup_pvcs = false;
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-mysql-cluster-test-mysql-2", "namespace": NS,
            "labels": {"mysql.presslabs.org/cluster": CLUSTER}}});
    s.seed(
        &Kind::of::<PersistentVolumeClaim>(),
        pvc,
        "statefulset-controller",
    )
    .unwrap();
    edit_cluster(&s, |c| c["spec"]["replicas"] = 1.into());
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert!(get::<PersistentVolumeClaim>(&s, "data-mysql-cluster-test-mysql-2").is_some());
}

#[tokio::test]
async fn orchestrator_finalizer_is_cleared_so_delete_completes() {
    let s = store_with(true);
    edit_cluster(&s, |c| {
        c["metadata"]["finalizers"] = json!([ORCHESTRATOR_FINALIZER, "example.com/keep"])
    });
    let r = reconciler(&s);
    r.reconcile(NS, CLUSTER).await.unwrap();
    let c = get::<MysqlCluster>(&s, CLUSTER).unwrap();
    assert_eq!(
        c["metadata"]["finalizers"],
        json!(["example.com/keep"]),
        "only presslabs' finalizer removed"
    );
    assert!(get::<StatefulSet>(&s, "mysql-cluster-test-mysql").is_some());

    // Deleted while still carrying presslabs' finalizer (old operator removed first).
    edit_cluster(&s, |c| {
        c["metadata"]["finalizers"] = json!(["OrchestratorFinalizer"])
    });
    s.delete(&key::<MysqlCluster>(CLUSTER)).await.unwrap();
    assert!(
        get::<MysqlCluster>(&s, CLUSTER).is_some(),
        "blocked by the finalizer"
    );
    let out = r.reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(out, Outcome::Gone);
    assert!(
        get::<MysqlCluster>(&s, CLUSTER).is_none(),
        "delete completed"
    );
    assert!(
        get::<StatefulSet>(&s, "mysql-cluster-test-mysql").is_none(),
        "owned objects collected"
    );
    assert!(
        get::<Service>(&s, "mysql").is_some(),
        "the shared headless Service is not owned"
    );
    assert_eq!(r.reconcile(NS, CLUSTER).await.unwrap(), Outcome::Gone);
}

#[tokio::test]
async fn operated_passwords_survive_spec_changes_and_config_rev_follows_the_config() {
    let s = store_with(true);
    let r = reconciler(&s);
    r.reconcile(NS, CLUSTER).await.unwrap();
    let sec1 = get::<Secret>(&s, "mysql-cluster-test-mysql-operated").unwrap()["data"].clone();
    let rev1 =
        get::<StatefulSet>(&s, "mysql-cluster-test-mysql").unwrap()["spec"]["template"]["metadata"]
            ["annotations"]
            .clone();
    edit_cluster(&s, |c| {
        c["spec"]["mysqlConf"]["max-connections"] = 1000.into()
    });
    r.reconcile(NS, CLUSTER).await.unwrap();
    let sec2 = get::<Secret>(&s, "mysql-cluster-test-mysql-operated").unwrap()["data"].clone();
    assert_eq!(sec1, sec2, "passwords are never regenerated");
    let rev2 =
        get::<StatefulSet>(&s, "mysql-cluster-test-mysql").unwrap()["spec"]["template"]["metadata"]
            ["annotations"]
            .clone();
    assert_ne!(
        rev1[CONFIG_REV], rev2[CONFIG_REV],
        "config change rolls the pods"
    );
    assert_eq!(rev1[SECRET_REV], rev2[SECRET_REV]);
}

/// The controller applies exactly what `crates/render` renders for the seed manifest (the
/// objects `mysql-operator render` prints), with the live Secret's revision; a second
/// reconcile writes nothing.
#[tokio::test]
async fn seed_manifest_through_the_reconciler_matches_render() {
    let s = store_with(true);
    let r = reconciler(&s);
    r.reconcile(NS, CLUSTER).await.expect("reconcile");
    let cluster: MysqlCluster =
        serde_json::from_value(get::<MysqlCluster>(&s, CLUSTER).unwrap()).unwrap();
    let live_secret: Secret =
        serde_json::from_value(get::<Secret>(&s, "mysql-cluster-test-mysql-operated").unwrap())
            .unwrap();
    let secret_rev = mysql_operator_controller::desired::digest_map(
        live_secret
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k, v.0.as_slice())),
    );
    let want = render::render(
        &cluster,
        &render::RenderOptions {
            sidecar_image: "mo:test".into(),
            secret_revision: Some(secret_rev),
            ..Default::default()
        },
    )
    .expect("render");

    let sts = get::<StatefulSet>(&s, "mysql-cluster-test-mysql").unwrap();
    let wsts = v(&want.stateful_set);
    for path in [
        "/spec/replicas",
        "/spec/serviceName",
        "/spec/selector",
        "/spec/podManagementPolicy",
        "/spec/volumeClaimTemplates",
        "/spec/template/metadata/labels",
        "/spec/template/metadata/annotations",
        "/spec/template/spec/containers",
        "/spec/template/spec/initContainers",
        "/spec/template/spec/volumes",
        "/spec/template/spec/affinity",
        "/metadata/labels",
    ] {
        assert_eq!(sts.pointer(path), wsts.pointer(path), "StatefulSet {path}");
    }
    let containers = sts["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers[0]["name"], "mysql");
    assert_eq!(containers[0]["image"], "percona:8.0.20-11");
    let init = &sts["spec"]["template"]["spec"]["initContainers"][0];
    assert_eq!(init["image"], "mo:test", "the operator's sidecar image");

    let cm = get::<ConfigMap>(&s, "mysql-cluster-test-mysql").unwrap();
    assert_eq!(cm["data"], v(&want.config_map)["data"]);
    let my_cnf = cm["data"]["my.cnf"].as_str().unwrap();
    let pool: Vec<&str> = my_cnf
        .lines()
        .filter(|l| l.replace('_', "-").starts_with("innodb-buffer-pool-size"))
        .collect();
    eprintln!("my.cnf buffer pool line(s): {pool:?}");
    assert_eq!(pool.len(), 1, "{my_cnf}");
    assert!(
        pool[0].ends_with("= 6G") || pool[0].ends_with("= 6Gi") || pool[0].ends_with("=6G"),
        "the user's 6Gi buffer pool: {}",
        pool[0]
    );

    assert_eq!(want.services.len(), 5);
    for svc in &want.services {
        let name = svc.metadata.name.clone().unwrap();
        let got = get::<Service>(&s, &name).unwrap_or_else(|| panic!("Service {name}"));
        assert_eq!(got["spec"], v(svc)["spec"], "Service {name}");
        assert_eq!(
            got["metadata"]["labels"],
            v(svc)["metadata"]["labels"],
            "{name}"
        );
    }
    let pdb = get::<PodDisruptionBudget>(&s, "mysql-cluster-test-mysql").unwrap();
    assert_eq!(pdb["spec"], v(want.pdb.as_ref().unwrap())["spec"]);

    // The operated Secret keeps render's metadata but never its placeholders.
    let sec = get::<Secret>(&s, "mysql-cluster-test-mysql-operated").unwrap();
    assert!(sec.get("stringData").is_none_or(Value::is_null));
    assert!(!sec.to_string().contains(render::secret::PLACEHOLDER));
    assert_eq!(
        sec["metadata"]["labels"],
        v(&want.operated_secret)["metadata"]["labels"]
    );

    s.clear_writes();
    r.reconcile(NS, CLUSTER).await.unwrap();
    assert_eq!(s.writes(), vec![], "second reconcile is a no-op");
}

/// A rendered object as JSON, to compare with what the store holds.
fn v<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).expect("k8s objects serialise")
}
