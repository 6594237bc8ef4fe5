//! The writer client: a pod running a shell loop with the `mariadb` client that inserts
//! numbered rows through the `-master` Service and prints `ack <n> <epoch_ms>` only after
//! the INSERT returned 0, and what the suite reads back from its log.

use k8s_openapi::api::core::v1::Pod;

/// Database, table and account of the writer (created on the primary by scenario 2).
pub const DB: &str = "e2e";
pub const TABLE: &str = "writes";
pub const USER: &str = "e2e_writer";
pub const PASSWORD: &str = "e2e-writer-pw";

/// SQL creating the writer's table and account (run as root on the primary; replicated).
pub fn setup_sql() -> String {
    format!(
        "CREATE DATABASE IF NOT EXISTS `{DB}`; \
         CREATE TABLE IF NOT EXISTS `{DB}`.`{TABLE}` (n BIGINT NOT NULL PRIMARY KEY, client_ms BIGINT NOT NULL, \
         at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB; \
         CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON `{DB}`.* TO '{USER}'@'%';"
    )
}

/// The loop. It stops when `/tmp/stop` exists, prints `stopped <n>` and sleeps so the
/// log stays readable. A failed INSERT prints `fail <n> <ms> <error>` and moves on (the
/// row may or may not exist; only acknowledged rows are checked).
pub fn script(host: &str, pause: &str) -> String {
    format!(
        r#"set -u
n=0
while [ ! -e /tmp/stop ]; do
  n=$((n+1))
  if out=$(timeout 10 mariadb --protocol=tcp -h {host} -P 3306 -u {USER} --connect-timeout=3 -N -B {DB} -e "INSERT INTO {TABLE} (n, client_ms) VALUES ($n, $(date +%s%3N))" 2>&1); then
    echo "ack $n $(date +%s%3N)"
    sleep {pause}
  else
    echo "fail $n $(date +%s%3N) $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-200)"
    sleep 0.05
  fi
done
echo "stopped $n"
exec sleep 86400
"#
    )
}

/// The writer pod.
pub fn pod(name: &str, host: &str, image: &str, pull_policy: &str, pause: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "mysql-operator-e2e", "app.kubernetes.io/component": "writer"}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "writer",
                "image": image,
                "imagePullPolicy": pull_policy,
                "command": ["sh", "-c", script(host, pause)],
                "env": [{"name": "MYSQL_PWD", "value": PASSWORD}],
                "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}
            }]
        }
    }))
    .expect("writer pod manifest")
}

/// What the writer's log says.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WriterLog {
    /// `(n, epoch_ms)` of every acknowledged INSERT, in log order.
    pub acks: Vec<(u64, i64)>,
    /// `(n, epoch_ms, error)` of every failed attempt.
    pub fails: Vec<(u64, i64, String)>,
    /// `Some(last n)` once the loop stopped.
    pub stopped: Option<u64>,
}

/// Parses the writer's log; unknown lines are ignored.
pub fn parse(log: &str) -> WriterLog {
    let mut w = WriterLog::default();
    for line in log.lines() {
        let mut parts = line.splitn(4, ' ');
        match parts.next() {
            Some("ack") => {
                if let (Some(Ok(n)), Some(Ok(t))) = (
                    parts.next().map(str::parse::<u64>),
                    parts.next().map(|s| s.trim().parse::<i64>()),
                ) {
                    w.acks.push((n, t));
                }
            }
            Some("fail") => {
                if let (Some(Ok(n)), Some(Ok(t))) = (
                    parts.next().map(str::parse::<u64>),
                    parts.next().map(|s| s.trim().parse::<i64>()),
                ) {
                    w.fails
                        .push((n, t, parts.next().unwrap_or("").trim().to_string()));
                }
            }
            Some("stopped") => w.stopped = parts.next().and_then(|s| s.trim().parse().ok()),
            _ => {}
        }
    }
    w
}

/// The longest time between two consecutive acknowledgements: `(gap_ms, ms of the ack
/// before the gap)`.
pub fn longest_gap(acks: &[(u64, i64)]) -> Option<(i64, i64)> {
    acks.windows(2)
        .map(|w| (w[1].1 - w[0].1, w[0].1))
        .max_by_key(|(gap, _)| *gap)
}

/// The write gap a fault at `fault_ms` caused: the longest time between two consecutive
/// acknowledgements from the last one before the fault up to `window_ms` after it. (A
/// deleted primary keeps taking writes until the switchover, so the gap can open after
/// the fault, not at it.)
pub fn gap_after(acks: &[(u64, i64)], fault_ms: i64, window_ms: i64) -> Option<i64> {
    let start = acks
        .iter()
        .filter(|(_, t)| *t <= fault_ms)
        .map(|(_, t)| *t)
        .max()?;
    let mut ts: Vec<i64> = acks
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| *t >= start && *t <= fault_ms + window_ms)
        .collect();
    ts.sort_unstable();
    if !ts.iter().any(|t| *t > fault_ms) {
        return None;
    }
    ts.windows(2).map(|w| w[1] - w[0]).max()
}

/// Acknowledged `n` missing from `present` (sorted).
pub fn missing(acks: &[(u64, i64)], present: &std::collections::BTreeSet<u64>) -> Vec<u64> {
    let mut m: Vec<u64> = acks
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !present.contains(n))
        .collect();
    m.sort_unstable();
    m.dedup();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_parsed_and_gaps_measured() {
        let log = "ack 1 1000\nack 2 1010\nfail 3 1020 ERROR 2013 (HY000): Lost connection\n\
                   fail 4 1500 ERROR 1290: --read-only\nack 5 1900\nack 6 1910\nnoise\nstopped 6\n";
        let w = parse(log);
        assert_eq!(w.acks, vec![(1, 1000), (2, 1010), (5, 1900), (6, 1910)]);
        assert_eq!(w.fails.len(), 2);
        assert_eq!(w.fails[1].2, "ERROR 1290: --read-only");
        assert_eq!(w.stopped, Some(6));
        assert_eq!(longest_gap(&w.acks), Some((890, 1010)));
        assert_eq!(gap_after(&w.acks, 1100, 30_000), Some(890));
        // the gap opened after the fault: still the fault's
        assert_eq!(gap_after(&w.acks, 1005, 30_000), Some(890));
        // the gap beyond the window is not counted
        assert_eq!(gap_after(&w.acks, 1005, 5), Some(10));
        // no acknowledgement after the fault inside the window: no figure
        assert_eq!(gap_after(&w.acks, 1005, 2), None);
        assert_eq!(gap_after(&w.acks, 5000, 30_000), None);
        let present = [1u64, 2, 6].into_iter().collect();
        assert_eq!(missing(&w.acks, &present), vec![5]);
    }

    #[test]
    fn script_acks_only_after_a_successful_insert() {
        let s = script("c-mysql-master.ns", "0.01");
        assert!(s.contains("-h c-mysql-master.ns"));
        assert!(s.contains("then\n    echo \"ack $n"));
        assert!(s.contains("INSERT INTO writes (n, client_ms) VALUES ($n"));
        assert!(s.contains("[ ! -e /tmp/stop ]"));
        let p = pod("w", "h", "img", "Never", "0");
        let c = &p.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.image.as_deref(), Some("img"));
        assert_eq!(c.image_pull_policy.as_deref(), Some("Never"));
        assert_eq!(c.command.as_ref().unwrap()[0], "sh");
        assert!(
            setup_sql()
                .contains("GRANT SELECT, INSERT, UPDATE, DELETE ON `e2e`.* TO 'e2e_writer'@'%'")
        );
    }
}
