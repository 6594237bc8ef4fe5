//! The storage seam: the few Kubernetes operations the reconcilers need, on JSON objects,
//! so the same reconciler runs against a real API server ([`KubeStore`]) and against an
//! in-memory one in tests ([`MemoryStore`]).

mod kube_store;
mod memory;

use std::collections::BTreeMap;
use std::future::Future;

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use kube_store::KubeStore;
pub use memory::{MemoryStore, WriteLog};

/// The field manager every server-side apply of the operator uses.
pub const FIELD_MANAGER: &str = "mysql-operator";

/// A kind the store handles: enough to address it on an API server.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kind {
    /// `group/version` (or just `version` for the core group).
    pub api_version: String,
    /// The kind, e.g. `StatefulSet`.
    pub kind: String,
    /// The URL plural, e.g. `statefulsets`.
    pub plural: String,
}

impl Kind {
    /// The kind of a typed Kubernetes resource (k8s-openapi or our CRDs).
    pub fn of<K: Resource<DynamicType = ()>>() -> Kind {
        Kind {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            plural: K::plural(&()).into_owned(),
        }
    }
}

/// One namespaced object's address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// What kind of object.
    pub kind: Kind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectKey {
    /// Address of a typed object by namespace and name.
    pub fn of<K: Resource<DynamicType = ()>>(namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            kind: Kind::of::<K>(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// A metadata change: labels to set (`Some`) or remove (`None`), and optionally the whole
/// new finalizer list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetadataPatch {
    /// Labels to set or remove.
    pub labels: BTreeMap<String, Option<String>>,
    /// The complete finalizer list after the patch, when it changes.
    pub finalizers: Option<Vec<String>>,
}

/// A Kubernetes Event about an object (core/v1 Event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// The object the event is about.
    pub regarding: ObjectKey,
    /// `Normal` or `Warning`.
    pub type_: String,
    /// Machine-readable reason, e.g. `PluginFailed`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        kind: String,
        namespace: String,
        name: String,
    },
    /// The API server refused the object (e.g. a change to an immutable field).
    #[error("{kind} {namespace}/{name} is invalid: {reason}")]
    Invalid {
        kind: String,
        namespace: String,
        name: String,
        reason: String,
    },
    /// The object is not valid JSON for its type.
    #[error("{kind} {namespace}/{name} could not be (de)serialised: {reason}")]
    Serde {
        kind: String,
        namespace: String,
        name: String,
        reason: String,
    },
    /// The API server call failed.
    #[error("Kubernetes API call failed: {0}")]
    Api(#[from] kube::Error),
}

impl StoreError {
    fn not_found(key: &ObjectKey) -> StoreError {
        StoreError::NotFound {
            kind: key.kind.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        }
    }
    fn invalid(key: &ObjectKey, reason: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            kind: key.kind.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            reason: reason.into(),
        }
    }
    fn serde(key: &ObjectKey, e: impl std::fmt::Display) -> StoreError {
        StoreError::Serde {
            kind: key.kind.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            reason: e.to_string(),
        }
    }
}

/// The Kubernetes operations the reconcilers use. Objects are JSON values with
/// `apiVersion`, `kind` and `metadata`; use the typed helpers ([`get`], [`list`], [`apply`])
/// in reconcilers.
pub trait Store: Clone + Send + Sync + 'static {
    /// The object at `key`, or `None`.
    fn get_raw(
        &self,
        key: &ObjectKey,
    ) -> impl Future<Output = Result<Option<Value>, StoreError>> + Send;
    /// The objects of `kind` in `namespace` carrying every label of `selector`.
    fn list_raw(
        &self,
        kind: &Kind,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<Value>, StoreError>> + Send;
    /// Server-side apply of `object` (forced, field manager [`FIELD_MANAGER`]); returns
    /// the object as stored.
    fn apply_raw(
        &self,
        key: &ObjectKey,
        object: Value,
    ) -> impl Future<Output = Result<Value, StoreError>> + Send;
    /// Delete the object (a no-op if it is gone). Finalizers delay the removal.
    fn delete(&self, key: &ObjectKey) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replace the object's `status` (merge patch on the status subresource).
    fn patch_status(
        &self,
        key: &ObjectKey,
        status: Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Change labels and/or finalizers.
    fn patch_metadata(
        &self,
        key: &ObjectKey,
        patch: &MetadataPatch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Record an Event.
    fn create_event(
        &self,
        event: EventRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Typed `get`.
pub async fn get<K, S>(store: &S, namespace: &str, name: &str) -> Result<Option<K>, StoreError>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
    S: Store,
{
    let key = ObjectKey::of::<K>(namespace, name);
    match store.get_raw(&key).await? {
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| StoreError::serde(&key, e)),
        None => Ok(None),
    }
}

/// Typed `list` by label selector.
pub async fn list<K, S>(
    store: &S,
    namespace: &str,
    selector: &BTreeMap<String, String>,
) -> Result<Vec<K>, StoreError>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
    S: Store,
{
    let kind = Kind::of::<K>();
    let raw = store.list_raw(&kind, namespace, selector).await?;
    raw.into_iter()
        .map(|v| {
            let name = v
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            serde_json::from_value(v).map_err(|e| {
                StoreError::serde(
                    &ObjectKey {
                        kind: kind.clone(),
                        namespace: namespace.into(),
                        name,
                    },
                    e,
                )
            })
        })
        .collect()
}

/// Serialise a typed object with `apiVersion`/`kind` set, ready for [`Store::apply_raw`].
pub fn to_apply_value<K>(object: &K) -> Result<(ObjectKey, Value), StoreError>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let meta = object.meta();
    let key = ObjectKey::of::<K>(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    );
    let mut v = serde_json::to_value(object).map_err(|e| StoreError::serde(&key, e))?;
    if let Value::Object(m) = &mut v {
        m.insert(
            "apiVersion".into(),
            Value::String(key.kind.api_version.clone()),
        );
        m.insert("kind".into(), Value::String(key.kind.kind.clone()));
    }
    Ok((key, v))
}

/// Typed server-side apply.
pub async fn apply<K, S>(store: &S, object: &K) -> Result<Value, StoreError>
where
    K: Resource<DynamicType = ()> + Serialize,
    S: Store,
{
    let (key, v) = to_apply_value(object)?;
    store.apply_raw(&key, v).await
}

/// Whether every field of `desired` is present with the same value in `actual` (arrays
/// compared element-wise with the same rule). A reconcile skips the apply when this
/// holds, so an unchanged cluster costs no writes.
pub fn is_subset(desired: &Value, actual: &Value) -> bool {
    match (desired, actual) {
        (Value::Object(d), Value::Object(a)) => d.iter().all(|(k, dv)| match a.get(k) {
            Some(av) => is_subset(dv, av),
            None => dv.is_null() || is_empty(dv),
        }),
        (Value::Array(d), Value::Array(a)) => {
            d.len() == a.len() && d.iter().zip(a).all(|(x, y)| is_subset(x, y))
        }
        _ => desired == actual,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}
