//! The pod contract, from both sides: the StatefulSet `render` writes, with its env
//! resolved the way the kubelet resolves it (downward API fields, Secret keys, `envFrom`,
//! `$(VAR)` expansion), is fed to the real `mysql-operator` binary.
//!
//! - `rendered_env_parses_back`: `init` and `agent` parse every rendered value back
//!   (`--print-config`), flavor/version/offset/extra args/secrets included.
//! - `rendered_init_runs_against_real_mariadbd`: the rendered `init` command runs twice on
//!   a temp data dir (pod 0: initialised + init.sql; then the same dir again), the
//!   rendered mysql command line starts `mariadbd` with what init wrote, the accounts,
//!   root password, read-only start, `client.conf` (`mariadb-admin ping`) and the
//!   heartbeat statement work; then the rendered `agent` serves pod 0 and pod 1's `init`
//!   clones from it (the replicas Service is down, so from the primary) and starts
//!   read-only with the same accounts.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, EnvVar};
use mysql_async::prelude::Queryable;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mysql-operator");
const NS: &str = "db";
const CLUSTER: &str = "shop";

const CLUSTER_YAML: &str = r#"
apiVersion: mysql.presslabs.org/v1alpha1
kind: MysqlCluster
metadata:
  name: shop
  namespace: db
spec:
  replicas: 3
  secretName: shop-secret
  mysqlVersion: "10.11"
  flavor: mariadb
  serverIDOffset: 200
  xbstreamExtraArgs: ["--parallel=2"]
  xtrabackupExtraArgs: ["--parallel=2"]
  xtrabackupPrepareExtraArgs: ["--use-memory=64M"]
  initFileExtraSQL: ["CREATE DATABASE IF NOT EXISTS from_extra_sql"]
  volumeSpec:
    persistentVolumeClaim:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
"#;

/// The user's Secret and the operated Secret as the controller fills them.
fn secrets() -> BTreeMap<String, BTreeMap<String, String>> {
    let user: BTreeMap<String, String> = [
        ("ROOT_PASSWORD", "root-Pw1"),
        ("USER", "app"),
        ("PASSWORD", "app-Pw1"),
        ("DATABASE", "shopdb"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut operated: BTreeMap<String, String> = render::secret::USERS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (i, key) in render::secret::PASSWORD_KEYS.iter().enumerate() {
        operated.insert(key.to_string(), format!("Gen{i}pw{}", "x".repeat(i + 8)));
    }
    BTreeMap::from([
        ("shop-secret".to_string(), user),
        (format!("{CLUSTER}-mysql-operated"), operated),
    ])
}

fn rendered() -> render::Rendered {
    let cluster: api::MysqlCluster = serde_yaml_ng::from_str(CLUSTER_YAML).unwrap();
    render::render(&cluster, &render::RenderOptions::default()).unwrap()
}

fn container<'a>(r: &'a render::Rendered, name: &str) -> &'a Container {
    let pod = r.stateful_set.spec.template.spec.as_ref().unwrap();
    pod.init_containers
        .iter()
        .flatten()
        .chain(pod.containers.iter())
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// `$(VAR)` expansion as the kubelet does it: defined names are replaced, `$$` escapes,
/// anything else stays as written.
fn expand(s: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$$") {
            out.push('$');
            rest = t;
        } else if let (Some(t), Some(end)) = (tail.strip_prefix("$("), tail.find(')')) {
            let name = &t[..end - 2];
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&tail[..=end]),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The container's environment as the kubelet builds it for pod `ordinal`.
fn resolve_env(c: &Container, ordinal: u32) -> BTreeMap<String, String> {
    let secrets = secrets();
    let mut env = BTreeMap::new();
    for from in c.env_from.iter().flatten() {
        let name = &from
            .secret_ref
            .as_ref()
            .expect("only Secrets in envFrom")
            .name;
        let data = secrets
            .get(name)
            .unwrap_or_else(|| panic!("envFrom names unknown Secret {name}"));
        env.extend(data.clone());
    }
    for EnvVar {
        name,
        value,
        value_from,
    } in c.env.iter().flatten()
    {
        let v = match (value, value_from) {
            (Some(v), _) => Some(expand(v, &env)),
            (None, Some(src)) => {
                if let Some(f) = &src.field_ref {
                    Some(match f.field_path.as_str() {
                        "metadata.name" => format!("{CLUSTER}-mysql-{ordinal}"),
                        "metadata.namespace" => NS.to_string(),
                        "status.podIP" => "127.0.0.1".to_string(),
                        other => panic!("unexpected fieldRef {other}"),
                    })
                } else if let Some(k) = &src.secret_key_ref {
                    let v = secrets.get(&k.name).and_then(|d| d.get(&k.key)).cloned();
                    assert!(
                        v.is_some() || k.optional == Some(true),
                        "{name}: required key {} of Secret {} missing",
                        k.key,
                        k.name
                    );
                    v
                } else {
                    panic!("{name}: unexpected valueFrom {src:?}")
                }
            }
            (None, None) => Some(String::new()),
        };
        if let Some(v) = v {
            env.insert(name.clone(), v);
        }
    }
    env
}

/// The container's command line (command + args, `$(VAR)` expanded), without argv[0].
fn argv(c: &Container, env: &BTreeMap<String, String>) -> Vec<String> {
    let cmd = c.command.clone().unwrap_or_default();
    assert_eq!(
        cmd,
        ["mysql-operator"],
        "{}: runs the operator binary",
        c.name
    );
    c.args.iter().flatten().map(|a| expand(a, env)).collect()
}

fn operator(args: &[String], env: &BTreeMap<String, String>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .envs(env)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

fn print_config(c: &Container, ordinal: u32) -> Value {
    let env = resolve_env(c, ordinal);
    let mut args = argv(c, &env);
    args.push("--print-config".into());
    let out = operator(&args, &env).output().unwrap();
    assert!(
        out.status.success(),
        "{} rejected the rendered env/args {args:?}:\n{}",
        c.name,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn rendered_env_parses_back() {
    let r = rendered();
    let len = |s: &str| Value::from(format!("<{} chars>", s.len()));
    let secrets = secrets();
    let op = &secrets[&format!("{CLUSTER}-mysql-operated")];

    let init = print_config(container(&r, "init"), 2);
    assert_eq!(init["clusterName"], CLUSTER);
    assert_eq!(init["namespace"], NS);
    assert_eq!(init["podName"], "shop-mysql-2");
    assert_eq!(init["flavor"], "mariadb");
    assert_eq!(init["version"], "10.11.11");
    assert_eq!(init["serverIdOffset"], 200);
    assert_eq!(init["datadir"], "/var/lib/mysql");
    assert_eq!(init["mountedCnf"], "/mnt/conf/my.cnf");
    assert_eq!(init["initSqlTemplate"], "/mnt/conf/init.sql");
    assert_eq!(init["plugins"], "/mnt/conf/plugins.json");
    assert_eq!(init["confDir"], "/etc/mysql");
    assert_eq!(init["initBucketUrl"], Value::Null);
    assert_eq!(init["backupUser"], "sys_backups");
    assert_eq!(init["operatorUser"], "sys_operator");
    assert_eq!(init["backupPassword"], len(&op["BACKUP_PASSWORD"]));
    assert_eq!(init["operatorPassword"], len(&op["OPERATOR_PASSWORD"]));
    assert_eq!(
        init["replicationPassword"],
        len(&op["REPLICATION_PASSWORD"])
    );
    assert_eq!(
        init["metricsExporterPassword"],
        len(&op["METRICS_EXPORTER_PASSWORD"])
    );
    assert_eq!(init["rootPassword"], len("root-Pw1"));
    assert_eq!(init["appUser"], "app");
    assert_eq!(init["appPassword"], len("app-Pw1"));
    assert_eq!(init["appDatabase"], "shopdb");
    assert_eq!(
        init["xbstreamExtraArgs"],
        serde_json::json!(["--parallel=2"])
    );
    assert_eq!(
        init["prepareExtraArgs"],
        serde_json::json!(["--use-memory=64M"])
    );

    let agent = print_config(container(&r, "agent"), 1);
    assert_eq!(agent["podName"], "shop-mysql-1");
    assert_eq!(agent["flavor"], "mariadb");
    assert_eq!(agent["serverIdOffset"], 200);
    assert_eq!(agent["listen"], "0.0.0.0:8080");
    assert_eq!(agent["mysqlUser"], "sys_replication");
    assert_eq!(agent["heartbeatUser"], "sys_operator");
    assert_eq!(agent["heartbeatPassword"], len(&op["OPERATOR_PASSWORD"]));
    assert_eq!(agent["defaultsFile"], "/etc/mysql/my.cnf");
    assert_eq!(
        agent["xtrabackupExtraArgs"],
        serde_json::json!(["--parallel=2"])
    );

    // Every variable render sets is one the CLI reads: nothing rendered is ignored.
    let read_by_cli: Vec<&str> = vec![
        render::pod::env::MY_NAMESPACE,
        render::pod::env::MY_POD_NAME,
        render::pod::env::MY_CLUSTER_NAME,
        render::pod::env::MY_FLAVOR,
        render::pod::env::MY_MYSQL_VERSION,
        render::pod::env::MY_SERVER_ID_OFFSET,
        render::pod::env::INIT_BUCKET_URL,
        render::pod::env::MYSQL_ROOT_PASSWORD,
        render::pod::env::MYSQL_USER,
        render::pod::env::MYSQL_PASSWORD,
        render::pod::env::MYSQL_DATABASE,
    ];
    for name in ["init", "agent"] {
        for e in container(&r, name).env.iter().flatten() {
            assert!(
                read_by_cli.contains(&e.name.as_str()),
                "{name} gets {} which the CLI does not read",
                e.name
            );
        }
    }
    assert!(container(&r, "mysql").env.is_none());
}

/// Kills the child on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One pod's paths on this machine: the ConfigMap mount, the conf emptyDir, the data
/// volume, and the port its mysqld listens on.
struct PodDirs {
    mnt: PathBuf,
    conf: PathBuf,
    data: PathBuf,
    port: u16,
}

impl PodDirs {
    /// The ConfigMap's files as the pod mounts them, with the pod's absolute paths moved
    /// into `root` and what this machine needs added (a port, a socket, `user=root`).
    fn new(root: &Path, r: &render::Rendered) -> PodDirs {
        let d = PodDirs {
            mnt: root.join("mnt-conf"),
            conf: root.join("etc-mysql"),
            data: root.join("var-lib-mysql"),
            port: free_port(),
        };
        std::fs::create_dir_all(&d.mnt).unwrap();
        let data = r.config_map.data.as_ref().unwrap();
        let relocate = |s: &str| {
            s.replace(render::names::DATA_DIR, &d.data.display().to_string())
                .replace(render::names::CONF_DIR, &d.conf.display().to_string())
        };
        let cnf = relocate(&data[render::names::MY_CNF_KEY]).replace(
            "[mysqld]\n",
            &format!(
                "[mysqld]\nport = {}\nbind-address = 127.0.0.1\nsocket = {}\npid-file = {}\nuser = root\n",
                d.port,
                root.join("mysqld.sock").display(),
                root.join("mysqld.pid").display()
            ),
        );
        std::fs::write(d.mnt.join("my.cnf"), cnf).unwrap();
        std::fs::write(d.mnt.join("init.sql"), &data[render::names::INIT_SQL_KEY]).unwrap();
        std::fs::write(
            d.mnt.join("plugins.json"),
            &data[render::names::PLUGINS_KEY],
        )
        .unwrap();
        d
    }

    /// The rendered init command line with this machine's paths.
    fn run_init(&self, r: &render::Rendered, ordinal: u32, peers: (&str, &str)) -> String {
        let c = container(r, "init");
        let env = resolve_env(c, ordinal);
        let mut args = argv(c, &env);
        let p = |p: &Path| p.display().to_string();
        args.extend([
            format!("--datadir={}", p(&self.data)),
            format!("--conf-dir={}", p(&self.conf)),
            format!("--mounted-cnf={}", p(&self.mnt.join("my.cnf"))),
            format!("--init-sql-template={}", p(&self.mnt.join("init.sql"))),
            format!("--plugins-manifest={}", p(&self.mnt.join("plugins.json"))),
            format!("--replicas-service={}", peers.0),
            format!("--primary-service={}", peers.1),
            "--mysqld-user=root".into(),
        ]);
        let out = operator(&args, &env).output().unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "init {args:?} failed:\n{log}");
        log
    }

    /// The rendered mysql container's command line, with this machine's config path.
    fn start_mysqld(&self, r: &render::Rendered) -> Proc {
        let c = container(r, "mysql");
        let cmd = c.command.clone().unwrap();
        assert_eq!(cmd, ["mariadbd", "--defaults-file=/etc/mysql/my.cnf"]);
        let args: Vec<String> = cmd[1..]
            .iter()
            .map(|a| a.replace(render::names::CONF_DIR, &self.conf.display().to_string()))
            .collect();
        let log = std::fs::File::create(self.conf.join("mysqld.log")).unwrap();
        let child = Command::new(&cmd[0])
            .args(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Proc(child);
        self.wait_ping(c);
        p
    }

    /// The rendered liveness probe (`mariadb-admin --defaults-file=client.conf ping`),
    /// pointed at this pod's port.
    fn ping(&self, mysql: &Container) -> bool {
        let probe = mysql
            .liveness_probe
            .as_ref()
            .and_then(|p| p.exec.as_ref())
            .and_then(|e| e.command.clone())
            .unwrap();
        let args: Vec<String> = probe[1..]
            .iter()
            .map(|a| a.replace(render::names::CONF_DIR, &self.conf.display().to_string()))
            .collect();
        let (defaults, rest) = args.split_first().unwrap();
        Command::new(&probe[0])
            .arg(defaults)
            .arg(format!("--port={}", self.port))
            .args(rest)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The rendered preStop hook, pointed at this pod's `client.conf` and port.
    fn pre_stop(&self, mysql: &Container) -> Command {
        let cmd = mysql
            .lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref())
            .and_then(|h| h.exec.as_ref())
            .and_then(|e| e.command.clone())
            .unwrap();
        assert_eq!(cmd[..2], ["sh", "-c"]);
        let conf = self.conf.join("client.conf");
        let script = cmd[2].replace(
            render::names::CLIENT_CONF,
            &format!("{} --port={}", conf.display(), self.port),
        );
        assert_ne!(script, cmd[2]);
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    fn wait_ping(&self, mysql: &Container) {
        let start = Instant::now();
        while !self.ping(mysql) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "mysqld did not answer the liveness probe within 60s:\n{}",
                std::fs::read_to_string(self.conf.join("mysqld.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn opts(&self, user: &str, password: &str) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some(user))
            .pass(Some(password))
            .prefer_socket(false)
            .into()
    }
}

async fn scalar(c: &mut mysql_async::Conn, sql: &str) -> String {
    let v: Option<mysql_async::Value> = c
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    match v {
        Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(&b).into_owned(),
        Some(mysql_async::Value::Int(i)) => i.to_string(),
        Some(mysql_async::Value::UInt(i)) => i.to_string(),
        Some(mysql_async::Value::NULL) | None => String::new(),
        Some(other) => format!("{other:?}"),
    }
}

/// What every node must show after init + start: accounts, read-only, no GTIDs of its own.
async fn check_node(d: &PodDirs, who: &str, own_server_id: u32) {
    let s = secrets();
    let op = &s[&format!("{CLUSTER}-mysql-operated")];
    let mut c = mysql_async::Conn::new(d.opts("sys_operator", &op["OPERATOR_PASSWORD"]))
        .await
        .unwrap_or_else(|e| panic!("{who}: operator account: {e}"));
    assert_eq!(
        scalar(&mut c, "SELECT @@GLOBAL.read_only").await,
        "1",
        "{who}"
    );
    assert_eq!(
        scalar(&mut c, "SELECT @@server_id").await,
        own_server_id.to_string(),
        "{who}: MY_SERVER_ID_OFFSET + ordinal"
    );
    let grants: Vec<String> = c
        .query("SHOW GRANTS FOR 'sys_replication'@'%'")
        .await
        .unwrap();
    assert!(
        grants.iter().any(|g| g.contains("REPLICATION SLAVE ADMIN")),
        "{who}: {grants:?}"
    );
    assert_eq!(
        scalar(&mut c, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('sys_operator', 'from_extra_sql', 'shopdb')").await,
        "3",
        "{who}: operator schema, initFileExtraSQL and the user Secret's DATABASE"
    );
    c.disconnect().await.unwrap();
    for (user, pw) in [
        ("sys_replication", op["REPLICATION_PASSWORD"].as_str()),
        ("root", "root-Pw1"),
        ("app", "app-Pw1"),
    ] {
        let c = mysql_async::Conn::new(d.opts(user, pw))
            .await
            .unwrap_or_else(|e| panic!("{who}: {user}: {e}"));
        c.disconnect().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_init_runs_against_real_mariadbd() {
    let r = rendered();
    let mysql = container(&r, "mysql").clone();
    let tmp = tempfile::tempdir().unwrap();
    let down = format!("127.0.0.1:{}", free_port());
    let s = secrets();
    let op = &s[&format!("{CLUSTER}-mysql-operated")];

    // Pod 0, empty data dir, nothing to clone from: init initialises it.
    let pod0 = PodDirs::new(&tmp.path().join("pod0"), &r);
    let log = pod0.run_init(&r, 0, (&down, &down));
    assert!(log.contains("(initialised)"), "{log}");
    let client_conf = pod0.conf.join("client.conf");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&client_conf).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "client.conf is not readable by others");
    let dynamic = std::fs::read_to_string(pod0.conf.join("conf.d/10-dynamic.cnf")).unwrap();
    assert!(dynamic.contains("server-id = 200\n"), "{dynamic}");
    assert!(dynamic.contains("read-only = ON\n"), "{dynamic}");

    let mut mysqld0 = pod0.start_mysqld(&r);
    check_node(&pod0, "pod 0", 200).await;
    {
        let mut c = mysql_async::Conn::new(pod0.opts("sys_operator", &op["OPERATOR_PASSWORD"]))
            .await
            .unwrap();
        assert_eq!(
            scalar(&mut c, "SELECT @@GLOBAL.gtid_binlog_pos").await,
            "",
            "init creates no GTIDs"
        );
        // The operator makes the primary writable; the heartbeat statement fits the
        // table the init SQL created.
        c.query_drop("SET GLOBAL read_only = 0").await.unwrap();
        c.query_drop(flavor::schema::WRITE_HEARTBEAT).await.unwrap();
        assert_eq!(
            scalar(
                &mut c,
                "SELECT COUNT(*) FROM sys_operator.heartbeat WHERE server_id = 200"
            )
            .await,
            "1"
        );
        let age: Option<Option<i64>> = c
            .query_first(flavor::schema::HEARTBEAT_AGE_MICROS)
            .await
            .unwrap();
        assert!(age.flatten().is_some_and(|us| us < 10_000_000), "{age:?}");
        c.query_drop("CREATE TABLE shopdb.t (id INT PRIMARY KEY) ENGINE=InnoDB")
            .await
            .unwrap();
        c.query_drop("INSERT INTO shopdb.t VALUES (1), (2), (3)")
            .await
            .unwrap();
        c.disconnect().await.unwrap();
    }

    // A restart of the pod: init runs again on the existing data dir.
    drop(mysqld0);
    let log = pod0.run_init(&r, 0, (&down, &down));
    assert!(!log.contains("(initialised)"), "{log}");
    mysqld0 = pod0.start_mysqld(&r);
    check_node(&pod0, "pod 0 after a restart", 200).await;
    {
        let mut c = mysql_async::Conn::new(pod0.opts("sys_operator", &op["OPERATOR_PASSWORD"]))
            .await
            .unwrap();
        c.query_drop("SET GLOBAL read_only = 0").await.unwrap();
        c.disconnect().await.unwrap();
    }

    // Pod 0's agent, from the rendered agent container.
    let agent_port = free_port();
    let agent_c = container(&r, "agent");
    let env = resolve_env(agent_c, 0);
    let mut args = argv(agent_c, &env);
    args.extend([
        format!("--listen=127.0.0.1:{agent_port}"),
        format!("--mysql-port={}", pod0.port),
        format!("--defaults-file={}", pod0.conf.join("my.cnf").display()),
        format!(
            "--plugins-manifest={}",
            pod0.mnt.join("plugins.json").display()
        ),
        format!("--scratch-dir={}", tmp.path().join("xb").display()),
    ]);
    let agent_log = std::fs::File::create(tmp.path().join("agent.log")).unwrap();
    let _agent = Proc(
        operator(&args, &env)
            .stdout(Stdio::null())
            .stderr(agent_log)
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", agent_port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "agent did not listen"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The agent names its pod (what init asks the `-master` Service on a restart).
    assert_eq!(
        backup::peer::agent_pod(&format!("127.0.0.1:{agent_port}"), Duration::from_secs(3))
            .await
            .as_deref(),
        Some(format!("{CLUSTER}-mysql-0").as_str())
    );

    // Pod 1 clones from the primary's agent (no healthy replica answers), then starts
    // read-only with the same accounts.
    let pod1 = PodDirs::new(&tmp.path().join("pod1"), &r);
    let log = pod1.run_init(&r, 1, (&down, &format!("127.0.0.1:{agent_port}")));
    assert!(log.contains("PeerClone"), "{log}");
    let _mysqld1 = pod1.start_mysqld(&r);
    check_node(&pod1, "pod 1 (cloned)", 201).await;
    let mut c = mysql_async::Conn::new(pod1.opts("sys_operator", &op["OPERATOR_PASSWORD"]))
        .await
        .unwrap();
    assert_eq!(scalar(&mut c, "SELECT COUNT(*) FROM shopdb.t").await, "3");
    assert!(pod1.ping(&mysql));

    // The rendered preStop hook on pod 0 (writable): without a replica it ends at once;
    // with pod 1 streaming its binlog it waits until the server is made read-only (what
    // the operator's switchover does).
    let mut hook = pod0.pre_stop(&mysql);
    let t = Instant::now();
    assert!(hook.status().unwrap().success());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    c.query_drop(format!(
        "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='sys_replication', \
         MASTER_PASSWORD='{}', MASTER_USE_GTID=slave_pos",
        pod0.port, op["REPLICATION_PASSWORD"]
    ))
    .await
    .unwrap();
    c.query_drop("START SLAVE").await.unwrap();
    let mut c0 = mysql_async::Conn::new(pod0.opts("sys_operator", &op["OPERATOR_PASSWORD"]))
        .await
        .unwrap();
    let t = Instant::now();
    while scalar(
        &mut c0,
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
    )
    .await
        == "0"
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "pod 1 never connected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut waiting = pod0.pre_stop(&mysql).spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "the hook ended while the primary was writable with a replica"
    );
    c0.query_drop("SET GLOBAL read_only = 1").await.unwrap();
    let t = Instant::now();
    loop {
        if let Some(st) = waiting.try_wait().unwrap() {
            assert!(st.success());
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the hook did not end once read-only"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c0.disconnect().await.unwrap();
    c.disconnect().await.unwrap();
    drop(mysqld0);
}
