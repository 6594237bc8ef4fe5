//! Waiting with deadlines: every wait says what it waits for, prints its progress, and on
//! timeout fails with the last state it saw. Pod helpers: readiness, labels, image problems.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::Pod;

/// One look at the state being waited for.
pub enum Check<T> {
    /// Reached; the wait returns this.
    Done(T),
    /// Not yet; the text describes the state (printed as progress, and on timeout).
    Pending(String),
}

/// An error that ends a wait at once (e.g. an image that cannot be pulled). Any other
/// error of a check is taken as a passing state (an API hiccup) and retried.
#[derive(Debug)]
pub struct Fatal(pub String);

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

/// Polls `check` every `every` until it is done, it fails with [`Fatal`], or `timeout`.
pub async fn wait_until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>>>,
{
    let start = Instant::now();
    println!("  waiting up to {}s for {what}", timeout.as_secs());
    let mut last_print = Instant::now();
    let mut last_state: String;
    loop {
        match check().await {
            Ok(Check::Done(v)) => {
                println!(
                    "  ... {what}: done after {:.1}s",
                    start.elapsed().as_secs_f64()
                );
                return Ok(v);
            }
            Ok(Check::Pending(state)) => last_state = state,
            Err(e) if e.downcast_ref::<Fatal>().is_some() => {
                bail!("while waiting for {what}: {e:#}");
            }
            Err(e) => last_state = format!("error: {e:#}"),
        }
        if start.elapsed() >= timeout {
            bail!(
                "timed out after {}s waiting for {what}; last state: {last_state}",
                timeout.as_secs()
            );
        }
        if last_print.elapsed() >= Duration::from_secs(30) {
            println!(
                "  ... still waiting ({:.0}s) for {what}: {last_state}",
                start.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        tokio::time::sleep(every).await;
    }
}

/// Whether the pod is Running with condition Ready=True and not being deleted.
pub fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status.as_ref().is_some_and(|s| {
            s.phase.as_deref() == Some("Running")
                && s.conditions
                    .as_ref()
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
}

/// A pod label.
pub fn label<'a>(p: &'a Pod, key: &str) -> Option<&'a str> {
    p.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

pub fn name(p: &Pod) -> &str {
    p.metadata.name.as_deref().unwrap_or("?")
}

/// Sum of container restarts (init containers included).
pub fn restarts(p: &Pod) -> i32 {
    p.status.as_ref().map_or(0, |s| {
        s.container_statuses
            .iter()
            .flatten()
            .chain(s.init_container_statuses.iter().flatten())
            .map(|c| c.restart_count)
            .sum()
    })
}

/// A waiting reason that will not go away by itself: the image is not on the node and
/// cannot be pulled. The message names how to get it there.
pub fn image_problem(p: &Pod) -> Option<String> {
    let s = p.status.as_ref()?;
    for c in s
        .init_container_statuses
        .iter()
        .flatten()
        .chain(s.container_statuses.iter().flatten())
    {
        let waiting = c.state.as_ref().and_then(|st| st.waiting.as_ref());
        if let Some(w) = waiting {
            let reason = w.reason.as_deref().unwrap_or("");
            if matches!(
                reason,
                "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName"
            ) {
                return Some(format!(
                    "pod {} container {}: {reason} for image {:?}: {}. Build and import the images \
                     with `bash scripts/build-images.sh` (local node) or `kind load docker-image {}` \
                     (kind), or set E2E_OPERATOR_IMAGE / E2E_TOOLS_IMAGE / E2E_S3_IMAGE / E2E_EXPORTER_IMAGE",
                    name(p),
                    c.name,
                    c.image,
                    w.message.as_deref().unwrap_or(""),
                    c.image
                ));
            }
        }
    }
    None
}

/// One line describing a pod: phase, readiness, labels, restarts, waiting reasons.
pub fn pod_summary(p: &Pod) -> String {
    let status = p.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("?");
    let (ready, total) = status
        .and_then(|s| s.container_statuses.as_ref())
        .map_or((0, 0), |cs| {
            (cs.iter().filter(|c| c.ready).count(), cs.len())
        });
    let mut waits = Vec::new();
    if let Some(s) = status {
        for c in s.container_statuses.iter().flatten() {
            let running = c.state.as_ref().is_some_and(|st| st.running.is_some());
            if running && !c.ready {
                waits.push(format!("{}:not ready", c.name));
            }
        }
        for c in s
            .init_container_statuses
            .iter()
            .flatten()
            .chain(s.container_statuses.iter().flatten())
        {
            if let Some(w) = c.state.as_ref().and_then(|st| st.waiting.as_ref()) {
                waits.push(format!(
                    "{}:{}",
                    c.name,
                    w.reason.as_deref().unwrap_or("waiting")
                ));
            } else if let Some(t) = c.state.as_ref().and_then(|st| st.terminated.as_ref())
                && t.exit_code != 0
            {
                waits.push(format!("{}:exit {}", c.name, t.exit_code));
            }
        }
    }
    format!(
        "{} {phase}{} {ready}/{total} role={} healthy={} restarts={}{}",
        name(p),
        if p.metadata.deletion_timestamp.is_some() {
            " (terminating)"
        } else {
            ""
        },
        label(p, "role").unwrap_or("-"),
        label(p, "healthy").unwrap_or("-"),
        restarts(p),
        if waits.is_empty() {
            String::new()
        } else {
            format!(" [{}]", waits.join(", "))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn readiness_and_image_problems() {
        let ready = pod(serde_json::json!({
            "metadata": {"name": "c-mysql-0", "labels": {"role": "master", "healthy": "yes"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "mysql", "image": "i", "imageID": "", "ready": true, "restartCount": 1}]}
        }));
        assert!(pod_ready(&ready));
        assert_eq!(label(&ready, "role"), Some("master"));
        assert_eq!(restarts(&ready), 1);
        assert_eq!(
            pod_summary(&ready),
            "c-mysql-0 Running 1/1 role=master healthy=yes restarts=1"
        );
        let pulling = pod(serde_json::json!({
            "metadata": {"name": "c-mysql-1"},
            "status": {"phase": "Pending",
                       "initContainerStatuses": [{"name": "init", "image": "mysql-tools:dev", "imageID": "", "ready": false, "restartCount": 0,
                           "state": {"waiting": {"reason": "ErrImageNeverPull", "message": "not present"}}}]}
        }));
        assert!(!pod_ready(&pulling));
        let msg = image_problem(&pulling).unwrap();
        assert!(
            msg.contains("ErrImageNeverPull")
                && msg.contains("kind load docker-image mysql-tools:dev"),
            "{msg}"
        );
        assert!(pod_summary(&pulling).contains("[init:ErrImageNeverPull]"));
    }

    #[tokio::test]
    async fn waits_retry_until_done_and_stop_on_fatal() {
        let n = AtomicU32::new(0);
        let v = wait_until(
            "three looks",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || async {
                let i = n.fetch_add(1, Ordering::SeqCst);
                if i == 0 {
                    anyhow::bail!("transient");
                }
                Ok(if i >= 2 {
                    Check::Done(i)
                } else {
                    Check::Pending(format!("look {i}"))
                })
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 2);
        let err = wait_until::<(), _, _>(
            "never",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || async { Err(Fatal("image missing".into()).into()) },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("image missing"), "{err}");
        let err = wait_until::<(), _, _>(
            "slow",
            Duration::from_millis(20),
            Duration::from_millis(5),
            || async { Ok(Check::Pending("still pending".into())) },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("timed out") && err.contains("still pending"),
            "{err}"
        );
    }
}
