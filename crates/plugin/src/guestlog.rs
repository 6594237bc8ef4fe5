//! A module's log lines (the `log` import and captured WASI stdout/stderr) go to `tracing`
//! with the module name, rate-limited per module so a chatty module cannot flood the log.

use policy::LogLevel;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines a module may log per window; the rest are dropped and counted.
const LINES_PER_WINDOW: u32 = 50;
const WINDOW: Duration = Duration::from_secs(1);
/// Longest line kept; longer ones are cut.
const MAX_LINE: usize = 2048;

/// Per-module token window shared by all calls of that module.
#[derive(Debug)]
pub struct LogLimiter {
    module: String,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    used: u32,
    dropped: u64,
}

impl LogLimiter {
    /// A limiter for the module named `module` (the name shown in every line).
    pub fn new(module: &str) -> Self {
        LogLimiter {
            module: module.to_string(),
            state: Mutex::new(Window {
                start: Instant::now(),
                used: 0,
                dropped: 0,
            }),
        }
    }

    /// Emits one line if the window has room; reports the lines dropped in the last window.
    pub fn emit(&self, level: LogLevel, source: &str, message: &str) {
        let mut suppressed = 0;
        {
            let Ok(mut w) = self.state.lock() else { return };
            if w.start.elapsed() >= WINDOW {
                suppressed = w.dropped;
                w.start = Instant::now();
                w.used = 0;
                w.dropped = 0;
            }
            if w.used >= LINES_PER_WINDOW {
                w.dropped += 1;
                return;
            }
            w.used += 1;
        }
        if suppressed > 0 {
            tracing::warn!(module = %self.module, suppressed, "policy module logged too much; lines dropped");
        }
        let msg = truncate(message);
        let m = self.module.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(module = m, source, "{msg}"),
            LogLevel::Debug => tracing::debug!(module = m, source, "{msg}"),
            LogLevel::Info => tracing::info!(module = m, source, "{msg}"),
            LogLevel::Warn => tracing::warn!(module = m, source, "{msg}"),
            LogLevel::Error => tracing::error!(module = m, source, "{msg}"),
        }
    }

    /// Emits captured stdout/stderr output line by line at info/warn level.
    pub fn emit_stream(&self, stream: &str, bytes: &[u8]) {
        let level = if stream == "stderr" {
            LogLevel::Warn
        } else {
            LogLevel::Info
        };
        for line in String::from_utf8_lossy(bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            self.emit(level, stream, line);
        }
    }
}

fn truncate(s: &str) -> &str {
    if s.len() <= MAX_LINE {
        return s;
    }
    let mut end = MAX_LINE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
