//! MysqlDatabase and MysqlUser: create and drop databases; users with allowed hosts,
//! grants and resource limits, revoking what was removed from the spec (read back from
//! the server, so drift is corrected too); presslabs' finalizers and its `retain`
//! deletion-policy annotation honoured.

pub mod sql;

use std::collections::BTreeSet;
use std::future::Future;

use api::ConditionStatus;
use api::database::{MysqlDatabase, MysqlDatabaseStatus, ResourceCondition};
use api::user::{MysqlUser, MysqlUserStatus};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use serde::de::DeserializeOwned;
use tracing::{info, instrument};

use crate::desired::Names;
use crate::store::{self, MetadataPatch, ObjectKey, Store, StoreError};
use sql::{Grant, SqlInputError};

/// presslabs' finalizer on MysqlUser (drop the account before the object goes).
pub const USER_FINALIZER: &str = "mysql-operator.presslabs.org/user";
/// presslabs' finalizer on MysqlDatabase.
pub const DATABASE_FINALIZER: &str = "mysql-operator.presslabs.org/database";
/// presslabs' annotation: `retain` keeps the database/user in MySQL when the object is deleted.
pub const DELETION_POLICY: &str = "mysql-operator.presslabs.org/resourceDeletionPolicy";

/// Why a database/user reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A Kubernetes operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server refused a statement or could not be reached.
    #[error("MySQL: {0}")]
    Sql(#[from] mysql_async::Error),
    /// The spec cannot be turned into SQL.
    #[error(transparent)]
    Input(#[from] SqlInputError),
    /// A Secret or key the spec names is missing.
    #[error("{0}")]
    Missing(String),
}

/// How to reach a cluster's primary with an account that may manage users and databases.
pub trait Connector: Send + Sync + 'static {
    /// A connection to the primary of cluster `namespace/name`.
    fn connect(
        &self,
        namespace: &str,
        cluster: &str,
    ) -> impl Future<Output = Result<Conn, AccountError>> + Send;
}

/// Fixed connection options (tests, or a single external server).
#[derive(Clone, Debug)]
pub struct StaticConnector(pub Opts);

impl Connector for StaticConnector {
    async fn connect(&self, _namespace: &str, _cluster: &str) -> Result<Conn, AccountError> {
        Ok(Conn::new(self.0.clone()).await?)
    }
}

/// The production connector: the operator account from `<c>-mysql-operated`, through the
/// `<c>-mysql-master` Service.
#[derive(Clone)]
pub struct ServiceConnector<S> {
    /// Where the operated Secret is read.
    pub store: S,
}

impl<S: Store> Connector for ServiceConnector<S> {
    async fn connect(&self, namespace: &str, cluster: &str) -> Result<Conn, AccountError> {
        let names = Names::of(cluster);
        let secret: Option<Secret> =
            store::get(&self.store, namespace, &names.operated_secret).await?;
        let value = |k: &str| {
            secret
                .as_ref()
                .and_then(|s| s.data.as_ref())
                .and_then(|d| d.get(k))
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                .ok_or_else(|| {
                    AccountError::Missing(format!(
                        "Secret {namespace}/{} has no {k}; the cluster reconciler creates it",
                        names.operated_secret
                    ))
                })
        };
        let opts = OptsBuilder::default()
            .ip_or_hostname(format!("{}.{namespace}.svc", names.master_service))
            .tcp_port(3306)
            .user(Some(value("OPERATOR_USER")?))
            .pass(Some(value("OPERATOR_PASSWORD")?))
            .prefer_socket(false);
        Ok(Conn::new(opts).await?)
    }
}

/// Reconciles MysqlDatabase and MysqlUser objects.
pub struct AccountsReconciler<S, C> {
    /// The API server.
    pub store: S,
    /// How to reach the clusters.
    pub connector: C,
}

fn retain<K: Resource>(obj: &K) -> bool {
    obj.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_POLICY))
        .is_some_and(|v| v.eq_ignore_ascii_case("retain"))
}

fn ready(conditions: &mut Vec<ResourceCondition>, ok: bool, reason: &str, message: &str) {
    let status = if ok {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    match conditions.iter_mut().find(|c| c.type_ == "Ready") {
        Some(c) => {
            if c.status != status {
                c.status = status;
                c.last_transition_time = now;
            }
            c.reason = reason.into();
            c.message = message.into();
        }
        None => conditions.push(ResourceCondition {
            type_: "Ready".into(),
            status,
            last_update_time: None,
            last_transition_time: now,
            reason: reason.into(),
            message: message.into(),
        }),
    }
}

/// `Some(done)` when the object is being deleted (after cleanup), else ensures the finalizer.
async fn finalize<S, K, F>(
    store: &S,
    obj: &K,
    finalizer: &str,
    cleanup: F,
) -> Result<Option<()>, AccountError>
where
    S: Store,
    K: Resource<DynamicType = ()>,
    F: Future<Output = Result<(), AccountError>>,
{
    let meta = obj.meta();
    let key = ObjectKey::of::<K>(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    );
    let finalizers = meta.finalizers.clone().unwrap_or_default();
    let has = finalizers.iter().any(|f| f == finalizer);
    if meta.deletion_timestamp.is_some() {
        if has {
            cleanup.await?;
            let kept = finalizers.into_iter().filter(|f| f != finalizer).collect();
            store
                .patch_metadata(
                    &key,
                    &MetadataPatch {
                        finalizers: Some(kept),
                        ..Default::default()
                    },
                )
                .await?;
        }
        return Ok(Some(()));
    }
    if !has {
        let mut f = finalizers;
        f.push(finalizer.to_string());
        store
            .patch_metadata(
                &key,
                &MetadataPatch {
                    finalizers: Some(f),
                    ..Default::default()
                },
            )
            .await?;
    }
    Ok(None)
}

async fn get_obj<S: Store, K: Resource<DynamicType = ()> + DeserializeOwned>(
    store: &S,
    ns: &str,
    name: &str,
) -> Result<Option<K>, StoreError> {
    store::get::<K, S>(store, ns, name).await
}

/// Privileges the server reports for `'user'@'host'` (information_schema, any flavor).
async fn observed_grants(
    conn: &mut Conn,
    user: &str,
    host: &str,
) -> Result<BTreeSet<Grant>, mysql_async::Error> {
    // information_schema spells the grantee `'user'@'host'`.
    let grantee = format!("'{user}'@'{host}'");
    let mut out = BTreeSet::new();
    let global: Vec<String> = conn
        .exec(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?",
            (grantee.clone(),),
        )
        .await?;
    out.extend(
        global
            .into_iter()
            .filter(|p| p != "USAGE")
            .map(|p| ("*".to_string(), "*".to_string(), p)),
    );
    let schema: Vec<(String, String)> = conn
        .exec(
            "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ?",
            (grantee.clone(),),
        )
        .await?;
    out.extend(schema.into_iter().map(|(s, p)| (s, "*".to_string(), p)));
    let table: Vec<(String, String, String)> = conn
        .exec(
            "SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ?",
            (grantee,),
        )
        .await?;
    out.extend(table);
    Ok(out)
}

async fn hosts_of(conn: &mut Conn, user: &str) -> Result<BTreeSet<String>, mysql_async::Error> {
    let hosts: Vec<String> = conn
        .exec("SELECT Host FROM mysql.user WHERE User = ?", (user,))
        .await?;
    Ok(hosts.into_iter().collect())
}

impl<S: Store, C: Connector> AccountsReconciler<S, C> {
    /// Reconcile MysqlDatabase `namespace/name` once.
    #[instrument(skip(self), fields(database = %format!("{namespace}/{name}")))]
    pub async fn reconcile_database(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<(), AccountError> {
        let Some(db) = get_obj::<S, MysqlDatabase>(&self.store, namespace, name).await? else {
            return Ok(());
        };
        let cluster_ns = db
            .spec
            .cluster_ref
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.to_string());
        let cluster = db.spec.cluster_ref.name.clone();
        let database = db.spec.database.clone();
        let keep = retain(&db);
        let cleanup = async {
            if !keep {
                let mut conn = self.connector.connect(&cluster_ns, &cluster).await?;
                conn.query_drop(format!("DROP DATABASE IF EXISTS {}", sql::ident(&database)))
                    .await?;
                info!(%database, "dropped database");
            }
            Ok::<(), AccountError>(())
        };
        if finalize(&self.store, &db, DATABASE_FINALIZER, cleanup)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let old = db.status.clone().unwrap_or_default();
        let mut status = old.clone();
        let result = async {
            sql::check_name("spec.database", &database, 64)?;
            let mut conn = self.connector.connect(&cluster_ns, &cluster).await?;
            conn.query_drop(format!(
                "CREATE DATABASE IF NOT EXISTS {}",
                sql::ident(&database)
            ))
            .await?;
            Ok::<(), AccountError>(())
        }
        .await;
        match &result {
            Ok(()) => ready(
                &mut status.conditions,
                true,
                "ProvisionSucceeded",
                "database exists",
            ),
            Err(e) => ready(
                &mut status.conditions,
                false,
                "ProvisionFailed",
                &e.to_string(),
            ),
        }
        self.write_status::<MysqlDatabase, MysqlDatabaseStatus>(namespace, name, &old, &status)
            .await?;
        result
    }

    /// Reconcile MysqlUser `namespace/name` once.
    #[instrument(skip(self), fields(user = %format!("{namespace}/{name}")))]
    pub async fn reconcile_user(&self, namespace: &str, name: &str) -> Result<(), AccountError> {
        let Some(u) = get_obj::<S, MysqlUser>(&self.store, namespace, name).await? else {
            return Ok(());
        };
        let cluster_ns = u
            .spec
            .cluster_ref
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.to_string());
        let cluster = u.spec.cluster_ref.name.clone();
        let user = u.spec.user.clone();
        let keep = retain(&u);
        let cleanup = async {
            if !keep {
                let mut conn = self.connector.connect(&cluster_ns, &cluster).await?;
                for host in hosts_of(&mut conn, &user).await? {
                    conn.query_drop(format!(
                        "DROP USER IF EXISTS {}",
                        sql::account(&user, &host)
                    ))
                    .await?;
                }
                info!(%user, "dropped user");
            }
            Ok::<(), AccountError>(())
        };
        if finalize(&self.store, &u, USER_FINALIZER, cleanup)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let old = u.status.clone().unwrap_or_default();
        let mut status = old.clone();
        let result = self
            .provision_user(namespace, &cluster_ns, &cluster, &u)
            .await;
        match &result {
            Ok(hosts) => {
                status.allowed_hosts = hosts.clone();
                ready(
                    &mut status.conditions,
                    true,
                    "ProvisionSucceeded",
                    "user exists with the requested grants",
                )
            }
            Err(e) => ready(
                &mut status.conditions,
                false,
                "ProvisionFailed",
                &e.to_string(),
            ),
        }
        self.write_status::<MysqlUser, MysqlUserStatus>(namespace, name, &old, &status)
            .await?;
        result.map(|_| ())
    }

    async fn provision_user(
        &self,
        namespace: &str,
        cluster_ns: &str,
        cluster: &str,
        u: &MysqlUser,
    ) -> Result<Vec<String>, AccountError> {
        let spec = &u.spec;
        sql::check_name("spec.user", &spec.user, 80)?;
        if spec.allowed_hosts.is_empty() {
            return Err(SqlInputError {
                field: "spec.allowedHosts".into(),
                message: "is empty".into(),
                hint: "list the hosts the user connects from, e.g. [\"%\"]".into(),
            }
            .into());
        }
        for (i, h) in spec.allowed_hosts.iter().enumerate() {
            sql::check_name(&format!("spec.allowedHosts[{i}]"), h, 255)?;
        }
        let grants = sql::desired_grants(&spec.permissions)?;
        let limits = sql::limits_clause(&spec.resource_limits)?;
        let secret_name = spec.password.name.clone();
        let secret: Option<Secret> = store::get(&self.store, namespace, &secret_name).await?;
        let password = secret
            .and_then(|s| s.data)
            .and_then(|d| d.get(&spec.password.key).map(|v| String::from_utf8_lossy(&v.0).into_owned()))
            .ok_or_else(|| {
                AccountError::Missing(format!(
                    "spec.password: Secret {namespace}/{secret_name} or its key {:?} not found; create it",
                    spec.password.key
                ))
            })?;

        let mut conn = self.connector.connect(cluster_ns, cluster).await?;
        let existing = hosts_of(&mut conn, &spec.user).await?;
        let wanted: BTreeSet<String> = spec.allowed_hosts.iter().cloned().collect();
        for host in &wanted {
            let acct = sql::account(&spec.user, host);
            let verb = if existing.contains(host) {
                "ALTER"
            } else {
                "CREATE"
            };
            conn.query_drop(format!(
                "{verb} USER {acct} IDENTIFIED BY {} {limits}",
                sql::string(&password)
            ))
            .await?;
            let observed = observed_grants(&mut conn, &spec.user, host).await?;
            let (add, revoke) = sql::diff(&grants, &observed);
            for (s, t, p) in revoke {
                conn.query_drop(format!("REVOKE {p} ON {} FROM {acct}", sql::level(&s, &t)))
                    .await?;
            }
            for (s, t, p) in add {
                conn.query_drop(format!("GRANT {p} ON {} TO {acct}", sql::level(&s, &t)))
                    .await?;
            }
        }
        for host in existing.difference(&wanted) {
            conn.query_drop(format!(
                "DROP USER IF EXISTS {}",
                sql::account(&spec.user, host)
            ))
            .await?;
            info!(user = %spec.user, %host, "dropped a host removed from allowedHosts");
        }
        Ok(wanted.into_iter().collect())
    }

    async fn write_status<K, T>(
        &self,
        ns: &str,
        name: &str,
        old: &T,
        new: &T,
    ) -> Result<(), AccountError>
    where
        K: Resource<DynamicType = ()>,
        T: PartialEq + serde::Serialize,
    {
        if old != new {
            let key = ObjectKey::of::<K>(ns, name);
            let v = serde_json::to_value(new).map_err(|e| StoreError::Serde {
                kind: key.kind.kind.clone(),
                namespace: ns.into(),
                name: name.into(),
                reason: e.to_string(),
            })?;
            self.store.patch_status(&key, v).await?;
        }
        Ok(())
    }
}
