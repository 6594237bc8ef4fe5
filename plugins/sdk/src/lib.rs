//! Authoring kit for mysql-operator policy modules in Rust: plain request/answer types, one
//! trait per hook, GTID-set and table-pattern helpers, typed settings, logging, and
//! [`export_policy!`], which wires a type to the WIT bindings your crate generates.
//!
//! A module is a `cdylib` that generates bindings for one world of `wit/policy.wit` and
//! exports a type implementing [`Policy`] plus the hook traits it serves:
//!
//! ```text
//! wit_bindgen::generate!({ world: "failover-candidate-policy", path: "../../wit" });
//!
//! struct Oldest;
//! impl sdk::Policy for Oldest {
//!     const NAME: &'static str = "oldest";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!     type Settings = sdk::NoSettings;
//! }
//! impl sdk::FailoverPolicy for Oldest {
//!     fn choose(req: &sdk::FailoverRequest, _: &sdk::NoSettings) -> Result<sdk::Decision, String> {
//!         Ok(req.candidates.iter().min_by_key(|c| c.ordinal)
//!             .map_or(sdk::Decision::Abstain, |c| sdk::Decision::Promote(c.pod_name.clone())))
//!     }
//! }
//! sdk::export_policy!(Oldest: [failover_candidate]);
//! ```
//!
//! The crate has no dependency on the bindings themselves (they live in your crate, where
//! `wit_bindgen::generate!` puts them), so one SDK serves every world, including a world of
//! your own that combines hooks.

pub mod glob;
pub mod gtid;
mod log;
mod types;

#[doc(hidden)]
pub mod __private;

pub use glob::{Glob, PatternError, TablePattern};
pub use gtid::{GtidError, GtidSet};
pub use log::{debug, error, info, log, trace, warn};
pub use types::*;

use serde::de::DeserializeOwned;

/// What every module provides: its identity for `describe`, and its settings type, parsed
/// from the cluster spec's JSON and checked once at attach time by `validate-settings`.
pub trait Policy {
    /// Shown in `plugin inspect`, Events and metrics.
    const NAME: &'static str;
    /// Usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// The settings, deserialised with serde. Use `#[serde(default, deny_unknown_fields)]`
    /// so `{}` works and typos are refused when the module is attached.
    type Settings: DeserializeOwned;

    /// Checks parsed settings beyond what their type says (ranges, patterns). The error is
    /// shown to the user who attached the module.
    fn validate(settings: &Self::Settings) -> Result<(), String> {
        let _ = settings;
        Ok(())
    }
}

/// A policy for the `init-script` hook.
pub trait InitScriptPolicy: Policy {
    /// Returns the script to run (usually `request.default_script` with additions).
    fn render(request: &InitScriptRequest, settings: &Self::Settings) -> Result<String, String>;
}

/// A policy for the `backup-filter` hook.
pub trait BackupFilterPolicy: Policy {
    /// Returns what the backup or clone leaves out.
    fn filter(
        request: &BackupFilterRequest,
        settings: &Self::Settings,
    ) -> Result<Exclusions, String>;
}

/// A policy for the `failover-candidate` hook.
pub trait FailoverPolicy: Policy {
    /// Promote a candidate, abstain, or veto the failover.
    fn choose(request: &FailoverRequest, settings: &Self::Settings) -> Result<Decision, String>;
}

/// Settings type for modules that take none: accepts only `{}` (or `null`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

/// Parses settings JSON into `T`, with an error that names the problem and its position.
pub fn parse_settings<T: DeserializeOwned>(json: &str) -> Result<T, String> {
    let json = if json.trim().is_empty() || json.trim() == "null" {
        "{}"
    } else {
        json
    };
    serde_json::from_str(json).map_err(|e| format!("settings: {e}"))
}

/// Parses and validates settings the way `validate-settings` does.
pub fn check_settings<P: Policy>(json: &str) -> Result<P::Settings, String> {
    let s = parse_settings::<P::Settings>(json)?;
    P::validate(&s)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default)]
    #[serde(default, deny_unknown_fields, rename_all = "camelCase")]
    struct S {
        max_lag: f64,
    }

    struct P;
    impl Policy for P {
        const NAME: &'static str = "p";
        const VERSION: &'static str = "1";
        type Settings = S;
        fn validate(s: &S) -> Result<(), String> {
            if s.max_lag < 0.0 {
                Err("maxLag must be >= 0".into())
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn settings_parse_and_validate() {
        assert_eq!(check_settings::<P>("{}").map(|s| s.max_lag), Ok(0.0));
        assert_eq!(check_settings::<P>("").map(|s| s.max_lag), Ok(0.0));
        assert_eq!(
            check_settings::<P>(r#"{"maxLag": 2.5}"#).map(|s| s.max_lag),
            Ok(2.5)
        );
        assert_eq!(
            check_settings::<P>(r#"{"maxLag": -1}"#).err().as_deref(),
            Some("maxLag must be >= 0")
        );
        let e = check_settings::<P>(r#"{"maxlag": 1}"#)
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("settings: unknown field `maxlag`"), "{e}");
        assert!(parse_settings::<NoSettings>("{}").is_ok());
        assert!(parse_settings::<NoSettings>(r#"{"x":1}"#).is_err());
    }

    #[test]
    fn exclusions_normalize() {
        let mut e = Exclusions::default()
            .table("b", "t")
            .table("a", "t")
            .table("b", "t")
            .table("s", "x");
        e.schemas = vec!["s".into(), "s".into()];
        let n = e.normalized();
        assert_eq!(n.schemas, vec!["s".to_string()]);
        assert_eq!(
            n.tables,
            vec![
                TableRef {
                    schema: "a".into(),
                    name: "t".into()
                },
                TableRef {
                    schema: "b".into(),
                    name: "t".into()
                }
            ]
        );
    }
}
