//! Logging from policy code without touching the bindings: [`crate::export_policy!`] installs
//! the module's `log` import here before each call, and these functions forward to it
//! (lines logged outside a call, e.g. in native unit tests, are dropped).

use crate::LogLevel;
use std::sync::OnceLock;

static SINK: OnceLock<fn(LogLevel, &str)> = OnceLock::new();

#[doc(hidden)]
pub fn install(sink: fn(LogLevel, &str)) {
    let _ = SINK.set(sink);
}

/// Sends one line to the operator's log, tagged with the module name (rate-limited there).
pub fn log(level: LogLevel, message: &str) {
    if let Some(sink) = SINK.get() {
        sink(level, message);
    }
}

/// [`log`] at trace level.
pub fn trace(message: &str) {
    log(LogLevel::Trace, message);
}

/// [`log`] at debug level.
pub fn debug(message: &str) {
    log(LogLevel::Debug, message);
}

/// [`log`] at info level.
pub fn info(message: &str) {
    log(LogLevel::Info, message);
}

/// [`log`] at warn level.
pub fn warn(message: &str) {
    log(LogLevel::Warn, message);
}

/// [`log`] at error level.
pub fn error(message: &str) {
    log(LogLevel::Error, message);
}
