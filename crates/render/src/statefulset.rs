//! The StatefulSet `<c>-mysql`: presslabs' shape (governing Service `mysql`, PVC template
//! `data`, selector labels, config/secret revision annotations) with our containers — the
//! `init` step and `agent` sidecar running `mysql-operator`, `mysqld`, and the metrics
//! exporter — and the user's `podSpec` passed through. What each container gets (command,
//! env, files) is the pod contract of [`crate::pod`].

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, ExecAction, HTTPGetAction, Lifecycle, LifecycleHandler, LocalObjectReference,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource,
    PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecretKeySelector, Volume, VolumeMount, VolumeResourceRequirements,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cluster::ClusterInput;
use crate::meta::Ctx;
use crate::names::{
    AGENT_PORT, AGENT_PORT_NAME, CONF_DIR, CONFIG_MAP_DIR, DATA_DIR, DATA_VOLUME, EXPORTER_PATH,
    EXPORTER_PORT, EXPORTER_PORT_NAME, HEADLESS_SERVICE, MYSQL_PORT, MYSQL_PORT_NAME,
};
use crate::plugins;
use crate::pod::{AgentContainer, InitContainer, MysqlContainer, PodIdentity};

/// Container names (presslabs' `init` and `mysql`; `agent` replaces its `sidecar`).
pub const INIT_CONTAINER: &str = "init";
pub const MYSQL_CONTAINER: &str = "mysql";
pub const AGENT_CONTAINER: &str = "agent";
pub const EXPORTER_CONTAINER: &str = "metrics-exporter";

/// Pod volume names (presslabs' names).
pub const CONF_VOLUME: &str = "conf";
pub const CONFIG_MAP_VOLUME: &str = "config-map";
pub const TMP_VOLUME: &str = "tmp";

/// The binary in the sidecar image, and its subcommands for the two roles.
pub const OPERATOR_BINARY: &str = "mysql-operator";

/// UID/GID of `mysql` in the server and tools images; volumes are group-owned by it.
pub const MYSQL_UID: i64 = 999;

/// Pod annotations that roll the pods when the config or the operated Secret changes.
pub const CONFIG_REV_ANNOTATION: &str = "config_rev";
pub const SECRET_REV_ANNOTATION: &str = "secret_rev";

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..VolumeMount::default()
    }
}

fn tcp_port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: port,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

/// Presslabs' probe shape: delay, timeout, period; one success, three failures.
fn probe(delay: i32, timeout: i32, period: i32) -> Probe {
    Probe {
        initial_delay_seconds: Some(delay),
        timeout_seconds: Some(timeout),
        period_seconds: Some(period),
        success_threshold: Some(1),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn http_probe(delay: i32, timeout: i32, period: i32, path: &str, port: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(port),
            scheme: Some("HTTP".into()),
            ..HTTPGetAction::default()
        }),
        ..probe(delay, timeout, period)
    }
}

fn resources(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> ResourceRequirements {
    let list = |pairs: &[(&str, &str)]| -> Option<BTreeMap<String, Quantity>> {
        (!pairs.is_empty()).then(|| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), Quantity((*v).to_string())))
                .collect()
        })
    };
    ResourceRequirements {
        requests: list(requests),
        limits: list(limits),
        ..ResourceRequirements::default()
    }
}

/// Resources of the `mysql` container when the spec sets none (presslabs' default).
pub fn default_mysql_resources() -> ResourceRequirements {
    resources(&[("cpu", "200m"), ("memory", "1Gi")], &[])
}

fn default_agent_resources() -> ResourceRequirements {
    resources(&[("cpu", "10m"), ("memory", "64Mi")], &[])
}

fn default_exporter_resources() -> ResourceRequirements {
    resources(
        &[("cpu", "10m"), ("memory", "32Mi")],
        &[("cpu", "100m"), ("memory", "128Mi")],
    )
}

/// Who the pod is, for `init` and `agent` (see [`crate::pod`]).
fn identity(c: &ClusterInput) -> PodIdentity {
    PodIdentity {
        cluster_name: c.name.clone(),
        flavor: c.flavor,
        version: c.version,
        server_id_offset: c.server_id_offset,
    }
}

fn init_container(
    ctx: &Ctx,
    c: &ClusterInput,
    plugin_mounts: &[VolumeMount],
    mysql_resources: &ResourceRequirements,
) -> Container {
    let contract = InitContainer {
        identity: identity(c),
        init_bucket_url: c.init_bucket_url.clone(),
        init_bucket_secret: c.init_bucket_secret_name.clone(),
        user_secret: c.secret_name.clone(),
        operated_secret: ctx.names.operated(),
        xbstream_extra_args: c.xbstream_extra_args.clone(),
        prepare_extra_args: c.xtrabackup_prepare_extra_args.clone(),
    };
    let mut mounts = vec![
        mount(CONF_VOLUME, CONF_DIR),
        mount(CONFIG_MAP_VOLUME, CONFIG_MAP_DIR),
        mount(DATA_VOLUME, DATA_DIR),
    ];
    mounts.extend(plugin_mounts.iter().cloned());

    Container {
        name: INIT_CONTAINER.into(),
        image: Some(c.sidecar_image.clone()),
        image_pull_policy: c.image_pull_policy.clone(),
        command: Some(contract.command()),
        args: Some(contract.args()),
        env: Some(contract.env()),
        env_from: Some(contract.env_from()),
        volume_mounts: Some(mounts),
        resources: Some(mysql_resources.clone()),
        ..Container::default()
    }
}

fn mysql_container(c: &ClusterInput, resources: &ResourceRequirements) -> Container {
    let contract = MysqlContainer { flavor: c.flavor };
    let mut mounts = vec![mount(CONF_VOLUME, CONF_DIR), mount(DATA_VOLUME, DATA_DIR)];
    if c.tmpfs_size.is_some() {
        mounts.push(mount(TMP_VOLUME, "/tmp"));
    }
    mounts.extend(c.pod.volume_mounts.iter().cloned());
    Container {
        name: crate::statefulset::MYSQL_CONTAINER.into(),
        image: Some(c.mysql_image.clone()),
        image_pull_policy: c.image_pull_policy.clone(),
        command: Some(contract.command()),
        ports: Some(vec![tcp_port(MYSQL_PORT_NAME, MYSQL_PORT)]),
        volume_mounts: Some(mounts),
        resources: Some(resources.clone()),
        liveness_probe: Some(Probe {
            exec: Some(ExecAction {
                command: Some(contract.liveness_command()),
            }),
            ..probe(60, 5, 5)
        }),
        // Readiness comes from the agent (replication state, lag), not from a status table.
        readiness_probe: Some(http_probe(5, 5, 2, "/ready", AGENT_PORT)),
        lifecycle: Some(c.pod.mysql_lifecycle.clone().unwrap_or_else(|| Lifecycle {
            pre_stop: Some(LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(contract.pre_stop_command()),
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        })),
        ..Container::default()
    }
}

fn agent_container(ctx: &Ctx, c: &ClusterInput, plugin_mounts: &[VolumeMount]) -> Container {
    let contract = AgentContainer {
        identity: identity(c),
        operated_secret: ctx.names.operated(),
        xtrabackup_extra_args: c.xtrabackup_extra_args.clone(),
        scratch_dir: c.xtrabackup_target_dir.clone(),
    };
    let mut mounts = vec![
        mount(CONF_VOLUME, CONF_DIR),
        mount(CONFIG_MAP_VOLUME, CONFIG_MAP_DIR),
        mount(DATA_VOLUME, DATA_DIR),
    ];
    if c.tmpfs_size.is_some() {
        mounts.push(mount(TMP_VOLUME, "/tmp"));
    }
    mounts.extend(plugin_mounts.iter().cloned());
    Container {
        name: AGENT_CONTAINER.into(),
        image: Some(c.sidecar_image.clone()),
        image_pull_policy: c.image_pull_policy.clone(),
        command: Some(contract.command()),
        args: Some(contract.args()),
        ports: Some(vec![tcp_port(AGENT_PORT_NAME, AGENT_PORT)]),
        env: Some(contract.env()),
        env_from: Some(contract.env_from()),
        volume_mounts: Some(mounts),
        resources: Some(
            c.pod
                .agent_resources
                .clone()
                .unwrap_or_else(default_agent_resources),
        ),
        // The agent listens within a second of starting: a long initial delay only held
        // every pod (and, ordered, the next one) back by it.
        readiness_probe: Some(http_probe(1, 5, 2, "/health", AGENT_PORT)),
        ..Container::default()
    }
}

/// mysqld_exporter ≥ 0.15 flags (no DATA_SOURCE_NAME): local server, exporter account,
/// heartbeat from the operator's table, then the user's extra arguments.
fn exporter_container(ctx: &Ctx, c: &ClusterInput) -> Container {
    let mut args = vec![
        "--config.my-cnf=/dev/null".to_string(),
        format!("--web.listen-address=0.0.0.0:{EXPORTER_PORT}"),
        format!("--web.telemetry-path={EXPORTER_PATH}"),
        format!("--mysqld.address=127.0.0.1:{MYSQL_PORT}"),
        format!(
            "--mysqld.username={}",
            crate::secret::METRICS_EXPORTER_ACCOUNT
        ),
        "--collect.heartbeat".to_string(),
        format!(
            "--collect.heartbeat.database={}",
            crate::init_sql::OPERATOR_DB
        ),
    ];
    args.extend(c.metrics_exporter_extra_args.iter().cloned());
    Container {
        name: EXPORTER_CONTAINER.into(),
        image: Some(c.metrics_exporter_image.clone()),
        image_pull_policy: c.image_pull_policy.clone(),
        args: Some(args),
        ports: Some(vec![tcp_port(EXPORTER_PORT_NAME, EXPORTER_PORT)]),
        env: Some(vec![EnvVar {
            name: "MYSQLD_EXPORTER_PASSWORD".into(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: ctx.names.operated(),
                    key: crate::secret::METRICS_EXPORTER_PASSWORD.into(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
        }]),
        resources: Some(
            c.pod
                .exporter_resources
                .clone()
                .unwrap_or_else(default_exporter_resources),
        ),
        liveness_probe: Some(http_probe(30, 30, 30, EXPORTER_PATH, EXPORTER_PORT)),
        ..Container::default()
    }
}

fn volumes(ctx: &Ctx, c: &ClusterInput, plugin_volumes: Vec<Volume>) -> Vec<Volume> {
    let data = if c.volume.pvc.is_some() {
        Volume {
            name: DATA_VOLUME.into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: DATA_VOLUME.into(),
                read_only: None,
            }),
            ..Volume::default()
        }
    } else if let Some(host_path) = &c.volume.host_path {
        Volume {
            name: DATA_VOLUME.into(),
            host_path: Some(host_path.clone()),
            ..Volume::default()
        }
    } else {
        Volume {
            name: DATA_VOLUME.into(),
            empty_dir: Some(c.volume.empty_dir.clone().unwrap_or_default()),
            ..Volume::default()
        }
    };
    let mut v = vec![
        Volume {
            name: CONF_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
        Volume {
            name: CONFIG_MAP_VOLUME.into(),
            config_map: Some(ConfigMapVolumeSource {
                name: ctx.names.config_map(),
                default_mode: Some(0o644),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        data,
    ];
    if let Some(size) = &c.tmpfs_size {
        v.push(Volume {
            name: TMP_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: Some(size.clone()),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    v.extend(plugin_volumes);
    v.extend(c.pod.volumes.iter().cloned());
    v
}

/// Presslabs' default: prefer spreading a cluster's pods over nodes.
pub fn default_affinity(ctx: &Ctx) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        topology_key: "kubernetes.io/hostname".into(),
                        label_selector: Some(LabelSelector {
                            match_labels: Some(ctx.labels.clone()),
                            ..LabelSelector::default()
                        }),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

/// The `data` claim template: the spec's claim with presslabs' defaults for what it
/// leaves out (ReadWriteOnce, 1Gi) and `volumeMode: Filesystem` spelled out so the API
/// server's default does not show up as a difference on the next reconcile.
pub fn data_claim_template(spec: &PersistentVolumeClaimSpec) -> PersistentVolumeClaim {
    let mut spec = spec.clone();
    if spec.access_modes.as_ref().is_none_or(|m| m.is_empty()) {
        spec.access_modes = Some(vec!["ReadWriteOnce".into()]);
    }
    let has_storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .is_some_and(|r| r.contains_key("storage"));
    if !has_storage {
        let resources = spec
            .resources
            .get_or_insert_with(VolumeResourceRequirements::default);
        resources
            .requests
            .get_or_insert_with(BTreeMap::new)
            .insert("storage".into(), Quantity("1Gi".into()));
    }
    if spec.volume_mode.is_none() {
        spec.volume_mode = Some("Filesystem".into());
    }
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(DATA_VOLUME.into()),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The StatefulSet. `config_rev`/`secret_rev` are the hashes that roll the pods.
pub fn stateful_set(
    ctx: &Ctx,
    c: &ClusterInput,
    plugin_manifest: &plugins::Manifest,
    config_rev: &str,
    secret_rev: &str,
) -> StatefulSet {
    let mysql_resources = c
        .pod
        .resources
        .clone()
        .unwrap_or_else(default_mysql_resources);
    let plugin_mounts = plugins::volume_mounts(plugin_manifest);

    let mut init_containers = vec![init_container(ctx, c, &plugin_mounts, &mysql_resources)];
    init_containers.extend(c.pod.init_containers.iter().cloned());
    let mut containers = vec![
        mysql_container(c, &mysql_resources),
        agent_container(ctx, c, &plugin_mounts),
        exporter_container(ctx, c),
    ];
    containers.extend(c.pod.containers.iter().cloned());

    let mut pod_labels = ctx.labels.clone();
    pod_labels.extend(c.pod.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut pod_annotations = c.pod.annotations.clone();
    pod_annotations.insert(CONFIG_REV_ANNOTATION.into(), config_rev.into());
    pod_annotations.insert(SECRET_REV_ANNOTATION.into(), secret_rev.into());
    pod_annotations.insert("prometheus.io/scrape".into(), "true".into());
    pod_annotations.insert("prometheus.io/port".into(), EXPORTER_PORT.to_string());

    let pod = PodSpec {
        // mysqld must not be PID 1 of its container: PID 1 ignores signals it has no
        // handler for, so `kill -9` of mysqld from inside the pod (crash tests, the
        // agent) would do nothing. With a shared namespace the pause process is PID 1.
        share_process_namespace: Some(true),
        init_containers: Some(init_containers),
        containers,
        volumes: Some(volumes(ctx, c, plugins::volumes(plugin_manifest))),
        security_context: Some(PodSecurityContext {
            fs_group: Some(MYSQL_UID),
            run_as_user: Some(MYSQL_UID),
            ..PodSecurityContext::default()
        }),
        affinity: Some(
            c.pod
                .affinity
                .clone()
                .unwrap_or_else(|| default_affinity(ctx)),
        ),
        image_pull_secrets: (!c.image_pull_secrets.is_empty())
            .then(|| c.image_pull_secrets.clone()),
        node_selector: (!c.pod.node_selector.is_empty()).then(|| c.pod.node_selector.clone()),
        priority_class_name: c.pod.priority_class_name.clone(),
        tolerations: (!c.pod.tolerations.is_empty()).then(|| c.pod.tolerations.clone()),
        service_account_name: c.pod.service_account_name.clone(),
        ..PodSpec::default()
    };

    StatefulSet {
        metadata: ctx.owned_meta(ctx.names.stateful_set(), &[]),
        spec: StatefulSetSpec {
            replicas: Some(c.replicas),
            selector: LabelSelector {
                match_labels: Some(ctx.selector.clone()),
                ..LabelSelector::default()
            },
            service_name: Some(HEADLESS_SERVICE.into()),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            volume_claim_templates: c
                .volume
                .pvc
                .as_ref()
                .map(|pvc| vec![data_claim_template(pvc)]),
            ..StatefulSetSpec::default()
        },
        status: None,
    }
}

/// Image pull secrets: the spec's, else the operator's default secret (presslabs option).
pub fn pull_secrets(
    spec: &[LocalObjectReference],
    default: Option<&str>,
) -> Vec<LocalObjectReference> {
    if !spec.is_empty() {
        return spec.to_vec();
    }
    default
        .map(|name| vec![LocalObjectReference { name: name.into() }])
        .unwrap_or_default()
}
