//! The four CustomResourceDefinitions, generated from the types (the chart ships exactly
//! this output), and a check that their schemas are structural as
//! `apiextensions.k8s.io/v1` requires.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_core::CustomResourceExt;
use serde_json::Value;

use crate::{MysqlBackup, MysqlCluster, MysqlDatabase, MysqlUser};

/// All CRDs of the API group, in a stable order (cluster, backup, database, user).
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        MysqlCluster::crd(),
        MysqlBackup::crd(),
        MysqlDatabase::crd(),
        MysqlUser::crd(),
    ]
}

/// The `openAPIV3Schema` of the CRD serving `kind`, as JSON (for schema validation).
pub fn schema_for_kind(kind: &str) -> Option<Value> {
    let crd = all().into_iter().find(|c| c.spec.names.kind == kind)?;
    let version = crd.spec.versions.into_iter().next()?;
    let schema = version.schema?.open_api_v3_schema?;
    serde_json::to_value(schema).ok()
}

/// Reasons a schema is not structural, each with the JSON path of the node; empty when
/// it is. Checks what the API server enforces: no `$ref`/definitions, a `type` on every
/// node except int-or-string and preserve-unknown-fields nodes, no `additionalProperties`
/// beside `properties`, and `items` on every array.
pub fn structural_problems(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(schema, "openAPIV3Schema", true, &mut out);
    out
}

fn walk(node: &Value, path: &str, needs_type: bool, out: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        out.push(format!("{path}: schema node is not an object"));
        return;
    };
    for banned in [
        "$ref",
        "$schema",
        "definitions",
        "$defs",
        "oneOf",
        "anyOf",
        "allOf",
        "not",
    ] {
        if obj.contains_key(banned) {
            out.push(format!("{path}: uses {banned}"));
        }
    }
    let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
    let int_or_string = flag("x-kubernetes-int-or-string");
    let preserve = flag("x-kubernetes-preserve-unknown-fields");
    let ty = obj.get("type").and_then(Value::as_str);
    if needs_type && ty.is_none() && !int_or_string && !preserve {
        out.push(format!("{path}: has no type"));
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        out.push(format!(
            "{path}: has both properties and additionalProperties"
        ));
    }
    if ty == Some("array") && !obj.contains_key("items") {
        out.push(format!("{path}: array without items"));
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            walk(v, &format!("{path}.{k}"), true, out);
        }
    }
    if let Some(items) = obj.get("items") {
        walk(items, &format!("{path}[]"), true, out);
    }
    if let Some(ap) = obj.get("additionalProperties").filter(|v| v.is_object()) {
        walk(ap, &format!("{path}.*"), true, out);
    }
}
