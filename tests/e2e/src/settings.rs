//! What a run uses, from the environment, with the defaults of the local node
//! (`scripts/local-cluster.sh`, `scripts/build-images.sh`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

/// The kubeconfig `scripts/local-cluster.sh up` writes, used when neither `KUBECONFIG` nor
/// `~/.kube/config` exists.
pub const LOCAL_NODE_KUBECONFIG: &str = "/var/tmp/mysql-operator-k8s/kubeconfig";

/// The kubeconfig file a run uses: `KUBECONFIG`, else `~/.kube/config`, else the local
/// node's (when that file exists).
pub fn kubeconfig_file() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v));
    }
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config"));
    home.filter(|p| p.is_file())
        .or_else(|| Some(PathBuf::from(LOCAL_NODE_KUBECONFIG)).filter(|p| p.is_file()))
}

/// The scenarios, in the order they run. 1 and 2 are prerequisites of every other one.
pub const SCENARIOS: &[(u32, &str)] = &[
    (1, "operator from the Helm chart"),
    (
        2,
        "the seed's cluster: 3 pods, roles, GTID replication with semi-sync",
    ),
    (
        3,
        "writes through the -master Service across a switchover and a failover",
    ),
    (4, "MysqlDatabase and MysqlUser usable from a client pod"),
    (
        5,
        "scale 3 -> 2 -> 3 and a pod whose PVC is deleted (re-clone)",
    ),
    (
        6,
        "on-demand MysqlBackup to S3, then a new cluster from initBucketURL",
    ),
    (
        7,
        "status-table policy module from a ConfigMap, then a changed ConfigMap",
    ),
    (
        8,
        "two operator replicas with leader election: the leader is deleted",
    ),
];

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Operator image (chart value `image`). `E2E_OPERATOR_IMAGE`.
    pub operator_image: String,
    /// Tools image: chart `sidecarImage`, and `spec.image` + `spec.sidecarImage` of the test
    /// clusters; also the writer and client pods (it has the `mariadb` client). `E2E_TOOLS_IMAGE`.
    pub tools_image: String,
    /// SeaweedFS image (`weed` as entrypoint). `E2E_S3_IMAGE`.
    pub s3_image: String,
    /// mysqld_exporter image of the MySQL pods (chart value `metricsExporterImage`).
    /// `E2E_EXPORTER_IMAGE`; default the local node's stand-in built by
    /// `scripts/build-images.sh`; set it empty (`E2E_EXPORTER_IMAGE=`) for the operator's
    /// default (`prom/mysqld-exporter`, pulled from Docker Hub, e.g. on kind).
    pub exporter_image: Option<String>,
    /// imagePullPolicy of everything the suite deploys. `E2E_PULL_POLICY`.
    pub pull_policy: String,
    /// Namespace of the MySQL clusters and test pods (fresh per run). `E2E_NAMESPACE`.
    pub namespace: String,
    /// Namespace of the operator release (`<namespace>-operator`).
    pub operator_namespace: String,
    /// Helm release name; the chart's full name (Deployment, ServiceAccount, Lease) is the same.
    pub release: String,
    /// Keep namespaces and the release at the end. `E2E_KEEP=1`.
    pub keep: bool,
    /// Only these scenarios (1 and 2 always run). `E2E_ONLY=3,5`.
    pub only: Option<BTreeSet<u32>>,
    /// Multiplies every timeout (slow machines). `E2E_TIMEOUT_SCALE`, default 1.
    pub timeout_scale: f64,
    /// Kubeconfig file, when not the kube client's default (`KUBECONFIG` / `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// Repository root (the chart, the plugins).
    pub repo_root: PathBuf,
    /// `kubectl` and `helm` binaries (`E2E_KUBECTL`, `E2E_HELM`, else PATH, else the
    /// tools directory of `scripts/setup.sh`).
    pub kubectl: PathBuf,
    pub helm: PathBuf,
    /// Seconds the writer pod sleeps between two acknowledged writes. `E2E_WRITER_PAUSE`.
    pub writer_pause: String,
    /// Where to append the figures as `scenario<TAB>name<TAB>value` lines. `E2E_FIGURES_FILE`.
    pub figures_file: Option<PathBuf>,
}

impl Settings {
    /// From the process environment.
    pub fn from_env() -> Result<Settings> {
        Settings::from_lookup(|k| std::env::var(k).ok(), repo_root()?, run_id())
    }

    /// From any lookup (unit tests).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        repo_root: PathBuf,
        run_id: String,
    ) -> Result<Settings> {
        let var = |k: &str, default: &str| {
            get(k)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let namespace = var("E2E_NAMESPACE", &format!("mysql-e2e-{run_id}"));
        if namespace.len() > 50
            || !namespace
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bail!(
                "E2E_NAMESPACE={namespace:?} is not a usable namespace name (lowercase letters, digits, '-', at most 50 characters)"
            );
        }
        let only = match get("E2E_ONLY").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => {
                let mut set = BTreeSet::new();
                for part in v.split(',') {
                    let n: u32 = part.trim().parse().with_context(|| {
                        format!("E2E_ONLY={v:?}: {part:?} is not a scenario number")
                    })?;
                    if !SCENARIOS.iter().any(|(i, _)| *i == n) {
                        bail!(
                            "E2E_ONLY={v:?}: there is no scenario {n} (1-{})",
                            SCENARIOS.len()
                        );
                    }
                    set.insert(n);
                }
                Some(set)
            }
        };
        let timeout_scale: f64 = var("E2E_TIMEOUT_SCALE", "1")
            .parse()
            .context("E2E_TIMEOUT_SCALE must be a number, e.g. 2")?;
        if !(timeout_scale > 0.0 && timeout_scale < 100.0) {
            bail!("E2E_TIMEOUT_SCALE={timeout_scale} is out of range (0, 100)");
        }
        let tools_dir = get("MYSQL_OPERATOR_TOOLS")
            .map(PathBuf::from)
            .or_else(|| {
                get("HOME").map(|h| PathBuf::from(h).join(".local/share/mysql-operator-tools"))
            })
            .map(|d| d.join("bin"));
        let find = |env: &str, name: &str| -> PathBuf {
            if let Some(p) = get(env).filter(|v| !v.is_empty()) {
                return PathBuf::from(p);
            }
            if let Some(path) = get("PATH") {
                for dir in std::env::split_paths(&path) {
                    let c = dir.join(name);
                    if c.is_file() {
                        return c;
                    }
                }
            }
            if let Some(d) = &tools_dir {
                let c = d.join(name);
                if c.is_file() {
                    return c;
                }
            }
            PathBuf::from(name)
        };
        // Named only when it is the local node's: the kube client and kubectl/helm find
        // KUBECONFIG and ~/.kube/config themselves.
        let kubeconfig = kubeconfig_file().filter(|p| p == Path::new(LOCAL_NODE_KUBECONFIG));
        Ok(Settings {
            operator_image: var("E2E_OPERATOR_IMAGE", "mysql-operator:dev"),
            tools_image: var("E2E_TOOLS_IMAGE", "mysql-tools:dev-mariadb10.11"),
            s3_image: var("E2E_S3_IMAGE", "mysql-operator-e2e-s3:dev"),
            exporter_image: match get("E2E_EXPORTER_IMAGE") {
                None => Some("mysql-operator-e2e-mysqld-exporter:dev".to_string()),
                Some(v) if v.trim().is_empty() => None,
                Some(v) => Some(v.trim().to_string()),
            },
            pull_policy: var("E2E_PULL_POLICY", "IfNotPresent"),
            operator_namespace: format!("{namespace}-operator"),
            release: format!("mysql-operator-{run_id}"),
            namespace,
            keep: matches!(get("E2E_KEEP").as_deref(), Some("1" | "true" | "yes")),
            only,
            timeout_scale,
            kubeconfig,
            repo_root,
            kubectl: find("E2E_KUBECTL", "kubectl"),
            helm: find("E2E_HELM", "helm"),
            writer_pause: var("E2E_WRITER_PAUSE", "0.01"),
            figures_file: get("E2E_FIGURES_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        })
    }

    /// Whether scenario `n` runs.
    pub fn runs(&self, n: u32) -> bool {
        n <= 2 || self.only.as_ref().is_none_or(|o| o.contains(&n))
    }

    /// A timeout scaled by `E2E_TIMEOUT_SCALE`.
    pub fn timeout(&self, secs: u64) -> Duration {
        Duration::from_secs_f64(secs as f64 * self.timeout_scale)
    }

    /// The chart's full name for this release (Deployment, ServiceAccount, Lease, RBAC).
    pub fn operator_fullname(&self) -> String {
        // _helpers.tpl: the release name when it contains the chart name.
        self.release.clone()
    }
}

/// The repository root, found when the suite runs (cargo reuses artifacts across
/// checkouts, so a compile-time path can be stale): the nearest ancestor of
/// `CARGO_MANIFEST_DIR` (set by `cargo test`) or of the current directory that holds the chart.
pub fn repo_root() -> Result<PathBuf> {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    start
        .ancestors()
        .find(|d| d.join("charts/mysql-operator/Chart.yaml").is_file())
        .map(Path::to_path_buf)
        .with_context(|| {
            format!(
                "no repository root (a directory with charts/mysql-operator/Chart.yaml) above {}: run the suite with `cargo test -p mysql-operator-e2e` from the checkout",
                start.display()
            )
        })
}

/// A short id unique enough per run: seconds since the epoch in base 36 (6 characters).
pub fn run_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    base36(secs % 36u64.pow(6), 6)
}

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(
            |k| map.get(k).cloned(),
            PathBuf::from("/repo"),
            "abc123".into(),
        )
    }

    #[test]
    fn defaults_name_the_local_images_and_a_fresh_namespace() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.operator_image, "mysql-operator:dev");
        assert_eq!(s.tools_image, "mysql-tools:dev-mariadb10.11");
        assert_eq!(s.s3_image, "mysql-operator-e2e-s3:dev");
        assert_eq!(
            s.exporter_image.as_deref(),
            Some("mysql-operator-e2e-mysqld-exporter:dev")
        );
        assert_eq!(
            settings(&[("E2E_EXPORTER_IMAGE", "")])
                .unwrap()
                .exporter_image,
            None
        );
        assert_eq!(s.pull_policy, "IfNotPresent");
        assert_eq!(s.namespace, "mysql-e2e-abc123");
        assert_eq!(s.operator_namespace, "mysql-e2e-abc123-operator");
        assert_eq!(s.release, "mysql-operator-abc123");
        assert!(!s.keep);
        assert!((1..=8).all(|n| s.runs(n)));
    }

    #[test]
    fn only_keeps_the_prerequisites() {
        let s = settings(&[("E2E_ONLY", "5, 7"), ("E2E_KEEP", "1")]).unwrap();
        assert!(s.runs(1) && s.runs(2) && s.runs(5) && s.runs(7));
        assert!(!s.runs(3) && !s.runs(8));
        assert!(s.keep);
        let err = settings(&[("E2E_ONLY", "9")]).unwrap_err().to_string();
        assert!(err.contains("no scenario 9"), "{err}");
        assert!(settings(&[("E2E_NAMESPACE", "Bad_NS")]).is_err());
    }

    #[test]
    fn timeouts_scale() {
        let s = settings(&[("E2E_TIMEOUT_SCALE", "2.5")]).unwrap();
        assert_eq!(s.timeout(10), Duration::from_secs(25));
        assert!(settings(&[("E2E_TIMEOUT_SCALE", "-1")]).is_err());
    }

    #[test]
    fn run_ids_are_six_base36_characters() {
        assert_eq!(base36(0, 6), "000000");
        assert_eq!(base36(35, 6), "00000z");
        assert_eq!(base36(36, 6), "000010");
        let id = run_id();
        assert_eq!(id.len(), 6);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
