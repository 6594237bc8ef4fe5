//! What a failed scenario prints: the namespaces' Events, every pod's state, and the
//! container logs (all containers, init containers and the previous run too) of the pods
//! that are not healthy, plus the operator's log.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams};

use crate::ctx::Ctx;
use crate::wait::{name, pod_ready, pod_summary, restarts};

/// Prints the diagnostics of both namespaces.
pub async fn diagnostics(ctx: &Ctx, why: &str) {
    println!("\n----- diagnostics: {why} -----");
    for ns in [&ctx.s.namespace, &ctx.s.operator_namespace] {
        events(ctx, ns, 120).await;
    }
    for ns in [ctx.s.namespace.clone(), ctx.s.operator_namespace.clone()] {
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        let list = match pods.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => {
                println!("(listing pods of {ns} failed: {e})");
                continue;
            }
        };
        println!("--- pods in {ns}:");
        for p in &list {
            println!("  {}", pod_summary(p));
        }
        for p in &list {
            let operator = ns == ctx.s.operator_namespace;
            if operator || !pod_ready(p) || restarts(p) > 0 || failed_job_pod(p) {
                pod_logs(ctx, &ns, p, if operator { 300 } else { 150 }).await;
            }
        }
    }
    println!("----- end of diagnostics -----\n");
}

fn failed_job_pod(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
}

/// The last `limit` Events of a namespace, oldest first.
pub async fn events(ctx: &Ctx, ns: &str, limit: usize) {
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), ns);
    let mut list = match api.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => {
            println!("(listing events of {ns} failed: {e})");
            return;
        }
    };
    list.sort_by_key(event_time);
    println!("--- events in {ns} (last {limit} of {}):", list.len());
    for e in list.iter().skip(list.len().saturating_sub(limit)) {
        println!(
            "  {} {} {} {}/{}{}: {}",
            event_time(e)
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            e.type_.as_deref().unwrap_or("?"),
            e.reason.as_deref().unwrap_or("?"),
            e.involved_object.kind.as_deref().unwrap_or("?"),
            e.involved_object.name.as_deref().unwrap_or("?"),
            match e.count {
                Some(c) if c > 1 => format!(" (x{c})"),
                _ => String::new(),
            },
            e.message.as_deref().unwrap_or("").trim()
        );
    }
}

fn event_time(e: &Event) -> Option<String> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0.to_string()))
        .or_else(|| {
            e.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
        })
}

/// Logs of every container of a pod (init containers first), the previous run as well
/// when the container restarted.
pub async fn pod_logs(ctx: &Ctx, ns: &str, p: &Pod, tail: i64) {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let pod = name(p).to_string();
    let spec = match &p.spec {
        Some(s) => s,
        None => return,
    };
    let statuses: Vec<_> = p
        .status
        .iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .cloned()
        .collect();
    let names: Vec<String> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .map(|c| c.name.clone())
        .collect();
    for c in names {
        let status = statuses.iter().find(|s| s.name == c);
        let never_ran = status.is_none_or(|s| {
            s.restart_count == 0
                && s.last_state
                    .as_ref()
                    .and_then(|l| l.terminated.as_ref())
                    .is_none()
                && s.state.as_ref().is_some_and(|st| st.waiting.is_some())
        });
        if never_ran {
            let why = status
                .and_then(|s| s.state.as_ref())
                .and_then(|st| st.waiting.as_ref())
                .and_then(|w| w.reason.clone())
                .unwrap_or_else(|| "no status".into());
            println!("--- logs {ns}/{pod} container {c}: not started ({why})");
            continue;
        }
        let restarted = status.is_some_and(|s| s.restart_count > 0);
        let runs: &[bool] = if restarted { &[true, false] } else { &[false] };
        for &previous in runs {
            let lp = LogParams {
                container: Some(c.clone()),
                previous,
                tail_lines: Some(tail),
                ..LogParams::default()
            };
            let which = if previous { " (previous run)" } else { "" };
            match api.logs(&pod, &lp).await {
                Ok(text) if text.trim().is_empty() => {
                    println!("--- logs {ns}/{pod} container {c}{which}: (empty)")
                }
                Ok(text) => {
                    println!("--- logs {ns}/{pod} container {c}{which} (last {tail} lines):");
                    for line in text.lines() {
                        println!("    {}", strip_ansi(line));
                    }
                }
                Err(e) => println!("--- logs {ns}/{pod} container {c}{which}: unavailable ({e})"),
            }
        }
    }
}

/// The text without ANSI escape sequences (colored logs of the pod-side binaries).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ansi_colors_are_stripped() {
        let line = "\u{1b}[2m2026-12-04T18:58:05Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m init done";
        assert_eq!(
            super::strip_ansi(line),
            "2026-12-04T18:58:05Z  INFO init done"
        );
    }
}
