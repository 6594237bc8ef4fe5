//! The sandboxed Wasm host for policy modules: loads components written against
//! `wit/policy.wit` from ConfigMap bytes, checks and compiles them once, and runs each hook
//! call in a fresh instance with CPU, memory and size limits. A [`Registry`] maps each
//! cluster's hooks to its ordered modules; the chains it hands out implement the same
//! traits as the built-in rules in `policy`, so callers never see Wasm.
//!
//! See `docs/plugins.md` for the ABI, the limits and the failure policy.

mod bindings;
pub mod breaker;
pub mod chain;
mod error;
mod guestlog;
mod host;
pub mod limits;
pub mod metrics;
mod module;
pub mod pool;
pub mod registry;
pub mod source;

pub use bindings::ABI_VERSION;
pub use breaker::BreakerConfig;
pub use chain::{BackupFilterChain, DefaultScript, FailoverChain, InitScriptChain, NoExclusions};
pub use error::LoadError;
pub use host::{Host, HostConfig, ModuleSpec};
pub use limits::Limits;
pub use metrics::{HookCounters, Metrics};
pub use module::{CallStats, Module, ModuleInfo};
pub use pool::PoolConfig;
pub use registry::{
    AttachmentSpec, AttachmentStatus, EventSink, FailurePolicy, LogEvents, PluginEvent, Registry,
    SyncOutcome,
};
pub use source::{ModuleBytes, PartRef, PartsManifest};
