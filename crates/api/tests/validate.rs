//! Semantic validation and the spec helpers (defaults, versions, flavors), on typed values
//! parsed from the same YAML/JSON users write.

use mysql_operator_api::validate::{self, FieldError};
use mysql_operator_api::{Flavor, Hook, MysqlCluster};
use serde_json::json;

fn cluster(spec: serde_json::Value) -> MysqlCluster {
    serde_json::from_value(json!({
        "apiVersion": "mysql.presslabs.org/v1alpha1",
        "kind": "MysqlCluster",
        "metadata": {"name": "c1"},
        "spec": spec,
    }))
    .expect("typed parse")
}

fn base() -> serde_json::Value {
    json!({"secretName": "s", "volumeSpec": {"emptyDir": {}}})
}

fn with(extra: serde_json::Value) -> MysqlCluster {
    let mut spec = base();
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    cluster(spec)
}

fn paths(errs: &[FieldError]) -> Vec<&str> {
    errs.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn minimal_cluster_is_valid_and_defaults_match_presslabs() {
    let c = cluster(base());
    assert_eq!(validate::cluster(&c), vec![]);
    let s = &c.spec;
    assert_eq!(s.effective_replicas(), 1);
    assert_eq!(s.effective_version(), "5.7.35");
    assert_eq!(s.effective_image().unwrap(), "percona:5.7.35");
    assert_eq!(s.effective_flavor(), Flavor::Percona);
    assert_eq!(s.effective_min_available(), None);
    assert_eq!(s.effective_server_id_offset(), 100);
}

#[test]
fn presslabs_example_parses_with_every_field() {
    let c = with(json!({
        "replicas": 3, "mysqlVersion": "8.0", "minAvailable": "1",
        "backupSchedule": "0 0 3 * * *", "backupURL": "s3://b/p", "backupSecretName": "bs",
        "backupRemoteDeletePolicy": "delete", "backupScheduleJobsHistoryLimit": 5,
        "backupCompressCommand": ["pigz", "--stdout"], "backupDecompressCommand": ["pigz", "-d"],
        "mysqlConf": {"innodb-buffer-pool-size": "6Gi", "max_connections": 500},
        "podSpec": {"resources": {"requests": {"memory": "1Gi", "cpu": 1}}, "mysqlLifecycle": {"preStop": {"exec": {"command": ["x"]}}},
                    "backupNodeSelector": {"a": "b"}, "initContainers": [{"name": "i", "image": "busybox"}]},
        "tmpfsSize": "1Gi", "maxSlaveLatency": 30, "queryLimits": {"maxQueryTime": 300, "kill": "all", "killMode": "query"},
        "readOnly": true, "serverIDOffset": 200, "xtrabackupExtraArgs": ["--parallel=8"], "initFileExtraSQL": ["SELECT 1"],
        "initBucketURL": "gs://b/x.xbackup.gz", "initBucketSecretName": "bs",
        "plugins": [{"name": "p", "configMap": {"name": "cm", "key": "p.wasm"}, "hooks": ["failover-candidate"], "failurePolicy": "Fail", "settings": {"zones": ["a"]}}],
    }));
    assert_eq!(validate::cluster(&c), vec![]);
    assert_eq!(c.spec.effective_image().unwrap(), "percona:8.0.25-15");
    assert_eq!(
        c.spec.effective_min_available(),
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
    );
    assert!(c.spec.plugins[0].serves(Hook::FailoverCandidate));
    assert!(!c.spec.plugins[0].serves(Hook::InitScript));
    // Round trip keeps presslabs' field names.
    let back = serde_json::to_value(&c).unwrap();
    for k in [
        "backupURL",
        "initBucketURL",
        "serverIDOffset",
        "initFileExtraSQL",
        "mysqlConf",
    ] {
        assert!(
            back["spec"].get(k).is_some(),
            "{k} lost on serialisation: {back}"
        );
    }
    assert_eq!(back["spec"]["podSpec"]["backupNodeSelector"]["a"], "b");
}

#[test]
fn unknown_fields_are_ignored_not_rejected() {
    let c = with(json!({"someRemovedPresslabsField": 1, "podSpec": {"unknown": true}}));
    assert_eq!(validate::cluster(&c), vec![]);
}

#[test]
fn negative_replicas_names_the_field() {
    let e = validate::cluster(&with(json!({"replicas": -1})));
    assert_eq!(paths(&e), ["spec.replicas"]);
    assert!(e[0].message.contains("-1"));
}

#[test]
fn unknown_version_needs_image() {
    let e = validate::cluster(&with(json!({"mysqlVersion": "9.9"})));
    assert_eq!(paths(&e), ["spec.mysqlVersion"]);
    assert!(
        e[0].hint.contains("8.0") && e[0].hint.contains("spec.image"),
        "{}",
        e[0].hint
    );
    let ok = with(json!({"mysqlVersion": "9.9", "image": "mysql:9.9.0"}));
    assert_eq!(validate::cluster(&ok), vec![]);
    assert_eq!(ok.spec.effective_flavor(), Flavor::Mysql);
}

#[test]
fn cron_must_have_six_fields_seconds_first() {
    let five = validate::cluster(&with(
        json!({"backupSchedule": "0 3 * * *", "backupURL": "s3://b"}),
    ));
    assert_eq!(paths(&five), ["spec.backupSchedule"]);
    assert!(five[0].hint.contains("\"0 0 3 * * *\""), "{}", five[0].hint);
    let bad = validate::cluster(&with(
        json!({"backupSchedule": "0 0 25 * * *", "backupURL": "s3://b"}),
    ));
    assert_eq!(paths(&bad), ["spec.backupSchedule"]);
    assert!(validate::check_cron("@daily").is_ok());
    assert!(validate::check_cron("*/30 * * * * *").is_ok());
    let no_url = validate::cluster(&with(json!({"backupSchedule": "0 0 3 * * *"})));
    assert_eq!(paths(&no_url), ["spec.backupURL"]);
}

#[test]
fn volume_source_is_required() {
    let c = cluster(json!({"secretName": "s"}));
    let e = validate::cluster(&c);
    assert_eq!(paths(&e), ["spec.volumeSpec"]);
    assert!(e[0].hint.contains("persistentVolumeClaim"));
}

#[test]
fn plugin_rules_report_every_problem() {
    let c = with(json!({"plugins": [
        {"name": "a", "configMap": {"name": "cm", "key": "k"}},
        {"name": "a", "configMap": {"name": "", "key": ""}, "sha256": "abc", "hooks": []},
        {"name": "Bad_Name", "configMap": {"name": "cm", "key": "k"}, "hooks": ["init-script", "init-script"], "settings": [1]},
    ]}));
    let e = validate::cluster(&c);
    assert_eq!(
        paths(&e),
        [
            "spec.plugins[1].name",
            "spec.plugins[1].configMap.name",
            "spec.plugins[1].configMap.key",
            "spec.plugins[1].sha256",
            "spec.plugins[1].hooks",
            "spec.plugins[2].name",
            "spec.plugins[2].hooks[1]",
            "spec.plugins[2].settings",
        ],
        "{e:#?}"
    );
    assert!(e[0].message.contains("duplicate"));
    let sha = "a".repeat(64);
    let ok = with(
        json!({"plugins": [{"name": "a", "configMap": {"name": "cm", "key": "k"}, "sha256": sha}]}),
    );
    assert_eq!(validate::cluster(&ok), vec![]);
}

#[test]
fn mysql_conf_and_misc_values_are_sane() {
    let e = validate::cluster(&with(json!({
        "mysqlConf": {"bad key": "1", "x": "a\nb", "ok": 5},
        "minAvailable": "150%", "tmpfsSize": "lots", "serverIDOffset": -1,
        "queryLimits": {"maxQueryTime": 0, "kill": "some"}, "backupURL": "not a url",
    })));
    assert_eq!(
        paths(&e),
        [
            "spec.backupURL",
            "spec.minAvailable",
            "spec.serverIDOffset",
            "spec.tmpfsSize",
            "spec.queryLimits.maxQueryTime",
            "spec.queryLimits.kill",
            "spec.mysqlConf.bad key",
            "spec.mysqlConf.x",
        ],
        "{e:#?}"
    );
}

#[test]
fn flavor_inference_and_mariadb_versions() {
    let m = with(json!({"mysqlVersion": "10.11"}));
    assert_eq!(m.spec.effective_flavor(), Flavor::Mariadb);
    assert_eq!(m.spec.effective_image().unwrap(), "mariadb:10.11.11");
    let img = with(json!({"image": "registry.local:5000/mariadb:11.4", "mysqlVersion": "11.4.2"}));
    assert_eq!(img.spec.effective_flavor(), Flavor::Mariadb);
    let port_only = with(json!({"image": "registry.local:5000/db:1"}));
    assert_eq!(port_only.spec.effective_flavor(), Flavor::Percona);
    let explicit = with(json!({"flavor": "mysql", "mysqlVersion": "8.0"}));
    assert_eq!(explicit.spec.effective_flavor(), Flavor::Mysql);
    let clash = validate::cluster(&with(json!({"flavor": "mariadb", "image": "percona:8.0"})));
    assert_eq!(paths(&clash), ["spec.flavor"]);
    // The tools image carries MariaDB under a name with "mysql" in it: the name says
    // nothing, so spec.flavor (or the version) decides and validation passes.
    let tools = with(json!({"flavor": "mariadb", "mysqlVersion": "10.11",
        "image": "mysql-tools:dev-mariadb10.11"}));
    assert!(validate::cluster(&tools).is_empty());
    assert_eq!(tools.spec.effective_flavor(), Flavor::Mariadb);
    let tools_unset = with(json!({"mysqlVersion": "10.11", "image": "localhost/mysql-tools:dev"}));
    assert_eq!(tools_unset.spec.effective_flavor(), Flavor::Mariadb);
    let official = with(json!({"image": "container-registry.oracle.com/mysql/mysql-server:8.0"}));
    assert_eq!(official.spec.effective_flavor(), Flavor::Mysql);
}

#[test]
fn other_kinds_have_their_rules() {
    let b: mysql_operator_api::MysqlBackup = serde_json::from_value(json!({
        "apiVersion": "mysql.presslabs.org/v1alpha1", "kind": "MysqlBackup", "metadata": {"name": "b"},
        "spec": {"clusterName": "", "backupURL": "nope"}
    })).unwrap();
    assert_eq!(
        paths(&validate::backup(&b)),
        ["spec.clusterName", "spec.backupURL"]
    );
    let d: mysql_operator_api::MysqlDatabase = serde_json::from_value(json!({
        "apiVersion": "mysql.presslabs.org/v1alpha1", "kind": "MysqlDatabase", "metadata": {"name": "d"},
        "spec": {"clusterRef": {"name": "c"}, "database": "a`b"}
    })).unwrap();
    assert_eq!(paths(&validate::database(&d)), ["spec.database"]);
    let u: mysql_operator_api::MysqlUser = serde_json::from_value(json!({
        "apiVersion": "mysql.presslabs.org/v1alpha1", "kind": "MysqlUser", "metadata": {"name": "u"},
        "spec": {"clusterRef": {"name": "c"}, "user": "app", "password": {"name": "s", "key": "p"},
                 "allowedHosts": [], "permissions": [{"schema": "db", "tables": [], "permissions": ["SELECT"]}]}
    })).unwrap();
    assert_eq!(
        paths(&validate::user(&u)),
        ["spec.allowedHosts", "spec.permissions[0].tables"]
    );
}
