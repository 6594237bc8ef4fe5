//! `MysqlCluster`: the desired state of a primary/replica cluster, field for field as
//! presslabs defined it, plus `plugins` and `flavor`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, EmptyDirVolumeSource, HostPathVolumeSource, Lifecycle,
    LocalObjectReference, PersistentVolumeClaimSpec, ResourceRequirements, Toleration, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plugin::PluginSpec;
use crate::status::MysqlClusterStatus;
use crate::version::{self, Flavor, VersionError};

/// Desired state of a MySQL/MariaDB primary/replica cluster.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mysql.presslabs.org",
    version = "v1alpha1",
    kind = "MysqlCluster",
    plural = "mysqlclusters",
    shortname = "mysql",
    namespaced,
    status = "MysqlClusterStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.readyNodes"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type == \"Ready\")].status",
        description = "The cluster status"
    ),
    printcolumn(
        name = "Replicas",
        type_ = "integer",
        json_path = ".spec.replicas",
        description = "The number of desired nodes"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    crates(kube_core = "::kube_core"),
    doc = "MysqlCluster is a MySQL/MariaDB primary/replica cluster managed by the operator."
)]
#[serde(rename_all = "camelCase")]
pub struct MysqlClusterSpec {
    /// The number of pods (one primary, the rest replicas). Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,

    /// The Secret with the credentials to initialise the cluster: `ROOT_PASSWORD`
    /// (required) and optionally `USER`, `PASSWORD`, `DATABASE` for an application account.
    #[schemars(length(min = 1, max = 63))]
    pub secret_name: String,

    /// The server version to run: a full version (`8.0.25`) or an alias (`5.7`, `8.0`,
    /// `10.11`). Set it even with `image` so the operator knows which features it can
    /// use. Defaults to 5.7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mysql_version: Option<String>,

    /// The image of the mysql server container. When set, `mysqlVersion` only tells the
    /// operator which version that image runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// The image of the operator's sidecar/init containers. Defaults to the operator's
    /// own image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecar_image: Option<String>,

    /// A bucket URL holding a backup to initialise the cluster from.
    #[serde(
        default,
        rename = "initBucketURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub init_bucket_url: Option<String>,

    /// Same as initBucketURL (DEPRECATED).
    #[serde(
        default,
        rename = "initBucketURI",
        skip_serializing_if = "Option::is_none"
    )]
    pub init_bucket_uri: Option<String>,

    /// The Secret with the credentials to read initBucketURL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_bucket_secret_name: Option<String>,

    /// How many pods must stay available during voluntary evictions (PodDisruptionBudget),
    /// a number or a percentage. Defaults to 50% when replicas > 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<String>,

    /// Backup schedule in cron format with seconds first (6 fields, e.g. `0 0 3 * * *`).
    /// Leave empty to take no scheduled backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_schedule: Option<String>,

    /// The URL of the location where backups are put (e.g. `s3://bucket/prefix`).
    #[serde(default, rename = "backupURL", skip_serializing_if = "Option::is_none")]
    pub backup_url: Option<String>,

    /// What to do with a backup's remote data when its MysqlBackup is deleted:
    /// `retain` (default) or `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_remote_delete_policy: Option<DeletePolicy>,

    /// The Secret with the credentials of the backup storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_secret_name: Option<String>,

    /// If set, keep only the last N scheduled backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_schedule_jobs_history_limit: Option<i32>,

    /// Command (and arguments) that compresses the backup stream (default gzip).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup_compress_command: Vec<String>,

    /// Command (and arguments) that decompresses the backup stream (default gunzip).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup_decompress_command: Vec<String>,

    /// Extra server options written to my.cnf; values are ints or strings, Kubernetes
    /// quantity suffixes (`6Gi`) are converted to what mysqld accepts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::schema::int_or_string_map")]
    pub mysql_conf: BTreeMap<String, IntOrString>,

    /// Extra specification for the cluster's pods.
    #[serde(default)]
    pub pod_spec: PodSpec,

    /// Where the data lives: a PVC template (recommended), a hostPath or an emptyDir.
    #[serde(default)]
    pub volume_spec: VolumeSpec,

    /// If set, mount a tmpfs of this size on /tmp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_size: Option<Quantity>,

    /// Replication lag in seconds above which a replica is removed from the replicas
    /// Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_slave_latency: Option<i64>,

    /// Limits for queries (pt-kill parameters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_limits: Option<QueryLimits>,

    /// Make the whole cluster read-only, the primary included.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,

    /// Offset added to the pod ordinal to form each node's server_id. Defaults to 100.
    #[serde(
        default,
        rename = "serverIDOffset",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_id_offset: Option<i32>,

    /// Extra command-line arguments for the metrics exporter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics_exporter_extra_args: Vec<String>,

    /// Extra command-line arguments for rclone (backup upload/download).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rclone_extra_args: Vec<String>,

    /// Extra command-line arguments for xbstream/mbstream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xbstream_extra_args: Vec<String>,

    /// Extra command-line arguments for xtrabackup/mariabackup when taking a backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xtrabackup_extra_args: Vec<String>,

    /// Extra command-line arguments for xtrabackup/mariabackup during --prepare.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xtrabackup_prepare_extra_args: Vec<String>,

    /// Backup destination directory for xtrabackup (must exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xtrabackup_target_dir: Option<String>,

    /// Extra SQL statements run when a node's data directory is initialised.
    #[serde(
        default,
        rename = "initFileExtraSQL",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub init_file_extra_sql: Vec<String>,

    /// Wasm policy modules attached to this cluster (see `plugins` in the docs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginSpec>,

    /// The server family: `mysql`, `percona` or `mariadb`. Inferred from the image or
    /// the version when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<Flavor>,
}

/// What happens to a backup's remote data when its MysqlBackup is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeletePolicy {
    /// Keep the remote data.
    #[default]
    Retain,
    /// Delete the remote data with the resource.
    Delete,
}

/// Extra specification for the cluster's pods (scheduling, resources, extra containers).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Image pull policy of the pod's containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Secrets used to pull the images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Extra labels on the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Resources of the mysql container; memory sizes the InnoDB buffer pool.
    /// Defaults to requests cpu 200m, memory 1Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Scheduling affinity of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Node selector of the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Priority class of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Service account of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Affinity of backup Jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_affinity: Option<Affinity>,
    /// Node selector of backup Jobs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backup_node_selector: BTreeMap<String, String>,
    /// Priority class of backup Jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_priority_class_name: Option<String>,
    /// Tolerations of backup Jobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup_tolerations: Vec<Toleration>,
    /// Extra volumes of the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Extra volume mounts of the mysql container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Extra init containers, run after the operator's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    /// Extra containers (sidecars) of the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
    /// Resources of the operator sidecar (agent). Defaults to requests cpu 10m,
    /// memory 64Mi and the mysql container's limits.
    #[serde(
        default,
        rename = "mysqlOperatorSidecarResources",
        skip_serializing_if = "Option::is_none"
    )]
    pub mysql_operator_sidecar_resources: Option<ResourceRequirements>,
    /// Resources of the metrics exporter. Defaults to requests cpu 10m, memory 32Mi,
    /// limits cpu 100m, memory 128Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_exporter_resources: Option<ResourceRequirements>,
    /// Resources of the heartbeat container. Defaults to requests cpu 10m, memory 32Mi,
    /// limits cpu 100m, memory 64Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pt_heartbeat_resources: Option<ResourceRequirements>,
    /// Lifecycle hooks of the mysql container (e.g. a custom preStop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mysql_lifecycle: Option<Lifecycle>,
}

/// Where the data lives. Only one member should be set; when several are, the
/// persistentVolumeClaim wins, then hostPath, then emptyDir (as presslabs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    /// A temporary directory sharing the pod's lifetime (tests only: data is lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
    /// A pre-existing directory on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolumeSource>,
    /// The claim template of the `data` volume. Highest precedence. Defaults to
    /// ReadWriteOnce and 1Gi when fields are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<PersistentVolumeClaimSpec>,
}

impl VolumeSpec {
    /// Whether any volume source is set.
    pub fn is_set(&self) -> bool {
        self.empty_dir.is_some()
            || self.host_path.is_some()
            || self.persistent_volume_claim.is_some()
    }
}

/// Query limits enforced by pt-kill; see the pt-kill documentation for the flags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryLimits {
    /// Match queries idle for longer than this, in seconds (--idle-time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_idle_time: Option<i32>,
    /// Match queries running for longer than this, in seconds (--busy-time). Required.
    pub max_query_time: i32,
    /// Which matching queries of each class are killed (--victims): oldest, all or
    /// all-but-oldest. Defaults to oldest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<String>,
    /// `connection` kills the connection (--kill), `query` only the query (--kill-query,
    /// the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_mode: Option<String>,
    /// Databases ignored (--ignore-db).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_db: Vec<String>,
    /// Commands ignored (--ignore-command).
    #[serde(
        default,
        rename = "ignoreCommands",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignore_command: Vec<String>,
    /// Users ignored (--ignore-user).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_user: Vec<String>,
}

/// presslabs' default server_id offset.
pub const DEFAULT_SERVER_ID_OFFSET: i32 = 100;

impl MysqlClusterSpec {
    /// Replicas with presslabs' default (1) applied.
    pub fn effective_replicas(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }

    /// The version as written, or the default alias.
    pub fn version_or_default(&self) -> &str {
        match self.mysql_version.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => v,
            _ => version::DEFAULT_VERSION,
        }
    }

    /// The full server version (aliases expanded), e.g. `8.0.25` for `8.0`.
    pub fn effective_version(&self) -> &str {
        version::expand_alias(self.version_or_default())
    }

    /// The image of the mysql container: `image` when set, else the image of the known
    /// version; an unknown version without `image` is an error naming the fix.
    pub fn effective_image(&self) -> Result<String, VersionError> {
        if let Some(image) = self.image.as_deref().filter(|i| !i.trim().is_empty()) {
            return Ok(image.to_string());
        }
        let v = self.version_or_default();
        version::lookup(v)
            .map(|k| k.image.to_string())
            .ok_or_else(|| VersionError::Unknown {
                version: v.to_string(),
                known: version::known_list(),
            })
    }

    /// The server family: `flavor` when set, else inferred from the image name, else
    /// from the version (10.x/11.x → MariaDB, 5.7/8.0 → Percona as presslabs ran).
    pub fn effective_flavor(&self) -> Flavor {
        if let Some(f) = self.flavor {
            return f;
        }
        if let Some(f) = self.image.as_deref().and_then(version::flavor_from_image) {
            return f;
        }
        version::flavor_from_version(self.version_or_default())
    }

    /// The PodDisruptionBudget's minAvailable: as written, else 50% when replicas > 1,
    /// else none (a single pod gets no PDB).
    pub fn effective_min_available(&self) -> Option<IntOrString> {
        match self.min_available.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => Some(match v.parse::<i32>() {
                Ok(n) => IntOrString::Int(n),
                Err(_) => IntOrString::String(v.to_string()),
            }),
            _ if self.effective_replicas() > 1 => Some(IntOrString::String("50%".into())),
            _ => None,
        }
    }

    /// server_id offset with presslabs' default (100).
    pub fn effective_server_id_offset(&self) -> i32 {
        self.server_id_offset.unwrap_or(DEFAULT_SERVER_ID_OFFSET)
    }

    /// Remote delete policy with its default (`retain`).
    pub fn effective_backup_remote_delete_policy(&self) -> DeletePolicy {
        self.backup_remote_delete_policy.unwrap_or_default()
    }

    /// The bucket to seed a new cluster from (initBucketURL, else the deprecated URI).
    pub fn effective_init_bucket_url(&self) -> Option<&str> {
        self.init_bucket_url
            .as_deref()
            .or(self.init_bucket_uri.as_deref())
            .filter(|u| !u.trim().is_empty())
    }
}
