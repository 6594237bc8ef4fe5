//! The three policy hooks as plain Rust: the request and answer types, the trait each
//! hook's implementations share, and the built-in rules.
//!
//! Everything that decides at a hook — the built-in rule, a Wasm module run by the plugin
//! host, a chain of modules with a failure policy — implements the same trait, so "no
//! module" and "a module abstained" go through one code path. These types mirror the WIT
//! package in `wit/` record for record; the plugin host converts between the two.

pub mod backup_filter;
pub mod builtin;
pub mod failover;
pub mod init_script;
mod types;

pub use backup_filter::{
    BackupFilter, BackupFilterRequest, BackupKind, Exclusions, TableInfo, TableRef,
};
pub use builtin::BuiltinFailover;
pub use failover::{
    Candidate, Decision, FailedPrimary, FailoverCandidate, FailoverReason, FailoverRequest,
    ThreadState,
};
pub use init_script::{DataSource, InitScript, InitScriptRequest};
pub use types::{ClusterInfo, Flavor, HookError, HookName, LogLevel, NodeRole};
