//! The entry point: a `MysqlCluster` and the operator's options in, every desired object
//! out. Resolves the spec once (defaults, flavor, version, image) into [`ClusterInput`] so
//! each object's renderer reads plain, already-defaulted values.

use std::collections::BTreeMap;

use api::{MysqlCluster, MysqlClusterSpec};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMap, Container, EmptyDirVolumeSource, HostPathVolumeSource, Lifecycle,
    LocalObjectReference, PersistentVolumeClaimSpec, ResourceRequirements, Secret, Service,
    Toleration, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use crate::RenderError;
use crate::meta::Ctx;
use crate::mycnf::{MyCnfInput, ServerFlavor, ServerVersion, render_my_cnf};
use crate::names::{INIT_SQL_KEY, MY_CNF_KEY, PLUGINS_KEY};
use crate::quantity::{Bytes, parse_quantity};
use crate::{init_sql, pdb, plugins, secret, services, statefulset};

/// Operator-wide settings (presslabs' command-line options) that shape every cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Image of the `init` and `agent` containers when the cluster sets no `sidecarImage`.
    pub sidecar_image: String,
    /// Image of the metrics exporter container.
    pub metrics_exporter_image: String,
    /// Pull policy when the cluster's `podSpec` sets none.
    pub image_pull_policy: String,
    /// Pull secret when the cluster's `podSpec` sets none.
    pub image_pull_secret: Option<String>,
    /// Namespace for clusters whose manifest has none (e.g. `render -n`).
    pub namespace: Option<String>,
    /// Image per server version, overriding the built-in table (presslabs'
    /// `--mysql-versions-to-image`).
    pub version_images: BTreeMap<String, String>,
    /// Hash of the live operated Secret's data, when the controller knows it; render
    /// alone uses a hash of the rendered (placeholder) Secret.
    pub secret_revision: Option<String>,
}

/// The operator's own version, which tags its default tools image.
pub const OPERATOR_VERSION: &str = env!("CARGO_PKG_VERSION");
/// mysqld_exporter with the ≥ 0.15 flags the exporter container uses.
pub const DEFAULT_EXPORTER_IMAGE: &str = "prom/mysqld-exporter:v0.15.1";

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            sidecar_image: format!("ghcr.io/mysql-operator/mysql-tools:{OPERATOR_VERSION}"),
            metrics_exporter_image: DEFAULT_EXPORTER_IMAGE.into(),
            image_pull_policy: "IfNotPresent".into(),
            image_pull_secret: None,
            namespace: None,
            version_images: BTreeMap::new(),
            secret_revision: None,
        }
    }
}

/// Where the data lives, as resolved from `volumeSpec` (claim wins, then hostPath, then
/// emptyDir, as presslabs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataVolume {
    pub pvc: Option<PersistentVolumeClaimSpec>,
    pub host_path: Option<HostPathVolumeSource>,
    pub empty_dir: Option<EmptyDirVolumeSource>,
}

/// The `podSpec` fields the StatefulSet passes through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodInput {
    pub resources: Option<ResourceRequirements>,
    pub affinity: Option<Affinity>,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub priority_class_name: Option<String>,
    pub service_account_name: Option<String>,
    pub volumes: Vec<Volume>,
    pub volume_mounts: Vec<VolumeMount>,
    pub init_containers: Vec<Container>,
    pub containers: Vec<Container>,
    pub mysql_lifecycle: Option<Lifecycle>,
    pub agent_resources: Option<ResourceRequirements>,
    pub exporter_resources: Option<ResourceRequirements>,
}

/// A cluster with every default applied and every derived value resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInput {
    pub name: String,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    pub annotations: BTreeMap<String, String>,
    pub replicas: i32,
    pub secret_name: String,
    /// `mysqlVersion` as written (or the default alias): the `app.kubernetes.io/version` label.
    pub version_label: String,
    pub version: ServerVersion,
    pub flavor: ServerFlavor,
    pub mysql_image: String,
    pub sidecar_image: String,
    pub metrics_exporter_image: String,
    pub image_pull_policy: Option<String>,
    pub image_pull_secrets: Vec<LocalObjectReference>,
    pub init_bucket_url: Option<String>,
    pub init_bucket_secret_name: Option<String>,
    pub min_available: Option<IntOrString>,
    pub mysql_conf: BTreeMap<String, String>,
    pub pod: PodInput,
    pub volume: DataVolume,
    pub tmpfs_size: Option<Quantity>,
    pub server_id_offset: i32,
    pub metrics_exporter_extra_args: Vec<String>,
    pub rclone_extra_args: Vec<String>,
    pub xbstream_extra_args: Vec<String>,
    pub xtrabackup_extra_args: Vec<String>,
    pub xtrabackup_prepare_extra_args: Vec<String>,
    pub xtrabackup_target_dir: Option<String>,
    pub backup_compress_command: Vec<String>,
    pub backup_decompress_command: Vec<String>,
    pub init_file_extra_sql: Vec<String>,
    pub plugins: Vec<plugins::PluginInput>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn int_or_string_text(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn flavor_of(f: api::Flavor) -> ServerFlavor {
    match f {
        api::Flavor::Mysql => ServerFlavor::Mysql,
        api::Flavor::Percona => ServerFlavor::Percona,
        api::Flavor::Mariadb => ServerFlavor::Mariadb,
    }
}

impl ClusterInput {
    /// Resolves a `MysqlCluster`: presslabs' defaults, version aliases, image and flavor.
    /// Errors name the field and the fix; nothing is rendered from a cluster that fails.
    pub fn from_cluster(
        cluster: &MysqlCluster,
        opts: &RenderOptions,
    ) -> Result<ClusterInput, RenderError> {
        let name = cluster
            .metadata
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| RenderError::Invalid {
                field: "metadata.name".into(),
                message: "is empty".into(),
                hint: "give the MysqlCluster a name".into(),
            })?;
        let spec: &MysqlClusterSpec = &cluster.spec;
        let invalid = |field: &str, message: String, hint: &str| RenderError::Invalid {
            field: field.into(),
            message,
            hint: hint.into(),
        };

        let version_label = spec.version_or_default().to_string();
        let full_version = spec.effective_version().to_string();
        let version = ServerVersion::parse(&full_version).ok_or_else(|| {
            invalid(
                "spec.mysqlVersion",
                format!("`{version_label}` is not a version number"),
                "write a version such as `8.0.20`, `5.7` or `10.11`",
            )
        })?;
        let mysql_image = match opts
            .version_images
            .get(&full_version)
            .or_else(|| opts.version_images.get(&version_label))
        {
            Some(img) if non_empty(&spec.image).is_none() => img.clone(),
            _ => spec.effective_image().map_err(|e| {
                invalid(
                    "spec.mysqlVersion",
                    e.to_string(),
                    "set spec.image or use a known mysqlVersion",
                )
            })?,
        };
        if spec.effective_replicas() < 0 {
            return Err(invalid(
                "spec.replicas",
                format!("{} is negative", spec.effective_replicas()),
                "use 0 or more",
            ));
        }

        let pvc = spec.volume_spec.persistent_volume_claim.clone();
        let volume = DataVolume {
            host_path: if pvc.is_none() {
                spec.volume_spec.host_path.clone()
            } else {
                None
            },
            empty_dir: if pvc.is_none() && spec.volume_spec.host_path.is_none() {
                spec.volume_spec.empty_dir.clone()
            } else {
                None
            },
            pvc,
        };
        if volume.pvc.is_none() && volume.host_path.is_none() && volume.empty_dir.is_none() {
            return Err(invalid(
                "spec.volumeSpec",
                "no volume source is set".into(),
                "set volumeSpec.persistentVolumeClaim (recommended), hostPath or emptyDir",
            ));
        }

        let p = &spec.pod_spec;
        let plugins = spec
            .plugins
            .iter()
            .map(|pl| plugins::PluginInput {
                name: pl.name.clone(),
                config_map_name: pl.config_map.name.clone(),
                config_map_key: pl.config_map.key.clone(),
                sha256: pl.sha256.clone(),
                hooks: pl
                    .hooks
                    .as_ref()
                    .map(|hs| hs.iter().map(|h| h.as_str().to_string()).collect()),
                failure_policy: match pl.failure_policy {
                    api::FailurePolicy::Ignore => "Ignore".into(),
                    api::FailurePolicy::Fail => "Fail".into(),
                },
                settings: pl.settings.clone().unwrap_or_else(|| serde_json::json!({})),
            })
            .collect();

        Ok(ClusterInput {
            namespace: cluster
                .metadata
                .namespace
                .clone()
                .or_else(|| opts.namespace.clone()),
            uid: cluster.metadata.uid.clone(),
            annotations: cluster.metadata.annotations.clone().unwrap_or_default(),
            replicas: spec.effective_replicas(),
            secret_name: spec.secret_name.clone(),
            version_label,
            version,
            flavor: flavor_of(spec.effective_flavor()),
            mysql_image,
            sidecar_image: non_empty(&spec.sidecar_image)
                .unwrap_or_else(|| opts.sidecar_image.clone()),
            metrics_exporter_image: opts.metrics_exporter_image.clone(),
            image_pull_policy: non_empty(&p.image_pull_policy)
                .or_else(|| Some(opts.image_pull_policy.clone())),
            image_pull_secrets: statefulset::pull_secrets(
                &p.image_pull_secrets,
                opts.image_pull_secret.as_deref(),
            ),
            init_bucket_url: spec.effective_init_bucket_url().map(str::to_string),
            init_bucket_secret_name: non_empty(&spec.init_bucket_secret_name),
            min_available: spec.effective_min_available(),
            mysql_conf: spec
                .mysql_conf
                .iter()
                .map(|(k, v)| (k.clone(), int_or_string_text(v)))
                .collect(),
            pod: PodInput {
                resources: p.resources.clone(),
                affinity: p.affinity.clone(),
                node_selector: p.node_selector.clone(),
                tolerations: p.tolerations.clone(),
                labels: p.labels.clone(),
                annotations: p.annotations.clone(),
                priority_class_name: non_empty(&p.priority_class_name),
                service_account_name: non_empty(&p.service_account_name),
                volumes: p.volumes.clone(),
                volume_mounts: p.volume_mounts.clone(),
                init_containers: p.init_containers.clone(),
                containers: p.containers.clone(),
                mysql_lifecycle: p.mysql_lifecycle.clone(),
                agent_resources: p.mysql_operator_sidecar_resources.clone(),
                exporter_resources: p.metrics_exporter_resources.clone(),
            },
            volume,
            tmpfs_size: spec.tmpfs_size.clone(),
            server_id_offset: spec.effective_server_id_offset(),
            metrics_exporter_extra_args: spec.metrics_exporter_extra_args.clone(),
            rclone_extra_args: spec.rclone_extra_args.clone(),
            xbstream_extra_args: spec.xbstream_extra_args.clone(),
            xtrabackup_extra_args: spec.xtrabackup_extra_args.clone(),
            xtrabackup_prepare_extra_args: spec.xtrabackup_prepare_extra_args.clone(),
            xtrabackup_target_dir: non_empty(&spec.xtrabackup_target_dir),
            backup_compress_command: spec.backup_compress_command.clone(),
            backup_decompress_command: spec.backup_decompress_command.clone(),
            init_file_extra_sql: spec.init_file_extra_sql.clone(),
            plugins,
            name,
        })
    }

    /// Memory the mysql container is guaranteed (request, else limit, else presslabs'
    /// default request of 1Gi), which sizes the InnoDB buffer pool and redo log.
    pub fn memory(&self) -> Result<Option<Bytes>, RenderError> {
        let res = self
            .pod
            .resources
            .clone()
            .unwrap_or_else(statefulset::default_mysql_resources);
        let (field, q) = match (
            res.requests.as_ref().and_then(|r| r.get("memory")),
            res.limits.as_ref().and_then(|l| l.get("memory")),
        ) {
            (Some(q), _) => ("spec.podSpec.resources.requests.memory", q),
            (None, Some(q)) => ("spec.podSpec.resources.limits.memory", q),
            (None, None) => return Ok(None),
        };
        parse_quantity(&q.0)
            .map(Some)
            .map_err(|e| RenderError::Invalid {
                field: field.into(),
                message: e.to_string(),
                hint: "write memory as a quantity such as `16Gi`".into(),
            })
    }

    /// Storage requested by the data claim, which sizes the binary log budget.
    pub fn storage(&self) -> Result<Option<Bytes>, RenderError> {
        let Some(q) = self
            .volume
            .pvc
            .as_ref()
            .and_then(|p| p.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
        else {
            return Ok(None);
        };
        parse_quantity(&q.0)
            .map(Some)
            .map_err(|e| RenderError::Invalid {
                field: "spec.volumeSpec.persistentVolumeClaim.resources.requests.storage".into(),
                message: e.to_string(),
                hint: "write storage as a quantity such as `20Gi`".into(),
            })
    }
}

/// Every object the operator wants for one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub config_map: ConfigMap,
    pub operated_secret: Secret,
    pub services: Vec<Service>,
    pub stateful_set: StatefulSet,
    pub pdb: Option<PodDisruptionBudget>,
}

impl Rendered {
    /// The objects as JSON values with `apiVersion` and `kind`, in apply order
    /// (config and secret first so the pods find them).
    pub fn objects(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut push = |v: Result<serde_json::Value, serde_json::Error>| {
            // Serialising k8s-openapi structs into a JSON value cannot fail.
            if let Ok(v) = v {
                out.push(v);
            }
        };
        push(serde_json::to_value(&self.config_map));
        push(serde_json::to_value(&self.operated_secret));
        for s in &self.services {
            push(serde_json::to_value(s));
        }
        push(serde_json::to_value(&self.stateful_set));
        if let Some(p) = &self.pdb {
            push(serde_json::to_value(p));
        }
        out
    }
}

/// Hex sha256 of a string map, in key order (the config and secret revisions).
pub fn map_hash(data: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in data {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The ConfigMap `<c>-mysql` data: `my.cnf`, the init SQL template, the plugin manifest.
pub fn config_map_data(
    c: &ClusterInput,
    manifest: &plugins::Manifest,
) -> Result<BTreeMap<String, String>, RenderError> {
    let my_cnf = render_my_cnf(&MyCnfInput {
        flavor: c.flavor,
        version: c.version,
        memory: c.memory()?,
        storage: c.storage()?,
        user_conf: c.mysql_conf.clone(),
    })?;
    Ok(BTreeMap::from([
        (MY_CNF_KEY.to_string(), my_cnf),
        (
            INIT_SQL_KEY.to_string(),
            init_sql::init_sql_template(c.flavor, c.version, &c.init_file_extra_sql),
        ),
        (PLUGINS_KEY.to_string(), plugins::manifest_json(manifest)),
    ]))
}

/// Renders every object for a resolved cluster.
pub fn render_input(c: &ClusterInput, opts: &RenderOptions) -> Result<Rendered, RenderError> {
    let ctx = Ctx::new(
        &c.name,
        c.namespace.as_deref(),
        c.uid.as_deref(),
        &c.version_label,
        &c.annotations,
    );
    let manifest = plugins::manifest(&c.plugins)?;
    let data = config_map_data(c, &manifest)?;
    let config_rev = map_hash(&data);

    let operated_secret = secret::operated_secret(&ctx, &BTreeMap::new());
    let secret_rev = match &opts.secret_revision {
        Some(rev) => rev.clone(),
        None => map_hash(
            operated_secret
                .string_data
                .as_ref()
                .unwrap_or(&BTreeMap::new()),
        ),
    };

    let config_map = ConfigMap {
        metadata: ctx.owned_meta(ctx.names.config_map(), &[("generated", "true")]),
        data: Some(data),
        ..ConfigMap::default()
    };
    Ok(Rendered {
        config_map,
        operated_secret,
        services: services::services(&ctx),
        stateful_set: statefulset::stateful_set(&ctx, c, &manifest, &config_rev, &secret_rev),
        pdb: pdb::pod_disruption_budget(&ctx, c.min_available.as_ref()),
    })
}

/// Renders every object for a `MysqlCluster`.
pub fn render(cluster: &MysqlCluster, opts: &RenderOptions) -> Result<Rendered, RenderError> {
    render_input(&ClusterInput::from_cluster(cluster, opts)?, opts)
}
