//! The Job of one backup: `mysql-operator backup` in the sidecar image, the storage
//! credentials from the backup Secret (`envFrom`, presslabs variable names), the backup
//! account from the cluster's operated Secret, scheduling from the cluster's `backup*`
//! pod fields, owned by the `MysqlBackup` so it goes with it.

use std::collections::BTreeMap;

use api::{MysqlBackup, MysqlCluster};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, EnvVarSource, PodSpec, PodTemplateSpec, SecretEnvSource,
    SecretKeySelector,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::{CLUSTER_LABEL, RECURRENT_LABEL};
use crate::desired::Names;

/// Retries of a failed backup pod before the Job (and the backup) is `Failed`.
pub const BACKOFF_LIMIT: i32 = 2;

/// The Job name of a backup (presslabs: `<backup>-backup`).
pub fn job_name(backup: &str) -> String {
    format!("{backup}-backup")
}

/// What the backup-filter hook sees: `scheduled-backup` for the cron's backups.
pub fn backup_kind(backup: &MysqlBackup) -> &'static str {
    let recurrent = backup
        .labels()
        .get(RECURRENT_LABEL)
        .is_some_and(|v| v == "true");
    if recurrent {
        "scheduled-backup"
    } else {
        "on-demand-backup"
    }
}

/// The compression `mysql-operator backup` must use to write `url` (from its suffix).
pub fn compression_arg(url: &str) -> &'static str {
    // The suffixes `mysql-operator backup` writes (crates/backup `Compression`).
    if url.ends_with(".gz") {
        "gzip"
    } else if url.ends_with(".zst") || url.ends_with(".zstd") {
        "zstd"
    } else {
        "none"
    }
}

fn secret_env(name: &str, secret: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: name.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Job that takes `backup` of `cluster` to `url` with the credentials of Secret
/// `secret`, running `image`.
pub fn backup_job(
    backup: &MysqlBackup,
    cluster: &MysqlCluster,
    url: &str,
    secret: &str,
    image: &str,
) -> Job {
    let name = backup.name_any();
    let namespace = backup.namespace().unwrap_or_default();
    let cluster_name = cluster.name_any();
    let labels = BTreeMap::from([
        (CLUSTER_LABEL.to_string(), cluster_name.clone()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            "mysql-operator".to_string(),
        ),
        ("mysql.presslabs.org/backup".to_string(), name.clone()),
    ]);
    let ps = &cluster.spec.pod_spec;
    let operated = Names::of(&cluster_name).operated_secret;
    let container = Container {
        name: "backup".into(),
        image: Some(image.into()),
        image_pull_policy: ps.image_pull_policy.clone(),
        command: Some(vec![render::statefulset::OPERATOR_BINARY.into()]),
        args: Some(vec![
            "backup".into(),
            "--cluster-name".into(),
            cluster_name.clone(),
            "--namespace".into(),
            namespace.clone(),
            "--flavor".into(),
            cluster.spec.effective_flavor().as_str().into(),
            "--destination".into(),
            url.into(),
            "--compression".into(),
            compression_arg(url).into(),
            "--kind".into(),
            backup_kind(backup).into(),
        ]),
        env: Some(vec![
            secret_env(render::secret::BACKUP_USER, &operated),
            secret_env(render::secret::BACKUP_PASSWORD, &operated),
        ]),
        env_from: Some(vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: secret.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        containers: vec![container],
        service_account_name: ps.service_account_name.clone(),
        image_pull_secrets: Some(ps.image_pull_secrets.clone()).filter(|v| !v.is_empty()),
        affinity: ps.backup_affinity.clone(),
        node_selector: Some(ps.backup_node_selector.clone()).filter(|m| !m.is_empty()),
        priority_class_name: ps.backup_priority_class_name.clone(),
        tolerations: Some(ps.backup_tolerations.clone()).filter(|v| !v.is_empty()),
        ..Default::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&name)),
            namespace: Some(namespace),
            labels: Some(labels.clone()),
            owner_references: backup.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(BACKOFF_LIMIT),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        status: None,
    }
}
