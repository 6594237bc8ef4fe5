//! Why a module could not be loaded or attached. Call-time failures use
//! [`policy::HookError`] instead, so chains and the built-in rules share one error type.

use policy::HookName;

/// A module that failed to load or attach. Each variant names the field or step at fault
/// and what to do about it; nothing is changed in the registry when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "module {module}: {what} is {size} bytes, over the cap of {cap} bytes; raise `limits.maxModuleBytes` or ship a smaller module"
    )]
    TooLarge {
        module: String,
        what: &'static str,
        size: u64,
        cap: u64,
    },
    #[error("module {module}: cannot decompress the {format} data: {reason}")]
    Decompress {
        module: String,
        format: &'static str,
        reason: String,
    },
    #[error(
        "module {module}: the bytes are neither a Wasm component nor gzip/zstd data (first bytes {magic}); store the `.wasm` file, optionally gzip- or zstd-compressed"
    )]
    UnknownFormat { module: String, magic: String },
    #[error(
        "module {module}: sha256 of the decompressed module is {actual}, but `sha256` pins {expected}; update the pin or the ConfigMap"
    )]
    DigestMismatch {
        module: String,
        expected: String,
        actual: String,
    },
    #[error("module {module}: invalid sha256 pin {pin:?}: expected 64 lowercase hex characters")]
    BadPin { module: String, pin: String },
    #[error("module {module}: invalid parts manifest: {reason}")]
    Manifest { module: String, reason: String },
    #[error(
        "module {module}: part {part:?} listed in the manifest is missing; add it to one of the referenced ConfigMaps"
    )]
    PartMissing { module: String, part: String },
    #[error(
        "module {module}: part {part:?} has sha256 {actual}, the manifest says {expected}; re-split the module"
    )]
    PartDigest {
        module: String,
        part: String,
        expected: String,
        actual: String,
    },
    #[error(
        "module {module}: the assembled parts have sha256 {actual}, the manifest says {expected}; re-split the module"
    )]
    WholeDigest {
        module: String,
        expected: String,
        actual: String,
    },
    #[error("module {module}: not a valid Wasm component: {reason}")]
    Compile { module: String, reason: String },
    #[error(
        "module {module}: imports `{import}`, which the host does not provide; a policy module may import only {allowed}"
    )]
    DisallowedImport {
        module: String,
        import: String,
        allowed: String,
    },
    #[error(
        "module {module}: not built against this policy ABI: expected `{expected}`, found [{found}]; rebuild it against wit/ (package mysql-operator:policy@0.1.0)"
    )]
    WrongAbi {
        module: String,
        expected: String,
        found: String,
    },
    #[error("module {module}: exports no hook (init-script, backup-filter or failover-candidate)")]
    NoHooks { module: String },
    #[error(
        "module {module}: the attachment asks for hook {hook}, which the module does not export (it exports {exported})"
    )]
    HookNotExported {
        module: String,
        hook: HookName,
        exported: String,
    },
    #[error("module {module}: cannot be prepared for instantiation: {reason}")]
    Link { module: String, reason: String },
    #[error("module {module}: {step} failed: {source}")]
    Call {
        module: String,
        step: &'static str,
        source: policy::HookError,
    },
    #[error(
        "module {module}: settings rejected by the module: {message}; fix `settings` of this plugin in the cluster spec"
    )]
    SettingsRejected { module: String, message: String },
    #[error(
        "module {module}: settings are not valid JSON: {reason}; fix `settings` of this plugin in the cluster spec"
    )]
    SettingsNotJson { module: String, reason: String },
    #[error("module {module}: {reason}")]
    Limits { module: String, reason: String },
    #[error("compiled-module cache at {path}: {reason}")]
    Cache { path: String, reason: String },
}

impl LoadError {
    /// The module name the error is about (empty for cache errors).
    pub fn module(&self) -> &str {
        match self {
            LoadError::TooLarge { module, .. }
            | LoadError::Decompress { module, .. }
            | LoadError::UnknownFormat { module, .. }
            | LoadError::DigestMismatch { module, .. }
            | LoadError::BadPin { module, .. }
            | LoadError::Manifest { module, .. }
            | LoadError::PartMissing { module, .. }
            | LoadError::PartDigest { module, .. }
            | LoadError::WholeDigest { module, .. }
            | LoadError::Compile { module, .. }
            | LoadError::DisallowedImport { module, .. }
            | LoadError::WrongAbi { module, .. }
            | LoadError::NoHooks { module }
            | LoadError::HookNotExported { module, .. }
            | LoadError::Link { module, .. }
            | LoadError::Call { module, .. }
            | LoadError::SettingsRejected { module, .. }
            | LoadError::SettingsNotJson { module, .. }
            | LoadError::Limits { module, .. } => module,
            LoadError::Cache { .. } => "",
        }
    }
}
