//! Backup tool command lines as data (xtrabackup for MySQL, mariabackup for MariaDB), so
//! the backup and clone code builds argv vectors without knowing which family it talks to.

use crate::sql::Flavor;

/// One program invocation: the program name and its arguments (no shell involved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: &'static str,
    pub args: Vec<String>,
}

/// How to reach the server being backed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConnection<'a> {
    /// `--defaults-file` of the server (datadir, socket); `None` to rely on `socket`.
    pub defaults_file: Option<&'a str>,
    pub socket: Option<&'a str>,
    pub user: &'a str,
    pub password: Option<&'a str>,
}

impl Flavor {
    /// The streaming backup program.
    pub fn backup_program(self) -> &'static str {
        match self {
            Flavor::Mysql => "xtrabackup",
            Flavor::Mariadb => "mariabackup",
        }
    }

    /// The stream extractor that pairs with it.
    pub fn stream_extractor(self) -> &'static str {
        match self {
            Flavor::Mysql => "xbstream",
            Flavor::Mariadb => "mbstream",
        }
    }

    /// `… --backup --stream=xbstream` writing the stream to stdout. `from_replica` adds
    /// the replica-safe options; `exclude_tables` is a regex list (`db.table`).
    pub fn backup_stream_command(
        self,
        conn: &BackupConnection<'_>,
        target_dir: &str,
        from_replica: bool,
        exclude_tables: &[String],
    ) -> CommandLine {
        let mut args = Vec::new();
        if let Some(f) = conn.defaults_file {
            args.push(format!("--defaults-file={f}"));
        }
        args.push("--backup".to_string());
        args.push("--stream=xbstream".to_string());
        args.push(format!("--target-dir={target_dir}"));
        if let Some(s) = conn.socket {
            args.push(format!("--socket={s}"));
        }
        args.push(format!("--user={}", conn.user));
        if let Some(p) = conn.password {
            args.push(format!("--password={p}"));
        }
        if from_replica {
            args.push("--slave-info".to_string());
            args.push("--safe-slave-backup".to_string());
        }
        if !exclude_tables.is_empty() {
            args.push(format!("--tables-exclude={}", exclude_tables.join(",")));
        }
        CommandLine {
            program: self.backup_program(),
            args,
        }
    }

    /// Extract a stream read from stdin into `dir`.
    pub fn extract_command(self, dir: &str) -> CommandLine {
        CommandLine {
            program: self.stream_extractor(),
            args: vec!["-x".into(), "-C".into(), dir.into()],
        }
    }

    /// Apply the redo log so `dir` is a consistent datadir.
    pub fn prepare_command(self, dir: &str) -> CommandLine {
        CommandLine {
            program: self.backup_program(),
            args: vec!["--prepare".into(), format!("--target-dir={dir}")],
        }
    }

    /// The file holding the backup's binlog coordinates and GTID position.
    pub fn binlog_info_file(self) -> &'static str {
        "xtrabackup_binlog_info"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariabackup_stream_from_replica() {
        let conn = BackupConnection {
            defaults_file: Some("/etc/my.cnf"),
            socket: Some("/run/s.sock"),
            user: "root",
            password: None,
        };
        let c = Flavor::Mariadb.backup_stream_command(
            &conn,
            "/tmp/b",
            true,
            &["sys_operator.status".into()],
        );
        assert_eq!(c.program, "mariabackup");
        assert_eq!(c.args[0], "--defaults-file=/etc/my.cnf");
        assert!(c.args.contains(&"--stream=xbstream".to_string()));
        assert!(c.args.contains(&"--safe-slave-backup".to_string()));
        assert!(
            c.args
                .contains(&"--tables-exclude=sys_operator.status".to_string())
        );
        assert_eq!(Flavor::Mariadb.extract_command("/d").program, "mbstream");
    }

    #[test]
    fn xtrabackup_for_mysql() {
        let conn = BackupConnection {
            defaults_file: None,
            socket: None,
            user: "sys",
            password: Some("pw"),
        };
        let c = Flavor::Mysql.backup_stream_command(&conn, "/tmp/b", false, &[]);
        assert_eq!(c.program, "xtrabackup");
        assert!(c.args.contains(&"--password=pw".to_string()));
        assert!(!c.args.iter().any(|a| a.starts_with("--slave-info")));
        assert_eq!(Flavor::Mysql.extract_command("/d").program, "xbstream");
        assert_eq!(
            Flavor::Mysql.prepare_command("/d").args,
            vec!["--prepare", "--target-dir=/d"]
        );
    }
}
