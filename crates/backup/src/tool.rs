//! Command lines of the physical backup tools: mariabackup/mbstream for MariaDB,
//! xtrabackup/xbstream for MySQL and Percona. Pure functions, so every flag is unit-tested
//! even where the tool is not installed.
//!
//! Local to this crate until the flavor crate offers the same; see the crate report.

use policy::{Exclusions, Flavor};
use std::path::{Path, PathBuf};

/// Which tool family a server needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupTool {
    Mariabackup,
    Xtrabackup,
}

/// How the backup tool reaches the server it copies.
#[derive(Debug, Clone, Default)]
pub struct ServerAccess {
    /// The server's option file; passed first so the tool finds `datadir` and friends.
    pub defaults_file: Option<PathBuf>,
    pub datadir: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub socket: Option<PathBuf>,
    pub user: String,
    pub password: String,
    /// The server is a replica: record its source position and pause its applier
    /// while copying (`--slave-info --safe-slave-backup`).
    pub is_replica: bool,
    /// Where the tool keeps its scratch files while streaming.
    pub scratch_dir: PathBuf,
    /// `spec.xtrabackupExtraArgs`: appended to the `--backup` command line as given.
    pub extra_args: Vec<String>,
}

/// A program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: String,
    pub args: Vec<String>,
}

impl CommandLine {
    /// The arguments with any password replaced, for logs and error messages.
    pub fn redacted(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| {
                if a.starts_with("--password=") {
                    "--password=***".to_string()
                } else {
                    a.clone()
                }
            })
            .collect();
        format!("{} {}", self.program, args.join(" "))
    }
}

impl BackupTool {
    /// The tool for a server flavor.
    pub fn for_flavor(flavor: Flavor) -> BackupTool {
        match flavor {
            Flavor::Mariadb => BackupTool::Mariabackup,
            Flavor::Mysql | Flavor::Percona => BackupTool::Xtrabackup,
        }
    }

    /// The backup program's name.
    pub fn program(self) -> &'static str {
        match self {
            BackupTool::Mariabackup => "mariabackup",
            BackupTool::Xtrabackup => "xtrabackup",
        }
    }

    /// The stream extractor's name.
    pub fn extractor(self) -> &'static str {
        match self {
            BackupTool::Mariabackup => "mbstream",
            BackupTool::Xtrabackup => "xbstream",
        }
    }

    /// `--backup --stream=xbstream` with the exclusions decided by the backup-filter hook.
    pub fn backup(self, access: &ServerAccess, exclusions: &Exclusions) -> CommandLine {
        let mut args = Vec::new();
        if let Some(f) = &access.defaults_file {
            args.push(format!("--defaults-file={}", f.display()));
        }
        args.push("--backup".into());
        args.push("--stream=xbstream".into());
        args.push(format!("--target-dir={}", access.scratch_dir.display()));
        if let Some(d) = &access.datadir {
            args.push(format!("--datadir={}", d.display()));
        }
        if let Some(h) = &access.host {
            args.push(format!("--host={h}"));
        }
        if let Some(p) = access.port {
            args.push(format!("--port={p}"));
        }
        if let Some(s) = &access.socket {
            args.push(format!("--socket={}", s.display()));
        }
        args.push(format!("--user={}", access.user));
        args.push(format!("--password={}", access.password));
        if access.is_replica {
            args.push("--slave-info".into());
            args.push("--safe-slave-backup".into());
        }
        if let Some(regex) = tables_exclude_regex(exclusions) {
            args.push(format!("--tables-exclude={regex}"));
        }
        if !exclusions.schemas.is_empty() {
            args.push(format!(
                "--databases-exclude={}",
                exclusions.schemas.join(" ")
            ));
        }
        args.extend(access.extra_args.iter().cloned());
        CommandLine {
            program: self.program().into(),
            args,
        }
    }

    /// Extract an xbstream read from stdin into `dir`.
    pub fn extract(self, dir: &Path) -> CommandLine {
        self.extract_with(dir, &[])
    }

    /// [`BackupTool::extract`] with `spec.xbstreamExtraArgs` appended.
    pub fn extract_with(self, dir: &Path, extra: &[String]) -> CommandLine {
        let mut args = vec!["-x".into(), "-C".into(), dir.display().to_string()];
        args.extend(extra.iter().cloned());
        CommandLine {
            program: self.extractor().into(),
            args,
        }
    }

    /// Make an extracted backup consistent (apply the redo log).
    pub fn prepare(self, dir: &Path) -> CommandLine {
        self.prepare_with(dir, &[])
    }

    /// [`BackupTool::prepare`] with `spec.xtrabackupPrepareExtraArgs` appended.
    pub fn prepare_with(self, dir: &Path, extra: &[String]) -> CommandLine {
        let mut args = vec![
            "--prepare".into(),
            format!("--target-dir={}", dir.display()),
        ];
        args.extend(extra.iter().cloned());
        CommandLine {
            program: self.program().into(),
            args,
        }
    }
}

/// The user's extra arguments for the restore side of the tools (`init`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreArgs {
    /// `spec.xbstreamExtraArgs`.
    pub extract: Vec<String>,
    /// `spec.xtrabackupPrepareExtraArgs`.
    pub prepare: Vec<String>,
}

/// `^(db\.t1|db\.t2)$`: the `--tables-exclude` regular expression for exact tables.
pub fn tables_exclude_regex(exclusions: &Exclusions) -> Option<String> {
    if exclusions.tables.is_empty() {
        return None;
    }
    let alts: Vec<String> = exclusions
        .tables
        .iter()
        .map(|t| format!("{}\\.{}", regex_escape(&t.schema), regex_escape(&t.name)))
        .collect();
    Some(format!("^({})$", alts.join("|")))
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::TableRef;

    fn access(replica: bool) -> ServerAccess {
        ServerAccess {
            defaults_file: Some("/etc/mysql/my.cnf".into()),
            host: Some("127.0.0.1".into()),
            port: Some(3306),
            user: "sys_replication".into(),
            password: "s3cret".into(),
            is_replica: replica,
            scratch_dir: "/tmp/xb".into(),
            ..ServerAccess::default()
        }
    }

    #[test]
    fn mariabackup_stream_with_exclusions() {
        let ex = Exclusions {
            tables: vec![TableRef {
                schema: "sys_operator".into(),
                name: "status".into(),
            }],
            schemas: vec!["scratch".into()],
        };
        let cmd = BackupTool::Mariabackup.backup(&access(true), &ex);
        assert_eq!(cmd.program, "mariabackup");
        assert_eq!(cmd.args[0], "--defaults-file=/etc/mysql/my.cnf");
        for want in [
            "--backup",
            "--stream=xbstream",
            "--target-dir=/tmp/xb",
            "--slave-info",
            "--safe-slave-backup",
            "--tables-exclude=^(sys_operator\\.status)$",
            "--databases-exclude=scratch",
        ] {
            assert!(
                cmd.args.iter().any(|a| a == want),
                "missing {want}: {cmd:?}"
            );
        }
        assert!(!cmd.redacted().contains("s3cret"));
    }

    #[test]
    fn xtrabackup_for_mysql() {
        let tool = BackupTool::for_flavor(Flavor::Mysql);
        let cmd = tool.backup(&access(false), &Exclusions::default());
        assert_eq!(cmd.program, "xtrabackup");
        assert!(!cmd.args.iter().any(|a| a.starts_with("--tables-exclude")));
        assert!(!cmd.args.iter().any(|a| a == "--slave-info"));
        assert_eq!(
            tool.extract(Path::new("/var/lib/mysql")).args,
            ["-x", "-C", "/var/lib/mysql"]
        );
        assert_eq!(tool.extractor(), "xbstream");
        assert_eq!(
            tool.prepare(Path::new("/d")).args,
            ["--prepare", "--target-dir=/d"]
        );
    }

    #[test]
    fn extra_args_are_appended_as_given() {
        let mut a = access(false);
        a.extra_args = vec!["--parallel=4".into()];
        let cmd = BackupTool::Mariabackup.backup(&a, &Exclusions::default());
        assert_eq!(cmd.args.last().map(String::as_str), Some("--parallel=4"));
        let t = BackupTool::Mariabackup;
        assert_eq!(
            t.extract_with(Path::new("/d"), &["--parallel=2".into()])
                .args,
            ["-x", "-C", "/d", "--parallel=2"]
        );
        assert_eq!(
            t.prepare_with(Path::new("/d"), &["--use-memory=1G".into()])
                .args,
            ["--prepare", "--target-dir=/d", "--use-memory=1G"]
        );
    }

    #[test]
    fn regex_escapes_names() {
        let ex = Exclusions {
            tables: vec![TableRef {
                schema: "a$b".into(),
                name: "t.1".into(),
            }],
            schemas: vec![],
        };
        assert_eq!(tables_exclude_regex(&ex).unwrap(), "^(a\\$b\\.t\\.1)$");
    }
}
