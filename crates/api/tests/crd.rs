//! The generated CRDs: names, subresources, printer columns and structural schemas.

use mysql_operator_api::crd;
use serde_json::Value;

fn crd_json(kind: &str) -> Value {
    let c = crd::all()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .expect("kind generated");
    serde_json::to_value(c).expect("CRD serialises")
}

#[test]
fn four_kinds_in_the_presslabs_group() {
    let kinds: Vec<_> = crd::all()
        .into_iter()
        .map(|c| (c.metadata.name.unwrap(), c.spec.names.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                "mysqlclusters.mysql.presslabs.org".to_string(),
                "MysqlCluster".to_string()
            ),
            (
                "mysqlbackups.mysql.presslabs.org".to_string(),
                "MysqlBackup".to_string()
            ),
            (
                "mysqldatabases.mysql.presslabs.org".to_string(),
                "MysqlDatabase".to_string()
            ),
            (
                "mysqlusers.mysql.presslabs.org".to_string(),
                "MysqlUser".to_string()
            ),
        ]
    );
}

#[test]
fn cluster_shortname_subresources_and_columns_match_presslabs() {
    let c = crd_json("MysqlCluster");
    assert_eq!(c["spec"]["scope"], "Namespaced");
    assert_eq!(
        c["spec"]["names"]["shortNames"],
        serde_json::json!(["mysql"])
    );
    let v = &c["spec"]["versions"][0];
    assert_eq!(v["name"], "v1alpha1");
    assert_eq!(v["served"], true);
    assert_eq!(v["storage"], true);
    assert_eq!(v["subresources"]["status"], serde_json::json!({}));
    assert_eq!(
        v["subresources"]["scale"]["specReplicasPath"],
        ".spec.replicas"
    );
    assert_eq!(
        v["subresources"]["scale"]["statusReplicasPath"],
        ".status.readyNodes"
    );
    let cols: Vec<_> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(cols, ["Ready", "Replicas", "Age"]);
    assert_eq!(
        v["additionalPrinterColumns"][0]["jsonPath"],
        ".status.conditions[?(@.type == \"Ready\")].status"
    );
}

#[test]
fn every_schema_is_structural() {
    for c in crd::all() {
        let kind = c.spec.names.kind.clone();
        let schema = crd::schema_for_kind(&kind).expect("schema present");
        let problems = crd::structural_problems(&schema);
        assert!(
            problems.is_empty(),
            "{kind} schema is not structural:\n{}",
            problems.join("\n")
        );
        // Unknown fields are pruned, not kept: no preserve-unknown at the top or on spec.
        assert!(
            schema.get("x-kubernetes-preserve-unknown-fields").is_none(),
            "{kind}: top level preserves unknown fields"
        );
        assert!(
            schema["properties"]["spec"]
                .get("x-kubernetes-preserve-unknown-fields")
                .is_none()
        );
    }
}

#[test]
fn structural_check_catches_bad_nodes() {
    let bad = serde_json::json!({
        "type": "object",
        "properties": {
            "a": {"$ref": "#/definitions/x"},
            "b": {"description": "no type"},
            "c": {"type": "array"},
            "d": {"x-kubernetes-int-or-string": true},
        }
    });
    let p = crd::structural_problems(&bad);
    assert_eq!(p.len(), 4, "{p:?}");
    assert!(p.iter().any(|s| s.contains(".a: uses $ref")));
    assert!(p.iter().any(|s| s.contains(".b: has no type")));
    assert!(p.iter().any(|s| s.contains(".c: array without items")));
}

#[test]
fn special_fields_have_the_right_schema() {
    let s = crd::schema_for_kind("MysqlCluster").unwrap();
    let spec = &s["properties"]["spec"];
    assert_eq!(spec["required"], serde_json::json!(["secretName"]));
    assert_eq!(spec["properties"]["secretName"]["minLength"], 1);
    assert_eq!(spec["properties"]["secretName"]["maxLength"], 63);
    let conf = &spec["properties"]["mysqlConf"];
    assert_eq!(conf["type"], "object");
    assert_eq!(
        conf["additionalProperties"]["x-kubernetes-int-or-string"],
        true
    );
    assert!(
        conf["description"].as_str().unwrap().contains("my.cnf"),
        "doc comments become descriptions: {conf}"
    );
    let plugin = &spec["properties"]["plugins"]["items"];
    assert_eq!(
        plugin["properties"]["settings"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert_eq!(plugin["properties"]["settings"]["type"], "object");
    assert_eq!(plugin["properties"]["failurePolicy"]["default"], "Ignore");
    assert_eq!(
        plugin["properties"]["failurePolicy"]["enum"],
        serde_json::json!(["Ignore", "Fail"])
    );
    assert_eq!(
        plugin["properties"]["hooks"]["items"]["enum"],
        serde_json::json!(["init-script", "backup-filter", "failover-candidate"])
    );
    let mut req: Vec<_> = plugin["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    req.sort();
    assert_eq!(req, ["configMap", "name"]);
    assert_eq!(
        spec["properties"]["flavor"]["enum"],
        serde_json::json!(["mysql", "percona", "mariadb"])
    );
    let vol = &spec["properties"]["volumeSpec"]["properties"];
    for k in ["persistentVolumeClaim", "hostPath", "emptyDir"] {
        assert_eq!(vol[k]["type"], "object", "volumeSpec.{k}");
    }
    for k in [
        "initBucketURL",
        "initBucketURI",
        "backupURL",
        "serverIDOffset",
        "initFileExtraSQL",
        "mysqlOperatorSidecarResources",
        "tmpfsSize",
        "xtrabackupPrepareExtraArgs",
        "backupRemoteDeletePolicy",
        "sidecarImage",
    ] {
        let found = spec["properties"].get(k).is_some()
            || spec["properties"]["podSpec"]["properties"].get(k).is_some();
        assert!(found, "field {k} missing from the schema");
    }
    assert_eq!(
        spec["properties"]["tmpfsSize"]["x-kubernetes-int-or-string"],
        true
    );
    let status = &s["properties"]["status"]["properties"];
    assert_eq!(status["readyNodes"]["type"], "integer");
    assert!(status["nodes"]["items"]["properties"]["conditions"].is_object());
}
