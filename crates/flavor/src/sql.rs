//! The replication SQL that differs between MySQL 8.0/8.4 and MariaDB 10.6+: pointing a
//! replica at a source, starting/stopping threads, read-only fencing, semi-sync, GTID
//! queries and waits. Pure string generation, so it is unit-tested for both families.

use crate::gtid::GtidFormat;

/// A server family and the version range that decides its syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// MySQL (or Percona Server) 8.0.23+ / 8.4: `REPLICA`/`SOURCE` syntax and plugin names.
    Mysql,
    /// MariaDB 10.6+: `SLAVE`/`MASTER` syntax, GTID domains, built-in semi-sync.
    Mariadb,
}

/// A quoting failure: SQL generation refuses values it cannot quote safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} contains a character that cannot be used in a replication setting: {value:?}")]
pub struct SqlValueError {
    pub field: &'static str,
    pub value: String,
}

/// Quote a string literal for MySQL/MariaDB (no backslash or NUL games: refused).
pub fn quote(field: &'static str, value: &str) -> Result<String, SqlValueError> {
    if value.contains(['\\', '\0', '\n', '\r']) {
        return Err(SqlValueError {
            field,
            value: value.to_string(),
        });
    }
    Ok(format!("'{}'", value.replace('\'', "''")))
}

/// Where a replica should replicate from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub password: &'a str,
    /// Seconds between reconnect attempts of the IO thread.
    pub connect_retry_secs: u32,
    /// Seconds without data after which the IO thread reconnects.
    pub heartbeat_period_secs: f32,
}

/// Semi-sync settings of the writable node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemiSync {
    /// How many replica acks a commit waits for (MySQL only; MariaDB always waits for one).
    pub wait_for_acks: u32,
    /// How long a commit waits before the source silently degrades to async. Keep it long:
    /// a degrade is exactly the window in which acknowledged writes can be lost.
    pub timeout_ms: u64,
}

impl Flavor {
    pub fn gtid_format(self) -> GtidFormat {
        match self {
            Flavor::Mysql => GtidFormat::Mysql,
            Flavor::Mariadb => GtidFormat::Mariadb,
        }
    }

    /// Guess the family from `SELECT VERSION()`.
    pub fn from_version(version: &str) -> Flavor {
        if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::Mariadb
        } else {
            Flavor::Mysql
        }
    }

    /// Point this server at a source with GTID auto-positioning.
    pub fn change_source(self, s: &SourceSpec<'_>) -> Result<String, SqlValueError> {
        let host = quote("source host", s.host)?;
        let user = quote("replication user", s.user)?;
        let pass = quote("replication password", s.password)?;
        Ok(match self {
            Flavor::Mysql => format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST={host}, SOURCE_PORT={}, SOURCE_USER={user}, \
                 SOURCE_PASSWORD={pass}, SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY={}, \
                 SOURCE_HEARTBEAT_PERIOD={}, GET_SOURCE_PUBLIC_KEY=1",
                s.port, s.connect_retry_secs, s.heartbeat_period_secs
            ),
            Flavor::Mariadb => format!(
                "CHANGE MASTER TO MASTER_HOST={host}, MASTER_PORT={}, MASTER_USER={user}, \
                 MASTER_PASSWORD={pass}, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY={}, \
                 MASTER_HEARTBEAT_PERIOD={}",
                s.port, s.connect_retry_secs, s.heartbeat_period_secs
            ),
        })
    }

    pub fn start_replica(self) -> &'static str {
        match self {
            Flavor::Mysql => "START REPLICA",
            Flavor::Mariadb => "START SLAVE",
        }
    }

    pub fn stop_replica(self) -> &'static str {
        match self {
            Flavor::Mysql => "STOP REPLICA",
            Flavor::Mariadb => "STOP SLAVE",
        }
    }

    /// Stop only the receiver: the fencing step (no more acks for the old primary) that
    /// still lets the applier drain the relay log.
    pub fn stop_io_thread(self) -> &'static str {
        match self {
            Flavor::Mysql => "STOP REPLICA IO_THREAD",
            Flavor::Mariadb => "STOP SLAVE IO_THREAD",
        }
    }

    /// Forget the replication source entirely (on promotion).
    pub fn reset_replica_all(self) -> &'static str {
        match self {
            Flavor::Mysql => "RESET REPLICA ALL",
            Flavor::Mariadb => "RESET SLAVE ALL",
        }
    }

    pub fn show_replica_status(self) -> &'static str {
        match self {
            Flavor::Mysql => "SHOW REPLICA STATUS",
            Flavor::Mariadb => "SHOW SLAVE STATUS",
        }
    }

    /// Column names in the replica status row: (source host, source port, IO running,
    /// SQL running, last IO error, last SQL error, seconds behind, retrieved GTIDs).
    pub fn status_columns(self) -> ReplicaStatusColumns {
        match self {
            Flavor::Mysql => ReplicaStatusColumns {
                source_host: "Source_Host",
                source_port: "Source_Port",
                io_running: "Replica_IO_Running",
                sql_running: "Replica_SQL_Running",
                last_io_error: "Last_IO_Error",
                last_sql_error: "Last_SQL_Error",
                seconds_behind: "Seconds_Behind_Source",
                retrieved: "Retrieved_Gtid_Set",
            },
            Flavor::Mariadb => ReplicaStatusColumns {
                source_host: "Master_Host",
                source_port: "Master_Port",
                io_running: "Slave_IO_Running",
                sql_running: "Slave_SQL_Running",
                last_io_error: "Last_IO_Error",
                last_sql_error: "Last_SQL_Error",
                seconds_behind: "Seconds_Behind_Master",
                retrieved: "Gtid_IO_Pos",
            },
        }
    }

    /// The query returning the set of transactions this server has (as one string).
    /// MariaDB: `gtid_binlog_state` keeps every `(domain, server)` pair, which errant
    /// detection needs; `gtid_binlog_pos` keeps only the last per domain.
    pub fn select_gtid_executed(self) -> &'static str {
        match self {
            Flavor::Mysql => "SELECT @@GLOBAL.gtid_executed",
            Flavor::Mariadb => "SELECT @@GLOBAL.gtid_binlog_state",
        }
    }

    /// `(read_only, super_read_only)` as two integers. MariaDB has no `super_read_only`;
    /// `read_only` blocks every account without `READ ONLY ADMIN` (10.11: not part of
    /// `SUPER` any more), so the second column repeats the first.
    pub fn select_read_only(self) -> &'static str {
        match self {
            Flavor::Mysql => "SELECT @@GLOBAL.read_only, @@GLOBAL.super_read_only",
            Flavor::Mariadb => "SELECT @@GLOBAL.read_only, @@GLOBAL.read_only",
        }
    }

    /// Make the server refuse writes (fencing, replicas).
    pub fn set_read_only(self) -> &'static str {
        match self {
            Flavor::Mysql => "SET GLOBAL super_read_only=ON",
            Flavor::Mariadb => "SET GLOBAL read_only=ON",
        }
    }

    /// Make the server accept writes (promotion).
    pub fn set_writable(self) -> &'static str {
        match self {
            // turning read_only off also turns super_read_only off
            Flavor::Mysql => "SET GLOBAL read_only=OFF",
            Flavor::Mariadb => "SET GLOBAL read_only=OFF",
        }
    }

    /// Block until the server has applied `position` or `timeout_secs` pass. The query
    /// returns 0 on success (MySQL: 0, MariaDB: 0) and non-zero on timeout.
    pub fn wait_for_gtid(self, position: &str, timeout_secs: u32) -> Result<String, SqlValueError> {
        let p = quote("GTID position", position)?;
        Ok(match self {
            Flavor::Mysql => format!("SELECT WAIT_FOR_EXECUTED_GTID_SET({p}, {timeout_secs})"),
            Flavor::Mariadb => format!("SELECT MASTER_GTID_WAIT({p}, {timeout_secs})"),
        })
    }

    /// Statements that make a writable node a lossless semi-sync source.
    pub fn enable_semi_sync_source(self, s: SemiSync) -> Vec<String> {
        match self {
            Flavor::Mysql => vec![
                "INSTALL PLUGIN rpl_semi_sync_source SONAME 'semisync_source.so'".into(),
                format!(
                    "SET GLOBAL rpl_semi_sync_source_wait_for_replica_count={}",
                    s.wait_for_acks.max(1)
                ),
                "SET GLOBAL rpl_semi_sync_source_wait_point='AFTER_SYNC'".into(),
                format!("SET GLOBAL rpl_semi_sync_source_timeout={}", s.timeout_ms),
                "SET GLOBAL rpl_semi_sync_source_enabled=ON".into(),
            ],
            Flavor::Mariadb => vec![
                "SET GLOBAL rpl_semi_sync_master_wait_point='AFTER_SYNC'".into(),
                format!("SET GLOBAL rpl_semi_sync_master_timeout={}", s.timeout_ms),
                "SET GLOBAL rpl_semi_sync_master_enabled=ON".into(),
            ],
        }
    }

    /// Statements that switch semi-sync off on a source (the documented opt-out, and a
    /// node that becomes a replica).
    pub fn disable_semi_sync_source(self) -> Vec<String> {
        match self {
            Flavor::Mysql => vec!["SET GLOBAL rpl_semi_sync_source_enabled=OFF".into()],
            Flavor::Mariadb => vec!["SET GLOBAL rpl_semi_sync_master_enabled=OFF".into()],
        }
    }

    /// Statements that make a replica send semi-sync acks (takes effect when the IO
    /// thread (re)starts).
    pub fn enable_semi_sync_replica(self) -> Vec<String> {
        match self {
            Flavor::Mysql => vec![
                "INSTALL PLUGIN rpl_semi_sync_replica SONAME 'semisync_replica.so'".into(),
                "SET GLOBAL rpl_semi_sync_replica_enabled=ON".into(),
            ],
            Flavor::Mariadb => vec!["SET GLOBAL rpl_semi_sync_slave_enabled=ON".into()],
        }
    }

    /// Error codes that mean "already done" for the idempotent executor (plugin already
    /// installed, replica already stopped/started).
    pub fn harmless_error_codes(self) -> &'static [u16] {
        // 1125: function/plugin exists; 1968 plugin installed (MySQL); 1199/1200/1254/1255
        // replica not running / already running; 3084/3085 MySQL equivalents.
        &[1125, 1968, 1199, 1200, 1254, 1255, 3084, 3085, 1590]
    }

    /// Client connections to kill at a switchover: everything except replication
    /// threads, system users and our own session.
    pub fn select_client_connections(self, keep_users: &[&str]) -> Result<String, SqlValueError> {
        let mut keep = vec!["'system user'".to_string(), "'event_scheduler'".to_string()];
        for u in keep_users {
            keep.push(quote("user name", u)?);
        }
        Ok(format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
             AND USER NOT IN ({}) AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon')",
            keep.join(", ")
        ))
    }
}

/// Column names of the replica status row for one flavor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaStatusColumns {
    pub source_host: &'static str,
    pub source_port: &'static str,
    pub io_running: &'static str,
    pub sql_running: &'static str,
    pub last_io_error: &'static str,
    pub last_sql_error: &'static str,
    pub seconds_behind: &'static str,
    pub retrieved: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SourceSpec<'static> {
        SourceSpec {
            host: "db-0.mysql",
            port: 3306,
            user: "repl",
            password: "p'w",
            connect_retry_secs: 1,
            heartbeat_period_secs: 0.5,
        }
    }

    #[test]
    fn change_source_mysql_uses_auto_position() {
        let sql = Flavor::Mysql.change_source(&spec()).unwrap();
        assert!(sql.starts_with(
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db-0.mysql', SOURCE_PORT=3306"
        ));
        assert!(sql.contains("SOURCE_AUTO_POSITION=1"));
        assert!(sql.contains("SOURCE_PASSWORD='p''w'"));
    }

    #[test]
    fn change_source_mariadb_uses_slave_pos() {
        let sql = Flavor::Mariadb.change_source(&spec()).unwrap();
        assert!(sql.starts_with("CHANGE MASTER TO MASTER_HOST='db-0.mysql', MASTER_PORT=3306"));
        assert!(sql.contains("MASTER_USE_GTID=slave_pos"));
        assert!(sql.contains("MASTER_CONNECT_RETRY=1"));
    }

    #[test]
    fn unquotable_values_are_refused_with_the_field_name() {
        let mut s = spec();
        s.password = "a\\b";
        let e = Flavor::Mariadb.change_source(&s).unwrap_err();
        assert_eq!(e.field, "replication password");
    }

    #[test]
    fn thread_control_differs() {
        assert_eq!(Flavor::Mysql.stop_io_thread(), "STOP REPLICA IO_THREAD");
        assert_eq!(Flavor::Mariadb.stop_io_thread(), "STOP SLAVE IO_THREAD");
        assert_eq!(Flavor::Mariadb.reset_replica_all(), "RESET SLAVE ALL");
        assert_eq!(
            Flavor::Mysql.status_columns().retrieved,
            "Retrieved_Gtid_Set"
        );
        assert_eq!(Flavor::Mariadb.status_columns().retrieved, "Gtid_IO_Pos");
    }

    #[test]
    fn read_only_semantics() {
        assert_eq!(
            Flavor::Mysql.set_read_only(),
            "SET GLOBAL super_read_only=ON"
        );
        assert_eq!(Flavor::Mariadb.set_read_only(), "SET GLOBAL read_only=ON");
        assert!(
            Flavor::Mariadb
                .select_read_only()
                .matches("read_only")
                .count()
                == 2
        );
    }

    #[test]
    fn semi_sync_is_lossless_for_both() {
        let s = SemiSync {
            wait_for_acks: 2,
            timeout_ms: 86_400_000,
        };
        let my = Flavor::Mysql.enable_semi_sync_source(s).join(";");
        assert!(my.contains("rpl_semi_sync_source_wait_for_replica_count=2"));
        assert!(my.contains("AFTER_SYNC"));
        assert!(my.contains("rpl_semi_sync_source_timeout=86400000"));
        let ma = Flavor::Mariadb.enable_semi_sync_source(s).join(";");
        assert!(ma.contains("rpl_semi_sync_master_wait_point='AFTER_SYNC'"));
        assert!(
            !ma.contains("wait_for"),
            "MariaDB has no ack count variable"
        );
        assert!(
            Flavor::Mariadb.enable_semi_sync_replica()[0].contains("rpl_semi_sync_slave_enabled")
        );
    }

    #[test]
    fn gtid_wait_and_queries() {
        assert_eq!(
            Flavor::Mariadb.wait_for_gtid("0-1-5", 3).unwrap(),
            "SELECT MASTER_GTID_WAIT('0-1-5', 3)"
        );
        assert!(
            Flavor::Mysql
                .wait_for_gtid("u:1-5", 3)
                .unwrap()
                .starts_with("SELECT WAIT_FOR_EXECUTED_GTID_SET")
        );
        assert!(
            Flavor::Mariadb
                .select_gtid_executed()
                .contains("gtid_binlog_state")
        );
        assert_eq!(
            Flavor::from_version("10.11.6-MariaDB-0+deb12u1"),
            Flavor::Mariadb
        );
        assert_eq!(Flavor::from_version("8.0.36"), Flavor::Mysql);
    }

    #[test]
    fn client_connection_query_keeps_named_users() {
        let q = Flavor::Mariadb
            .select_client_connections(&["repl", "operator"])
            .unwrap();
        assert!(q.contains("'repl', 'operator'"));
        assert!(q.contains("Binlog Dump"));
    }
}
