//! The pod contract: everything the operator's pods get from the rendered StatefulSet —
//! container commands and arguments, environment, mounted files — as one set of types and
//! constants, used by the renderer ([`crate::statefulset`]) to write the pod template and
//! by the pod-side CLI (`mysql-operator init`, `agent`; clap `env = `/`long = ` with the
//! constants below) to read it back. A round-trip test in the operator feeds the rendered
//! containers (env resolved the way the kubelet resolves it) into the CLI's parser.
//!
//! # Containers
//!
//! | container | image | command | gets |
//! |---|---|---|---|
//! | `init` | tools (`sidecarImage`) | `mysql-operator init [--xbstream-extra-arg=A]… [--xtrabackup-prepare-extra-arg=A]…` | [`PodIdentity`] env, [`env::INIT_BUCKET_URL`], the user Secret's keys as `MYSQL_ROOT_PASSWORD`/`MYSQL_USER`/`MYSQL_PASSWORD`/`MYSQL_DATABASE`, `envFrom` the `initBucketSecretName` Secret (S3 credentials) and the operated Secret |
//! | `mysql` | server (`image` / version map) | [`MysqlContainer::command`]: `mariadbd --defaults-file=/etc/mysql/my.cnf` (MariaDB) or `mysqld --defaults-file=/etc/mysql/my.cnf` | no environment; liveness `mariadb-admin`/`mysqladmin --defaults-file=/etc/mysql/client.conf ping`; readiness `GET :8080/ready`; preStop [`MysqlContainer::pre_stop_command`] (a writable primary with replicas waits for the operator's switchover) unless `podSpec.mysqlLifecycle` is set |
//! | `agent` | tools | `mysql-operator agent [--xtrabackup-extra-arg=A]… [--scratch-dir=D]` | [`PodIdentity`] env, `envFrom` the operated Secret |
//! | `metrics-exporter` | mysqld_exporter | its flags | `MYSQLD_EXPORTER_PASSWORD` |
//!
//! # Files
//!
//! - `/mnt/conf/` (the cluster ConfigMap, read-only): `my.cnf`, `init.sql` (the
//!   [`crate::init_sql`] template with `'${KEY}'` password placeholders), `plugins.json`.
//! - `/etc/mysql/` (an `emptyDir` shared by init, mysql and agent), written by `init`:
//!   `my.cnf` (the mounted one plus `!includedir /etc/mysql/conf.d`),
//!   `conf.d/10-dynamic.cnf` (`server-id` = offset + ordinal, `report-host`, `datadir`,
//!   `init-file`, `read-only`), `init.sql` (filled template, plus root's password and the
//!   user Secret's account on a fresh data dir, plus the `init-script` hook's additions;
//!   mode 0600), `client.conf` (`[client]` with the operator account over
//!   127.0.0.1:3306, mode 0600 — the liveness probe's `--defaults-file`).
//! - `/var/lib/mysql` (the `data` volume): the data dir.
//!
//! Every mysqld starts read-only (`read-only = ON`; [`read_only_options`]): a joining or
//! restarted node never looks like a second primary, and only the operator makes the one
//! primary writable (a fresh cluster's pods are all read-only, so the HA engine elects
//! one, as after any full restart).
//!
//! # What each image must provide
//!
//! - **tools image** (`init`, `agent`): `mysql-operator` on `PATH`; the server's backup
//!   tool and stream extractor of the same release (`mariabackup` + `mbstream`, or
//!   `xtrabackup` + `xbstream`); the server itself for initialising an empty data dir
//!   (`mariadb-install-db` + `mariadbd`, or `mysqld --initialize-insecure`); runs as UID
//!   999 (the pod's `runAsUser`/`fsGroup`).
//! - **server image** (`mysql`): `mariadbd` (MariaDB) or `mysqld` (MySQL, Percona) on
//!   `PATH`, and `mariadb-admin` / `mysqladmin` for the liveness probe; UID 999 may write
//!   the data dir and `/tmp`. Its entrypoint is not used (the command is explicit), so an
//!   image needs no first-start logic: `init` initialises the data dir and applies the
//!   root password.
//!
//! The pod sets `shareProcessNamespace: true`: mysqld is then not PID 1 of its container
//! (the pause process is), so a `kill -9` of mysqld from inside the pod works (PID 1
//! ignores signals it has no handler for) — the crash tests and the agent rely on it.
//!
//! # Not carried into the pod
//!
//! `spec.rcloneExtraArgs`, `spec.backupCompressCommand` and
//! `spec.backupDecompressCommand` (presslabs shelled out to rclone and gzip): the agent
//! and init stream S3 with their own client and compress in-process, so there is nothing
//! to pass them to; [`UNSUPPORTED_FIELDS`] names them with the reason. The replica count
//! is not in the pod template either (a scale would restart every pod); hooks in the pod
//! see `replicas = 0` unless `MY_CLUSTER_REPLICAS` is set by hand.

use k8s_openapi::api::core::v1::{
    EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector, SecretEnvSource, SecretKeySelector,
};

use crate::mycnf::{ServerFlavor, ServerVersion};
use crate::secret;

/// Environment variable names the pod-side CLI reads (the operated Secret's keys, in
/// [`crate::secret`], come in through `envFrom` under their own names).
pub mod env {
    /// `metadata.namespace` (downward API).
    pub const MY_NAMESPACE: &str = "MY_NAMESPACE";
    /// `metadata.name` (downward API); the ordinal is its `-<n>` suffix.
    pub const MY_POD_NAME: &str = "MY_POD_NAME";
    /// `metadata.name` of the MysqlCluster.
    pub const MY_CLUSTER_NAME: &str = "MY_CLUSTER_NAME";
    /// `spec.flavor` resolved: `mysql`, `percona` or `mariadb`.
    pub const MY_FLAVOR: &str = "MY_FLAVOR";
    /// `spec.mysqlVersion` resolved to `X.Y.Z`.
    pub const MY_MYSQL_VERSION: &str = "MY_MYSQL_VERSION";
    /// `spec.serverIDOffset` (default 100): `server-id` = offset + ordinal.
    pub const MY_SERVER_ID_OFFSET: &str = "MY_SERVER_ID_OFFSET";
    /// Replica count for the hooks; never rendered (see the module docs).
    pub const MY_CLUSTER_REPLICAS: &str = "MY_CLUSTER_REPLICAS";
    /// `spec.initBucketURL` (presslabs' `initBucketURI` too).
    pub const INIT_BUCKET_URL: &str = "INIT_BUCKET_URL";
    /// The user Secret's `ROOT_PASSWORD`, `USER`, `PASSWORD`, `DATABASE`.
    pub const MYSQL_ROOT_PASSWORD: &str = "MYSQL_ROOT_PASSWORD";
    pub const MYSQL_USER: &str = "MYSQL_USER";
    pub const MYSQL_PASSWORD: &str = "MYSQL_PASSWORD";
    pub const MYSQL_DATABASE: &str = "MYSQL_DATABASE";
}

/// Long flag names (without `--`) the renderer passes as container arguments.
pub mod flag {
    /// `spec.xtrabackupExtraArgs`, one per flag: appended to the backup tool's `--backup`.
    pub const XTRABACKUP_EXTRA_ARG: &str = "xtrabackup-extra-arg";
    /// `spec.xbstreamExtraArgs`: appended to the stream extractor (`mbstream -x`).
    pub const XBSTREAM_EXTRA_ARG: &str = "xbstream-extra-arg";
    /// `spec.xtrabackupPrepareExtraArgs`: appended to `--prepare`.
    pub const XTRABACKUP_PREPARE_EXTRA_ARG: &str = "xtrabackup-prepare-extra-arg";
    /// `spec.xtrabackupTargetDir`: the backup tool's scratch directory in the agent.
    pub const SCRATCH_DIR: &str = "scratch-dir";
}

/// Paths in the pod.
pub mod path {
    pub use crate::names::{CLIENT_CONF, CONF_DIR, CONFIG_MAP_DIR, DATA_DIR};
    /// The ConfigMap's `my.cnf`, `init.sql` and `plugins.json` as mounted.
    pub const MOUNTED_MY_CNF: &str = "/mnt/conf/my.cnf";
    pub const MOUNTED_INIT_SQL: &str = "/mnt/conf/init.sql";
    pub const MOUNTED_PLUGINS: &str = "/mnt/conf/plugins.json";
    /// What mysqld reads: written by `init`.
    pub const MY_CNF: &str = "/etc/mysql/my.cnf";
    pub const INIT_SQL: &str = "/etc/mysql/init.sql";
}

/// The subcommands of `mysql-operator` the pod runs.
pub const INIT_SUBCOMMAND: &str = "init";
pub const AGENT_SUBCOMMAND: &str = "agent";

/// Spec fields presslabs passed to its pods that have no counterpart here, with why.
pub const UNSUPPORTED_FIELDS: &[(&str, &str)] = &[
    (
        "spec.rcloneExtraArgs",
        "backups and restores use the operator's own S3 client, not rclone",
    ),
    (
        "spec.backupCompressCommand",
        "backups are compressed in-process (zstd or gzip, chosen by the backup URL)",
    ),
    (
        "spec.backupDecompressCommand",
        "restores decompress in-process (zstd or gzip, detected from the object)",
    ),
];

fn value(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".into()),
                field_path: path.into(),
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn secret_key(name: &str, secret: &str, key: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(optional),
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn all_of_secret(name: &str) -> EnvFromSource {
    EnvFromSource {
        secret_ref: Some(SecretEnvSource {
            name: name.into(),
            optional: None,
        }),
        ..EnvFromSource::default()
    }
}

fn repeated(flag: &str, values: &[String]) -> impl Iterator<Item = String> {
    values.iter().map(move |v| format!("--{flag}={v}"))
}

/// Who and what the pod is: the environment `init` and `agent` share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIdentity {
    pub cluster_name: String,
    pub flavor: ServerFlavor,
    pub version: ServerVersion,
    pub server_id_offset: i32,
}

impl PodIdentity {
    pub fn env(&self) -> Vec<EnvVar> {
        vec![
            field(env::MY_NAMESPACE, "metadata.namespace"),
            field(env::MY_POD_NAME, "metadata.name"),
            value(env::MY_CLUSTER_NAME, self.cluster_name.clone()),
            value(env::MY_FLAVOR, self.flavor.as_str()),
            value(env::MY_MYSQL_VERSION, self.version.to_string()),
            value(env::MY_SERVER_ID_OFFSET, self.server_id_offset.to_string()),
        ]
    }
}

/// The `init` container: fills the data dir and writes mysqld's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitContainer {
    pub identity: PodIdentity,
    pub init_bucket_url: Option<String>,
    /// `spec.initBucketSecretName`: S3 credentials (`AWS_*`, `S3_ENDPOINT`) as env.
    pub init_bucket_secret: Option<String>,
    /// `spec.secretName`: the user's Secret.
    pub user_secret: String,
    /// `<c>-mysql-operated`.
    pub operated_secret: String,
    pub xbstream_extra_args: Vec<String>,
    pub prepare_extra_args: Vec<String>,
}

impl InitContainer {
    pub fn command(&self) -> Vec<String> {
        vec![crate::statefulset::OPERATOR_BINARY.into()]
    }

    pub fn args(&self) -> Vec<String> {
        std::iter::once(INIT_SUBCOMMAND.to_string())
            .chain(repeated(
                flag::XBSTREAM_EXTRA_ARG,
                &self.xbstream_extra_args,
            ))
            .chain(repeated(
                flag::XTRABACKUP_PREPARE_EXTRA_ARG,
                &self.prepare_extra_args,
            ))
            .collect()
    }

    pub fn env(&self) -> Vec<EnvVar> {
        let mut v = self.identity.env();
        if let Some(url) = &self.init_bucket_url {
            v.push(value(env::INIT_BUCKET_URL, url.clone()));
        }
        let s = &self.user_secret;
        v.push(secret_key(
            env::MYSQL_ROOT_PASSWORD,
            s,
            secret::USER_ROOT_PASSWORD,
            false,
        ));
        v.push(secret_key(env::MYSQL_USER, s, secret::USER_USER, true));
        v.push(secret_key(
            env::MYSQL_PASSWORD,
            s,
            secret::USER_PASSWORD,
            true,
        ));
        v.push(secret_key(
            env::MYSQL_DATABASE,
            s,
            secret::USER_DATABASE,
            true,
        ));
        v
    }

    pub fn env_from(&self) -> Vec<EnvFromSource> {
        let mut v = Vec::new();
        if let Some(s) = &self.init_bucket_secret {
            v.push(all_of_secret(s));
        }
        v.push(all_of_secret(&self.operated_secret));
        v
    }
}

/// The `agent` sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentContainer {
    pub identity: PodIdentity,
    pub operated_secret: String,
    pub xtrabackup_extra_args: Vec<String>,
    pub scratch_dir: Option<String>,
}

impl AgentContainer {
    pub fn command(&self) -> Vec<String> {
        vec![crate::statefulset::OPERATOR_BINARY.into()]
    }

    pub fn args(&self) -> Vec<String> {
        let mut a = vec![AGENT_SUBCOMMAND.to_string()];
        a.extend(repeated(
            flag::XTRABACKUP_EXTRA_ARG,
            &self.xtrabackup_extra_args,
        ));
        if let Some(d) = &self.scratch_dir {
            a.push(format!("--{}={d}", flag::SCRATCH_DIR));
        }
        a
    }

    pub fn env(&self) -> Vec<EnvVar> {
        self.identity.env()
    }

    pub fn env_from(&self) -> Vec<EnvFromSource> {
        vec![all_of_secret(&self.operated_secret)]
    }
}

/// How long the `mysql` container's preStop hook keeps a writable primary with connected
/// replicas running while the operator switches over (the pod's default 30 s grace
/// period leaves the server 10 s to shut down cleanly afterwards).
pub const PRE_STOP_WAIT_SECS: u32 = 20;

/// The `mysql` container: the server with the config `init` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MysqlContainer {
    pub flavor: ServerFlavor,
}

impl MysqlContainer {
    pub fn command(&self) -> Vec<String> {
        vec![
            self.flavor.server_program().into(),
            format!("--defaults-file={}", path::MY_CNF),
        ]
    }

    /// The default preStop hook (when `podSpec.mysqlLifecycle` is unset): while this server
    /// is writable and a replica streams its binlog, wait (at most
    /// [`PRE_STOP_WAIT_SECS`]) — the operator sees the pod's deletion and switches over
    /// first, making this server read-only, which ends the wait. A replica, a lone primary
    /// or a server that does not answer stops at once. Only `sh` and the server image's
    /// own client are used, so any MySQL/MariaDB image works.
    pub fn pre_stop_command(&self) -> Vec<String> {
        let client = self.flavor.client_program();
        let conf = path::CLIENT_CONF;
        let query = "SELECT @@global.read_only = 0 AND EXISTS (SELECT 1 FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%')";
        vec![
            "sh".into(),
            "-c".into(),
            format!(
                "i=0; while [ $i -lt {PRE_STOP_WAIT_SECS} ]; do \
                 w=$({client} --defaults-file={conf} --connect-timeout=2 -NBe \"{query}\" 2>/dev/null) || exit 0; \
                 [ \"$w\" = 1 ] || exit 0; i=$((i+1)); sleep 1; done"
            ),
        ]
    }

    /// The liveness probe: ping with the operator account of `client.conf`.
    pub fn liveness_command(&self) -> Vec<String> {
        vec![
            self.flavor.admin_program().into(),
            format!("--defaults-file={}", path::CLIENT_CONF),
            "ping".into(),
        ]
    }
}

/// The command that initialises an empty data dir for `flavor`, run by `init` from the
/// tools image with the config it wrote (so page size, case sensitivity and the like
/// match what mysqld starts with). `user` is the `--user` mysqld needs when run as root
/// (tests); in the pod (UID 999) it is `None`.
pub fn initialize_command(
    flavor: ServerFlavor,
    defaults_file: &str,
    datadir: &str,
    user: Option<&str>,
) -> Vec<String> {
    let mut c = match flavor {
        ServerFlavor::Mariadb => vec![
            "mariadb-install-db".to_string(),
            format!("--defaults-file={defaults_file}"),
            format!("--datadir={datadir}"),
            "--skip-test-db".to_string(),
        ],
        ServerFlavor::Mysql | ServerFlavor::Percona => vec![
            "mysqld".to_string(),
            format!("--defaults-file={defaults_file}"),
            "--initialize-insecure".to_string(),
            format!("--datadir={datadir}"),
        ],
    };
    if let Some(u) = user {
        c.push(format!("--user={u}"));
    }
    c
}

/// The `read-only` lines of the per-pod config: every server starts read-only. Not
/// `super-read-only` on MySQL: the init-file runs in a privileged session at startup and
/// must still write (accounts, `sys_operator`); the operator's fencing sets
/// `super_read_only` where it needs it, and the promotion clears both.
pub fn read_only_options(flavor: ServerFlavor) -> &'static [&'static str] {
    match flavor {
        ServerFlavor::Mariadb | ServerFlavor::Mysql | ServerFlavor::Percona => &["read-only = ON"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> PodIdentity {
        PodIdentity {
            cluster_name: "c".into(),
            flavor: ServerFlavor::Mariadb,
            version: ServerVersion::parse("10.11").unwrap_or(ServerVersion {
                major: 10,
                minor: 11,
                patch: 0,
            }),
            server_id_offset: 200,
        }
    }

    #[test]
    fn paths_are_the_mount_points_plus_keys() {
        use crate::names::{CONF_DIR, CONFIG_MAP_DIR, INIT_SQL_KEY, MY_CNF_KEY, PLUGINS_KEY};
        assert_eq!(
            path::MOUNTED_MY_CNF,
            format!("{CONFIG_MAP_DIR}/{MY_CNF_KEY}")
        );
        assert_eq!(
            path::MOUNTED_INIT_SQL,
            format!("{CONFIG_MAP_DIR}/{INIT_SQL_KEY}")
        );
        assert_eq!(
            path::MOUNTED_PLUGINS,
            format!("{CONFIG_MAP_DIR}/{PLUGINS_KEY}")
        );
        assert_eq!(path::MY_CNF, format!("{CONF_DIR}/my.cnf"));
        assert_eq!(path::INIT_SQL, format!("{CONF_DIR}/init.sql"));
        assert!(path::CLIENT_CONF.starts_with(CONF_DIR));
        assert_eq!(crate::mycnf::CONF_D_PATH, format!("{CONF_DIR}/conf.d"));
    }

    #[test]
    fn init_args_and_env() {
        let c = InitContainer {
            identity: identity(),
            init_bucket_url: Some("s3://b/x.xbackup.gz".into()),
            init_bucket_secret: Some("creds".into()),
            user_secret: "user".into(),
            operated_secret: "c-mysql-operated".into(),
            xbstream_extra_args: vec!["--parallel=2".into()],
            prepare_extra_args: vec!["--use-memory=1G".into(), "-v".into()],
        };
        assert_eq!(
            c.args(),
            [
                "init",
                "--xbstream-extra-arg=--parallel=2",
                "--xtrabackup-prepare-extra-arg=--use-memory=1G",
                "--xtrabackup-prepare-extra-arg=-v"
            ]
        );
        let env = c.env();
        let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "MY_NAMESPACE",
                "MY_POD_NAME",
                "MY_CLUSTER_NAME",
                "MY_FLAVOR",
                "MY_MYSQL_VERSION",
                "MY_SERVER_ID_OFFSET",
                "INIT_BUCKET_URL",
                "MYSQL_ROOT_PASSWORD",
                "MYSQL_USER",
                "MYSQL_PASSWORD",
                "MYSQL_DATABASE"
            ]
        );
        let version = env.iter().find(|e| e.name == env::MY_MYSQL_VERSION);
        assert_eq!(version.and_then(|e| e.value.as_deref()), Some("10.11.0"));
        assert_eq!(c.env_from().len(), 2);
    }

    #[test]
    fn mysql_command_per_flavor() {
        assert_eq!(
            MysqlContainer {
                flavor: ServerFlavor::Mariadb
            }
            .command(),
            ["mariadbd", "--defaults-file=/etc/mysql/my.cnf"]
        );
        assert_eq!(
            MysqlContainer {
                flavor: ServerFlavor::Percona
            }
            .command()[0],
            "mysqld"
        );
        assert_eq!(
            initialize_command(ServerFlavor::Mysql, "/e/my.cnf", "/d", None),
            [
                "mysqld",
                "--defaults-file=/e/my.cnf",
                "--initialize-insecure",
                "--datadir=/d"
            ]
        );
        assert_eq!(read_only_options(ServerFlavor::Mariadb).len(), 1);
    }
}
