//! `mysql-operator validate -f FILE...`: check manifests before applying them — each
//! MysqlCluster/MysqlBackup/MysqlDatabase/MysqlUser against its CRD's openAPIV3Schema
//! and the semantic rules of `api::validate`; every error with file, document, field path
//! and a hint. Other kinds are passed over.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use api::FieldError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde::Deserialize;
use serde_json::Value;

/// Arguments of `mysql-operator validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files (multi-document YAML) to check; `-` reads standard input.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub files: Vec<String>,
}

/// The kinds this command checks; everything else is passed over.
const KINDS: [&str; 4] = ["MysqlCluster", "MysqlBackup", "MysqlDatabase", "MysqlUser"];

/// Compiled schema of each kind.
struct Checker {
    validators: BTreeMap<&'static str, (Value, jsonschema::Validator)>,
}

/// What one run found.
#[derive(Default)]
struct Report {
    errors: usize,
    checked: usize,
    passed_over: usize,
    lines: Vec<String>,
}

impl Report {
    fn error(&mut self, line: String) {
        self.errors += 1;
        self.lines.push(line);
    }
}

impl Checker {
    fn new() -> anyhow::Result<Self> {
        let mut validators = BTreeMap::new();
        for kind in KINDS {
            let schema = api::crd::schema_for_kind(kind)
                .with_context(|| format!("no generated schema for {kind}"))?;
            let prepared = for_json_schema(&schema);
            let validator = jsonschema::validator_for(&prepared)
                .map_err(|e| anyhow::anyhow!("compiling the {kind} schema: {e}"))?;
            validators.insert(kind, (schema, validator));
        }
        Ok(Self { validators })
    }

    /// Check every document of one file's text, appending to `report`.
    fn check_text(&self, file: &str, text: &str, report: &mut Report) {
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let n = i + 1;
            let value = match Value::deserialize(doc) {
                Ok(v) => v,
                Err(e) => {
                    let at = e
                        .location()
                        .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                        .unwrap_or_default();
                    let msg = e.to_string();
                    report.error(format!(
                        "{file}: doc {n}: malformed YAML{at}: {msg} (hint: fix the YAML syntax there; check indentation, quotes and ':' after keys)"
                    ));
                    // The parser cannot resynchronise after a syntax error.
                    return;
                }
            };
            self.check_document(file, n, &value, report);
        }
    }

    fn check_document(&self, file: &str, n: usize, value: &Value, report: &mut Report) {
        if value.is_null() {
            return; // an empty document (e.g. a trailing `---`)
        }
        let Some(obj) = value.as_object() else {
            report.error(format!(
                "{file}: doc {n}: not a Kubernetes object (a YAML mapping with apiVersion and kind) (hint: each document must be a mapping)"
            ));
            return;
        };
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<no name>");
        let label = format!(
            "{file}: doc {n} ({}/{name})",
            if kind.is_empty() { "<no kind>" } else { kind }
        );
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() || api_version.is_empty() {
            let missing = if kind.is_empty() {
                "kind"
            } else {
                "apiVersion"
            };
            report.error(format!("{label}: {missing}: is required (hint: every Kubernetes object names its apiVersion and kind)"));
            return;
        }
        let Some((schema, validator)) = self.validators.get(kind) else {
            report.passed_over += 1;
            eprintln!(
                "{label}: passed over ({api_version} {kind} is not a {} kind)",
                api::GROUP
            );
            return;
        };
        if api_version != api::API_VERSION {
            report.error(format!(
                "{label}: apiVersion: {api_version:?} does not serve {kind} (hint: use apiVersion: {})",
                api::API_VERSION
            ));
            return;
        }
        report.checked += 1;
        let mut errors: Vec<FieldError> = validator
            .iter_errors(value)
            .map(|e| schema_error(value, &e))
            .collect();
        errors.sort_by(|a, b| a.path.cmp(&b.path));
        if errors.is_empty() {
            match semantic(kind, value.clone()) {
                Ok(found) => errors = found,
                Err(e) => errors.push(FieldError::new(
                    "spec",
                    format!("does not match the {kind} type: {e}"),
                    "compare with `mysql-operator crd` output",
                )),
            }
        }
        for e in errors {
            report.error(format!("{label}: {e}"));
        }
        let mut pruned = Vec::new();
        unknown_fields(value, schema, "", &mut pruned);
        for p in pruned {
            eprintln!("{label}: warning: {p}: unknown field, the API server prunes it");
        }
    }
}

/// Typed parse and semantic rules of one resource.
fn semantic(kind: &str, value: Value) -> Result<Vec<FieldError>, serde_json::Error> {
    Ok(match kind {
        "MysqlCluster" => api::validate::cluster(&serde_json::from_value(value)?),
        "MysqlBackup" => api::validate::backup(&serde_json::from_value(value)?),
        "MysqlDatabase" => api::validate::database(&serde_json::from_value(value)?),
        _ => api::validate::user(&serde_json::from_value(value)?),
    })
}

/// A schema violation as a field error with a hint derived from the failed keyword.
fn schema_error(doc: &Value, e: &jsonschema::ValidationError<'_>) -> FieldError {
    let mut path = pointer_to_path(doc, e.instance_path().as_str());
    let (message, hint) = match e.kind() {
        ValidationErrorKind::Required { property } => {
            let p = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_string);
            path = if path.is_empty() {
                p.clone()
            } else {
                format!("{path}.{p}")
            };
            (
                "is required".to_string(),
                format!("add {p} (see `mysql-operator crd` for its fields)"),
            )
        }
        ValidationErrorKind::Type { kind } => {
            let want = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| t.to_string())
                    .filter(|t| t != "null")
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            (
                format!("{} is not of type {want}", short(e.instance())),
                match want.as_str() {
                    "integer" | "number" => "write a number without quotes".to_string(),
                    "string" => "quote the value".to_string(),
                    "array" => "write a YAML list (`- item` lines or [a, b])".to_string(),
                    "object" => "write a YAML mapping (`key: value` lines)".to_string(),
                    other => format!("write a value of type {other}"),
                },
            )
        }
        ValidationErrorKind::Enum { options } => {
            let opts = options
                .as_array()
                .map(|a| a.iter().map(short).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            (
                format!("{} is not an accepted value", short(e.instance())),
                format!("use one of {opts}"),
            )
        }
        ValidationErrorKind::MinLength { limit } => (
            format!("{} is too short", short(e.instance())),
            format!("use at least {limit} characters"),
        ),
        ValidationErrorKind::MaxLength { limit } => (
            format!("{} is too long", short(e.instance())),
            format!("use at most {limit} characters"),
        ),
        ValidationErrorKind::Minimum { limit } => (
            format!("{} is too small", short(e.instance())),
            format!("use {limit} or more"),
        ),
        ValidationErrorKind::Maximum { limit } => (
            format!("{} is too large", short(e.instance())),
            format!("use {limit} or less"),
        ),
        _ => (
            e.to_string(),
            "see `mysql-operator crd` for the field's schema".to_string(),
        ),
    };
    if path.is_empty() {
        path = "<document>".into();
    }
    FieldError::new(path, message, hint)
}

/// A value shortened for messages.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

/// `/spec/plugins/0/name` → `spec.plugins[0].name`, using the document to tell list
/// indexes from map keys.
fn pointer_to_path(doc: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut cur = Some(doc);
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        match cur {
            Some(Value::Array(a)) => {
                out.push_str(&format!("[{seg}]"));
                cur = seg.parse::<usize>().ok().and_then(|i| a.get(i));
            }
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&seg);
                cur = other.and_then(|v| v.get(&seg));
            }
        }
    }
    out
}

/// Adapt a Kubernetes structural schema to plain JSON Schema: `nullable` admits null,
/// int-or-string admits exactly integers and strings.
fn for_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(obj) => {
            let mut out: serde_json::Map<String, Value> = obj
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if k == "default" || k == "enum" {
                            v.clone()
                        } else {
                            for_json_schema(v)
                        },
                    )
                })
                .collect();
            if obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
                out.insert("type".into(), serde_json::json!(["integer", "string"]));
            }
            if obj.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(t)) = obj.get("type")
            {
                out.insert("type".into(), serde_json::json!([t, "null"]));
                if let Some(Value::Array(opts)) = out.get_mut("enum") {
                    opts.push(Value::Null);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(for_json_schema).collect()),
        other => other.clone(),
    }
}

/// Fields of `value` the schema does not know (they would be pruned on apply).
fn unknown_fields(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(obj) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|v| v.is_object());
            for (k, v) in obj {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                match (props.and_then(|p| p.get(k)), extra) {
                    (Some(s), _) | (None, Some(s)) => unknown_fields(v, s, &child, out),
                    (None, None) if props.is_some() => out.push(child),
                    (None, None) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(v, s, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn read_input(file: &str) -> std::io::Result<String> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(file)
    }
}

/// Check every file; print each error on stdout, exit 1 when any was found.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let checker = Checker::new()?;
    let mut report = Report::default();
    for file in &args.files {
        let shown = if file == "-" {
            "<stdin>"
        } else {
            file.as_str()
        };
        match read_input(file) {
            Ok(text) => checker.check_text(shown, &text, &mut report),
            Err(e) => report.error(format!(
                "{shown}: cannot read: {e} (hint: check the path and permissions)"
            )),
        }
    }
    for line in &report.lines {
        println!("{line}");
    }
    let files = args.files.len();
    if report.errors > 0 {
        eprintln!(
            "validation failed: {} error(s) in {files} file(s) ({} resource(s) checked)",
            report.errors, report.checked
        );
        Ok(ExitCode::FAILURE)
    } else {
        println!(
            "ok: {} resource(s) valid in {files} file(s), {} other object(s) passed over",
            report.checked, report.passed_over
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_paths_use_list_indexes() {
        let doc = serde_json::json!({"spec": {"plugins": [{"name": "a"}], "mysqlConf": {"0": 1}}});
        assert_eq!(
            pointer_to_path(&doc, "/spec/plugins/0/name"),
            "spec.plugins[0].name"
        );
        assert_eq!(
            pointer_to_path(&doc, "/spec/mysqlConf/0"),
            "spec.mysqlConf.0"
        );
        assert_eq!(pointer_to_path(&doc, ""), "");
    }

    #[test]
    fn int_or_string_and_nullable_become_json_schema_types() {
        let s = serde_json::json!({"properties": {
            "a": {"x-kubernetes-int-or-string": true},
            "b": {"type": "string", "nullable": true, "enum": ["x"]}
        }});
        let p = for_json_schema(&s);
        assert_eq!(
            p["properties"]["a"]["type"],
            serde_json::json!(["integer", "string"])
        );
        assert_eq!(
            p["properties"]["b"]["type"],
            serde_json::json!(["string", "null"])
        );
        assert_eq!(p["properties"]["b"]["enum"], serde_json::json!(["x", null]));
    }
}
