//! Pass-through of every `podSpec` field, volume sources, plugins, options and errors.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::cluster::{RenderOptions, render};

#[test]
fn pod_spec_is_passed_through() {
    let c = cluster(json!({
        "secretName": "s",
        "mysqlVersion": "10.11",
        "sidecarImage": "tools:1",
        "volumeSpec": {"emptyDir": {}},
        "tmpfsSize": "1Gi",
        "initBucketURL": "s3://b/x.xbackup.gz",
        "initBucketSecretName": "bucket-creds",
        "serverIDOffset": 200,
        "metricsExporterExtraArgs": ["--collect.info_schema.tables"],
        "xtrabackupExtraArgs": ["--parallel=4"],
        "backupCompressCommand": ["zstd", "-3"],
        "podSpec": {
            "labels": {"team": "shop"},
            "annotations": {"note": "x"},
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "db", "operator": "Exists"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
            "priorityClassName": "high",
            "serviceAccountName": "mysql-sa",
            "imagePullPolicy": "Always",
            "imagePullSecrets": [{"name": "regcred"}],
            "volumes": [{"name": "extra", "emptyDir": {}}],
            "volumeMounts": [{"name": "extra", "mountPath": "/extra"}],
            "initContainers": [{"name": "user-init", "image": "busybox"}],
            "containers": [{"name": "user-sidecar", "image": "busybox"}],
            "mysqlLifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
            "mysqlOperatorSidecarResources": {"requests": {"cpu": "50m"}},
            "metricsExporterResources": {"limits": {"memory": "64Mi"}},
        },
    }));
    let r = rendered(&c);
    let p = pod(&r);
    let labels = r
        .stateful_set
        .spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    assert_eq!(labels["team"], "shop");
    assert_eq!(labels["app.kubernetes.io/version"], "10.11");
    assert_eq!(
        r.stateful_set
            .spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()["note"],
        "x"
    );
    assert_eq!(p.node_selector.as_ref().unwrap()["disk"], "ssd");
    assert_eq!(
        p.tolerations.as_ref().unwrap()[0].key.as_deref(),
        Some("db")
    );
    assert!(p.affinity.as_ref().unwrap().node_affinity.is_some());
    assert!(
        p.affinity.as_ref().unwrap().pod_anti_affinity.is_none(),
        "the user's affinity replaces the default"
    );
    assert_eq!(p.priority_class_name.as_deref(), Some("high"));
    assert_eq!(p.service_account_name.as_deref(), Some("mysql-sa"));
    assert_eq!(p.image_pull_secrets.as_ref().unwrap()[0].name, "regcred");
    let init_names: Vec<_> = p
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(init_names, ["init", "user-init"]);
    let names: Vec<_> = p.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["mysql", "agent", "metrics-exporter", "user-sidecar"]
    );
    for name in ["init", "mysql", "agent", "metrics-exporter"] {
        assert_eq!(
            container(&r, name).image_pull_policy.as_deref(),
            Some("Always"),
            "{name}"
        );
    }
    assert_eq!(container(&r, "init").image.as_deref(), Some("tools:1"));
    assert_eq!(container(&r, "agent").image.as_deref(), Some("tools:1"));

    let mysql = container(&r, "mysql");
    assert_eq!(mysql.image.as_deref(), Some("mariadb:10.11.11"));
    assert_eq!(
        mysql
            .liveness_probe
            .as_ref()
            .unwrap()
            .exec
            .as_ref()
            .unwrap()
            .command
            .as_ref()
            .unwrap()[0],
        "mariadb-admin"
    );
    assert!(mysql.lifecycle.as_ref().unwrap().pre_stop.is_some());
    let mounts: Vec<_> = mysql
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert_eq!(
        mounts,
        [
            ("conf", "/etc/mysql"),
            ("data", "/var/lib/mysql"),
            ("tmp", "/tmp"),
            ("extra", "/extra")
        ]
    );
    assert_eq!(
        mysql.resources.as_ref().unwrap().requests.as_ref().unwrap()["memory"].0,
        "1Gi",
        "presslabs default"
    );

    let agent = container(&r, "agent");
    assert_eq!(
        agent.resources.as_ref().unwrap().requests.as_ref().unwrap()["cpu"].0,
        "50m"
    );
    assert_eq!(
        agent.args.as_deref(),
        Some(
            &[
                "agent".to_string(),
                "--xtrabackup-extra-arg=--parallel=4".to_string()
            ][..]
        ),
        "extra args go to the agent's backup tool, one flag each"
    );
    assert!(
        env_value(agent, "BACKUP_COMPRESS_COMMAND").is_none(),
        "not supported, not rendered (render::pod::UNSUPPORTED_FIELDS)"
    );
    let exporter = container(&r, "metrics-exporter");
    assert_eq!(
        exporter
            .resources
            .as_ref()
            .unwrap()
            .limits
            .as_ref()
            .unwrap()["memory"]
            .0,
        "64Mi"
    );
    assert_eq!(
        exporter.args.as_ref().unwrap().last().map(String::as_str),
        Some("--collect.info_schema.tables")
    );

    let init = container(&r, "init");
    assert_eq!(
        env_value(init, "INIT_BUCKET_URL").as_deref(),
        Some("s3://b/x.xbackup.gz")
    );
    assert_eq!(
        env_value(init, "MY_SERVER_ID_OFFSET").as_deref(),
        Some("200")
    );
    assert_eq!(env_value(init, "MY_FLAVOR").as_deref(), Some("mariadb"));
    let env_from: Vec<_> = init
        .env_from
        .iter()
        .flatten()
        .map(|e| e.secret_ref.as_ref().unwrap().name.clone())
        .collect();
    assert_eq!(
        env_from,
        ["bucket-creds", "mysql-cluster-test-mysql-operated"]
    );

    let vols: Vec<_> = p
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(vols, ["conf", "config-map", "data", "tmp", "extra"]);
    let tmp = p
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "tmp")
        .unwrap()
        .empty_dir
        .clone()
        .unwrap();
    assert_eq!(
        (tmp.medium.as_deref(), tmp.size_limit.map(|q| q.0)),
        (Some("Memory"), Some("1Gi".to_string()))
    );
    assert!(
        p.volumes
            .iter()
            .flatten()
            .find(|v| v.name == "data")
            .unwrap()
            .empty_dir
            .is_some()
    );
    assert!(
        r.stateful_set.spec.volume_claim_templates.is_none(),
        "no claim template without a PVC spec"
    );
    assert!(r.pdb.is_none(), "one replica: no budget");

    let cnf = my_cnf(&r);
    assert!(!cnf.contains("gtid-mode"), "MariaDB config: {cnf}");
    assert!(
        cnf.contains("\ninnodb-buffer-pool-size = 512M\n"),
        "half of the default 1Gi request: {cnf}"
    );
}

#[test]
fn host_path_volume_and_claim_defaults() {
    let r = rendered(&cluster(
        json!({"secretName": "s", "volumeSpec": {"hostPath": {"path": "/srv/mysql"}}}),
    ));
    let data = pod(&r)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "data")
        .unwrap()
        .clone();
    assert_eq!(data.host_path.unwrap().path, "/srv/mysql");
    assert_eq!(
        container(&r, "mysql").image.as_deref(),
        Some("percona:5.7.35"),
        "default version 5.7"
    );

    let r = rendered(&cluster(
        json!({"secretName": "s", "volumeSpec": {"persistentVolumeClaim": {}}}),
    ));
    let claim = r.stateful_set.spec.volume_claim_templates.unwrap()[0]
        .spec
        .clone()
        .unwrap();
    assert_eq!(claim.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
    assert_eq!(
        claim.resources.unwrap().requests.unwrap()["storage"].0,
        "1Gi"
    );
}

#[test]
fn plugins_are_mounted_into_init_and_agent() {
    let c = cluster(json!({
        "secretName": "s",
        "volumeSpec": {"emptyDir": {}},
        "plugins": [{
            "name": "status-fix",
            "configMap": {"name": "policies", "key": "status-fix.wasm"},
            "hooks": ["init-script"],
            "failurePolicy": "Fail",
            "settings": {"table": "status"},
        }],
    }));
    let r = rendered(&c);
    let manifest: serde_json::Value =
        serde_json::from_str(&r.config_map.data.as_ref().unwrap()["plugins.json"]).unwrap();
    assert_eq!(
        manifest["plugins"][0],
        json!({
            "name": "status-fix",
            "configMap": {"name": "policies", "key": "status-fix.wasm"},
            "path": "/etc/mysql-operator/plugins/status-fix/status-fix.wasm",
            "hooks": ["init-script"],
            "failurePolicy": "Fail",
            "settings": {"table": "status"},
        })
    );
    let vol = pod(&r)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "plugin-status-fix")
        .unwrap();
    assert_eq!(vol.config_map.as_ref().unwrap().name, "policies");
    for name in ["init", "agent"] {
        let mounted = container(&r, name).volume_mounts.iter().flatten().any(|m| {
            m.name == "plugin-status-fix"
                && m.mount_path == "/etc/mysql-operator/plugins/status-fix"
        });
        assert!(mounted, "{name} mounts the plugin");
    }
    assert!(
        !container(&r, "mysql")
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == "plugin-status-fix")
    );
}

#[test]
fn owner_reference_when_cluster_has_uid() {
    let mut c = example();
    c.metadata.uid = Some("1234".into());
    let r = rendered(&c);
    assert_eq!(
        r.stateful_set.metadata.owner_references.as_ref().unwrap()[0].uid,
        "1234"
    );
    assert_eq!(
        r.config_map.metadata.owner_references.as_ref().unwrap()[0].kind,
        "MysqlCluster"
    );
    let headless = r
        .services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some("mysql"))
        .unwrap();
    assert!(headless.metadata.owner_references.is_none());
}

#[test]
fn options_fill_namespace_images_and_secret_revision() {
    let mut c = example();
    c.metadata.namespace = None;
    let opts = RenderOptions {
        namespace: Some("fallback".into()),
        sidecar_image: "tools:9".into(),
        metrics_exporter_image: "exporter:9".into(),
        image_pull_secret: Some("pull".into()),
        version_images: BTreeMap::from([(
            "8.0.20".to_string(),
            "mirror/percona:8.0.20".to_string(),
        )]),
        secret_revision: Some("rev-1".into()),
        ..RenderOptions::default()
    };
    let r = render(&c, &opts).unwrap();
    assert_eq!(
        r.stateful_set.metadata.namespace.as_deref(),
        Some("fallback")
    );
    assert_eq!(
        container(&r, "mysql").image.as_deref(),
        Some("mirror/percona:8.0.20")
    );
    assert_eq!(container(&r, "init").image.as_deref(), Some("tools:9"));
    assert_eq!(
        container(&r, "metrics-exporter").image.as_deref(),
        Some("exporter:9")
    );
    assert_eq!(pod(&r).image_pull_secrets.as_ref().unwrap()[0].name, "pull");
    let ann = r
        .stateful_set
        .spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .clone()
        .unwrap();
    assert_eq!(ann["secret_rev"], "rev-1");
}

#[test]
fn bad_input_is_an_error_naming_the_field() {
    let cases = [
        (
            json!({"secretName": "s", "mysqlVersion": "9.9.9", "volumeSpec": {"emptyDir": {}}}),
            "spec.mysqlVersion",
        ),
        (json!({"secretName": "s"}), "spec.volumeSpec"),
        (
            json!({"secretName": "s", "replicas": -1, "volumeSpec": {"emptyDir": {}}}),
            "spec.replicas",
        ),
        (
            json!({"secretName": "s", "volumeSpec": {"emptyDir": {}}, "mysqlConf": {"innodb-buffer-pool-size": "huge"}}),
            "spec.mysqlConf.innodb-buffer-pool-size",
        ),
        (
            json!({"secretName": "s", "volumeSpec": {"emptyDir": {}}, "podSpec": {"resources": {"requests": {"memory": "lots"}}}}),
            "spec.podSpec.resources.requests.memory",
        ),
        (
            json!({"secretName": "s", "volumeSpec": {"emptyDir": {}}, "plugins": [{"name": "a", "configMap": {"name": "p", "key": "k"}}, {"name": "a", "configMap": {"name": "p", "key": "k"}}]}),
            "spec.plugins[1].name",
        ),
    ];
    for (spec, field) in cases {
        let err = render(&cluster(spec), &RenderOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(field), "{err:?} should start with {field}");
        assert!(err.contains("hint:"), "{err}");
    }
}
