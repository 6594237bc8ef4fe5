//! MysqlDatabase / MysqlUser against a real mariadbd (testkit): databases created and
//! dropped, users with hosts, grants and limits, removed grants and hosts revoked, the
//! retain annotation honoured, presslabs' finalizers added and cleared.

use api::database::MysqlDatabase;
use api::user::MysqlUser;
use k8s_openapi::api::core::v1::Secret;
use mysql_async::prelude::Queryable;
use mysql_operator_controller::MemoryStore;
use mysql_operator_controller::accounts::{
    AccountsReconciler, DATABASE_FINALIZER, DELETION_POLICY, StaticConnector, USER_FINALIZER,
};
use mysql_operator_controller::store::{Kind, ObjectKey, Store};
use serde_json::{Value, json};
use testkit::mariadb::MariaDb;

const NS: &str = "apps";

fn setup() -> (
    MariaDb,
    MemoryStore,
    AccountsReconciler<MemoryStore, StaticConnector>,
) {
    let db = MariaDb::start(1);
    let store = MemoryStore::new();
    let r = AccountsReconciler {
        store: store.clone(),
        connector: StaticConnector(db.node(0).opts()),
    };
    (db, store, r)
}

/// Every API call the reconciler made is allowed by `rbac::required_rules`.
fn assert_rbac(store: &MemoryStore) {
    // The test itself deletes the objects through the store, as a user would.
    let uses: Vec<_> = store
        .api_uses()
        .into_iter()
        .filter(|(_, r, v)| !(v == "delete" && (r == "mysqldatabases" || r == "mysqlusers")))
        .collect();
    assert!(!uses.is_empty());
    let missing = mysql_operator_controller::rbac::uncovered(&uses);
    assert!(
        missing.is_empty(),
        "not in rbac::required_rules: {missing:?}"
    );
}

fn database(name: &str, database: &str) -> Value {
    json!({"apiVersion": "mysql.presslabs.org/v1alpha1", "kind": "MysqlDatabase",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"clusterRef": {"name": "c"}, "database": database}})
}

fn user(hosts: Value, permissions: Value, limits: Value) -> Value {
    json!({"apiVersion": "mysql.presslabs.org/v1alpha1", "kind": "MysqlUser",
        "metadata": {"name": "u1", "namespace": NS},
        "spec": {"clusterRef": {"name": "c"}, "user": "alice",
            "password": {"name": "alice-pw", "key": "PASSWORD"},
            "allowedHosts": hosts, "permissions": permissions, "resourceLimits": limits}})
}

async fn query(db: &MariaDb, sql: &str) -> Vec<String> {
    let mut c = mysql_async::Conn::new(db.node(0).opts())
        .await
        .expect("connect as root");
    let rows: Vec<String> = c.query(sql).await.expect(sql);
    rows
}

async fn grants(db: &MariaDb, host: &str) -> String {
    query(db, &format!("SHOW GRANTS FOR 'alice'@'{host}'"))
        .await
        .join("\n")
}

fn ready(store: &MemoryStore, key: &ObjectKey) -> Value {
    let o = store.object(key).expect("object");
    o["status"]["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn database_created_dropped_and_retained() {
    let (db, store, r) = setup();
    let kind = Kind::of::<MysqlDatabase>();
    store
        .seed(&kind, database("d1", "shop"), "kubectl")
        .unwrap();
    r.reconcile_database(NS, "d1").await.expect("create");
    assert!(
        query(&db, "SHOW DATABASES")
            .await
            .contains(&"shop".to_string())
    );
    let key = ObjectKey::of::<MysqlDatabase>(NS, "d1");
    assert_eq!(ready(&store, &key)["status"], "True");
    assert_eq!(
        store.object(&key).unwrap()["metadata"]["finalizers"],
        json!([DATABASE_FINALIZER])
    );

    store.delete(&key).await.unwrap();
    r.reconcile_database(NS, "d1").await.expect("drop");
    assert!(
        store.object(&key).is_none(),
        "finalizer cleared, object gone"
    );
    assert!(
        !query(&db, "SHOW DATABASES")
            .await
            .contains(&"shop".to_string())
    );

    // retain: the database outlives the object.
    let mut kept = database("d2", "ledger");
    kept["metadata"]["annotations"] = json!({DELETION_POLICY: "retain"});
    store.seed(&kind, kept, "kubectl").unwrap();
    r.reconcile_database(NS, "d2").await.unwrap();
    store
        .delete(&ObjectKey::of::<MysqlDatabase>(NS, "d2"))
        .await
        .unwrap();
    r.reconcile_database(NS, "d2").await.unwrap();
    assert!(
        store
            .object(&ObjectKey::of::<MysqlDatabase>(NS, "d2"))
            .is_none()
    );
    assert!(
        query(&db, "SHOW DATABASES")
            .await
            .contains(&"ledger".to_string())
    );

    // A name SQL cannot carry is a Ready=False naming the field; nothing is created.
    store
        .seed(&kind, database("d3", &"x".repeat(70)), "kubectl")
        .unwrap();
    let err = r.reconcile_database(NS, "d3").await.unwrap_err();
    assert!(err.to_string().contains("spec.database"), "{err}");
    assert_eq!(
        ready(&store, &ObjectKey::of::<MysqlDatabase>(NS, "d3"))["status"],
        "False"
    );
    assert_rbac(&store);
}

#[tokio::test]
async fn user_hosts_grants_and_limits_follow_the_spec() {
    let (db, store, r) = setup();
    let mut c = mysql_async::Conn::new(db.node(0).opts()).await.unwrap();
    c.query_drop("CREATE DATABASE shop").await.unwrap();
    c.query_drop("CREATE TABLE shop.orders (id INT PRIMARY KEY)")
        .await
        .unwrap();
    let pw = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "alice-pw", "namespace": NS},
        "data": {"PASSWORD": "czNjcjN0"}});
    store.seed(&Kind::of::<Secret>(), pw, "kubectl").unwrap();
    let kind = Kind::of::<MysqlUser>();
    let key = ObjectKey::of::<MysqlUser>(NS, "u1");

    store
        .seed(
            &kind,
            user(
                json!(["%", "10.0.0.1"]),
                json!([{"schema": "shop", "tables": ["*"], "permissions": ["SELECT", "INSERT"]},
                       {"schema": "shop", "tables": ["orders"], "permissions": ["UPDATE"]}]),
                json!({"MAX_USER_CONNECTIONS": "7"}),
            ),
            "kubectl",
        )
        .unwrap();
    r.reconcile_user(NS, "u1").await.expect("create user");
    let g = grants(&db, "%").await;
    assert!(g.contains("GRANT SELECT, INSERT ON `shop`.*"), "{g}");
    assert!(g.contains("GRANT UPDATE ON `shop`.`orders`"), "{g}");
    assert!(
        grants(&db, "10.0.0.1")
            .await
            .contains("GRANT SELECT, INSERT ON `shop`.*")
    );
    let limit = query(
        &db,
        "SELECT CAST(max_user_connections AS CHAR) FROM mysql.user WHERE User='alice' AND Host='%'",
    )
    .await;
    assert_eq!(limit, vec!["7".to_string()]);
    let st = store.object(&key).unwrap();
    assert_eq!(st["status"]["allowedHosts"], json!(["%", "10.0.0.1"]));
    assert_eq!(st["metadata"]["finalizers"], json!([USER_FINALIZER]));
    // The password works.
    let opts = mysql_async::OptsBuilder::from_opts(db.node(0).opts())
        .user(Some("alice"))
        .pass(Some("s3cr3t"));
    mysql_async::Conn::new(opts)
        .await
        .expect("alice logs in with the Secret's password");

    // Remove INSERT, the table grant and a host; drop the limit.
    store
        .seed(
            &kind,
            user(
                json!(["%"]),
                json!([{"schema": "shop", "tables": ["*"], "permissions": ["SELECT"]}]),
                json!({}),
            ),
            "kubectl",
        )
        .unwrap();
    r.reconcile_user(NS, "u1").await.expect("update user");
    let g = grants(&db, "%").await;
    assert!(g.contains("GRANT SELECT ON `shop`.*"), "{g}");
    assert!(!g.contains("INSERT"), "revoked: {g}");
    assert!(!g.contains("`orders`"), "table grant revoked: {g}");
    let hosts = query(&db, "SELECT Host FROM mysql.user WHERE User='alice'").await;
    assert_eq!(hosts, vec!["%".to_string()]);
    let limit = query(
        &db,
        "SELECT CAST(max_user_connections AS CHAR) FROM mysql.user WHERE User='alice'",
    )
    .await;
    assert_eq!(limit, vec!["0".to_string()]);
    assert_eq!(ready(&store, &key)["status"], "True");

    // Deleting the object drops the account.
    store.delete(&key).await.unwrap();
    r.reconcile_user(NS, "u1").await.expect("drop user");
    assert!(store.object(&key).is_none());
    assert!(
        query(&db, "SELECT Host FROM mysql.user WHERE User='alice'")
            .await
            .is_empty()
    );
    assert_rbac(&store);
}

#[tokio::test]
async fn user_with_missing_secret_or_bad_privilege_is_reported_and_nothing_created() {
    let (db, store, r) = setup();
    let kind = Kind::of::<MysqlUser>();
    let key = ObjectKey::of::<MysqlUser>(NS, "u1");
    store
        .seed(&kind, user(json!(["%"]), json!([]), json!({})), "kubectl")
        .unwrap();
    let err = r.reconcile_user(NS, "u1").await.unwrap_err();
    assert!(err.to_string().contains("alice-pw"), "{err}");
    assert_eq!(ready(&store, &key)["status"], "False");
    let pw = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "alice-pw", "namespace": NS},
        "data": {"PASSWORD": "czNjcjN0"}});
    store.seed(&Kind::of::<Secret>(), pw, "kubectl").unwrap();
    store
        .seed(
            &kind,
            user(
                json!(["%"]),
                json!([{"schema": "s", "tables": ["*"], "permissions": ["SELECT; DROP"]}]),
                json!({}),
            ),
            "kubectl",
        )
        .unwrap();
    let err = r.reconcile_user(NS, "u1").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("spec.permissions[0].permissions[0]"),
        "{err}"
    );
    assert!(
        query(&db, "SELECT Host FROM mysql.user WHERE User='alice'")
            .await
            .is_empty(),
        "nothing created"
    );

    // retain: the account outlives the object.
    let mut u = user(json!(["%"]), json!([]), json!({}));
    u["metadata"]["annotations"] = json!({DELETION_POLICY: "retain"});
    store.seed(&kind, u, "kubectl").unwrap();
    r.reconcile_user(NS, "u1").await.unwrap();
    store.delete(&key).await.unwrap();
    r.reconcile_user(NS, "u1").await.unwrap();
    assert!(store.object(&key).is_none());
    assert_eq!(
        query(&db, "SELECT Host FROM mysql.user WHERE User='alice'").await,
        vec!["%".to_string()]
    );
}
