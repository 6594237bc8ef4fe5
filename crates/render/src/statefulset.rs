//! The StatefulSet `<c>-mysql`: presslabs' shape (governing Service `mysql`, PVC template
//! `data`, selector labels, config/secret revision annotations) with our containers — the
//! `init` step and `agent` sidecar running `mysql-operator`, `mysqld`, and the metrics
//! exporter — and the user's `podSpec` passed through.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource,
    EnvVar, EnvVarSource, ExecAction, HTTPGetAction, LocalObjectReference, ObjectFieldSelector,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource,
    PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecretEnvSource, SecretKeySelector, Volume, VolumeMount,
    VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cluster::ClusterInput;
use crate::meta::Ctx;
use crate::mycnf::ServerFlavor;
use crate::names::{
    AGENT_PORT, AGENT_PORT_NAME, CLIENT_CONF, CONF_DIR, CONFIG_MAP_DIR, DATA_DIR, DATA_VOLUME,
    EXPORTER_PATH, EXPORTER_PORT, EXPORTER_PORT_NAME, HEADLESS_SERVICE, MYSQL_PORT,
    MYSQL_PORT_NAME,
};
use crate::plugins;

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

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn env_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".into()),
                field_path: path.into(),
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn env_secret(name: &str, secret: &str, key: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(optional),
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn env_from_secret(name: &str) -> EnvFromSource {
    EnvFromSource {
        secret_ref: Some(SecretEnvSource {
            name: name.into(),
            optional: None,
        }),
        ..EnvFromSource::default()
    }
}

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

/// Environment every operator container gets: who and where the pod is.
fn identity_env(c: &ClusterInput) -> Vec<EnvVar> {
    vec![
        env_field("MY_NAMESPACE", "metadata.namespace"),
        env_field("MY_POD_NAME", "metadata.name"),
        env_field("MY_POD_IP", "status.podIP"),
        env("MY_SERVICE_NAME", HEADLESS_SERVICE),
        env("MY_CLUSTER_NAME", c.name.clone()),
        env(
            "MY_FQDN",
            "$(MY_POD_NAME).$(MY_SERVICE_NAME).$(MY_NAMESPACE)",
        ),
        env("MY_MYSQL_VERSION", c.version.to_string()),
        env("MY_FLAVOR", c.flavor.as_str()),
        env("MY_SERVER_ID_OFFSET", c.server_id_offset.to_string()),
    ]
}

fn joined(name: &str, args: &[String], sep: &str) -> Option<EnvVar> {
    (!args.is_empty()).then(|| env(name, args.join(sep)))
}

/// The user's Secret as the server image's first-start variables (presslabs' mapping).
fn root_env(c: &ClusterInput) -> Vec<EnvVar> {
    vec![
        env_secret(
            "MYSQL_ROOT_PASSWORD",
            &c.secret_name,
            "ROOT_PASSWORD",
            false,
        ),
        env_secret("MYSQL_USER", &c.secret_name, "USER", true),
        env_secret("MYSQL_PASSWORD", &c.secret_name, "PASSWORD", true),
        env_secret("MYSQL_DATABASE", &c.secret_name, "DATABASE", true),
    ]
}

fn init_container(
    ctx: &Ctx,
    c: &ClusterInput,
    plugin_mounts: &[VolumeMount],
    mysql_resources: &ResourceRequirements,
) -> Container {
    let mut env_vars = identity_env(c);
    if let Some(url) = &c.init_bucket_url {
        env_vars.push(env("INIT_BUCKET_URI", url.clone()));
    }
    env_vars.extend(joined(
        "BACKUP_DECOMPRESS_COMMAND",
        &c.backup_decompress_command,
        " ",
    ));
    env_vars.extend(joined("RCLONE_EXTRA_ARGS", &c.rclone_extra_args, " "));
    env_vars.extend(joined("XBSTREAM_EXTRA_ARGS", &c.xbstream_extra_args, " "));
    env_vars.extend(joined(
        "XTRABACKUP_PREPARE_EXTRA_ARGS",
        &c.xtrabackup_prepare_extra_args,
        " ",
    ));
    env_vars.extend(root_env(c));

    let mut env_from = Vec::new();
    if let Some(secret) = &c.init_bucket_secret_name {
        env_from.push(env_from_secret(secret));
    }
    env_from.push(env_from_secret(&ctx.names.operated()));

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
        command: Some(vec![OPERATOR_BINARY.into()]),
        args: Some(vec!["init".into()]),
        env: Some(env_vars),
        env_from: Some(env_from),
        volume_mounts: Some(mounts),
        resources: Some(mysql_resources.clone()),
        ..Container::default()
    }
}

fn mysql_container(c: &ClusterInput, resources: &ResourceRequirements) -> Container {
    let admin = if c.flavor == ServerFlavor::Mariadb {
        "mariadb-admin"
    } else {
        "mysqladmin"
    };
    let mut mounts = vec![mount(CONF_VOLUME, CONF_DIR), mount(DATA_VOLUME, DATA_DIR)];
    if c.tmpfs_size.is_some() {
        mounts.push(mount(TMP_VOLUME, "/tmp"));
    }
    mounts.extend(c.pod.volume_mounts.iter().cloned());
    let mut env_vars = identity_env(c);
    env_vars.extend(root_env(c));
    Container {
        name: crate::statefulset::MYSQL_CONTAINER.into(),
        image: Some(c.mysql_image.clone()),
        image_pull_policy: c.image_pull_policy.clone(),
        ports: Some(vec![tcp_port(MYSQL_PORT_NAME, MYSQL_PORT)]),
        env: Some(env_vars),
        volume_mounts: Some(mounts),
        resources: Some(resources.clone()),
        liveness_probe: Some(Probe {
            exec: Some(ExecAction {
                command: Some(vec![
                    admin.into(),
                    format!("--defaults-file={CLIENT_CONF}"),
                    "ping".into(),
                ]),
            }),
            ..probe(60, 5, 5)
        }),
        // Readiness comes from the agent (replication state, lag), not from a status table.
        readiness_probe: Some(http_probe(5, 5, 2, "/ready", AGENT_PORT)),
        lifecycle: c.pod.mysql_lifecycle.clone(),
        ..Container::default()
    }
}

fn agent_container(ctx: &Ctx, c: &ClusterInput, plugin_mounts: &[VolumeMount]) -> Container {
    let mut env_vars = identity_env(c);
    env_vars.extend(joined(
        "BACKUP_COMPRESS_COMMAND",
        &c.backup_compress_command,
        " ",
    ));
    env_vars.extend(joined("RCLONE_EXTRA_ARGS", &c.rclone_extra_args, " "));
    env_vars.extend(joined("XBSTREAM_EXTRA_ARGS", &c.xbstream_extra_args, " "));
    env_vars.extend(joined(
        "XTRABACKUP_EXTRA_ARGS",
        &c.xtrabackup_extra_args,
        " ",
    ));
    if let Some(dir) = &c.xtrabackup_target_dir {
        env_vars.push(env("XTRABACKUP_TARGET_DIR", dir.clone()));
    }
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
        command: Some(vec![OPERATOR_BINARY.into()]),
        args: Some(vec!["agent".into()]),
        ports: Some(vec![tcp_port(AGENT_PORT_NAME, AGENT_PORT)]),
        env: Some(env_vars),
        env_from: Some(vec![env_from_secret(&ctx.names.operated())]),
        volume_mounts: Some(mounts),
        resources: Some(
            c.pod
                .agent_resources
                .clone()
                .unwrap_or_else(default_agent_resources),
        ),
        readiness_probe: Some(http_probe(30, 5, 5, "/health", AGENT_PORT)),
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
        "--mysqld.username=sys_exporter".to_string(),
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
        env: Some(vec![env_secret(
            "MYSQLD_EXPORTER_PASSWORD",
            &ctx.names.operated(),
            "METRICS_EXPORTER_PASSWORD",
            false,
        )]),
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
