//! [`Store`] on a real API server through a kube `Client` (dynamic objects, server-side
//! apply with field manager `mysql-operator`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Client, Error as KubeError};
use serde_json::{Value, json};

use super::{EventRecord, FIELD_MANAGER, Kind, MetadataPatch, ObjectKey, Store, StoreError};

/// [`Store`] backed by a kube [`Client`].
#[derive(Clone)]
pub struct KubeStore {
    client: Client,
    /// Reported as the event source (`reportingController`).
    reporter: String,
}

impl KubeStore {
    /// Wrap a client; `reporter` names this controller in Events (e.g. the pod name).
    pub fn new(client: Client, reporter: impl Into<String>) -> Self {
        Self {
            client,
            reporter: reporter.into(),
        }
    }

    fn api(&self, kind: &Kind, namespace: &str) -> Api<DynamicObject> {
        let (group, version) = match kind.api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), kind.api_version.clone()),
        };
        let ar = ApiResource {
            group,
            version,
            api_version: kind.api_version.clone(),
            kind: kind.kind.clone(),
            plural: kind.plural.clone(),
        };
        Api::namespaced_with(self.client.clone(), namespace, &ar)
    }
}

fn to_value(key: &ObjectKey, o: DynamicObject) -> Result<Value, StoreError> {
    serde_json::to_value(o).map_err(|e| StoreError::serde(key, e))
}

fn is_not_found(e: &KubeError) -> bool {
    matches!(e, KubeError::Api(s) if s.code == 404)
}

impl Store for KubeStore {
    async fn get_raw(&self, key: &ObjectKey) -> Result<Option<Value>, StoreError> {
        match self
            .api(&key.kind, &key.namespace)
            .get_opt(&key.name)
            .await?
        {
            Some(o) => to_value(key, o).map(Some),
            None => Ok(None),
        }
    }

    async fn list_raw(
        &self,
        kind: &Kind,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> Result<Vec<Value>, StoreError> {
        let labels = selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let list = self
            .api(kind, namespace)
            .list(&ListParams::default().labels(&labels))
            .await?;
        list.items
            .into_iter()
            .map(|o| {
                let key = ObjectKey {
                    kind: kind.clone(),
                    namespace: namespace.into(),
                    name: o.metadata.name.clone().unwrap_or_default(),
                };
                let mut v = to_value(&key, o)?;
                // List items come without apiVersion/kind; typed decoding wants them.
                if let Value::Object(m) = &mut v {
                    m.insert("apiVersion".into(), Value::String(kind.api_version.clone()));
                    m.insert("kind".into(), Value::String(kind.kind.clone()));
                }
                Ok(v)
            })
            .collect()
    }

    async fn apply_raw(&self, key: &ObjectKey, object: Value) -> Result<Value, StoreError> {
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let o = self
            .api(&key.kind, &key.namespace)
            .patch(&key.name, &pp, &Patch::Apply(&object))
            .await
            .map_err(|e| match e {
                KubeError::Api(s) if s.code == 422 => StoreError::invalid(key, s.message.clone()),
                other => StoreError::Api(other),
            })?;
        to_value(key, o)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        match self
            .api(&key.kind, &key.namespace)
            .delete(&key.name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn patch_status(&self, key: &ObjectKey, status: Value) -> Result<(), StoreError> {
        let patch = json!({ "status": status });
        self.api(&key.kind, &key.namespace)
            .patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    async fn patch_metadata(
        &self,
        key: &ObjectKey,
        patch: &MetadataPatch,
    ) -> Result<(), StoreError> {
        let mut meta = serde_json::Map::new();
        if !patch.labels.is_empty() {
            let labels: serde_json::Map<String, Value> = patch
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
                .collect();
            meta.insert("labels".into(), Value::Object(labels));
        }
        if let Some(f) = &patch.finalizers {
            meta.insert("finalizers".into(), json!(f));
        }
        let body = json!({ "metadata": meta });
        self.api(&key.kind, &key.namespace)
            .patch(&key.name, &PatchParams::default(), &Patch::Merge(&body))
            .await?;
        Ok(())
    }

    async fn create_event(&self, event: EventRecord) -> Result<(), StoreError> {
        let now = k8s_openapi::jiff::Timestamp::now();
        let r = &event.regarding;
        let ev = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.", r.name)),
                namespace: Some(r.namespace.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some(r.kind.api_version.clone()),
                kind: Some(r.kind.kind.clone()),
                name: Some(r.name.clone()),
                namespace: Some(r.namespace.clone()),
                ..Default::default()
            },
            type_: Some(event.type_),
            reason: Some(event.reason),
            message: Some(event.message),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            action: Some("Reconcile".into()),
            reporting_component: Some(FIELD_MANAGER.into()),
            reporting_instance: Some(self.reporter.clone()),
            count: Some(1),
            ..Default::default()
        };
        Api::<Event>::namespaced(self.client.clone(), &r.namespace)
            .create(&PostParams::default(), &ev)
            .await?;
        Ok(())
    }
}
