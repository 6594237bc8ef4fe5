//! Semantic validation of the resources: the rules a structural schema cannot express
//! (cron syntax, known versions, unique plugin names...). Every failure is reported, each
//! with its field path and a hint how to fix it, so a user fixes a manifest in one pass.

use std::collections::BTreeSet;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cluster::MysqlClusterSpec;
use crate::plugin::{Hook, PluginSpec};
use crate::version;
use crate::{MysqlBackup, MysqlCluster, MysqlDatabase, MysqlUser};

/// One validation failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `spec.backupSchedule`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl FieldError {
    /// Build an error; `path`, `message` and `hint` as documented on the fields.
    pub fn new(
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} (hint: {})", self.path, self.message, self.hint)
    }
}

/// Collects errors while walking a resource.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(FieldError::new(path, message, hint));
    }
}

/// Validate a whole MysqlCluster (metadata name and spec).
pub fn cluster(c: &MysqlCluster) -> Vec<FieldError> {
    let mut e = Errors::default();
    check_name(&mut e, c.metadata.name.as_deref());
    cluster_spec_into(&mut e, &c.spec);
    e.0
}

/// Validate a MysqlCluster spec; paths start with `spec.`.
pub fn cluster_spec(spec: &MysqlClusterSpec) -> Vec<FieldError> {
    let mut e = Errors::default();
    cluster_spec_into(&mut e, spec);
    e.0
}

fn cluster_spec_into(e: &mut Errors, spec: &MysqlClusterSpec) {
    if let Some(r) = spec.replicas
        && r < 0
    {
        e.push(
            "spec.replicas",
            format!("must be 0 or more, got {r}"),
            "use 0 to stop the cluster, 1 for a single primary, 3 for a primary and two replicas",
        );
    }
    if spec.secret_name.trim().is_empty() {
        e.push(
            "spec.secretName",
            "must name the Secret with ROOT_PASSWORD",
            "create a Secret with key ROOT_PASSWORD and set spec.secretName to its name",
        );
    }
    check_version(e, spec);
    check_flavor(e, spec);
    if let Some(s) = spec
        .backup_schedule
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        if let Err((message, hint)) = check_cron(s) {
            e.push("spec.backupSchedule", message, hint);
        }
        if spec
            .backup_url
            .as_deref()
            .is_none_or(|u| u.trim().is_empty())
        {
            e.push("spec.backupURL", "backupSchedule is set but backupURL is empty", "set spec.backupURL (e.g. s3://bucket/path) and spec.backupSecretName, or remove backupSchedule");
        }
    }
    for (path, url) in [
        ("spec.backupURL", &spec.backup_url),
        ("spec.initBucketURL", &spec.init_bucket_url),
        ("spec.initBucketURI", &spec.init_bucket_uri),
    ] {
        if let Some(u) = url.as_deref() {
            check_bucket_url(e, path, u);
        }
    }
    if let Some(m) = spec.min_available.as_deref()
        && let Err(message) = check_min_available(m)
    {
        e.push(
            "spec.minAvailable",
            message,
            "use a pod count such as \"1\" or a percentage such as \"50%\"",
        );
    }
    non_negative(
        e,
        "spec.backupScheduleJobsHistoryLimit",
        spec.backup_schedule_jobs_history_limit.map(i64::from),
        "use a count of backups to keep, or remove the field to keep all",
    );
    non_negative(
        e,
        "spec.serverIDOffset",
        spec.server_id_offset.map(i64::from),
        "use a small positive offset such as 100 (the default)",
    );
    non_negative(
        e,
        "spec.maxSlaveLatency",
        spec.max_slave_latency,
        "use a lag in seconds, e.g. 30",
    );
    if let Some(q) = &spec.tmpfs_size
        && !is_quantity(&q.0)
    {
        e.push(
            "spec.tmpfsSize",
            format!("{:?} is not a size", q.0),
            "use a Kubernetes quantity such as 512Mi or 1Gi",
        );
    }
    if let Some(q) = &spec.query_limits {
        if q.max_query_time <= 0 {
            e.push(
                "spec.queryLimits.maxQueryTime",
                format!("must be positive seconds, got {}", q.max_query_time),
                "e.g. maxQueryTime: 300",
            );
        }
        non_negative(
            e,
            "spec.queryLimits.maxIdleTime",
            q.max_idle_time.map(i64::from),
            "use seconds, e.g. 60",
        );
        if let Some(k) = q.kill.as_deref()
            && !["oldest", "all", "all-but-oldest"].contains(&k)
        {
            e.push(
                "spec.queryLimits.kill",
                format!("unknown value {k:?}"),
                "use one of oldest, all, all-but-oldest",
            );
        }
        if let Some(k) = q.kill_mode.as_deref()
            && !["connection", "query"].contains(&k)
        {
            e.push(
                "spec.queryLimits.killMode",
                format!("unknown value {k:?}"),
                "use connection or query",
            );
        }
    }
    if !spec.volume_spec.is_set() {
        e.push("spec.volumeSpec", "no volume source is set: the data would have nowhere to live", "set volumeSpec.persistentVolumeClaim (e.g. accessModes: [ReadWriteOnce], resources.requests.storage: 10Gi), or hostPath, or emptyDir: {} for tests");
    }
    check_mysql_conf(e, spec);
    check_plugins(e, &spec.plugins);
}

fn check_name(e: &mut Errors, name: Option<&str>) {
    match name {
        None | Some("") => e.push("metadata.name", "is required", "set metadata.name to a DNS label such as my-cluster"),
        Some(n) if !is_dns_label(n) => e.push("metadata.name", format!("{n:?} is not a DNS label"), "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"),
        Some(_) => {}
    }
}

fn check_version(e: &mut Errors, spec: &MysqlClusterSpec) {
    if spec.effective_image().is_err() {
        let v = spec.version_or_default();
        e.push(
            "spec.mysqlVersion",
            format!("unknown version {v:?} and no spec.image is set"),
            format!(
                "use one of {}, or set spec.image to the server image to run",
                version::known_list()
            ),
        );
    }
}

fn check_flavor(e: &mut Errors, spec: &MysqlClusterSpec) {
    let (Some(flavor), Some(image)) = (spec.flavor, spec.image.as_deref()) else {
        return;
    };
    if let Some(from_image) = version::flavor_from_image(image) {
        // Percona is MySQL-compatible: only a MariaDB/MySQL-family mismatch is an error.
        if from_image.is_mariadb() != flavor.is_mariadb() {
            e.push(
                "spec.flavor",
                format!("flavor {flavor} contradicts image {image:?} (looks like {from_image})"),
                "remove spec.flavor to infer it from the image, or fix the image",
            );
        }
    }
}

/// Check a backup schedule: 6 fields with seconds first (or an `@daily`-style macro),
/// as the presslabs scheduler parsed it. Returns message and hint on failure.
pub fn check_cron(expr: &str) -> Result<(), (String, String)> {
    let expr = expr.trim();
    let example =
        "e.g. \"0 0 3 * * *\" for 03:00 every day (sec min hour day-of-month month day-of-week)";
    if !expr.starts_with('@') {
        let n = expr.split_whitespace().count();
        if n != 6 {
            let hint = if n == 5 {
                format!(
                    "this looks like a 5-field crontab; prepend the seconds field: \"0 {expr}\""
                )
            } else {
                format!("write 6 fields with seconds first, {example}")
            };
            return Err((
                format!("{expr:?} has {n} fields, expected 6 (seconds first)"),
                hint,
            ));
        }
    }
    cron::Schedule::from_str(expr).map(|_| ()).map_err(|err| {
        (
            format!("{expr:?} is not a valid cron expression: {err}"),
            format!("write 6 fields with seconds first, {example}"),
        )
    })
}

fn check_bucket_url(e: &mut Errors, path: &str, url: &str) {
    let u = url.trim();
    if u.is_empty() {
        return;
    }
    match u.split_once("://") {
        Some((scheme, rest))
            if !scheme.is_empty()
                && !rest.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+') => {}
        _ => e.push(
            path,
            format!("{u:?} is not a bucket URL"),
            "use <scheme>://<bucket>/<path>, e.g. s3://my-bucket/mysql-backups",
        ),
    }
}

fn check_min_available(v: &str) -> Result<(), String> {
    let v = v.trim();
    if let Some(p) = v.strip_suffix('%') {
        match p.parse::<u32>() {
            Ok(n) if n <= 100 => Ok(()),
            _ => Err(format!("{v:?} is not a percentage between 0% and 100%")),
        }
    } else if v.parse::<u32>().is_ok() {
        Ok(())
    } else {
        Err(format!("{v:?} is neither a pod count nor a percentage"))
    }
}

fn non_negative(e: &mut Errors, path: &str, v: Option<i64>, hint: &str) {
    if let Some(n) = v
        && n < 0
    {
        e.push(path, format!("must be 0 or more, got {n}"), hint);
    }
}

/// Whether `s` is a Kubernetes quantity (`512Mi`, `1.5G`, `100m`, `1e3`).
pub fn is_quantity(s: &str) -> bool {
    let s = s.trim();
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(digits_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return false;
    }
    const SUFFIXES: [&str; 14] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E",
    ];
    if SUFFIXES.contains(&suffix) {
        return true;
    }
    let exp = suffix
        .strip_prefix(['e', 'E'])
        .map(|x| x.strip_prefix(['+', '-']).unwrap_or(x));
    exp.is_some_and(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()))
}

fn check_mysql_conf(e: &mut Errors, spec: &MysqlClusterSpec) {
    for (key, value) in &spec.mysql_conf {
        let path = format!("spec.mysqlConf.{key}");
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            e.push(path.clone(), format!("{key:?} is not a server option name"), "option names are letters, digits, '-', '_' and '.', as in my.cnf (e.g. innodb-buffer-pool-size)");
        }
        if let IntOrString::String(s) = value {
            if s.contains(['\n', '\r', '\0']) {
                e.push(
                    path,
                    "value contains a line break",
                    "write the value on one line; each mysqlConf entry is one my.cnf line",
                );
            } else if s.trim() != s {
                e.push(
                    path,
                    format!("value {s:?} has leading or trailing spaces"),
                    "remove the surrounding spaces",
                );
            }
        }
    }
}

fn check_plugins(e: &mut Errors, plugins: &[PluginSpec]) {
    let mut seen = BTreeSet::new();
    for (i, p) in plugins.iter().enumerate() {
        let base = format!("spec.plugins[{i}]");
        if p.name.is_empty() {
            e.push(
                format!("{base}.name"),
                "is required",
                "name each plugin with a unique DNS label, e.g. status-table-fix",
            );
        } else if !is_dns_label(&p.name) {
            e.push(
                format!("{base}.name"),
                format!("{:?} is not a DNS label", p.name),
                "use lowercase letters, digits and '-', at most 63 characters",
            );
        } else if !seen.insert(p.name.as_str()) {
            e.push(
                format!("{base}.name"),
                format!("duplicate plugin name {:?}", p.name),
                "give each plugin a unique name",
            );
        }
        if p.config_map.name.trim().is_empty() {
            e.push(format!("{base}.configMap.name"), "is required: the module has no ConfigMap to load from", "set configMap.name to the ConfigMap holding the .wasm component (kubectl create configmap NAME --from-file=policy.wasm)");
        } else if !is_dns_subdomain(&p.config_map.name) {
            e.push(
                format!("{base}.configMap.name"),
                format!("{:?} is not a valid ConfigMap name", p.config_map.name),
                "use lowercase letters, digits, '-' and '.'",
            );
        }
        if p.config_map.key.trim().is_empty() {
            e.push(
                format!("{base}.configMap.key"),
                "is required",
                "set configMap.key to the key holding the component, e.g. policy.wasm",
            );
        } else if !p
            .config_map
            .key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            e.push(
                format!("{base}.configMap.key"),
                format!("{:?} is not a valid ConfigMap key", p.config_map.key),
                "keys are letters, digits, '-', '_' and '.'",
            );
        }
        if let Some(sha) = p.sha256.as_deref()
            && !(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()))
        {
            e.push(
                format!("{base}.sha256"),
                format!("must be 64 hex digits, got {} characters", sha.len()),
                "use the output of `sha256sum policy.wasm`, or remove the pin",
            );
        }
        if let Some(hooks) = &p.hooks {
            if hooks.is_empty() {
                e.push(format!("{base}.hooks"), "is empty: the module would never be called", "list the hooks to use (init-script, backup-filter, failover-candidate) or remove hooks to use all the module exports");
            }
            let mut seen_hooks = BTreeSet::new();
            for (j, h) in hooks.iter().enumerate() {
                if !seen_hooks.insert(*h) {
                    e.push(
                        format!("{base}.hooks[{j}]"),
                        format!("hook {h} is listed twice"),
                        "list each hook once",
                    );
                }
            }
        }
        if let Some(s) = &p.settings
            && !s.is_object()
        {
            e.push(
                format!("{base}.settings"),
                "must be an object",
                "write settings as a map, e.g. settings: {excludeTables: [db.tmp]}",
            );
        }
    }
}

/// Hooks accepted in `plugins[].hooks`, comma-separated (for hints).
pub fn known_hooks() -> String {
    Hook::ALL
        .iter()
        .map(|h| h.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Validate a MysqlBackup.
pub fn backup(b: &MysqlBackup) -> Vec<FieldError> {
    let mut e = Errors::default();
    check_name(&mut e, b.metadata.name.as_deref());
    if b.spec.cluster_name.trim().is_empty() {
        e.push(
            "spec.clusterName",
            "is required",
            "set spec.clusterName to the MysqlCluster to back up",
        );
    }
    for (path, url) in [
        ("spec.backupURL", &b.spec.backup_url),
        ("spec.backupURI", &b.spec.backup_uri),
    ] {
        if let Some(u) = url.as_deref() {
            check_bucket_url(&mut e, path, u);
        }
    }
    e.0
}

/// Validate a MysqlDatabase.
pub fn database(d: &MysqlDatabase) -> Vec<FieldError> {
    let mut e = Errors::default();
    check_name(&mut e, d.metadata.name.as_deref());
    if d.spec.cluster_ref.name.trim().is_empty() {
        e.push(
            "spec.clusterRef.name",
            "is required",
            "set it to the MysqlCluster the database lives in",
        );
    }
    let db = &d.spec.database;
    if db.is_empty() || db.len() > 64 || db.contains(['`', '\0', '/', '\\', '.']) || db.trim() != db
    {
        e.push(
            "spec.database",
            format!("{db:?} is not a valid database name"),
            "use 1 to 64 characters without backticks, slashes, dots or surrounding spaces",
        );
    }
    e.0
}

/// Validate a MysqlUser.
pub fn user(u: &MysqlUser) -> Vec<FieldError> {
    let mut e = Errors::default();
    check_name(&mut e, u.metadata.name.as_deref());
    let s = &u.spec;
    if s.cluster_ref.name.trim().is_empty() {
        e.push(
            "spec.clusterRef.name",
            "is required",
            "set it to the MysqlCluster the account lives in",
        );
    }
    if s.user.is_empty() || s.user.len() > 80 || s.user.contains(['\'', '`', '\0']) {
        e.push(
            "spec.user",
            format!("{:?} is not a valid user name", s.user),
            "use 1 to 80 characters (32 for MySQL 5.7) without quotes",
        );
    }
    if s.password.name.trim().is_empty() {
        e.push(
            "spec.password.name",
            "is required",
            "name the Secret holding the password",
        );
    }
    if s.password.key.trim().is_empty() {
        e.push(
            "spec.password.key",
            "is required",
            "name the key of the Secret holding the password, e.g. PASSWORD",
        );
    }
    if s.allowed_hosts.is_empty() {
        e.push(
            "spec.allowedHosts",
            "is empty: the account could not connect from anywhere",
            "list hosts, e.g. allowedHosts: [\"%\"] for any host",
        );
    }
    for (i, p) in s.permissions.iter().enumerate() {
        let base = format!("spec.permissions[{i}]");
        if p.schema.trim().is_empty() {
            e.push(
                format!("{base}.schema"),
                "is required",
                "name the schema (database) the grant applies to",
            );
        }
        if p.tables.is_empty() {
            e.push(
                format!("{base}.tables"),
                "is empty",
                "list tables, or [\"*\"] for all tables of the schema",
            );
        }
        if p.permissions.is_empty() {
            e.push(
                format!("{base}.permissions"),
                "is empty",
                "list privileges, e.g. [SELECT, INSERT]",
            );
        }
    }
    e.0
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}
