//! The operator's own schema on every server — `sys_operator` with its status and
//! heartbeat tables — and the statements that read and write the heartbeat. One
//! definition, used by the init SQL (render), the heartbeat writer and the lag probe
//! (topology), so the table the init script creates is the table the writer fills.
//!
//! The heartbeat table has pt-heartbeat's shape (presslabs created it so, and
//! mysqld_exporter's `--collect.heartbeat` reads `ts` and `server_id` from it): one row
//! per server that has been primary, keyed by `server_id`, `ts` the primary's UTC time
//! as `YYYY-MM-DD hh:mm:ss.ffffff`.

/// The database the operator owns on every server (presslabs' name, kept for adoption).
pub const OPERATOR_DB: &str = "sys_operator";
/// Marks a node configured/ready for the operator (`name`, `value` rows).
pub const STATUS_TABLE: &str = "status";
/// pt-heartbeat's table, read by mysqld_exporter's `--collect.heartbeat`.
pub const HEARTBEAT_TABLE: &str = "heartbeat";

/// `CREATE DATABASE IF NOT EXISTS sys_operator`.
pub const CREATE_OPERATOR_DB: &str = "CREATE DATABASE IF NOT EXISTS `sys_operator`";

/// `CREATE TABLE IF NOT EXISTS sys_operator.status` (one line, no trailing `;`).
pub const CREATE_STATUS_TABLE: &str = "CREATE TABLE IF NOT EXISTS `sys_operator`.`status` \
(name varchar(64) NOT NULL PRIMARY KEY, value varchar(8192) NOT NULL) \
ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

/// `CREATE TABLE IF NOT EXISTS sys_operator.heartbeat` (one line, no trailing `;`).
pub const CREATE_HEARTBEAT_TABLE: &str = "CREATE TABLE IF NOT EXISTS `sys_operator`.`heartbeat` \
(ts varchar(26) NOT NULL, server_id int unsigned NOT NULL PRIMARY KEY, \
file varchar(255) DEFAULT NULL, position bigint unsigned DEFAULT NULL, \
relay_master_log_file varchar(255) DEFAULT NULL, exec_master_log_pos bigint unsigned DEFAULT NULL) \
ENGINE=InnoDB";

/// One beat: upsert this server's row with the current UTC time — only while the server
/// is writable, decided inside the statement so a replica (or a fenced old primary)
/// never writes, binlogs or creates an errant GTID.
pub const WRITE_HEARTBEAT: &str = "REPLACE INTO `sys_operator`.`heartbeat` (ts, server_id) \
SELECT UTC_TIMESTAMP(6), @@server_id FROM DUAL WHERE @@GLOBAL.read_only = 0";

/// Microseconds since the newest beat any primary wrote (NULL when there is none).
pub const HEARTBEAT_AGE_MICROS: &str =
    "SELECT TIMESTAMPDIFF(MICROSECOND, MAX(ts), UTC_TIMESTAMP(6)) FROM `sys_operator`.`heartbeat`";

/// Whether the heartbeat table exists (one integer, 0 or 1).
pub const HEARTBEAT_TABLE_EXISTS: &str = "SELECT COUNT(*) FROM information_schema.TABLES \
WHERE TABLE_SCHEMA = 'sys_operator' AND TABLE_NAME = 'heartbeat'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_the_same_table() {
        let qualified = format!("`{OPERATOR_DB}`.`{HEARTBEAT_TABLE}`");
        for stmt in [
            CREATE_HEARTBEAT_TABLE,
            WRITE_HEARTBEAT,
            HEARTBEAT_AGE_MICROS,
        ] {
            assert!(stmt.contains(&qualified), "{stmt}");
            assert!(!stmt.contains('\n') && !stmt.ends_with(';'), "{stmt}");
        }
        assert!(CREATE_STATUS_TABLE.contains(&format!("`{OPERATOR_DB}`.`{STATUS_TABLE}`")));
        // The writer's columns exist in the table.
        for col in ["ts varchar", "server_id int"] {
            assert!(CREATE_HEARTBEAT_TABLE.contains(col));
        }
    }
}
