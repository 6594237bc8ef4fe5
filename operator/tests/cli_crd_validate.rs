//! `mysql-operator crd` and `mysql-operator validate` through the real binary: the chart's
//! CRD file matches the output, the CRDs are valid apiextensions.k8s.io/v1 with structural
//! schemas, the presslabs example passes, and every bad input of issue 2 fails clearly.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mysql-operator");

fn repo() -> PathBuf {
    testkit::repo_root()
}

fn example() -> PathBuf {
    // The shared example sits next to the checkout; a copy in the repo is not required.
    let p = repo().join("../shared/examples/cluster.yaml");
    assert!(
        p.exists(),
        "{} missing: the presslabs example manifest must be present",
        p.display()
    );
    p
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mysql-operator");
    {
        let mut input = child.stdin.take().expect("stdin piped");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    child.wait_with_output().expect("wait mysql-operator")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Validate YAML given on stdin; returns (exit code, stdout, stderr).
fn validate_stdin(yaml: &str) -> (i32, String, String) {
    let out = run(&["validate", "-f", "-"], Some(yaml));
    (
        out.status.code().expect("exit code"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

const GOOD: &str = "apiVersion: mysql.presslabs.org/v1alpha1
kind: MysqlCluster
metadata:
  name: c1
spec:
  secretName: s
  volumeSpec:
    emptyDir: {}
";

fn cluster_with(extra_spec: &str) -> String {
    format!("{GOOD}{extra_spec}")
}

/// A failed validation: exit 1, the expected line on stdout, no success summary.
fn assert_fails_with(yaml: &str, expected: &[&str]) -> String {
    let (code, out, err) = validate_stdin(yaml);
    assert_eq!(code, 1, "expected exit 1\nstdout:\n{out}\nstderr:\n{err}");
    for e in expected {
        assert!(
            out.contains(e),
            "expected {e:?} in stdout:\n{out}\nstderr:\n{err}"
        );
    }
    assert!(
        !out.contains("ok:"),
        "a failure printed a success line:\n{out}"
    );
    assert!(
        err.contains("validation failed"),
        "no failure summary on stderr:\n{err}"
    );
    out
}

#[test]
fn chart_crds_are_the_crd_output() {
    let out = run(&["crd"], None);
    assert!(out.status.success(), "crd failed: {}", text(&out.stderr));
    let path = repo().join("charts/mysql-operator/generated/crds.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text(&out.stdout),
        "{} is stale or missing: regenerate it with `cargo run -q -p mysql-operator -- crd > charts/mysql-operator/generated/crds.yaml`",
        path.display()
    );
}

#[test]
fn crd_output_is_valid_apiextensions_v1_with_structural_schemas() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use serde::Deserialize;
    let out = run(&["crd"], None);
    assert!(out.status.success());
    let yaml = text(&out.stdout);
    let mut kinds = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&yaml) {
        let v = serde_json::Value::deserialize(doc).expect("crd output is YAML");
        assert_eq!(v["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(v["kind"], "CustomResourceDefinition");
        let crd: CustomResourceDefinition = serde_json::from_value(v.clone()).expect("typed CRD");
        assert_eq!(crd.spec.group, "mysql.presslabs.org");
        let schema = &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let problems = api::crd::structural_problems(schema);
        assert!(
            problems.is_empty(),
            "{}: not structural:\n{}",
            crd.spec.names.kind,
            problems.join("\n")
        );
        kinds.push(crd.spec.names.kind);
    }
    assert_eq!(
        kinds,
        ["MysqlCluster", "MysqlBackup", "MysqlDatabase", "MysqlUser"]
    );

    // The Kubernetes API schema of CustomResourceDefinition itself, offline.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("crds.yaml");
    std::fs::write(&file, &yaml).expect("write crds");
    let kv = Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&file)
        .output();
    let kv = kv.unwrap_or_else(|e| panic!("kubernetes-validate not runnable ({e}): run `bash scripts/setup.sh` and `. scripts/env.sh`"));
    assert!(
        kv.status.success(),
        "kubernetes-validate --strict rejected the CRDs:\n{}\n{}",
        text(&kv.stdout),
        text(&kv.stderr)
    );
}

#[test]
fn example_validates_against_the_generated_schema() {
    use serde::Deserialize;
    let crds = std::fs::read_to_string(repo().join("charts/mysql-operator/generated/crds.yaml"))
        .expect("generated crds present");
    let mut schema = None;
    for doc in serde_yaml_ng::Deserializer::from_str(&crds) {
        let v = serde_json::Value::deserialize(doc).expect("yaml");
        if v["spec"]["names"]["kind"] == "MysqlCluster" {
            schema = Some(v["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone());
        }
    }
    let validator =
        jsonschema::validator_for(&schema.expect("MysqlCluster CRD")).expect("schema compiles");
    let text = std::fs::read_to_string(example()).expect("example");
    let docs: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde_json::Value::deserialize(d).expect("yaml"))
        .collect();
    let cluster = docs
        .iter()
        .find(|d| d["kind"] == "MysqlCluster")
        .expect("a MysqlCluster in the example");
    let errors: Vec<String> = validator
        .iter_errors(cluster)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "example rejected by the generated schema: {errors:?}"
    );
}

#[test]
fn example_passes_verbatim_and_secret_is_passed_over() {
    let path = example();
    let out = run(
        &["validate", "-f", path.to_str().expect("utf-8 path")],
        None,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        stdout.trim(),
        "ok: 1 resource(s) valid in 1 file(s), 1 other object(s) passed over"
    );
    assert!(
        stderr.contains("(Secret/my-secret): passed over"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn stdin_and_several_files_and_all_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dir.path().join("other.yaml");
    std::fs::write(
        &other,
        "apiVersion: mysql.presslabs.org/v1alpha1
kind: MysqlBackup
metadata: {name: b1}
spec: {clusterName: c1}
---
apiVersion: mysql.presslabs.org/v1alpha1
kind: MysqlDatabase
metadata: {name: d1}
spec: {clusterRef: {name: c1}, database: app}
---
apiVersion: mysql.presslabs.org/v1alpha1
kind: MysqlUser
metadata: {name: u1}
spec:
  clusterRef: {name: c1}
  user: app
  password: {name: s, key: PASSWORD}
  allowedHosts: ['%']
  permissions: [{schema: app, tables: ['*'], permissions: [SELECT]}]
---
",
    )
    .expect("write");
    let out = run(
        &["validate", "-f", "-", other.to_str().expect("utf-8")],
        Some(GOOD),
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        "ok: 4 resource(s) valid in 2 file(s), 0 other object(s) passed over"
    );
}

#[test]
fn malformed_yaml_reports_line_and_column() {
    let out = assert_fails_with(
        "apiVersion: v1\nkind: MysqlCluster\nmetadata:\n  name: [unclosed\n",
        &["<stdin>: doc 1: malformed YAML at line"],
    );
    assert!(out.contains("column"), "{out}");
}

#[test]
fn wrong_types_name_the_field() {
    assert_fails_with(
        &cluster_with("  replicas: three\n  readOnly: maybe\n"),
        &[
            "<stdin>: doc 1 (MysqlCluster/c1): spec.readOnly: \"maybe\" is not of type boolean",
            "<stdin>: doc 1 (MysqlCluster/c1): spec.replicas: \"three\" is not of type integer (hint: write a number without quotes)",
        ],
    );
}

#[test]
fn unknown_version_without_image() {
    assert_fails_with(
        &cluster_with("  mysqlVersion: \"9.9\"\n"),
        &[
            "(MysqlCluster/c1): spec.mysqlVersion: unknown version \"9.9\" and no spec.image is set (hint: use one of 5.7, 8.0",
        ],
    );
}

#[test]
fn invalid_cron() {
    assert_fails_with(
        &cluster_with("  backupSchedule: \"0 3 * * *\"\n  backupURL: s3://bucket/x\n"),
        &[
            "spec.backupSchedule: \"0 3 * * *\" has 5 fields, expected 6 (seconds first) (hint: this looks like a 5-field crontab; prepend the seconds field: \"0 0 3 * * *\")",
        ],
    );
    assert_fails_with(
        &cluster_with("  backupSchedule: \"0 0 99 * * *\"\n  backupURL: s3://bucket/x\n"),
        &["spec.backupSchedule: \"0 0 99 * * *\" is not a valid cron expression"],
    );
}

#[test]
fn negative_replicas() {
    assert_fails_with(
        &cluster_with("  replicas: -2\n"),
        &["(MysqlCluster/c1): spec.replicas: must be 0 or more, got -2 (hint: "],
    );
}

#[test]
fn duplicate_plugin_names() {
    assert_fails_with(
        &cluster_with(
            "  plugins:\n  - name: p\n    configMap: {name: cm, key: p.wasm}\n  - name: p\n    configMap: {name: cm2, key: p.wasm}\n",
        ),
        &[
            "spec.plugins[1].name: duplicate plugin name \"p\" (hint: give each plugin a unique name)",
        ],
    );
}

#[test]
fn plugin_without_configmap() {
    assert_fails_with(
        &cluster_with(
            "  plugins:\n  - name: p\n    hooks: [init-script, rollback]\n    failurePolicy: Sometimes\n",
        ),
        &[
            "spec.plugins[0].configMap: is required (hint: add configMap",
            "spec.plugins[0].hooks[1]: \"rollback\" is not an accepted value (hint: use one of \"init-script\", \"backup-filter\", \"failover-candidate\")",
            "spec.plugins[0].failurePolicy: \"Sometimes\" is not an accepted value (hint: use one of \"Ignore\", \"Fail\")",
        ],
    );
    assert_fails_with(
        &cluster_with("  plugins:\n  - name: p\n    configMap: {name: \"\", key: \"\"}\n"),
        &[
            "spec.plugins[0].configMap.name: is required",
            "spec.plugins[0].configMap.key: is required",
        ],
    );
}

#[test]
fn every_error_is_reported_in_one_run_across_documents() {
    let yaml = format!(
        "{}---\n{}",
        cluster_with("  replicas: -1\n  mysqlVersion: \"1.0\"\n"),
        GOOD.replace("name: c1", "name: c2")
            .replace("    emptyDir: {}\n", "    {}\n")
    );
    let out = assert_fails_with(
        &yaml,
        &[
            "doc 1 (MysqlCluster/c1): spec.replicas:",
            "doc 1 (MysqlCluster/c1): spec.mysqlVersion:",
            "doc 2 (MysqlCluster/c2): spec.volumeSpec: no volume source is set",
        ],
    );
    assert_eq!(out.lines().count(), 3, "{out}");
}

#[test]
fn unknown_fields_warn_but_pass_and_other_problems_fail() {
    let (code, out, err) = validate_stdin(&cluster_with("  notAPresslabsField: 1\n"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("spec.notAPresslabsField: unknown field, the API server prunes it"),
        "{err}"
    );

    assert_fails_with(
        &GOOD.replace("mysql.presslabs.org/v1alpha1", "mysql.bitpoke.io/v1alpha1"),
        &[
            "apiVersion: \"mysql.bitpoke.io/v1alpha1\" does not serve MysqlCluster (hint: use apiVersion: mysql.presslabs.org/v1alpha1)",
        ],
    );
    assert_fails_with("- a\n- b\n", &["doc 1: not a Kubernetes object"]);
    assert_fails_with(
        &GOOD.replace("  secretName: s\n", ""),
        &["spec.secretName: is required"],
    );
    let missing = run(&["validate", "-f", "/nonexistent/x.yaml"], None);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stdout).contains("/nonexistent/x.yaml: cannot read:"));
}
