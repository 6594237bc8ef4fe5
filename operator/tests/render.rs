//! `mysql-operator render` through the real binary: the presslabs example renders the
//! objects the compatibility contract names, and the rendered `my.cnf` is read by a real
//! `mariadbd` (`--help --verbose` parses every option and prints the resulting values).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde::Deserialize;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mysql-operator");

fn fixture(name: &str) -> PathBuf {
    testkit::repo_root()
        .join("operator/tests/render")
        .join(name)
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mysql-operator");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn render_ok(args: &[&str]) -> Vec<Value> {
    let out = run(args, None);
    assert!(
        out.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the output"))
}

/// `mariadbd --help --verbose` with `cnf` as the only option file: the exit status and
/// the value table (`option value` lines) it prints after parsing every option.
fn mariadbd_reads(cnf: &str) -> (bool, String, String) {
    let which = Command::new("sh")
        .args(["-c", "command -v mariadbd"])
        .output()
        .expect("run sh");
    assert!(
        which.status.success(),
        "mariadbd is not installed; run `bash scripts/setup.sh` (installs mariadb-server)"
    );
    let dir = tempfile::tempdir().unwrap();
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    let cnf = cnf.replace(
        "!includedir /etc/mysql/conf.d",
        &format!("!includedir {}", conf_d.display()),
    );
    let file = dir.path().join("my.cnf");
    std::fs::write(&file, cnf).unwrap();
    let out = Command::new("mariadbd")
        .arg(format!("--defaults-file={}", file.display()))
        .args(["--help", "--verbose"])
        .output()
        .expect("run mariadbd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn value_of(help: &str, option: &str) -> String {
    help.lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .find(|(name, _)| *name == option)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| panic!("mariadbd printed no value for {option}"))
}

#[test]
fn example_renders_presslabs_objects_and_a_6_gib_buffer_pool() {
    let path = fixture("cluster.yaml");
    let docs = render_ok(&["render", "-f", path.to_str().unwrap()]);

    let sts = find(&docs, "StatefulSet", "mysql-cluster-test-mysql");
    assert_eq!(sts["apiVersion"], "apps/v1");
    assert_eq!(sts["spec"]["serviceName"], "mysql");
    assert_eq!(sts["spec"]["replicas"], 3);
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "data");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "20Gi");
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        sts["spec"]["selector"]["matchLabels"]["mysql.presslabs.org/cluster"],
        "mysql-cluster-test"
    );

    for (kind, name) in [
        ("Service", "mysql"),
        ("Service", "mysql-cluster-test-mysql"),
        ("Service", "mysql-cluster-test-mysql-master"),
        ("Service", "mysql-cluster-test-mysql-replicas"),
        ("Service", "mysql-cluster-test-mysql-operated"),
        ("Secret", "mysql-cluster-test-mysql-operated"),
        ("PodDisruptionBudget", "mysql-cluster-test-mysql"),
        ("ConfigMap", "mysql-cluster-test-mysql"),
    ] {
        find(&docs, kind, name);
    }
    assert!(
        docs.iter().all(|d| d["kind"] != "MysqlCluster"),
        "the input cluster is not echoed"
    );
    let secret = find(&docs, "Secret", "mysql-cluster-test-mysql-operated");
    assert_eq!(
        secret["stringData"]["OPERATOR_PASSWORD"],
        "<generated-by-controller>"
    );

    let cnf = find(&docs, "ConfigMap", "mysql-cluster-test-mysql")["data"]["my.cnf"]
        .as_str()
        .unwrap()
        .to_string();
    let line = cnf
        .lines()
        .find(|l| l.starts_with("innodb-buffer-pool-size"))
        .expect("buffer pool line");
    assert_eq!(line, "innodb-buffer-pool-size = 6G");

    // The same line, read by a real mysqld, is 6 GiB (mysqld's G is 1024-based).
    let (ok, help, err) = mariadbd_reads(&format!("[mysqld]\n{line}\n"));
    assert!(ok, "mariadbd refused the option: {err}");
    assert_eq!(
        value_of(&help, "innodb-buffer-pool-size"),
        (6u64 << 30).to_string()
    );
}

#[test]
fn mariadb_my_cnf_is_accepted_by_mariadbd_with_converted_quantities() {
    let path = fixture("mariadb.yaml");
    let docs = render_ok(&["render", "-f", path.to_str().unwrap()]);
    let cm = find(&docs, "ConfigMap", "maria-mysql");
    assert_eq!(cm["metadata"]["namespace"], "shop");
    let cnf = cm["data"]["my.cnf"].as_str().unwrap();

    let (ok, help, err) = mariadbd_reads(cnf);
    assert!(
        ok,
        "mariadbd refused the rendered my.cnf:\n{err}\n---\n{cnf}"
    );
    assert!(!err.contains("[ERROR]"), "{err}");
    let expect = [
        ("innodb-buffer-pool-size", (1u64 << 30).to_string()), // half of the 2Gi request
        ("max-allowed-packet", (64u64 << 20).to_string()),
        ("tmp-table-size", "98304".to_string()), // 100k is mysqld syntax (100 KiB, kept as presslabs did), rounded down by mariadbd to its 16 KiB block
        ("max-heap-table-size", (1u64 << 30).to_string()), // 1G is mysqld syntax: 1 GiB
        ("sort-buffer-size", ((5u64 << 20) / 2).to_string()),
        ("innodb-log-file-size", (256u64 << 20).to_string()),
        ("max-binlog-size", (1u64 << 30).to_string()), // 10Gi volume: min(10Gi/2/4, 1G)
        ("max-connections", "200".to_string()),
        ("expire-logs-days", "14".to_string()),
        ("log-slave-updates", "TRUE".to_string()),
        ("character-set-server", "utf8mb4".to_string()),
    ];
    for (option, want) in expect {
        assert_eq!(value_of(&help, option), want, "{option}");
    }
}

#[test]
fn render_reads_stdin_and_several_clusters_deterministically() {
    let two = format!(
        "{}\n---\n{}",
        std::fs::read_to_string(fixture("cluster.yaml")).unwrap(),
        std::fs::read_to_string(fixture("mariadb.yaml")).unwrap()
    );
    let a = run(&["render", "-f", "-"], Some(&two));
    let b = run(&["render", "-f", "-"], Some(&two));
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(
        a.stdout, b.stdout,
        "render must be byte-for-byte deterministic"
    );
    let text = String::from_utf8(a.stdout).unwrap();
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    let sts: Vec<_> = docs
        .iter()
        .filter(|d| d["kind"] == "StatefulSet")
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(sts, ["mysql-cluster-test-mysql", "maria-mysql"]);
    assert!(text.starts_with("---\n"));
}

#[test]
fn bad_input_exits_1_names_the_field_and_prints_nothing() {
    let cases = [
        (
            "apiVersion: mysql.presslabs.org/v1alpha1\nkind: MysqlCluster\nmetadata: {name: x}\nspec:\n  secretName: s\n  mysqlVersion: \"9.9\"\n  volumeSpec: {emptyDir: {}}\n",
            "spec.mysqlVersion",
        ),
        (
            "apiVersion: mysql.presslabs.org/v1alpha1\nkind: MysqlCluster\nmetadata: {name: x}\nspec:\n  secretName: s\n  volumeSpec: {emptyDir: {}}\n  mysqlConf: {innodb-buffer-pool-size: 6GB}\n",
            "spec.mysqlConf.innodb-buffer-pool-size",
        ),
        ("kind: [unclosed\n", "malformed YAML"),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
            "no MysqlCluster",
        ),
    ];
    for (input, needle) in cases {
        let out = run(&["render", "-f", "-"], Some(input));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{input}: {err}");
        assert!(
            out.stdout.is_empty(),
            "nothing printed on failure for {input}"
        );
        assert!(err.contains(needle), "{err:?} should mention {needle}");
    }
    let out = run(&["render", "-f", "/nonexistent/cluster.yaml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
