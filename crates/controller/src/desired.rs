//! The objects a cluster should have, behind the [`Renderer`] seam. [`BuiltinRenderer`]
//! is a stand-in with presslabs' names, labels and selectors until `crates/render`
//! exposes whole-object rendering; the reconciler only depends on the trait.

use std::collections::BTreeMap;

use api::MysqlCluster;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EnvFromSource, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, Secret, SecretEnvSource, Service,
    ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// presslabs' label values, kept so existing Services and tooling keep matching.
pub mod labels {
    /// `app.kubernetes.io/name`.
    pub const NAME: &str = "app.kubernetes.io/name";
    /// `app.kubernetes.io/managed-by`.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// The cluster a pod or object belongs to.
    pub const CLUSTER: &str = "mysql.presslabs.org/cluster";
    /// Pod role: `master` or `replica` (set by the HA loop).
    pub const ROLE: &str = "role";
    /// Pod health: `yes` or `no` (set by the HA loop).
    pub const HEALTHY: &str = "healthy";
}

/// Pod-template annotation carrying the hash of the rendered ConfigMap (rolling restart
/// when the config changes).
pub const CONFIG_REV: &str = "mysql.presslabs.org/config-rev";
/// Pod-template annotation carrying the hash of the operated Secret.
pub const SECRET_REV: &str = "mysql.presslabs.org/secret-rev";

/// Object names presslabs used for a cluster, so its objects are adopted in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// `<c>-mysql`: StatefulSet, ConfigMap, PDB.
    pub statefulset: String,
    /// `<c>-mysql-master`.
    pub master_service: String,
    /// `<c>-mysql-replicas`.
    pub replicas_service: String,
    /// `<c>-mysql` (all healthy nodes).
    pub cluster_service: String,
    /// `mysql`: the namespace-wide headless service the StatefulSet names.
    pub headless_service: String,
    /// `<c>-mysql-operated`.
    pub operated_secret: String,
    /// `<c>-mysql`.
    pub config_map: String,
    /// `<c>-mysql`.
    pub pdb: String,
}

impl Names {
    /// The names for cluster `c`.
    pub fn of(c: &str) -> Names {
        Names {
            statefulset: format!("{c}-mysql"),
            master_service: format!("{c}-mysql-master"),
            replicas_service: format!("{c}-mysql-replicas"),
            cluster_service: format!("{c}-mysql"),
            headless_service: "mysql".into(),
            operated_secret: format!("{c}-mysql-operated"),
            config_map: format!("{c}-mysql"),
            pdb: format!("{c}-mysql"),
        }
    }

    /// Name of the data PVC of pod `ordinal` (`data-<c>-mysql-<n>`).
    pub fn pvc(&self, ordinal: i32) -> String {
        format!("data-{}-{ordinal}", self.statefulset)
    }
}

/// The labels selecting a cluster's pods (presslabs' `GetSelectorLabels`).
pub fn selector_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.into(), "mysql".into()),
        (labels::MANAGED_BY.into(), "mysql.presslabs.org".into()),
        (labels::CLUSTER.into(), cluster.into()),
    ])
}

/// What the operator feeds the renderer besides the cluster.
#[derive(Clone, Debug, Default)]
pub struct RenderInputs {
    /// Image of the init/agent containers (`--sidecar-image`), used when the cluster sets none.
    pub sidecar_image: String,
    /// Hash of the operated Secret's data (the `secret-rev` annotation).
    pub secret_rev: String,
    /// The verified plugin manifest (JSON), rendered into the ConfigMap as `plugins.json`.
    pub plugin_manifest: Option<String>,
    /// ConfigMaps holding the cluster's modules, mounted into the init and agent containers.
    pub plugin_config_maps: Vec<String>,
}

/// Everything applied for one cluster, except the operated Secret (the reconciler owns
/// its passwords).
#[derive(Clone, Debug)]
pub struct Desired {
    /// `<c>-mysql`.
    pub statefulset: StatefulSet,
    /// Master, replicas, cluster and headless Services.
    pub services: Vec<Service>,
    /// `<c>-mysql` with `my.cnf`.
    pub config_map: ConfigMap,
    /// `None` when the cluster gets no PDB (single pod, no minAvailable).
    pub pdb: Option<PodDisruptionBudget>,
}

/// Why a cluster cannot be rendered: the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} (hint: {hint})")]
pub struct RenderFailure {
    /// Spec path at fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

/// Spec → objects; pure and deterministic, so a second reconcile changes nothing.
pub trait Renderer: Send + Sync + 'static {
    /// The desired objects for `cluster`.
    fn render(
        &self,
        cluster: &MysqlCluster,
        inputs: &RenderInputs,
    ) -> Result<Desired, RenderFailure>;
}

/// The stand-in renderer (see the module doc).
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltinRenderer;

fn meta(name: &str, ns: &str, labels: &BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        labels: Some(labels.clone()),
        ..Default::default()
    }
}

fn service(
    name: &str,
    ns: &str,
    labels: &BTreeMap<String, String>,
    selector: BTreeMap<String, String>,
) -> Service {
    Service {
        metadata: meta(name, ns, labels),
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                name: Some("mysql".into()),
                port: 3306,
                target_port: Some(IntOrString::Int(3306)),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The `my.cnf` the stand-in renders: the user's `mysqlConf` as written.
fn my_cnf(cluster: &MysqlCluster) -> String {
    let mut s = String::from("[mysqld]\n");
    for (k, v) in &cluster.spec.mysql_conf {
        let v = match v {
            IntOrString::Int(i) => i.to_string(),
            IntOrString::String(s) => s.clone(),
        };
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

/// sha256 of a string map, in key order (the revision annotations).
pub fn digest_map<'a>(entries: impl IntoIterator<Item = (&'a String, &'a [u8])>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (k, v) in entries {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v);
        h.update([0]);
    }
    hex::encode(h.finalize())
}

impl Renderer for BuiltinRenderer {
    fn render(
        &self,
        cluster: &MysqlCluster,
        inputs: &RenderInputs,
    ) -> Result<Desired, RenderFailure> {
        let name = cluster.metadata.name.as_deref().unwrap_or_default();
        let ns = cluster.metadata.namespace.as_deref().unwrap_or_default();
        let spec = &cluster.spec;
        let names = Names::of(name);
        let sel = selector_labels(name);
        let image = spec.effective_image().map_err(|e| RenderFailure {
            field: "spec.mysqlVersion".into(),
            message: e.to_string(),
            hint: "set spec.image, or a known spec.mysqlVersion".into(),
        })?;
        let sidecar = spec
            .sidecar_image
            .clone()
            .unwrap_or_else(|| inputs.sidecar_image.clone());

        let mut data = BTreeMap::from([("my.cnf".to_string(), my_cnf(cluster))]);
        if let Some(m) = &inputs.plugin_manifest {
            data.insert("plugins.json".into(), m.clone());
        }
        let config_map = ConfigMap {
            metadata: meta(&names.config_map, ns, &sel),
            data: Some(data),
            ..Default::default()
        };
        let config_rev = digest_map(
            config_map
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k, v.as_bytes())),
        );

        let mut pod_labels = sel.clone();
        pod_labels.extend(spec.pod_spec.labels.clone());
        let mut annotations = spec.pod_spec.annotations.clone();
        annotations.insert(CONFIG_REV.into(), config_rev);
        annotations.insert(SECRET_REV.into(), inputs.secret_rev.clone());

        let env_from = vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: names.operated_secret.clone(),
                optional: None,
            }),
            ..Default::default()
        }];
        let mounts = vec![
            VolumeMount {
                name: "data".into(),
                mount_path: "/var/lib/mysql".into(),
                ..Default::default()
            },
            VolumeMount {
                name: "conf".into(),
                mount_path: "/etc/mysql".into(),
                ..Default::default()
            },
        ];
        let plugin_volumes: Vec<Volume> = inputs
            .plugin_config_maps
            .iter()
            .map(|cm| Volume {
                name: format!("plugins-{cm}"),
                config_map: Some(ConfigMapVolumeSource {
                    name: cm.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        let mut operator_mounts = mounts.clone();
        operator_mounts.extend(inputs.plugin_config_maps.iter().map(|cm| VolumeMount {
            name: format!("plugins-{cm}"),
            mount_path: format!("/etc/mysql-operator/plugins/{cm}"),
            read_only: Some(true),
            ..Default::default()
        }));
        let mut containers = vec![
            Container {
                name: "mysql".into(),
                image: Some(image),
                image_pull_policy: spec.pod_spec.image_pull_policy.clone(),
                resources: spec.pod_spec.resources.clone(),
                env_from: Some(env_from.clone()),
                volume_mounts: Some(mounts.clone()),
                ..Default::default()
            },
            Container {
                name: "sidecar".into(),
                image: Some(sidecar.clone()),
                args: Some(vec!["agent".into()]),
                env_from: Some(env_from.clone()),
                volume_mounts: Some(operator_mounts.clone()),
                ..Default::default()
            },
        ];
        containers.extend(spec.pod_spec.containers.clone());
        let mut init = vec![Container {
            name: "init".into(),
            image: Some(sidecar),
            args: Some(vec!["init".into()]),
            env_from: Some(env_from),
            volume_mounts: Some(operator_mounts),
            ..Default::default()
        }];
        init.extend(spec.pod_spec.init_containers.clone());

        let mut volumes = vec![Volume {
            name: "conf".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: names.config_map.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }];
        let vs = &spec.volume_spec;
        let claim_templates = match (&vs.persistent_volume_claim, &vs.host_path, &vs.empty_dir) {
            (Some(pvc), _, _) => Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some("data".into()),
                    labels: Some(sel.clone()),
                    ..Default::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: pvc
                        .access_modes
                        .clone()
                        .or_else(|| Some(vec!["ReadWriteOnce".into()])),
                    ..pvc.clone()
                }),
                ..Default::default()
            }]),
            (None, Some(hp), _) => {
                volumes.push(Volume {
                    name: "data".into(),
                    host_path: Some(hp.clone()),
                    ..Default::default()
                });
                None
            }
            (None, None, ed) => {
                volumes.push(Volume {
                    name: "data".into(),
                    empty_dir: Some(ed.clone().unwrap_or_default()),
                    ..Default::default()
                });
                None
            }
        };
        volumes.extend(plugin_volumes);
        volumes.extend(spec.pod_spec.volumes.clone());

        let statefulset = StatefulSet {
            metadata: meta(&names.statefulset, ns, &sel),
            spec: StatefulSetSpec {
                replicas: Some(spec.effective_replicas()),
                service_name: Some(names.headless_service.clone()),
                selector: LabelSelector {
                    match_labels: Some(sel.clone()),
                    ..Default::default()
                },
                pod_management_policy: Some("OrderedReady".into()),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(pod_labels),
                        annotations: Some(annotations),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        containers,
                        init_containers: Some(init),
                        volumes: Some(volumes),
                        affinity: spec.pod_spec.affinity.clone(),
                        node_selector: Some(spec.pod_spec.node_selector.clone())
                            .filter(|m| !m.is_empty()),
                        tolerations: Some(spec.pod_spec.tolerations.clone())
                            .filter(|t| !t.is_empty()),
                        priority_class_name: spec.pod_spec.priority_class_name.clone(),
                        service_account_name: spec.pod_spec.service_account_name.clone(),
                        image_pull_secrets: Some(spec.pod_spec.image_pull_secrets.clone())
                            .filter(|s| !s.is_empty()),
                        ..Default::default()
                    }),
                },
                volume_claim_templates: claim_templates,
                ..Default::default()
            },
            ..Default::default()
        };

        let with = |extra: &[(&str, &str)]| {
            let mut s = sel.clone();
            s.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            s
        };
        let mut headless = service(
            &names.headless_service,
            ns,
            &BTreeMap::from([(labels::NAME.to_string(), "mysql".to_string())]),
            BTreeMap::from([(labels::NAME.to_string(), "mysql".to_string())]),
        );
        if let Some(s) = headless.spec.as_mut() {
            s.cluster_ip = Some("None".into());
            s.publish_not_ready_addresses = Some(true);
        }
        let services = vec![
            service(
                &names.master_service,
                ns,
                &sel,
                with(&[(labels::ROLE, "master")]),
            ),
            service(
                &names.replicas_service,
                ns,
                &sel,
                with(&[(labels::ROLE, "replica"), (labels::HEALTHY, "yes")]),
            ),
            service(
                &names.cluster_service,
                ns,
                &sel,
                with(&[(labels::HEALTHY, "yes")]),
            ),
            headless,
        ];

        let pdb = spec
            .effective_min_available()
            .map(|min| PodDisruptionBudget {
                metadata: meta(&names.pdb, ns, &sel),
                spec: Some(PodDisruptionBudgetSpec {
                    min_available: Some(min),
                    selector: Some(LabelSelector {
                        match_labels: Some(sel.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            });

        Ok(Desired {
            statefulset,
            services,
            config_map,
            pdb,
        })
    }
}

/// The empty operated Secret shell (name, labels); the reconciler fills its data.
pub fn operated_secret_shell(cluster: &MysqlCluster) -> Secret {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let ns = cluster.metadata.namespace.as_deref().unwrap_or_default();
    Secret {
        metadata: meta(&Names::of(name).operated_secret, ns, &selector_labels(name)),
        ..Default::default()
    }
}
