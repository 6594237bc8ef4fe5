//! Hand-written schema fragments for the few fields derive cannot describe structurally.

use schemars::{Schema, SchemaGenerator, json_schema};

/// A free-form JSON object kept verbatim by the API server (plugin `settings`).
pub(crate) fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// `mysqlConf`: a map whose values are ints or strings, as presslabs' `map[string]intstr.IntOrString`.
pub(crate) fn int_or_string_map(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": { "x-kubernetes-int-or-string": true },
    })
}
