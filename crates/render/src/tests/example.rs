//! The example manifest a presslabs site runs, rendered and checked field by field.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use super::*;
use crate::cluster::{Rendered, map_hash};
use crate::statefulset::{AGENT_CONTAINER, EXPORTER_CONTAINER, INIT_CONTAINER, MYSQL_CONTAINER};

#[test]
fn example_statefulset_matches_presslabs() {
    let r = rendered(&example());
    let sts = &r.stateful_set;
    assert_eq!(
        sts.metadata.name.as_deref(),
        Some("mysql-cluster-test-mysql")
    );
    assert_eq!(sts.metadata.namespace.as_deref(), Some("db"));
    assert_eq!(sts.spec.service_name.as_deref(), Some("mysql"));
    assert_eq!(sts.spec.replicas, Some(3));
    assert_eq!(
        sts.spec.selector.match_labels.clone().unwrap(),
        crate::names::selector_labels("mysql-cluster-test")
    );

    let claims = sts.spec.volume_claim_templates.as_ref().unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].metadata.name.as_deref(), Some("data"));
    let claim = claims[0].spec.as_ref().unwrap();
    assert_eq!(claim.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
    assert_eq!(
        claim.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0,
        "20Gi"
    );
    assert_eq!(claim.volume_mode.as_deref(), Some("Filesystem"));

    let template = sts.spec.template.metadata.as_ref().unwrap();
    let labels = template.labels.as_ref().unwrap();
    assert_eq!(labels["mysql.presslabs.org/cluster"], "mysql-cluster-test");
    assert_eq!(labels["app.kubernetes.io/name"], "mysql");
    assert_eq!(
        labels["app.kubernetes.io/managed-by"],
        "mysql.presslabs.org"
    );
    assert_eq!(labels["app.kubernetes.io/version"], "8.0.20");
    let ann = template.annotations.as_ref().unwrap();
    assert_eq!(
        ann["config_rev"],
        map_hash(r.config_map.data.as_ref().unwrap())
    );
    assert_eq!(ann["config_rev"].len(), 64);
    assert_eq!(ann["secret_rev"].len(), 64);
    assert_eq!(ann["prometheus.io/scrape"], "true");
    assert_eq!(ann["prometheus.io/port"], "9125");
}

#[test]
fn example_my_cnf_sets_buffer_pool_to_6_gib() {
    let r = rendered(&example());
    let cnf = my_cnf(&r);
    assert!(cnf.contains("\ninnodb-buffer-pool-size = 6G\n"), "{cnf}");
    assert!(
        cnf.contains("\ninnodb-log-file-size = 1G\n"),
        "from 16Gi memory: {cnf}"
    );
    assert!(
        cnf.contains("\nmax-binlog-size = 1G\n"),
        "from 20Gi storage: {cnf}"
    );
    assert!(
        cnf.contains("\nbinlog-space-limit = 10G\n"),
        "Percona has binlog-space-limit: {cnf}"
    );
    assert!(cnf.contains("\ngtid-mode = on\n"));
    assert_eq!(
        r.config_map.metadata.name.as_deref(),
        Some("mysql-cluster-test-mysql")
    );
    assert_eq!(
        r.config_map.metadata.labels.as_ref().unwrap()["generated"],
        "true"
    );
    let data = r.config_map.data.as_ref().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["init.sql", "my.cnf", "plugins.json"]
    );
    assert!(data["init.sql"].contains("CREATE DATABASE IF NOT EXISTS `sys_operator`;"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&data["plugins.json"]).unwrap(),
        json!({"version": 1, "plugins": []})
    );
}

#[test]
fn example_containers() {
    let r = rendered(&example());
    let p = pod(&r);
    let init_names: Vec<_> = p
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(init_names, [INIT_CONTAINER]);
    let names: Vec<_> = p.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [MYSQL_CONTAINER, AGENT_CONTAINER, EXPORTER_CONTAINER]
    );

    let tools = format!(
        "ghcr.io/mysql-operator/mysql-tools:{}",
        env!("CARGO_PKG_VERSION")
    );
    let init = container(&r, "init");
    assert_eq!(init.image.as_deref(), Some(tools.as_str()));
    assert_eq!(init.command, Some(vec!["mysql-operator".to_string()]));
    assert_eq!(init.args, Some(vec!["init".to_string()]));
    assert_eq!(
        env_value(init, "MY_CLUSTER_NAME").as_deref(),
        Some("mysql-cluster-test")
    );
    assert_eq!(
        env_value(init, "MY_MYSQL_VERSION").as_deref(),
        Some("8.0.20")
    );
    assert_eq!(env_value(init, "MY_FLAVOR").as_deref(), Some("percona"));
    assert_eq!(
        env_value(init, "MY_SERVER_ID_OFFSET").as_deref(),
        Some("100")
    );
    let env_from: Vec<_> = init
        .env_from
        .iter()
        .flatten()
        .map(|e| e.secret_ref.as_ref().unwrap().name.clone())
        .collect();
    assert_eq!(env_from, ["mysql-cluster-test-mysql-operated"]);
    let root = init
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "MYSQL_ROOT_PASSWORD")
        .unwrap();
    let key = root
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (key.name.as_str(), key.key.as_str(), key.optional),
        ("my-secret", "ROOT_PASSWORD", Some(false))
    );

    let mysql = container(&r, "mysql");
    assert_eq!(mysql.image.as_deref(), Some("percona:8.0.20-11"));
    assert_eq!(
        mysql.command.as_deref(),
        Some(
            &[
                "mysqld".to_string(),
                "--defaults-file=/etc/mysql/my.cnf".to_string()
            ][..]
        ),
        "explicit command: the image's entrypoint is not part of the contract"
    );
    assert!(mysql.env.is_none(), "mysqld reads only its config files");
    assert_eq!(p.share_process_namespace, Some(true));
    assert_eq!(mysql.image_pull_policy.as_deref(), Some("IfNotPresent"));
    let port = &mysql.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.container_port),
        (Some("mysql"), 3306)
    );
    let res = mysql.resources.as_ref().unwrap();
    assert_eq!(res.requests.as_ref().unwrap()["memory"].0, "16Gi");
    assert_eq!(res.limits.as_ref().unwrap()["cpu"].0, "8");
    let liveness = mysql.liveness_probe.as_ref().unwrap();
    assert_eq!(
        liveness.exec.as_ref().unwrap().command,
        Some(vec![
            "mysqladmin".to_string(),
            "--defaults-file=/etc/mysql/client.conf".to_string(),
            "ping".to_string()
        ])
    );
    let readiness = mysql
        .readiness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(
        (readiness.path.as_deref(), &readiness.port),
        (Some("/ready"), &IntOrString::Int(8080))
    );
    let mounts: Vec<_> = mysql
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert_eq!(mounts, [("conf", "/etc/mysql"), ("data", "/var/lib/mysql")]);

    let agent = container(&r, "agent");
    assert_eq!(agent.args, Some(vec!["agent".to_string()]));
    let port = &agent.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.container_port),
        (Some("sidecar-http"), 8080)
    );
    assert_eq!(
        agent
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some("/health")
    );

    let exporter = container(&r, "metrics-exporter");
    assert_eq!(
        exporter.image.as_deref(),
        Some("prom/mysqld-exporter:v0.15.1")
    );
    let args = exporter.args.clone().unwrap();
    assert!(args.contains(&"--web.listen-address=0.0.0.0:9125".to_string()));
    assert!(args.contains(&"--collect.heartbeat.database=sys_operator".to_string()));
    let pw = exporter
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "MYSQLD_EXPORTER_PASSWORD")
        .unwrap();
    assert_eq!(
        pw.value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap()
            .key,
        "METRICS_EXPORTER_PASSWORD"
    );

    let sc = p.security_context.as_ref().unwrap();
    assert_eq!((sc.fs_group, sc.run_as_user), (Some(999), Some(999)));
    let affinity = p
        .affinity
        .as_ref()
        .unwrap()
        .pod_anti_affinity
        .as_ref()
        .unwrap();
    let term = &affinity
        .preferred_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()[0];
    assert_eq!(term.weight, 100);
    assert_eq!(
        term.pod_affinity_term.topology_key,
        "kubernetes.io/hostname"
    );
}

#[test]
fn example_volumes_and_other_objects() {
    let r = rendered(&example());
    let vols: Vec<_> = pod(&r)
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(vols, ["conf", "config-map", "data"]);
    let data = pod(&r)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "data")
        .unwrap();
    assert_eq!(
        data.persistent_volume_claim.as_ref().unwrap().claim_name,
        "data"
    );
    let cm = pod(&r)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "config-map")
        .unwrap();
    assert_eq!(
        cm.config_map.as_ref().unwrap().name,
        "mysql-cluster-test-mysql"
    );

    let pdb = r.pdb.as_ref().unwrap();
    assert_eq!(
        pdb.spec.as_ref().unwrap().min_available,
        Some(IntOrString::String("50%".into()))
    );
    assert_eq!(
        r.operated_secret.metadata.name.as_deref(),
        Some("mysql-cluster-test-mysql-operated")
    );
    assert_eq!(r.services.len(), 5);

    let objects = r.objects();
    let kinds: Vec<_> = objects
        .iter()
        .map(|o| {
            (
                o["apiVersion"].as_str().unwrap(),
                o["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("v1", "Service"),
            ("v1", "Service"),
            ("v1", "Service"),
            ("v1", "Service"),
            ("v1", "Service"),
            ("apps/v1", "StatefulSet"),
            ("policy/v1", "PodDisruptionBudget"),
        ]
    );
}

#[test]
fn rendering_is_deterministic() {
    let a = serde_json::to_string(&rendered(&example()).objects()).unwrap();
    let b = serde_json::to_string(&rendered(&example()).objects()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn config_change_changes_config_rev_only_when_config_changes() {
    let base = rendered(&example());
    let rev = |r: &Rendered| {
        r.stateful_set
            .spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()["config_rev"]
            .clone()
    };
    let mut c = example();
    c.spec.replicas = Some(5);
    assert_eq!(
        rev(&rendered(&c)),
        rev(&base),
        "replicas do not touch my.cnf"
    );
    c.spec
        .mysql_conf
        .insert("max-connections".into(), IntOrString::Int(1000));
    assert_ne!(rev(&rendered(&c)), rev(&base));
}
