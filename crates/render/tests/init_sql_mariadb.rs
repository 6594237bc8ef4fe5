//! The default init SQL, filled as the init container fills it, run by a real `mariadbd`
//! as its `init-file`: tables and accounts exist, no GTID is created, and a restart (the
//! script runs at every start) changes nothing.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_operator_render::init_sql::{fill_placeholders, init_sql_template};
use mysql_operator_render::mycnf::{ServerFlavor, ServerVersion};
use testkit::mariadb::{MariaDb, Options};

async fn one_string(conn: &mut mysql_async::Conn, sql: &str) -> String {
    let v: Option<Option<String>> = conn
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    v.flatten().unwrap_or_default()
}

async fn grants_of(conn: &mut mysql_async::Conn, user: &str) -> Vec<String> {
    conn.query(format!("SHOW GRANTS FOR '{user}'@'%'"))
        .await
        .unwrap()
}

#[tokio::test]
async fn init_file_creates_operator_schema_and_accounts_without_gtids() {
    let version = ServerVersion::parse("10.11").unwrap();
    let extra = vec!["CREATE DATABASE IF NOT EXISTS extra_from_spec".to_string()];
    let template = init_sql_template(ServerFlavor::Mariadb, version, &extra);
    let passwords: BTreeMap<String, String> = [
        ("OPERATOR_PASSWORD", "op'pass\\word"),
        ("REPLICATION_PASSWORD", "repl-pass"),
        ("METRICS_EXPORTER_PASSWORD", "metrics-pass"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sql = fill_placeholders(&template, &passwords).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let init_file = dir.path().join("operator-init.sql");
    std::fs::write(&init_file, &sql).unwrap();
    let mut db = MariaDb::start_with(Options {
        nodes: 1,
        read_only: true,
        extra_cnf: vec![format!("init-file={}", init_file.display())],
    });

    for round in ["first start", "after restart"] {
        let node = db.node(0);
        let mut root = mysql_async::Conn::new(node.opts())
            .await
            .unwrap_or_else(|e| panic!("{round}: {e}\n{}", node.log_tail(30)));
        assert_eq!(
            one_string(
                &mut root,
                "SELECT value FROM sys_operator.status WHERE name = 'configured'"
            )
            .await,
            "0",
            "{round}"
        );
        let tables: Vec<String> = root.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'sys_operator' ORDER BY 1").await.unwrap();
        assert_eq!(tables, ["heartbeat", "status"], "{round}");
        assert_eq!(
            one_string(&mut root, "SELECT @@gtid_binlog_pos").await,
            "",
            "{round}: the init file must not create GTIDs"
        );
        assert_eq!(one_string(&mut root, "SELECT schema_name FROM information_schema.schemata WHERE schema_name = 'extra_from_spec'").await, "extra_from_spec");
        let grants: Vec<String> = root
            .query("SHOW GRANTS FOR 'sys_replication'@'%'")
            .await
            .unwrap();
        assert!(
            grants
                .iter()
                .any(|g| g.contains("REPLICATION SLAVE") && g.contains("BINLOG MONITOR")),
            "{grants:?}"
        );
        let grants: Vec<String> = root
            .query("SHOW GRANTS FOR 'sys_operator'@'%'")
            .await
            .unwrap();
        assert!(
            grants
                .iter()
                .any(|g| g.contains("ALL PRIVILEGES") && g.contains("WITH GRANT OPTION")),
            "{grants:?}"
        );
        assert!(
            grants_of(&mut root, "sys_replication")
                .await
                .iter()
                .any(|g| g.contains("REPLICATION SLAVE ADMIN")),
            "mariabackup --safe-slave-backup on a replica runs STOP SLAVE SQL_THREAD"
        );
        // The heartbeat writer's statement fits the table this script created (one
        // definition in flavor::schema): nothing on a read-only server, a row once writable.
        root.query_drop(flavor::schema::WRITE_HEARTBEAT)
            .await
            .unwrap();
        assert_eq!(
            one_string(
                &mut root,
                "SELECT CAST(COUNT(*) AS CHAR) FROM sys_operator.heartbeat"
            )
            .await,
            if round == "first start" { "0" } else { "1" },
            "{round}"
        );
        // Without binlogging: this round checks the table's shape, and the next round
        // checks that nothing but this test wrote GTIDs.
        root.query_drop("SET SESSION sql_log_bin = 0")
            .await
            .unwrap();
        root.query_drop("SET GLOBAL read_only = 0").await.unwrap();
        root.query_drop(flavor::schema::WRITE_HEARTBEAT)
            .await
            .unwrap();
        let age: Option<Option<i64>> = root
            .query_first(flavor::schema::HEARTBEAT_AGE_MICROS)
            .await
            .unwrap();
        assert!(
            age.flatten()
                .is_some_and(|us| (0..10_000_000).contains(&us)),
            "{round}: {age:?}"
        );
        root.query_drop("SET GLOBAL read_only = 1").await.unwrap();
        root.disconnect().await.unwrap();

        // Each account logs in with the password from the (escaped) placeholder.
        for (user, password, host) in [
            ("sys_operator", "op'pass\\word", node.host.to_string()),
            ("sys_replication", "repl-pass", node.host.to_string()),
        ] {
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname(host)
                .tcp_port(node.port)
                .user(Some(user))
                .pass(Some(password))
                .prefer_socket(false);
            let mut c = mysql_async::Conn::new(opts)
                .await
                .unwrap_or_else(|e| panic!("{round}: {user} cannot log in: {e}"));
            assert_eq!(
                one_string(&mut c, "SELECT CURRENT_USER()").await,
                format!("{user}@%")
            );
            c.disconnect().await.unwrap();
        }
        if round == "first start" {
            db.node_mut(0).restart();
        }
    }
}
