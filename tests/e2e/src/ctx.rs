//! The run's context: the kube client, the settings, external commands (`kubectl`, `helm`)
//! and SQL inside the pods.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::figures::Figures;
use crate::settings::Settings;

/// Output of an external command.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout when the command succeeded, else an error with its exit code and stderr.
    pub fn ok(self, what: &str) -> Result<String> {
        if self.success() {
            Ok(self.stdout)
        } else {
            bail!(
                "{what} failed (exit {}): {}{}",
                self.code.map_or("signal".to_string(), |c| c.to_string()),
                self.stderr.trim(),
                if self.stdout.trim().is_empty() {
                    String::new()
                } else {
                    format!("\nstdout: {}", tail_lines(&self.stdout, 20))
                }
            )
        }
    }
}

/// How the suite logs into mysqld inside a pod (the first that works is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlLogin {
    /// root with the cluster Secret's ROOT_PASSWORD over the default socket.
    RootSocket,
    /// root with ROOT_PASSWORD over TCP to 127.0.0.1:3306.
    RootTcp,
    /// the operator account from `/etc/mysql/client.conf`.
    ClientConf,
}

impl SqlLogin {
    const ALL: [SqlLogin; 3] = [
        SqlLogin::RootSocket,
        SqlLogin::RootTcp,
        SqlLogin::ClientConf,
    ];

    fn argv(self, root_password: &str, vertical: bool, query: &str) -> Vec<String> {
        let mut v: Vec<String> = match self {
            SqlLogin::RootSocket => vec![
                "env".into(),
                format!("MYSQL_PWD={root_password}"),
                "mariadb".into(),
                "-uroot".into(),
            ],
            SqlLogin::RootTcp => vec![
                "env".into(),
                format!("MYSQL_PWD={root_password}"),
                "mariadb".into(),
                "--protocol=tcp".into(),
                "-h127.0.0.1".into(),
                "-P3306".into(),
                "-uroot".into(),
            ],
            SqlLogin::ClientConf => vec![
                "mariadb".into(),
                "--defaults-file=/etc/mysql/client.conf".into(),
            ],
        };
        v.push("--connect-timeout=5".into());
        if vertical {
            v.push("-E".into());
        } else {
            v.extend(["-N".into(), "-B".into()]);
        }
        v.extend(["-e".into(), query.into()]);
        v
    }
}

/// Everything a scenario needs.
pub struct Ctx {
    pub client: Client,
    pub s: Settings,
    pub figures: Figures,
    /// ROOT_PASSWORD of the fixture's Secret.
    pub root_password: String,
    sql_login: Mutex<Option<SqlLogin>>,
}

impl Ctx {
    /// Connects with the kubeconfig of the settings (else the kube client's default) and
    /// checks the API server answers and a node is Ready. Fails naming how to get a cluster.
    pub async fn connect(s: Settings, root_password: String) -> Result<Ctx> {
        let how = "start the local node with `bash scripts/local-cluster.sh up` (then \
                   `eval \"$(bash scripts/local-cluster.sh env)\"`), or point KUBECONFIG at a \
                   kind cluster (`kind create cluster`)";
        let source = match &s.kubeconfig {
            Some(p) => format!("kubeconfig {}", p.display()),
            None => match std::env::var("KUBECONFIG") {
                Ok(v) if !v.is_empty() => format!("KUBECONFIG={v}"),
                _ => "the default kubeconfig (~/.kube/config or in-cluster)".into(),
            },
        };
        let config = match &s.kubeconfig {
            Some(p) => {
                let kc = Kubeconfig::read_from(p)
                    .with_context(|| format!("reading {}; {how}", p.display()))?;
                Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                    .await
                    .with_context(|| format!("loading {}; {how}", p.display()))?
            }
            None => Config::infer()
                .await
                .map_err(|e| anyhow!("no Kubernetes cluster configured ({source}): {e}; {how}"))?,
        };
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).context("building the kube client")?;
        let version = tokio::time::timeout(Duration::from_secs(15), client.apiserver_version())
            .await
            .map_err(|_| {
                anyhow!("the API server {server} ({source}) did not answer within 15 s; {how}")
            })?
            .map_err(|e| {
                anyhow!("the API server {server} ({source}) is not reachable: {e}; {how}")
            })?;
        let nodes: Api<Node> = Api::all(client.clone());
        let list = nodes
            .list(&ListParams::default())
            .await
            .with_context(|| format!("listing nodes of {server}"))?;
        let ready: Vec<String> = list
            .items
            .iter()
            .filter(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        if ready.is_empty() {
            bail!(
                "the API server {server} ({source}) has no Ready node ({} nodes); {how}",
                list.items.len()
            );
        }
        println!(
            "cluster: {server} ({source}), Kubernetes {}.{} ({}), Ready nodes: {}",
            version.major,
            version.minor,
            version.git_version,
            ready.join(", ")
        );
        Ok(Ctx {
            client,
            figures: Figures::new(s.figures_file.clone()),
            s,
            root_password,
            sql_login: Mutex::new(None),
        })
    }

    /// `Api` of a namespaced kind in the test namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.s.namespace)
    }

    /// `Api` of a namespaced kind in the operator's namespace.
    pub fn op_api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.s.operator_namespace)
    }

    pub fn pods(&self) -> Api<Pod> {
        self.api()
    }

    /// Runs an external command with the run's kubeconfig, killed after `timeout`.
    pub async fn run(
        &self,
        program: &Path,
        args: &[String],
        timeout: Duration,
    ) -> Result<CmdOutput> {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(k) = &self.s.kubeconfig {
            cmd.env("KUBECONFIG", k);
        }
        let shown = format!("{} {}", program.display(), shorten(&args.join(" "), 160));
        let child = cmd.output();
        let out = tokio::time::timeout(timeout, child)
            .await
            .map_err(|_| anyhow!("`{shown}` did not finish within {}s", timeout.as_secs()))?
            .with_context(|| {
                format!(
                    "running `{shown}` (is {} installed? `. scripts/env.sh` puts kubectl and helm on PATH)",
                    program.display()
                )
            })?;
        Ok(CmdOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `kubectl <args>`.
    pub async fn kubectl(&self, args: &[&str], timeout: Duration) -> Result<CmdOutput> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.run(&self.s.kubectl.clone(), &args, timeout).await
    }

    /// `helm <args>`.
    pub async fn helm(&self, args: &[String], timeout: Duration) -> Result<CmdOutput> {
        self.run(&self.s.helm.clone(), args, timeout).await
    }

    /// `kubectl exec -n <ns> <pod> -c <container> -- <cmd>` in the test namespace.
    pub async fn exec(
        &self,
        pod: &str,
        container: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<CmdOutput> {
        let mut args: Vec<String> = vec![
            "exec".into(),
            "-n".into(),
            self.s.namespace.clone(),
            pod.into(),
            "-c".into(),
            container.into(),
            "--".into(),
        ];
        args.extend(cmd.iter().cloned());
        self.run(&self.s.kubectl.clone(), &args, timeout).await
    }

    /// A shell snippet in a container (`sh -c`).
    pub async fn sh(
        &self,
        pod: &str,
        container: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<CmdOutput> {
        self.exec(
            pod,
            container,
            &["sh".into(), "-c".into(), script.into()],
            timeout,
        )
        .await
    }

    /// Runs SQL in the `mysql` container of `pod` and returns the batch output (`-N -B`:
    /// tab-separated, no header).
    pub async fn sql(&self, pod: &str, query: &str) -> Result<String> {
        self.sql_opts(pod, query, false).await
    }

    /// `\G`-style output parsed as `key: value` lines (first row).
    pub async fn sql_vertical(&self, pod: &str, query: &str) -> Result<Vec<(String, String)>> {
        let out = self.sql_opts(pod, query, true).await?;
        Ok(parse_vertical(&out))
    }

    async fn sql_opts(&self, pod: &str, query: &str, vertical: bool) -> Result<String> {
        let timeout = Duration::from_secs(60);
        let known = *self.sql_login.lock().expect("lock");
        if let Some(login) = known {
            let argv = login.argv(&self.root_password, vertical, query);
            return self.exec(pod, "mysql", &argv, timeout).await?.ok(&format!(
                "SQL on {pod} ({login:?}): {}",
                shorten(query, 120)
            ));
        }
        let mut errors = Vec::new();
        for login in SqlLogin::ALL {
            let argv = login.argv(&self.root_password, vertical, query);
            let out = self.exec(pod, "mysql", &argv, timeout).await?;
            if out.success() {
                println!("  (SQL inside the pods logs in as {login:?})");
                *self.sql_login.lock().expect("lock") = Some(login);
                return Ok(out.stdout);
            }
            let err = out.stderr.trim().to_string();
            // Only a login problem moves on to the next way; a server that is down or a
            // bad statement is the answer.
            let login_problem = err.contains("1045")
                || err.contains("Access denied")
                || err.contains("2002")
                || err.contains("socket")
                || err.contains("client.conf")
                || err.contains("defaults file")
                || err.contains("executable file not found")
                || err.contains("not found");
            errors.push(format!("{login:?}: {err}"));
            if !login_problem {
                break;
            }
        }
        bail!(
            "SQL on {pod} failed with every login the suite knows (root/ROOT_PASSWORD over the socket and TCP, /etc/mysql/client.conf): {}\nquery: {}",
            errors.join("; "),
            shorten(query, 200)
        )
    }

    /// One value from a single-row, single-column query.
    pub async fn sql_value(&self, pod: &str, query: &str) -> Result<String> {
        Ok(self.sql(pod, query).await?.trim().to_string())
    }
}

/// Parses `mariadb -E` output into `(key, value)` pairs of the first row.
pub fn parse_vertical(out: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rows = 0;
    for line in out.lines() {
        if line.starts_with("***") {
            rows += 1;
            if rows > 1 {
                break;
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            pairs.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    pairs
}

/// The value of `key` in parsed vertical output.
pub fn field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// At most `max` characters, with an ellipsis.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// The last `n` lines of `s`.
pub fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vertical_output_is_parsed() {
        let out = "*************************** 1. row ***************************\n\
                   Slave_IO_State: Waiting for master to send event\n\
                   Master_Host: c-mysql-0.mysql.ns\n\
                   Slave_IO_Running: Yes\n\
                   Slave_SQL_Running: Yes\n\
                   Gtid_IO_Pos: 0-100-42\n";
        let p = parse_vertical(out);
        assert_eq!(field(&p, "Slave_IO_Running"), Some("Yes"));
        assert_eq!(field(&p, "Master_Host"), Some("c-mysql-0.mysql.ns"));
        assert_eq!(field(&p, "Gtid_IO_Pos"), Some("0-100-42"));
        assert_eq!(field(&p, "Missing"), None);
    }

    #[test]
    fn logins_pass_the_password_in_the_environment() {
        let argv = SqlLogin::RootTcp.argv("pw", false, "SELECT 1");
        assert_eq!(argv[0], "env");
        assert_eq!(argv[1], "MYSQL_PWD=pw");
        assert!(argv.contains(&"-h127.0.0.1".to_string()));
        assert_eq!(argv.last().unwrap(), "SELECT 1");
        let argv = SqlLogin::ClientConf.argv("pw", true, "SHOW SLAVE STATUS");
        assert_eq!(argv[1], "--defaults-file=/etc/mysql/client.conf");
        assert!(argv.contains(&"-E".to_string()));
        assert!(!argv.iter().any(|a| a.contains("pw")));
    }
}
