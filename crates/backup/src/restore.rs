//! Turning a backup stream into a data dir: extract with mbstream/xbstream, prepare, and
//! read the GTID position the copy corresponds to. Any failure wipes what was extracted,
//! so a retry (the init container restarting) starts from an empty data dir.

use crate::BackupError;
use crate::compress::{BoxRead, Compression, decompress};
use crate::location::ObjectUrl;
use crate::s3::{S3Store, s3_error};
use crate::tool::{BackupTool, CommandLine, RestoreArgs};
use bytes::{Bytes, BytesMut};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// What a clone or restore produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// GTID position of the copy (`gtid_slave_pos` to set on MariaDB), when recorded.
    pub gtid: Option<String>,
    /// Bytes of the (uncompressed) stream.
    pub stream_bytes: u64,
}

/// Whether a data dir holds nothing but `lost+found` (a fresh volume).
pub fn is_empty_datadir(dir: &Path) -> Result<bool, BackupError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries {
                let e = e.map_err(|err| BackupError::io(dir, err))?;
                if e.file_name() != "lost+found" {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(BackupError::io(dir, e)),
    }
}

/// Remove everything inside `dir` but keep `dir` itself (it is usually a mount point).
pub fn wipe_datadir(dir: &Path) -> Result<(), BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(BackupError::io(dir, e)),
    };
    for e in entries {
        let e = e.map_err(|err| BackupError::io(dir, err))?;
        let path = e.path();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let res = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        res.map_err(|err| BackupError::io(&path, err))?;
    }
    Ok(())
}

/// Extract `src` into the empty `datadir`, prepare it and read its GTID position. On any
/// error the data dir is wiped before the error is returned.
pub async fn restore_stream(
    src: BoxRead,
    datadir: &Path,
    tool: BackupTool,
) -> Result<Restored, BackupError> {
    restore_stream_with(src, datadir, tool, &RestoreArgs::default()).await
}

/// [`restore_stream`] with the user's extra arguments for the extractor and `--prepare`.
pub async fn restore_stream_with(
    src: BoxRead,
    datadir: &Path,
    tool: BackupTool,
    extra: &RestoreArgs,
) -> Result<Restored, BackupError> {
    let result = async {
        let bytes = extract(src, datadir, tool, &extra.extract).await?;
        run_tool(&tool.prepare_with(datadir, &extra.prepare)).await?;
        let gtid = gtid_position(datadir)?;
        Ok(Restored {
            gtid,
            stream_bytes: bytes,
        })
    }
    .await;
    if let Err(err) = &result {
        tracing::warn!(error = %err, dir = %datadir.display(), "clone failed; wiping the data dir");
        if let Err(wipe) = wipe_datadir(datadir) {
            return Err(BackupError::Tool {
                tool: "restore".into(),
                message: format!("{err}; wiping the partial data dir failed too: {wipe}"),
            });
        }
    }
    result
}

/// Open a stored backup for reading, decompressed by its suffix.
pub async fn open_backup(store: &S3Store, obj: &ObjectUrl) -> Result<BoxRead, BackupError> {
    let got = store
        .client()
        .get_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .send()
        .await
        .map_err(|e| s3_error("GetObject", obj, &e))?;
    let body: BoxRead = Box::pin(got.body.into_async_read());
    Ok(decompress(body, Compression::from_key(&obj.key)))
}

/// Chunks handed from the reading task to the pipe writer, and how many may wait: the
/// memory of an extraction is bounded by `(PIPE_CHUNKS + 1) × PIPE_CHUNK`.
const PIPE_CHUNK: usize = 256 * 1024;
const PIPE_CHUNKS: usize = 4;

/// Pipe `src` into the extractor; returns the bytes piped.
///
/// The extractor's stdin is a plain blocking pipe written by a blocking thread, fed
/// through a bounded channel by the task that reads (downloads and decompresses) `src`.
/// A blocking writer is woken by the kernel as soon as the extractor drains the pipe;
/// tokio's non-blocking pipe writes took a reactor round trip per full pipe, which made
/// the restore about a quarter slower than `rclone cat | zstd -d | mbstream -x`
/// (crates/agent/benches/backup_vs_rclone.rs).
async fn extract(
    mut src: BoxRead,
    dir: &Path,
    tool: BackupTool,
    extra: &[String],
) -> Result<u64, BackupError> {
    std::fs::create_dir_all(dir).map_err(|e| BackupError::io(dir, e))?;
    let cmd = tool.extract_with(dir, extra);
    let (pipe_out, pipe_in) = std::io::pipe().map_err(|e| BackupError::Tool {
        tool: cmd.program.clone(),
        message: format!("cannot create a pipe: {e}"),
    })?;
    // The Command (and with it our copy of the pipe's read end) is dropped at the end of
    // this statement, so the writer sees EPIPE as soon as the extractor exits.
    let mut child = Command::new(&cmd.program)
        .args(&cmd.args)
        .stdin(Stdio::from(pipe_out))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| missing_tool(&cmd, e))?;
    let mut stderr = child.stderr.take();
    let stderr_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf).await;
        }
        buf
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(PIPE_CHUNKS);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut pipe_in = pipe_in;
        while let Some(chunk) = rx.blocking_recv() {
            pipe_in.write_all(&chunk)?;
        }
        // Dropping the write end is the extractor's end of input.
        Ok(())
    });
    let mut copied = 0u64;
    let read: std::io::Result<()> = async {
        loop {
            let mut buf = BytesMut::with_capacity(PIPE_CHUNK);
            while buf.len() < PIPE_CHUNK {
                if src.read_buf(&mut buf).await? == 0 {
                    break;
                }
            }
            if buf.is_empty() {
                return Ok(());
            }
            copied += buf.len() as u64;
            if tx.send(buf.freeze()).await.is_err() {
                // The writer stopped: its own result says why.
                return Ok(());
            }
        }
    }
    .await;
    drop(tx);
    if let Err(e) = read {
        // Kill first: a writer blocked on a full pipe then gets EPIPE and returns.
        let _ = child.kill().await;
        let _ = writer.await;
        return Err(BackupError::Stream(e));
    }
    let written = writer
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(format!("pipe writer: {e}"))));
    if let Err(e) = written {
        let _ = child.kill().await;
        let err_text = tail_text(&stderr_task.await.unwrap_or_default());
        // A broken pipe means the extractor died first: its stderr says why.
        if e.kind() == std::io::ErrorKind::BrokenPipe && !err_text.is_empty() {
            return Err(BackupError::Tool {
                tool: cmd.program.clone(),
                message: format!("{} rejected the stream: {err_text}", cmd.program),
            });
        }
        return Err(BackupError::Stream(e));
    }
    let status = child.wait().await.map_err(|e| BackupError::Tool {
        tool: cmd.program.clone(),
        message: e.to_string(),
    })?;
    let err_text = tail_text(&stderr_task.await.unwrap_or_default());
    if !status.success() {
        return Err(BackupError::Tool {
            tool: cmd.program.clone(),
            message: format!("exited with {status}: {err_text}"),
        });
    }
    Ok(copied)
}

/// Run a tool to completion; failure carries the tail of its stderr.
pub async fn run_tool(cmd: &CommandLine) -> Result<(), BackupError> {
    let out = Command::new(&cmd.program)
        .args(&cmd.args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| missing_tool(cmd, e))?;
    if !out.status.success() {
        return Err(BackupError::Tool {
            tool: cmd.program.clone(),
            message: format!(
                "`{}` exited with {}: {}",
                cmd.redacted(),
                out.status,
                tail_text(&out.stderr)
            ),
        });
    }
    Ok(())
}

fn missing_tool(cmd: &CommandLine, e: std::io::Error) -> BackupError {
    BackupError::Tool {
        tool: cmd.program.clone(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "`{}` is not installed in this image (or not on PATH)",
                cmd.program
            )
        } else {
            e.to_string()
        },
    }
}

/// The last lines of a tool's stderr, enough to show the cause.
fn tail_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(6)..].join(" | ")
}

/// Files recording the position of a backup: own binlog (`*_binlog_info`, third field is
/// the GTID) and, for a copy of a replica, its source position (`*_slave_info`).
const BINLOG_INFO: [&str; 2] = ["mariadb_backup_binlog_info", "xtrabackup_binlog_info"];
const SLAVE_INFO: [&str; 2] = ["mariadb_backup_slave_info", "xtrabackup_slave_info"];

/// The GTID position of a prepared backup: the binlog info's GTID field when present,
/// else the `gtid_slave_pos` recorded in the slave info. `None` when the source had no
/// GTIDs yet (a fresh server).
pub fn gtid_position(dir: &Path) -> Result<Option<String>, BackupError> {
    for name in BINLOG_INFO {
        let path = dir.join(name);
        if let Some(text) = read_opt(&path)? {
            let gtid = text
                .lines()
                .next()
                .and_then(|l| l.split('\t').nth(2))
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty());
            if gtid.is_some() {
                return Ok(gtid);
            }
        }
    }
    for name in SLAVE_INFO {
        if let Some(text) = read_opt(&dir.join(name))?
            && let Some(gtid) = parse_slave_info(&text)
        {
            return Ok(Some(gtid));
        }
    }
    let any = BINLOG_INFO
        .iter()
        .chain(SLAVE_INFO.iter())
        .any(|n| dir.join(n).exists());
    if any {
        Ok(None)
    } else {
        Err(BackupError::NoGtidPosition {
            dir: PathBuf::from(dir),
        })
    }
}

/// `SET GLOBAL gtid_slave_pos = '0-1-5';` → `0-1-5`.
fn parse_slave_info(text: &str) -> Option<String> {
    let idx = text.find("gtid_slave_pos")?;
    let rest = &text[idx..];
    let start = rest.find('\'')? + 1;
    let end = rest[start..].find('\'')? + start;
    let gtid = rest[start..end].trim();
    (!gtid.is_empty()).then(|| gtid.to_string())
}

fn read_opt(path: &Path) -> Result<Option<String>, BackupError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BackupError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gtid_from_either_file() {
        let d = tempfile::tempdir().unwrap();
        assert!(gtid_position(d.path()).is_err());
        std::fs::write(
            d.path().join("xtrabackup_binlog_info"),
            "mysql-bin.000002\t385\t0-1-42\n",
        )
        .unwrap();
        assert_eq!(gtid_position(d.path()).unwrap().as_deref(), Some("0-1-42"));
        let d2 = tempfile::tempdir().unwrap();
        std::fs::write(
            d2.path().join("mariadb_backup_slave_info"),
            "SET GLOBAL gtid_slave_pos = '0-1-7,1-2-3';\nCHANGE MASTER TO master_use_gtid = slave_pos\n",
        )
        .unwrap();
        assert_eq!(
            gtid_position(d2.path()).unwrap().as_deref(),
            Some("0-1-7,1-2-3")
        );
    }

    #[test]
    fn wipes_contents_but_keeps_the_dir() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("lost+found")).unwrap();
        assert!(is_empty_datadir(d.path()).unwrap());
        std::fs::create_dir_all(d.path().join("db/x")).unwrap();
        std::fs::write(d.path().join("ibdata1"), b"x").unwrap();
        assert!(!is_empty_datadir(d.path()).unwrap());
        wipe_datadir(d.path()).unwrap();
        assert!(d.path().exists());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
