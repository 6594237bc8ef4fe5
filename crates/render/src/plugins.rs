//! The plugin manifest (`plugins.json` in the cluster's ConfigMap) and the volumes that
//! bring each policy module's ConfigMap into the pod, so the init step and the agent load
//! exactly the modules `spec.plugins` names, with their pin, hooks, settings and policy.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, KeyToPath, Volume, VolumeMount};
use serde::{Deserialize, Serialize};

use crate::RenderError;
use crate::names::PLUGINS_DIR;

/// Version of the manifest format; bump when a reader must change.
pub const MANIFEST_VERSION: u32 = 1;

/// The hook names a module may serve (the WIT interface names).
pub const HOOKS: &[&str] = &["backup-filter", "failover-candidate", "init-script"];

/// What the pod needs to load one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestPlugin {
    /// The module's name in `spec.plugins` (unique per cluster).
    pub name: String,
    /// ConfigMap holding the component, and the key within it.
    pub config_map: ConfigMapKey,
    /// Absolute path of the component file inside the pod.
    pub path: String,
    /// Expected sha256 (hex) of the component, when the spec pins one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Hooks to call this module for; `None` means every hook it exports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<String>>,
    /// `Ignore` (fall back to the built-in rule) or `Fail`.
    pub failure_policy: String,
    /// The module's settings, passed to every call as JSON.
    pub settings: serde_json::Value,
}

/// A key in a ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigMapKey {
    pub name: String,
    pub key: String,
}

/// The whole manifest: modules in spec order (the order a hook chain runs them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub plugins: Vec<ManifestPlugin>,
}

/// One `spec.plugins` entry as render needs it (decoupled from the API struct layout).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInput {
    pub name: String,
    pub config_map_name: String,
    pub config_map_key: String,
    pub sha256: Option<String>,
    pub hooks: Option<Vec<String>>,
    pub failure_policy: String,
    pub settings: serde_json::Value,
}

fn invalid(index: usize, field: &str, message: String, hint: &str) -> RenderError {
    RenderError::Invalid {
        field: format!("spec.plugins[{index}]{field}"),
        message,
        hint: hint.into(),
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_config_map_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Name of the pod volume carrying plugin `name` (a DNS label: `plugin-<name>`).
pub fn volume_name(name: &str) -> String {
    format!("plugin-{name}")
}

/// Checks the entries and builds the manifest. Rejects what would break the pod: names
/// that are not DNS labels (they name volumes), duplicates, unknown hooks, a malformed
/// sha256, an unknown failure policy, an invalid ConfigMap reference.
pub fn manifest(plugins: &[PluginInput]) -> Result<Manifest, RenderError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(plugins.len());
    for (i, p) in plugins.iter().enumerate() {
        // `plugin-` + name must stay a 63-character DNS label.
        if !is_dns_label(&p.name) || p.name.len() > 56 {
            return Err(invalid(
                i,
                ".name",
                format!(
                    "`{}` is not a lower-case DNS label of at most 56 characters",
                    p.name
                ),
                "use letters a-z, digits and `-`, e.g. `status-table-fix`",
            ));
        }
        if !seen.insert(p.name.as_str()) {
            return Err(invalid(
                i,
                ".name",
                format!("`{}` is used by an earlier entry", p.name),
                "give every plugin a unique name",
            ));
        }
        if p.config_map_name.is_empty() {
            return Err(invalid(
                i,
                ".configMap.name",
                "is empty".into(),
                "name the ConfigMap holding the module",
            ));
        }
        if !is_config_map_key(&p.config_map_key) {
            return Err(invalid(
                i,
                ".configMap.key",
                format!("`{}` is not a ConfigMap key", p.config_map_key),
                "use the key holding the .wasm component, e.g. `module.wasm`",
            ));
        }
        if let Some(sha) = &p.sha256
            && (sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(invalid(
                i,
                ".sha256",
                format!("`{sha}` is not 64 hex digits"),
                "use the output of `sha256sum module.wasm`",
            ));
        }
        if let Some(hooks) = &p.hooks {
            for (j, h) in hooks.iter().enumerate() {
                if !HOOKS.contains(&h.as_str()) {
                    return Err(invalid(
                        i,
                        &format!(".hooks[{j}]"),
                        format!("`{h}` is not a hook"),
                        "use init-script, backup-filter or failover-candidate",
                    ));
                }
            }
        }
        if !matches!(p.failure_policy.as_str(), "Ignore" | "Fail") {
            return Err(invalid(
                i,
                ".failurePolicy",
                format!("`{}` is not a failure policy", p.failure_policy),
                "use Ignore or Fail",
            ));
        }
        out.push(ManifestPlugin {
            name: p.name.clone(),
            config_map: ConfigMapKey {
                name: p.config_map_name.clone(),
                key: p.config_map_key.clone(),
            },
            path: format!("{PLUGINS_DIR}/{}/{}", p.name, p.config_map_key),
            sha256: p.sha256.as_ref().map(|s| s.to_ascii_lowercase()),
            hooks: p.hooks.clone(),
            failure_policy: p.failure_policy.clone(),
            settings: p.settings.clone(),
        });
    }
    Ok(Manifest {
        version: MANIFEST_VERSION,
        plugins: out,
    })
}

/// The manifest as pretty, stable JSON (what goes into the ConfigMap).
pub fn manifest_json(m: &Manifest) -> String {
    // Serialising plain structs, strings and JSON values cannot fail.
    let mut s = serde_json::to_string_pretty(m).unwrap_or_default();
    s.push('\n');
    s
}

/// One read-only ConfigMap volume per module, projecting only the module's key.
pub fn volumes(m: &Manifest) -> Vec<Volume> {
    m.plugins
        .iter()
        .map(|p| Volume {
            name: volume_name(&p.name),
            config_map: Some(ConfigMapVolumeSource {
                name: p.config_map.name.clone(),
                items: Some(vec![KeyToPath {
                    key: p.config_map.key.clone(),
                    path: p.config_map.key.clone(),
                    ..KeyToPath::default()
                }]),
                default_mode: Some(0o444),
                optional: Some(false),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        })
        .collect()
}

/// Mounts for the containers that run hooks (init step and agent).
pub fn volume_mounts(m: &Manifest) -> Vec<VolumeMount> {
    m.plugins
        .iter()
        .map(|p| VolumeMount {
            name: volume_name(&p.name),
            mount_path: format!("{PLUGINS_DIR}/{}", p.name),
            read_only: Some(true),
            ..VolumeMount::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(name: &str) -> PluginInput {
        PluginInput {
            name: name.into(),
            config_map_name: "policies".into(),
            config_map_key: "status-fix.wasm".into(),
            sha256: None,
            hooks: None,
            failure_policy: "Ignore".into(),
            settings: serde_json::json!({}),
        }
    }

    #[test]
    fn manifest_carries_every_field() {
        let mut p = plugin("status-fix");
        p.sha256 = Some("AB".repeat(32));
        p.hooks = Some(vec!["init-script".into()]);
        p.failure_policy = "Fail".into();
        p.settings = serde_json::json!({"zone": "a", "max": 3});
        let m = manifest(&[p, plugin("second")]).unwrap();
        assert_eq!(m.version, 1);
        assert_eq!(m.plugins.len(), 2);
        let first = &m.plugins[0];
        assert_eq!(first.name, "status-fix");
        assert_eq!(
            first.config_map,
            ConfigMapKey {
                name: "policies".into(),
                key: "status-fix.wasm".into()
            }
        );
        assert_eq!(
            first.path,
            "/etc/mysql-operator/plugins/status-fix/status-fix.wasm"
        );
        assert_eq!(first.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(first.hooks, Some(vec!["init-script".to_string()]));
        assert_eq!(first.failure_policy, "Fail");
        assert_eq!(first.settings["zone"], "a");
        assert_eq!(m.plugins[1].name, "second", "spec order is chain order");

        let json = manifest_json(&m);
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert!(
            json.contains("\"configMap\"") && json.contains("\"failurePolicy\": \"Fail\""),
            "{json}"
        );
        assert!(!json.contains("\"hooks\": null"));
    }

    #[test]
    fn volumes_and_mounts_project_the_key() {
        let m = manifest(&[plugin("status-fix")]).unwrap();
        let v = volumes(&m);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].name, "plugin-status-fix");
        let cm = v[0].config_map.as_ref().unwrap();
        assert_eq!(cm.name, "policies");
        assert_eq!(cm.items.as_ref().unwrap()[0].key, "status-fix.wasm");
        assert_eq!(cm.items.as_ref().unwrap()[0].path, "status-fix.wasm");
        let mounts = volume_mounts(&m);
        assert_eq!(mounts[0].name, "plugin-status-fix");
        assert_eq!(
            mounts[0].mount_path,
            "/etc/mysql-operator/plugins/status-fix"
        );
        assert_eq!(mounts[0].read_only, Some(true));
    }

    #[test]
    fn bad_entries_name_the_field() {
        let cases: Vec<(PluginInput, &str)> = vec![
            (
                {
                    let mut p = plugin("Bad_Name");
                    p.name = "Bad_Name".into();
                    p
                },
                "spec.plugins[0].name",
            ),
            (
                {
                    let mut p = plugin("a");
                    p.config_map_name = String::new();
                    p
                },
                "spec.plugins[0].configMap.name",
            ),
            (
                {
                    let mut p = plugin("a");
                    p.config_map_key = "a/b".into();
                    p
                },
                "spec.plugins[0].configMap.key",
            ),
            (
                {
                    let mut p = plugin("a");
                    p.sha256 = Some("xyz".into());
                    p
                },
                "spec.plugins[0].sha256",
            ),
            (
                {
                    let mut p = plugin("a");
                    p.hooks = Some(vec!["init-script".into(), "nope".into()]);
                    p
                },
                "spec.plugins[0].hooks[1]",
            ),
            (
                {
                    let mut p = plugin("a");
                    p.failure_policy = "ignore".into();
                    p
                },
                "spec.plugins[0].failurePolicy",
            ),
        ];
        for (p, field) in cases {
            let err = manifest(&[p]).unwrap_err().to_string();
            assert!(err.starts_with(field), "{err} should name {field}");
        }
        let err = manifest(&[plugin("a"), plugin("a")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("spec.plugins[1].name") && err.contains("unique"),
            "{err}"
        );
        let long = "a".repeat(57);
        assert!(manifest(&[plugin(&long)]).is_err());
    }
}
