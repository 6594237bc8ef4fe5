//! An in-memory API server for the operations of [`Store`]: resourceVersion and generation
//! bumps, server-side apply that replaces the fields the manager applied before, owner
//! references with cascading deletion, finalizers that block deletion, immutable
//! StatefulSet fields, and a log of every write so tests can assert "no writes".

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};

use super::{EventRecord, FIELD_MANAGER, Kind, MetadataPatch, ObjectKey, Store, StoreError};

/// One write call made through the [`Store`] trait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteLog {
    /// `apply`, `delete`, `patch_status`, `patch_metadata` or `event`.
    pub verb: &'static str,
    /// `Kind/namespace/name` of the target.
    pub target: String,
}

#[derive(Clone, Debug)]
struct Entry {
    object: Value,
    /// What each field manager last applied (server-side apply ownership, simplified to
    /// "the fields of the last applied configuration").
    applied: BTreeMap<String, Value>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<ObjectKey, Entry>,
    next_rv: u64,
    events: Vec<EventRecord>,
    writes: Vec<WriteLog>,
    /// (API group, resource, verb) of every call, for the RBAC drift check.
    uses: BTreeSet<(String, String, String)>,
}

impl State {
    fn used(&mut self, kind: &Kind, subresource: &str, verbs: &[&str]) {
        let group = crate::rbac::group_of(&kind.api_version).to_string();
        let resource = format!("{}{subresource}", kind.plural);
        for v in verbs {
            self.uses
                .insert((group.clone(), resource.clone(), (*v).to_string()));
        }
    }
}

/// In-memory [`Store`]; cheap to clone (shared state).
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

fn target(key: &ObjectKey) -> String {
    format!("{}/{}/{}", key.kind.kind, key.namespace, key.name)
}

impl MemoryStore {
    /// An empty API server.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a test panicked mid-write; the state is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Create an object as another actor would (e.g. presslabs, a user): not logged as an
    /// operator write, applied under `manager`. Returns the stored object.
    pub fn seed(&self, kind: &Kind, object: Value, manager: &str) -> Result<Value, StoreError> {
        let key = key_of(kind, &object);
        let mut st = self.lock();
        apply_locked(&mut st, &key, object, manager)
    }

    /// Replace an object's status as another actor would (e.g. the StatefulSet controller).
    pub fn seed_status(&self, key: &ObjectKey, status: Value) -> Result<(), StoreError> {
        let mut st = self.lock();
        patch_status_locked(&mut st, key, status)
    }

    /// Every write call made through the [`Store`] trait, oldest first.
    pub fn writes(&self) -> Vec<WriteLog> {
        self.lock().writes.clone()
    }

    /// Every (API group, resource, verb) the reconcilers needed so far; compare with
    /// [`crate::rbac::required_rules`] via [`crate::rbac::uncovered`].
    pub fn api_uses(&self) -> BTreeSet<(String, String, String)> {
        self.lock().uses.clone()
    }

    /// Forget the write log (between the steps of a test).
    pub fn clear_writes(&self) {
        self.lock().writes.clear();
    }

    /// Every Event recorded, oldest first.
    pub fn events(&self) -> Vec<EventRecord> {
        self.lock().events.clone()
    }

    /// The stored object, if any.
    pub fn object(&self, key: &ObjectKey) -> Option<Value> {
        self.lock().objects.get(key).map(|e| e.object.clone())
    }

    /// All stored objects of `kind` (any namespace), by key order.
    pub fn objects_of(&self, kind: &Kind) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|(k, _)| &k.kind == kind)
            .map(|(_, e)| e.object.clone())
            .collect()
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.lock().objects.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().objects.is_empty()
    }
}

fn key_of(kind: &Kind, object: &Value) -> ObjectKey {
    let s = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    ObjectKey {
        kind: kind.clone(),
        namespace: s("/metadata/namespace"),
        name: s("/metadata/name"),
    }
}

fn bump(st: &mut State) -> String {
    st.next_rv += 1;
    st.next_rv.to_string()
}

/// Leaf paths of `v` (objects recursed; arrays and scalars are leaves).
fn leaf_paths(v: &Value, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                prefix.push(k.clone());
                leaf_paths(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            out.insert(prefix.clone());
        }
    }
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Value::Object(m) = v {
        if rest.is_empty() {
            m.remove(first);
        } else if let Some(child) = m.get_mut(first) {
            remove_path(child, rest);
            if child.as_object().is_some_and(Map::is_empty) {
                m.remove(first);
            }
        }
    }
}

fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, pv) in p {
                match b.get_mut(k) {
                    Some(bv) if bv.is_object() && pv.is_object() => merge(bv, pv),
                    _ => {
                        b.insert(k.clone(), pv.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Fields the API server owns: never taken from an applied configuration.
const SERVER_FIELDS: [&str; 5] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
];

const IMMUTABLE_STS: [&str; 3] = [
    "/spec/selector",
    "/spec/serviceName",
    "/spec/volumeClaimTemplates",
];

/// The API server's defaulting that matters for comparisons: claim templates of a
/// StatefulSet always carry `apiVersion: v1` and `kind: PersistentVolumeClaim`.
fn default_fields(key: &ObjectKey, object: &mut Value) {
    if key.kind.kind != "StatefulSet" {
        return;
    }
    if let Some(vcts) = object
        .pointer_mut("/spec/volumeClaimTemplates")
        .and_then(Value::as_array_mut)
    {
        for t in vcts.iter_mut().filter_map(Value::as_object_mut) {
            t.entry("apiVersion")
                .or_insert_with(|| Value::String("v1".into()));
            t.entry("kind")
                .or_insert_with(|| Value::String("PersistentVolumeClaim".into()));
        }
    }
}

fn apply_locked(
    st: &mut State,
    key: &ObjectKey,
    mut object: Value,
    manager: &str,
) -> Result<Value, StoreError> {
    if key.name.is_empty() {
        return Err(StoreError::invalid(key, "metadata.name is required"));
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in SERVER_FIELDS {
            meta.remove(f);
        }
    }
    if let Some(m) = object.as_object_mut() {
        m.remove("status");
    }
    let existing = st.objects.get(key).cloned();
    let (mut merged, mut applied) = match &existing {
        Some(e) => {
            let mut base = e.object.clone();
            if let Some(prev) = e.applied.get(manager) {
                let (mut old, mut new) = (BTreeSet::new(), BTreeSet::new());
                leaf_paths(prev, &mut Vec::new(), &mut old);
                leaf_paths(&object, &mut Vec::new(), &mut new);
                for gone in old.difference(&new) {
                    remove_path(&mut base, gone);
                }
            }
            (base, e.applied.clone())
        }
        None => (Value::Object(Map::new()), BTreeMap::new()),
    };
    merge(&mut merged, &object);
    default_fields(key, &mut merged);
    applied.insert(manager.to_string(), object);
    if let Some(e) = &existing {
        if key.kind.kind == "StatefulSet" {
            for p in IMMUTABLE_STS {
                if merged.pointer(p) != e.object.pointer(p) {
                    return Err(StoreError::invalid(
                        key,
                        format!(
                            "spec: Forbidden: updates to statefulset spec field {} are forbidden",
                            &p[6..]
                        ),
                    ));
                }
            }
        }
        if merged == e.object {
            if let Some(entry) = st.objects.get_mut(key) {
                entry.applied = applied;
            }
            return Ok(merged);
        }
        let spec_changed = merged.get("spec") != e.object.get("spec");
        let rv = bump(st);
        if let Some(meta) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(rv));
            if spec_changed {
                let g = meta.get("generation").and_then(Value::as_i64).unwrap_or(1) + 1;
                meta.insert("generation".into(), g.into());
            }
        }
    } else {
        let rv = bump(st);
        let uid = format!("uid-{rv}");
        if let Some(meta) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(rv));
            meta.insert("uid".into(), Value::String(uid));
            meta.insert("generation".into(), 1.into());
            meta.insert(
                "creationTimestamp".into(),
                Value::String("2026-01-01T00:00:00Z".into()),
            );
        }
    }
    st.objects.insert(
        key.clone(),
        Entry {
            object: merged.clone(),
            applied,
        },
    );
    Ok(merged)
}

fn patch_status_locked(st: &mut State, key: &ObjectKey, status: Value) -> Result<(), StoreError> {
    let current = st
        .objects
        .get(key)
        .ok_or_else(|| StoreError::not_found(key))?;
    if current.object.get("status") == Some(&status) {
        return Ok(());
    }
    let rv = bump(st);
    if let Some(entry) = st.objects.get_mut(key) {
        if let Value::Object(m) = &mut entry.object {
            m.insert("status".into(), status);
        }
        if let Some(meta) = entry
            .object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
        {
            meta.insert("resourceVersion".into(), Value::String(rv));
        }
    }
    Ok(())
}

fn finalizers(v: &Value) -> Vec<String> {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Remove `key` now, then every object owned (only) by removed objects, like the garbage
/// collector's background cascade; dependents with finalizers get a deletionTimestamp.
fn remove_cascade(st: &mut State, key: &ObjectKey) {
    let mut queue = vec![key.clone()];
    while let Some(k) = queue.pop() {
        let Some(entry) = st.objects.remove(&k) else {
            continue;
        };
        let Some(uid) = entry
            .object
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(String::from)
        else {
            continue;
        };
        let dependents: Vec<ObjectKey> = st
            .objects
            .iter()
            .filter(|(_, e)| {
                e.object
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid.as_str()))
                    })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for d in dependents {
            mark_deleted(st, &d, &mut queue);
        }
    }
}

fn mark_deleted(st: &mut State, key: &ObjectKey, queue: &mut Vec<ObjectKey>) {
    let Some(entry) = st.objects.get(key) else {
        return;
    };
    if finalizers(&entry.object).is_empty() {
        queue.push(key.clone());
        return;
    }
    if entry
        .object
        .pointer("/metadata/deletionTimestamp")
        .is_some()
    {
        return;
    }
    let rv = bump(st);
    if let Some(meta) = st
        .objects
        .get_mut(key)
        .and_then(|e| e.object.get_mut("metadata"))
        .and_then(Value::as_object_mut)
    {
        meta.insert(
            "deletionTimestamp".into(),
            Value::String("2026-01-01T00:00:00Z".into()),
        );
        meta.insert("resourceVersion".into(), Value::String(rv));
    }
}

impl Store for MemoryStore {
    async fn get_raw(&self, key: &ObjectKey) -> Result<Option<Value>, StoreError> {
        self.lock().used(&key.kind, "", &["get"]);
        Ok(self.object(key))
    }

    async fn list_raw(
        &self,
        kind: &Kind,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> Result<Vec<Value>, StoreError> {
        let mut st = self.lock();
        st.used(kind, "", &["list"]);
        Ok(st
            .objects
            .iter()
            .filter(|(k, _)| &k.kind == kind && k.namespace == namespace)
            .filter(|(_, e)| {
                selector.iter().all(|(l, v)| {
                    e.object
                        .pointer("/metadata/labels")
                        .and_then(|m| m.get(l))
                        .and_then(Value::as_str)
                        == Some(v)
                })
            })
            .map(|(_, e)| e.object.clone())
            .collect())
    }

    async fn apply_raw(&self, key: &ObjectKey, object: Value) -> Result<Value, StoreError> {
        let mut st = self.lock();
        st.writes.push(WriteLog {
            verb: "apply",
            target: target(key),
        });
        // Server-side apply is a patch, and a create when the object is new.
        st.used(&key.kind, "", &["create", "patch"]);
        apply_locked(&mut st, key, object, FIELD_MANAGER)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let mut st = self.lock();
        st.writes.push(WriteLog {
            verb: "delete",
            target: target(key),
        });
        st.used(&key.kind, "", &["delete"]);
        let mut queue = Vec::new();
        mark_deleted(&mut st, key, &mut queue);
        for k in queue {
            remove_cascade(&mut st, &k);
        }
        Ok(())
    }

    async fn patch_status(&self, key: &ObjectKey, status: Value) -> Result<(), StoreError> {
        let mut st = self.lock();
        st.writes.push(WriteLog {
            verb: "patch_status",
            target: target(key),
        });
        st.used(&key.kind, "/status", &["patch"]);
        patch_status_locked(&mut st, key, status)
    }

    async fn patch_metadata(
        &self,
        key: &ObjectKey,
        patch: &MetadataPatch,
    ) -> Result<(), StoreError> {
        let mut st = self.lock();
        st.writes.push(WriteLog {
            verb: "patch_metadata",
            target: target(key),
        });
        st.used(&key.kind, "", &["patch"]);
        let rv = bump(&mut st);
        let entry = st
            .objects
            .get_mut(key)
            .ok_or_else(|| StoreError::not_found(key))?;
        let Some(meta) = entry
            .object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
        else {
            return Err(StoreError::invalid(key, "object has no metadata"));
        };
        if !patch.labels.is_empty() {
            let labels = meta
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(l) = labels {
                for (k, v) in &patch.labels {
                    match v {
                        Some(v) => l.insert(k.clone(), Value::String(v.clone())),
                        None => l.remove(k),
                    };
                }
            }
        }
        if let Some(f) = &patch.finalizers {
            if f.is_empty() {
                meta.remove("finalizers");
            } else {
                meta.insert(
                    "finalizers".into(),
                    f.iter().cloned().map(Value::String).collect(),
                );
            }
        }
        meta.insert("resourceVersion".into(), Value::String(rv));
        let gone = meta.contains_key("deletionTimestamp") && !meta.contains_key("finalizers");
        if gone {
            remove_cascade(&mut st, key);
        }
        Ok(())
    }

    async fn create_event(&self, event: EventRecord) -> Result<(), StoreError> {
        let mut st = self.lock();
        st.writes.push(WriteLog {
            verb: "event",
            target: target(&event.regarding),
        });
        let events = Kind {
            api_version: "v1".into(),
            kind: "Event".into(),
            plural: "events".into(),
        };
        st.used(&events, "", &["create"]);
        st.events.push(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    fn cm_kind() -> Kind {
        Kind::of::<ConfigMap>()
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey::of::<ConfigMap>("ns", name)
    }

    fn cm(name: &str, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, "data": data})
    }

    #[tokio::test]
    async fn apply_bumps_resource_version_only_on_change() {
        let s = MemoryStore::new();
        let a = s
            .apply_raw(&key("a"), cm("a", json!({"x": "1"})))
            .await
            .unwrap();
        let rv1 = a["metadata"]["resourceVersion"].clone();
        assert!(a["metadata"]["uid"].is_string());
        let b = s
            .apply_raw(&key("a"), cm("a", json!({"x": "1"})))
            .await
            .unwrap();
        assert_eq!(
            b["metadata"]["resourceVersion"], rv1,
            "a no-op apply keeps the resourceVersion"
        );
        let c = s
            .apply_raw(&key("a"), cm("a", json!({"x": "2"})))
            .await
            .unwrap();
        assert_ne!(c["metadata"]["resourceVersion"], rv1);
        assert_eq!(c["data"]["x"], "2");
        assert_eq!(s.writes().len(), 3);
    }

    #[tokio::test]
    async fn apply_drops_fields_the_manager_no_longer_applies_but_keeps_others() {
        let s = MemoryStore::new();
        s.seed(&cm_kind(), cm("a", json!({"theirs": "t"})), "kubectl")
            .unwrap();
        s.apply_raw(&key("a"), cm("a", json!({"mine": "1", "old": "o"})))
            .await
            .unwrap();
        let v = s
            .apply_raw(&key("a"), cm("a", json!({"mine": "2"})))
            .await
            .unwrap();
        assert_eq!(v["data"], json!({"theirs": "t", "mine": "2"}));
    }

    #[tokio::test]
    async fn finalizers_block_deletion_until_cleared() {
        let s = MemoryStore::new();
        let mut o = cm("a", json!({}));
        o["metadata"]["finalizers"] = json!(["example.com/f"]);
        s.seed(&cm_kind(), o, "user").unwrap();
        s.delete(&key("a")).await.unwrap();
        let v = s
            .object(&key("a"))
            .expect("still there while a finalizer is set");
        assert!(v["metadata"]["deletionTimestamp"].is_string());
        s.patch_metadata(
            &key("a"),
            &MetadataPatch {
                finalizers: Some(vec![]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(
            s.object(&key("a")).is_none(),
            "gone once the last finalizer is removed"
        );
    }

    #[tokio::test]
    async fn owner_deletion_cascades_to_dependents() {
        let s = MemoryStore::new();
        let owner = s.seed(&cm_kind(), cm("owner", json!({})), "user").unwrap();
        let mut dep = cm("dep", json!({}));
        dep["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}]);
        s.apply_raw(&key("dep"), dep).await.unwrap();
        assert!(s.object(&key("dep")).unwrap()["metadata"]["ownerReferences"].is_array());
        s.delete(&key("owner")).await.unwrap();
        assert!(s.is_empty());
    }

    #[tokio::test]
    async fn statefulset_immutable_fields_are_refused() {
        let s = MemoryStore::new();
        let k = ObjectKey::of::<StatefulSet>("ns", "db");
        let sts = |svc: &str| {
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "ns"},
                   "spec": {"serviceName": svc, "selector": {"matchLabels": {"a": "b"}}, "template": {}}})
        };
        s.seed(&Kind::of::<StatefulSet>(), sts("mysql"), "presslabs")
            .unwrap();
        let err = s.apply_raw(&k, sts("other")).await.unwrap_err();
        assert!(err.to_string().contains("serviceName"), "{err}");
        assert_eq!(s.object(&k).unwrap()["spec"]["serviceName"], "mysql");
    }

    #[tokio::test]
    async fn list_filters_by_namespace_and_labels_and_status_patch_is_idempotent() {
        let s = MemoryStore::new();
        let mut a = cm("a", json!({}));
        a["metadata"]["labels"] = json!({"app": "x"});
        s.seed(&cm_kind(), a, "u").unwrap();
        s.seed(&cm_kind(), cm("b", json!({})), "u").unwrap();
        let sel = BTreeMap::from([("app".to_string(), "x".to_string())]);
        assert_eq!(s.list_raw(&cm_kind(), "ns", &sel).await.unwrap().len(), 1);
        assert_eq!(
            s.list_raw(&cm_kind(), "other", &BTreeMap::new())
                .await
                .unwrap()
                .len(),
            0
        );
        s.patch_status(&key("a"), json!({"ok": true}))
            .await
            .unwrap();
        let rv = s.object(&key("a")).unwrap()["metadata"]["resourceVersion"].clone();
        s.patch_status(&key("a"), json!({"ok": true}))
            .await
            .unwrap();
        assert_eq!(
            s.object(&key("a")).unwrap()["metadata"]["resourceVersion"],
            rv
        );
        let err = s.patch_status(&key("nope"), json!({})).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }));
    }
}
