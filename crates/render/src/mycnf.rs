//! The `my.cnf` every pod of a cluster starts from: presslabs' defaults per server flavor
//! and version, sizes computed from the pod's memory and volume as presslabs computed
//! them, then the user's `mysqlConf` on top (sizes converted, see [`crate::conf_value`]).
//!
//! Output is sorted and byte-stable so the config hash only changes when the config does.

use std::collections::BTreeMap;

use crate::RenderError;
use crate::conf_value::{mysqld_value, normalize_name};
use crate::quantity::Bytes;

/// Where `mysqld` finds per-pod settings (server-id, report-host, init-file) written by the
/// init container; included last so those win.
pub const CONF_D_PATH: &str = "/etc/mysql/conf.d";
/// The binary log base name presslabs used; kept so adopted data directories match.
pub const LOG_BIN_PATH: &str = "/var/lib/mysql/mysql-bin";

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// Which server family the config is for; the option names differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerFlavor {
    /// Oracle MySQL community server.
    Mysql,
    /// Percona Server for MySQL (presslabs' default images).
    Percona,
    /// MariaDB server.
    Mariadb,
}

impl ServerFlavor {
    /// Lower-case name as used in the API (`mysql`, `percona`, `mariadb`).
    pub fn as_str(self) -> &'static str {
        match self {
            ServerFlavor::Mysql => "mysql",
            ServerFlavor::Percona => "percona",
            ServerFlavor::Mariadb => "mariadb",
        }
    }

    /// Every flavor, for parsers and their error messages.
    pub const ALL: [ServerFlavor; 3] = [
        ServerFlavor::Mysql,
        ServerFlavor::Percona,
        ServerFlavor::Mariadb,
    ];

    /// The server program the `mysql` container runs.
    pub fn server_program(self) -> &'static str {
        match self {
            ServerFlavor::Mariadb => "mariadbd",
            ServerFlavor::Mysql | ServerFlavor::Percona => "mysqld",
        }
    }

    /// The command-line client (the `mysql` container's preStop hook).
    pub fn client_program(self) -> &'static str {
        match self {
            ServerFlavor::Mariadb => "mariadb",
            ServerFlavor::Mysql | ServerFlavor::Percona => "mysql",
        }
    }

    /// The admin client the liveness probe runs (`… ping`).
    pub fn admin_program(self) -> &'static str {
        match self {
            ServerFlavor::Mariadb => "mariadb-admin",
            ServerFlavor::Mysql | ServerFlavor::Percona => "mysqladmin",
        }
    }
}

impl std::fmt::Display for ServerFlavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A flavor name that is none of `mysql`, `percona`, `mariadb`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown server flavor `{0}`: use mysql, percona or mariadb")]
pub struct UnknownFlavor(pub String);

impl std::str::FromStr for ServerFlavor {
    type Err = UnknownFlavor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServerFlavor::ALL
            .into_iter()
            .find(|f| f.as_str() == s.trim())
            .ok_or_else(|| UnknownFlavor(s.to_string()))
    }
}

/// A server version, enough of it to pick option names (`8.0.20`, `5.7`, `10.11.6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    /// Parses `X`, `X.Y` or `X.Y.Z` with optional trailing text after a `-`
    /// (`8.0.20-11`); `None` when the leading part is not numeric.
    pub fn parse(s: &str) -> Option<ServerVersion> {
        let core = s.trim().split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(ServerVersion {
            major,
            minor,
            patch,
        })
    }

    fn at_least(self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl std::fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Everything `my.cnf` depends on; built by [`crate::cluster`] from a `MysqlCluster`.
#[derive(Debug, Clone)]
pub struct MyCnfInput {
    pub flavor: ServerFlavor,
    pub version: ServerVersion,
    /// Memory the `mysql` container is guaranteed: its request, else its limit.
    pub memory: Option<Bytes>,
    /// Storage requested by the data volume claim, when the data lives on a PVC.
    pub storage: Option<Bytes>,
    /// `spec.mysqlConf` with every value as text, in the user's spelling.
    pub user_conf: BTreeMap<String, String>,
}

/// One line of `[mysqld]`: the option as written, and its value (`None` for a flag).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    value: Option<String>,
}

/// The `[mysqld]` options in effect, keyed by normalised name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqldOptions {
    entries: BTreeMap<String, Entry>,
}

impl MysqldOptions {
    fn set(&mut self, name: &str, value: &str) {
        self.entries.insert(
            normalize_name(name),
            Entry {
                name: name.to_string(),
                value: Some(value.to_string()),
            },
        );
    }

    fn flag(&mut self, name: &str) {
        self.entries.insert(
            normalize_name(name),
            Entry {
                name: name.to_string(),
                value: None,
            },
        );
    }

    /// The value of an option by any spelling (`Some("")` for a flag).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .get(&normalize_name(name))
            .map(|e| e.value.as_deref().unwrap_or(""))
    }

    /// The `my.cnf` text: `[mysqld]`, options sorted by name, flags last, then the
    /// `!includedir` for per-pod files.
    pub fn to_my_cnf(&self) -> String {
        let mut out = String::from("[mysqld]\n");
        for entry in self.entries.values().filter(|e| e.value.is_some()) {
            out.push_str(&format!(
                "{} = {}\n",
                entry.name,
                entry.value.as_deref().unwrap_or("")
            ));
        }
        for entry in self.entries.values().filter(|e| e.value.is_none()) {
            out.push_str(&entry.name);
            out.push('\n');
        }
        out.push_str(&format!("\n!includedir {CONF_D_PATH}\n"));
        out
    }
}

/// Presslabs: below 1 GiB a fixed 128 MiB, up to 4 GiB half the memory, above that 3/4.
pub fn innodb_buffer_pool_size(memory: Bytes) -> Bytes {
    let m = memory.0;
    Bytes(if m < GIB {
        128 * MIB
    } else if m <= 4 * GIB {
        m / 2
    } else {
        m / 4 * 3 + (m % 4) * 3 / 4
    })
}

/// Presslabs' redo log size steps by memory: 48M, 128M, 512M, 1G, 2G.
pub fn innodb_log_file_size(memory: Bytes) -> Bytes {
    let m = memory.0;
    Bytes(if m < GIB {
        48 * MIB
    } else if m <= 4 * GIB {
        128 * MIB
    } else if m <= 8 * GIB {
        512 * MIB
    } else if m <= 16 * GIB {
        GIB
    } else {
        2 * GIB
    })
}

/// Presslabs' binary log budget from the volume: `(binlog space limit, max binlog size)`.
/// Half the volume (a third below 2 GiB), files of a quarter (a third) of that, at most 1 GiB.
pub fn binlog_limits(storage: Bytes) -> (Bytes, Bytes) {
    let space = storage.0;
    let (limit, max) = if space < 2 * GIB {
        let limit = space / 3;
        (limit, (limit / 3).min(GIB))
    } else {
        let limit = space / 2;
        (limit, (limit / 4).min(GIB))
    };
    (Bytes(limit), Bytes(max))
}

const SQL_MODE_5: &str = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,NO_ZERO_IN_DATE,ONLY_FULL_GROUP_BY";
const SQL_MODE_8: &str = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,NO_ZERO_IN_DATE,ONLY_FULL_GROUP_BY";

/// The operator's defaults before any user setting: presslabs' common set plus the
/// flavor- and version-specific names.
pub fn default_options(flavor: ServerFlavor, version: ServerVersion) -> MysqldOptions {
    let mut o = MysqldOptions::default();
    let mysql84 = flavor != ServerFlavor::Mariadb && version.at_least(8, 4);

    o.set("log-bin", LOG_BIN_PATH);
    if mysql84 {
        o.set("log-replica-updates", "on");
        o.set("skip-replica-start", "on");
    } else {
        o.set("log-slave-updates", "on");
        o.set("skip-slave-start", "on");
    }
    o.set("relay-log-recovery", "on");
    o.set("default-storage-engine", "InnoDB");
    o.set("key-buffer-size", "32M");
    o.set("myisam-recover-options", "FORCE,BACKUP");
    o.set("max-allowed-packet", "16M");
    o.set("max-connect-errors", "1000000");
    o.set("sysdate-is-now", "1");
    o.set("sync-binlog", "1");
    o.set("binlog-format", "ROW");
    o.set("tmp-table-size", "32M");
    o.set("max-heap-table-size", "32M");
    o.set("max-connections", "500");
    o.set("thread-cache-size", "50");
    o.set("open-files-limit", "65535");
    o.set("table-definition-cache", "4096");
    o.set("table-open-cache", "4096");
    o.set("innodb-flush-method", "O_DIRECT");
    o.set("innodb-flush-log-at-trx-commit", "2");
    o.set("innodb-file-per-table", "1");
    o.set("character-set-server", "utf8mb4");
    o.set("collation-server", "utf8mb4_unicode_ci");
    o.flag("skip-name-resolve");

    match flavor {
        ServerFlavor::Mariadb => {
            // GTIDs are always on in MariaDB; no gtid-mode/repository options exist.
            o.set("sql-mode", SQL_MODE_8);
            o.set("expire-logs-days", "14");
            o.set("query-cache-type", "0");
            o.set("query-cache-size", "0");
            o.flag("skip-host-cache");
            // Every server starts as a semi-sync replica: on crash recovery MariaDB then
            // truncates binlog transactions that were never committed in InnoDB (MDEV-21117)
            // — the one a crashed primary was waiting to have acknowledged — so the old
            // primary rejoins without errant GTIDs instead of needing a re-clone.
            o.set("rpl-semi-sync-slave-enabled", "ON");
        }
        ServerFlavor::Mysql | ServerFlavor::Percona => {
            o.set("gtid-mode", "on");
            o.set("enforce-gtid-consistency", "on");
            if mysql84 {
                o.set("host-cache-size", "0");
                o.set("plugin-load-add", "rpl_semi_sync_source=semisync_source.so;rpl_semi_sync_replica=semisync_replica.so");
            } else {
                o.set("relay-log-info-repository", "TABLE");
                o.set("master-info-repository", "TABLE");
                o.set("innodb-log-files-in-group", "2");
                o.set(
                    "plugin-load-add",
                    "rpl_semi_sync_master=semisync_master.so;rpl_semi_sync_slave=semisync_slave.so",
                );
                o.flag("skip-host-cache");
            }
            if version.major >= 8 {
                o.set("sql-mode", SQL_MODE_8);
                o.set("binlog-expire-logs-seconds", "1209600");
                if !mysql84 {
                    o.set("default-authentication-plugin", "mysql_native_password");
                }
            } else {
                o.set("sql-mode", SQL_MODE_5);
                o.set("query-cache-type", "0");
                o.set("query-cache-size", "0");
                o.set("expire-logs-days", "14");
            }
        }
    }
    o
}

/// The option that caps total binary log size, where the server has one.
fn binlog_space_option(flavor: ServerFlavor, version: ServerVersion) -> Option<&'static str> {
    match flavor {
        ServerFlavor::Percona => Some("binlog-space-limit"),
        ServerFlavor::Mariadb if version.at_least(11, 4) => Some("max-binlog-total-size"),
        _ => None,
    }
}

/// Rejects names and values that would break out of their `my.cnf` line.
fn check_user_entry(name: &str, value: &str) -> Result<(), RenderError> {
    let field = format!("spec.mysqlConf.{name}");
    let bad_name = name.trim().is_empty()
        || name.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '=' | '[' | ']' | '#' | ';' | '!')
        });
    if bad_name {
        return Err(RenderError::Invalid {
            field,
            message: "not a valid option name".into(),
            hint: "use a mysqld option name such as `innodb-buffer-pool-size`".into(),
        });
    }
    if value.chars().any(|c| c == '\n' || c == '\r' || c == '\0') {
        return Err(RenderError::Invalid {
            field,
            message: "the value spans several lines".into(),
            hint: "write the value on one line".into(),
        });
    }
    Ok(())
}

/// All `[mysqld]` options for a cluster: defaults, computed sizes unless the user set
/// them, then the user's settings (sizes converted for `mysqld`).
pub fn mysqld_options(input: &MyCnfInput) -> Result<MysqldOptions, RenderError> {
    let mut o = default_options(input.flavor, input.version);
    let user_has = |name: &str| {
        input
            .user_conf
            .keys()
            .any(|k| normalize_name(k) == normalize_name(name))
    };

    let mut computed: Vec<(&str, String)> = Vec::new();
    if let Some(mem) = input.memory {
        computed.push((
            "innodb-buffer-pool-size",
            innodb_buffer_pool_size(mem).humanize_presslabs(),
        ));
        computed.push((
            "innodb-log-file-size",
            innodb_log_file_size(mem).humanize_presslabs(),
        ));
    }
    if let Some(space) = input.storage {
        let (limit, max) = binlog_limits(space);
        computed.push(("max-binlog-size", max.humanize_presslabs()));
        if let Some(opt) = binlog_space_option(input.flavor, input.version) {
            computed.push((opt, limit.humanize_presslabs()));
        }
    }
    for (name, value) in computed {
        if !user_has(name) {
            o.set(name, &value);
        }
    }

    for (name, raw) in &input.user_conf {
        check_user_entry(name, raw)?;
        let value = mysqld_value(name, raw).map_err(|e| RenderError::Invalid {
            field: format!("spec.mysqlConf.{name}"),
            message: e.to_string(),
            hint: "sizes are Kubernetes quantities: `6Gi` (1024-based) or `6G` (1000-based), or plain bytes".into(),
        })?;
        o.set(name.trim(), &value);
    }
    Ok(o)
}

/// The `my.cnf` text for a cluster.
pub fn render_my_cnf(input: &MyCnfInput) -> Result<String, RenderError> {
    mysqld_options(input).map(|o| o.to_my_cnf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ServerVersion {
        ServerVersion::parse(s).unwrap()
    }

    fn input(flavor: ServerFlavor, version: &str) -> MyCnfInput {
        MyCnfInput {
            flavor,
            version: v(version),
            memory: None,
            storage: None,
            user_conf: BTreeMap::new(),
        }
    }

    #[test]
    fn versions_parse() {
        assert_eq!(
            v("8.0.20"),
            ServerVersion {
                major: 8,
                minor: 0,
                patch: 20
            }
        );
        assert_eq!(
            v("5.7"),
            ServerVersion {
                major: 5,
                minor: 7,
                patch: 0
            }
        );
        assert_eq!(
            v("10.11.6-MariaDB"),
            ServerVersion {
                major: 10,
                minor: 11,
                patch: 6
            }
        );
        assert_eq!(
            v("8"),
            ServerVersion {
                major: 8,
                minor: 0,
                patch: 0
            }
        );
        assert!(ServerVersion::parse("latest").is_none());
        assert!(ServerVersion::parse("1.2.3.4").is_none());
    }

    #[test]
    fn buffer_pool_follows_presslabs_steps() {
        assert_eq!(
            innodb_buffer_pool_size(Bytes(512 * MIB)).humanize_presslabs(),
            "128M"
        );
        assert_eq!(
            innodb_buffer_pool_size(Bytes(2 * GIB)).humanize_presslabs(),
            "1G"
        );
        assert_eq!(
            innodb_buffer_pool_size(Bytes(3 * GIB)).humanize_presslabs(),
            "1G"
        );
        assert_eq!(
            innodb_buffer_pool_size(Bytes(4 * GIB)).humanize_presslabs(),
            "2G"
        );
        assert_eq!(
            innodb_buffer_pool_size(Bytes(16 * GIB)).humanize_presslabs(),
            "12G"
        );
        assert_eq!(innodb_buffer_pool_size(Bytes(16 * GIB)), Bytes(12 * GIB));
        assert_eq!(
            innodb_buffer_pool_size(Bytes(1_000_000_000)).humanize_presslabs(),
            "128M"
        );
    }

    #[test]
    fn log_file_size_follows_presslabs_steps() {
        let cases = [
            (GIB - 1, "48M"),
            (4 * GIB, "128M"),
            (8 * GIB, "512M"),
            (16 * GIB, "1G"),
            (16 * GIB + 1, "2G"),
        ];
        for (mem, want) in cases {
            assert_eq!(
                innodb_log_file_size(Bytes(mem)).humanize_presslabs(),
                want,
                "memory {mem}"
            );
        }
    }

    #[test]
    fn binlog_limits_follow_presslabs() {
        let (limit, max) = binlog_limits(Bytes(20 * GIB));
        assert_eq!(
            (limit.humanize_presslabs(), max.humanize_presslabs()),
            ("10G".into(), "1G".into())
        );
        let (limit, max) = binlog_limits(Bytes(GIB));
        assert_eq!(limit, Bytes(GIB / 3));
        assert_eq!(max, Bytes(GIB / 9));
        let (_, max) = binlog_limits(Bytes(4 * GIB));
        assert_eq!(max.humanize_presslabs(), "512M");
    }

    #[test]
    fn mysql80_defaults_match_presslabs() {
        let o = mysqld_options(&input(ServerFlavor::Percona, "8.0.20")).unwrap();
        assert_eq!(o.get("gtid-mode"), Some("on"));
        assert_eq!(o.get("enforce-gtid-consistency"), Some("on"));
        assert_eq!(o.get("binlog_expire_logs_seconds"), Some("1209600"));
        assert_eq!(
            o.get("default-authentication-plugin"),
            Some("mysql_native_password")
        );
        assert_eq!(o.get("sql-mode"), Some(SQL_MODE_8));
        assert_eq!(o.get("log-bin"), Some(LOG_BIN_PATH));
        assert_eq!(o.get("master-info-repository"), Some("TABLE"));
        assert_eq!(o.get("relay-log-info-repository"), Some("TABLE"));
        assert_eq!(o.get("max-allowed-packet"), Some("16M"));
        assert_eq!(o.get("skip-name-resolve"), Some(""));
        assert_eq!(
            o.get("query-cache-type"),
            None,
            "MySQL 8 has no query cache"
        );
        assert_eq!(o.get("expire-logs-days"), None);
    }

    #[test]
    fn mysql57_defaults_match_presslabs() {
        let o = mysqld_options(&input(ServerFlavor::Percona, "5.7.31")).unwrap();
        assert_eq!(o.get("sql-mode"), Some(SQL_MODE_5));
        assert_eq!(o.get("query-cache-type"), Some("0"));
        assert_eq!(o.get("query-cache-size"), Some("0"));
        assert_eq!(o.get("expire-logs-days"), Some("14"));
        assert_eq!(o.get("default-authentication-plugin"), None);
        assert_eq!(o.get("binlog-expire-logs-seconds"), None);
    }

    #[test]
    fn mariadb_uses_mariadb_names() {
        let o = mysqld_options(&input(ServerFlavor::Mariadb, "10.11.6")).unwrap();
        for absent in [
            "gtid-mode",
            "enforce-gtid-consistency",
            "master-info-repository",
            "relay-log-info-repository",
            "default-authentication-plugin",
            "innodb-log-files-in-group",
            "binlog-expire-logs-seconds",
            "plugin-load-add",
        ] {
            assert_eq!(o.get(absent), None, "{absent} is not a MariaDB option");
        }
        assert_eq!(o.get("expire-logs-days"), Some("14"));
        assert_eq!(o.get("log-slave-updates"), Some("on"));
        assert_eq!(o.get("sql-mode"), Some(SQL_MODE_8));
    }

    #[test]
    fn mysql84_drops_removed_options() {
        let o = mysqld_options(&input(ServerFlavor::Mysql, "8.4.3")).unwrap();
        for absent in [
            "master-info-repository",
            "relay-log-info-repository",
            "default-authentication-plugin",
            "skip-host-cache",
            "log-slave-updates",
            "skip-slave-start",
        ] {
            assert_eq!(o.get(absent), None, "{absent} is gone in 8.4");
        }
        assert_eq!(o.get("skip-replica-start"), Some("on"));
        assert_eq!(o.get("host-cache-size"), Some("0"));
    }

    #[test]
    fn computed_sizes_come_from_memory_and_storage() {
        let mut i = input(ServerFlavor::Percona, "8.0.20");
        i.memory = Some(Bytes(16 * GIB));
        i.storage = Some(Bytes(20 * GIB));
        let o = mysqld_options(&i).unwrap();
        assert_eq!(o.get("innodb-buffer-pool-size"), Some("12G"));
        assert_eq!(o.get("innodb-log-file-size"), Some("1G"));
        assert_eq!(o.get("max-binlog-size"), Some("1G"));
        assert_eq!(o.get("binlog-space-limit"), Some("10G"));

        i.flavor = ServerFlavor::Mysql;
        let o = mysqld_options(&i).unwrap();
        assert_eq!(
            o.get("binlog-space-limit"),
            None,
            "community MySQL has no binlog-space-limit"
        );

        i.flavor = ServerFlavor::Mariadb;
        i.version = v("11.4.2");
        let o = mysqld_options(&i).unwrap();
        assert_eq!(o.get("max-binlog-total-size"), Some("10G"));
    }

    #[test]
    fn user_settings_override_in_any_spelling_and_sizes_convert() {
        let mut i = input(ServerFlavor::Percona, "8.0.20");
        i.memory = Some(Bytes(16 * GIB));
        i.user_conf
            .insert("innodb_buffer_pool_size".into(), "6Gi".into());
        i.user_conf.insert("max-allowed-packet".into(), "1G".into());
        i.user_conf.insert("max-connections".into(), "1000".into());
        let o = mysqld_options(&i).unwrap();
        assert_eq!(o.get("innodb-buffer-pool-size"), Some("6G"));
        assert_eq!(o.get("max-allowed-packet"), Some("1G"));
        assert_eq!(o.get("max-connections"), Some("1000"));
        let text = o.to_my_cnf();
        assert!(text.contains("\ninnodb_buffer_pool_size = 6G\n"), "{text}");
        assert!(
            !text.contains("innodb-buffer-pool-size"),
            "the computed default is replaced: {text}"
        );
    }

    #[test]
    fn text_is_sorted_with_flags_and_includedir_last() {
        let text = render_my_cnf(&input(ServerFlavor::Percona, "8.0.20")).unwrap();
        assert!(text.starts_with("[mysqld]\n"));
        assert!(
            text.ends_with("skip-host-cache\nskip-name-resolve\n\n!includedir /etc/mysql/conf.d\n"),
            "{text}"
        );
        let keys: Vec<String> = text
            .lines()
            .filter(|l| l.contains(" = "))
            .map(|l| normalize_name(l.split(" = ").next().unwrap_or_default()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(
            text,
            render_my_cnf(&input(ServerFlavor::Percona, "8.0.20")).unwrap(),
            "deterministic"
        );
    }

    #[test]
    fn bad_user_entries_name_the_field() {
        let mut i = input(ServerFlavor::Percona, "8.0.20");
        i.user_conf
            .insert("innodb-buffer-pool-size".into(), "lots".into());
        let err = mysqld_options(&i).unwrap_err().to_string();
        assert!(
            err.contains("spec.mysqlConf.innodb-buffer-pool-size"),
            "{err}"
        );

        let mut i = input(ServerFlavor::Percona, "8.0.20");
        i.user_conf
            .insert("init-connect".into(), "x\n[client]\npassword=y".into());
        let err = mysqld_options(&i).unwrap_err().to_string();
        assert!(
            err.contains("spec.mysqlConf.init-connect") && err.contains("one line"),
            "{err}"
        );

        let mut i = input(ServerFlavor::Percona, "8.0.20");
        i.user_conf.insert("a=b".into(), "1".into());
        assert!(mysqld_options(&i).is_err());
    }
}
