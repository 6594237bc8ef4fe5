//! The status-table fix on real MariaDB: a replica is built from a `mariabackup` clone that
//! excluded `sys_operator.status` (leaving an orphaned InnoDB dictionary entry), the
//! operator's default init script alone fails on it, the `status-table-fix` module's
//! script — run through the real host — drops the orphan before the default script
//! re-creates the table, writes no GTID of its own, and the replica then replicates row
//! events for that table cleanly.

mod polyglot_support;

use plugin::ModuleBytes;
use policy::*;
use polyglot_support::*;
use std::path::Path;
use std::process::{Command, Stdio};
use testkit::mariadb::{MariaDb, Node, REPL_PASSWORD, REPL_USER, ROOT_PASSWORD};

/// The operator's default init script for the status table, in the shape `crates/render`
/// `init_sql_template` writes it (one statement per line, what `init-file` reads), without
/// the accounts: binlog off, then create what is missing and mark the node.
const DEFAULT_SCRIPT: &str = "SET @@SESSION.SQL_LOG_BIN = 0;
CREATE DATABASE IF NOT EXISTS `sys_operator`;
CREATE TABLE IF NOT EXISTS `sys_operator`.`status` (name varchar(64) NOT NULL PRIMARY KEY, value varchar(8192) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
REPLACE INTO `sys_operator`.`status` VALUES ('configured', '0');
";

/// Runs SQL on a node with the `mariadb` client over its socket, as an init step would.
fn sql(node: &Node, script: &str) -> Result<String, String> {
    client(node, script, "--skip-column-names")
}

/// `sql` with column names kept (`\G` output then reads `Name: value`).
fn sql_named(node: &Node, script: &str) -> Result<String, String> {
    client(node, script, "--column-names")
}

fn client(node: &Node, script: &str, names: &str) -> Result<String, String> {
    let mut child = Command::new("mariadb")
        .arg(format!("--socket={}", node.socket.display()))
        .args([
            "--user=root",
            &format!("--password={ROOT_PASSWORD}"),
            "--batch",
            names,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("`mariadb` client not runnable ({e}); run `bash scripts/setup.sh`")
        });
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn must(node: &Node, script: &str) -> String {
    sql(node, script).unwrap_or_else(|e| {
        panic!(
            "SQL on node {} failed: {e}\n{script}\nlog:\n{}",
            node.index,
            node.log_tail(20)
        )
    })
}

fn run(what: &str, cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}; run `bash scripts/setup.sh`"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Streams a backup of `from` that leaves `sys_operator.status` out into `to` and prepares it;
/// returns the GTID position of the copy.
fn clone_without_status_table(from: &Node, to: &Path, scratch: &Path) -> String {
    std::fs::remove_dir_all(to).unwrap();
    std::fs::create_dir_all(to).unwrap();
    let script = format!(
        "set -o pipefail; mariabackup --backup --stream=xbstream --datadir={} --socket={} --user=root --password={} \
         --target-dir={} --tables-exclude='^sys_operator[.]status$' | mbstream -x -C {}",
        from.datadir.display(),
        from.socket.display(),
        ROOT_PASSWORD,
        scratch.display(),
        to.display()
    );
    run(
        "mariabackup --backup | mbstream",
        Command::new("bash").arg("-c").arg(script),
    );
    run(
        "mariabackup --prepare",
        Command::new("mariabackup")
            .arg("--prepare")
            .arg(format!("--target-dir={}", to.display())),
    );
    let info =
        std::fs::read_to_string(to.join("xtrabackup_binlog_info")).expect("xtrabackup_binlog_info");
    info.split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string()
}

fn init_request(role: NodeRole, source: DataSource, ordinal: u32) -> InitScriptRequest {
    InitScriptRequest {
        cluster: cluster(Flavor::Mariadb),
        ordinal,
        pod_name: format!("shop-mysql-{ordinal}"),
        role,
        data_dir_was_empty: source != DataSource::Existing,
        data_source: source,
        default_script: DEFAULT_SCRIPT.into(),
        settings: "{}".into(),
    }
}

#[test]
fn replica_cloned_without_status_table_starts_cleanly_with_the_module() {
    let bytes = std::fs::read(component(Lang::Rust, "status-table-fix")).unwrap();
    let (module, _) = load(&host(), "status-table-fix", ModuleBytes::Single(bytes));
    let mut db = MariaDb::start(2);

    // The primary: the module leaves its default script alone; then application data.
    let primary_script = module
        .init_script(&init_request(NodeRole::Primary, DataSource::Fresh, 0), "{}")
        .unwrap();
    assert_eq!(primary_script, DEFAULT_SCRIPT);
    must(db.node(0), &primary_script);
    must(
        db.node(0),
        "CREATE DATABASE app2; CREATE TABLE app2.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO app2.t VALUES (1), (2);",
    );

    // The replica: a clone of the primary that left the status table out.
    db.node_mut(1).stop();
    let scratch = tempfile::tempdir().unwrap();
    let datadir = db.node(1).datadir.clone();
    let gtid = clone_without_status_table(db.node(0), &datadir, scratch.path());
    assert!(gtid.starts_with("0-1-"), "clone position {gtid:?}");
    db.node_mut(1).restart();
    let replica = db.node(1);

    // The defect: the table is half there, and the default script alone cannot fix it.
    let e = sql(replica, "SELECT COUNT(*) FROM sys_operator.status;")
        .expect_err("orphaned table should not be readable");
    assert!(
        e.contains("doesn't exist") || e.contains("1146") || e.contains("Tablespace"),
        "{e}"
    );
    let e = sql(replica, DEFAULT_SCRIPT).expect_err("the default script alone fails on the orphan");
    println!("[status-table] default script alone on the clone: {e}");

    // The module's script: drop first, then the default script, all without binary logging.
    let script = module
        .init_script(
            &init_request(NodeRole::Replica, DataSource::PeerClone, 1),
            "{}",
        )
        .unwrap();
    let drop = script
        .find("DROP TABLE IF EXISTS `sys_operator`.`status`")
        .expect("drop");
    assert!(
        drop < script
            .find("CREATE TABLE IF NOT EXISTS `sys_operator`.`status`")
            .expect("create"),
        "{script}"
    );
    // As the operator runs it: mysqld's `init-file` at the next start of the replica.
    let before = must(replica, "SELECT @@gtid_binlog_pos;");
    let init_file = scratch.path().join("init.sql");
    std::fs::write(&init_file, &script).unwrap();
    {
        use std::io::Write;
        let mut cnf = std::fs::OpenOptions::new()
            .append(true)
            .open(&db.node(1).cnf)
            .unwrap();
        writeln!(cnf, "[mariadbd]\ninit-file={}", init_file.display()).unwrap();
    }
    let log_start = std::fs::metadata(&db.node(1).error_log).map_or(0, |m| m.len() as usize);
    db.node_mut(1).restart();
    let replica = db.node(1);
    let log = std::fs::read(&replica.error_log).unwrap();
    let log = String::from_utf8_lossy(&log[log_start.min(log.len())..]).into_owned();
    // Dropping the orphan makes InnoDB report the tablespace it cannot find (once, on
    // this start); anything else is a failure.
    let unexpected: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[ERROR]"))
        .filter(|l| {
            !(l.contains("sys_operator/status")
                || l.contains("Operating system error number 2")
                || l.contains("Error number 2 means"))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "the replica's start with the module's init-file logged errors:\n{log}"
    );
    // The next start runs the same script on a healthy table: no error at all.
    let log_start = std::fs::metadata(&db.node(1).error_log).map_or(0, |m| m.len() as usize);
    db.node_mut(1).restart();
    let replica = db.node(1);
    let log = std::fs::read(&replica.error_log).unwrap();
    let log = String::from_utf8_lossy(&log[log_start.min(log.len())..]).into_owned();
    assert!(
        !log.contains("[ERROR]"),
        "a later start with the module's init-file logged errors:\n{log}"
    );
    assert_eq!(
        must(replica, "SELECT @@gtid_binlog_pos;"),
        before,
        "the fix must not write GTIDs on the replica"
    );
    assert_eq!(
        must(
            replica,
            "SELECT value FROM sys_operator.status WHERE name = 'configured';"
        ),
        "0"
    );

    // Replication from the clone position, with row events for the fixed table.
    must(
        replica,
        &format!(
            "SET GLOBAL gtid_slave_pos = '{gtid}';
             CHANGE MASTER TO MASTER_HOST = '{}', MASTER_PORT = {}, MASTER_USER = '{REPL_USER}',
               MASTER_PASSWORD = '{REPL_PASSWORD}', MASTER_USE_GTID = slave_pos;
             START SLAVE;",
            db.node(0).host,
            db.node(0).port
        ),
    );
    must(
        db.node(0),
        "SET SESSION binlog_format = 'ROW';
         INSERT INTO sys_operator.status VALUES ('after-clone', '1');
         UPDATE sys_operator.status SET value = 'x' WHERE name = 'after-clone';
         INSERT INTO app2.t VALUES (3);",
    );
    let pos = must(db.node(0), "SELECT @@gtid_binlog_pos;");
    let waited = must(replica, &format!("SELECT MASTER_GTID_WAIT('{pos}', 30);"));
    let status = sql_named(replica, "SHOW SLAVE STATUS\\G").unwrap_or_else(|e| panic!("{e}"));
    let summary: Vec<&str> = status
        .lines()
        .map(str::trim)
        .filter(|l| {
            [
                "Slave_IO_Running:",
                "Slave_SQL_Running:",
                "Last_SQL_Errno:",
                "Gtid_IO_Pos:",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .collect();
    println!("[status-table] replica after the module's script: {summary:?}");
    assert_eq!(waited, "0", "replica did not reach {pos}:\n{status}");
    assert!(
        status.contains("Slave_SQL_Running: Yes") && status.contains("Last_SQL_Errno: 0"),
        "{status}"
    );
    assert_eq!(
        must(
            replica,
            "SELECT value FROM sys_operator.status WHERE name = 'after-clone';"
        ),
        "x"
    );
    assert_eq!(must(replica, "SELECT COUNT(*) FROM app2.t;"), "3");
}
