//! The end-to-end suite: one binary (no libtest harness) that walks the seed's workflow on
//! a real Kubernetes, scenario after scenario, printing each with its figures. See
//! docs/operations.md ("End-to-end suite") for how to run it.
//!
//! Scenario 1 (the operator) and 2 (the cluster) are prerequisites: when one fails the run
//! stops. A later scenario's failure is printed with the namespaces' Events and the
//! unhealthy pods' logs, and the run goes on with the next one (each starts by waiting
//! for a healthy cluster); the binary fails if any scenario failed.

mod scenarios;

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::time::Instant;

use futures::FutureExt;
use mysql_operator_e2e::settings::SCENARIOS;
use mysql_operator_e2e::{Ctx, Settings, dump, manifests};

fn main() -> ExitCode {
    mysql_operator_e2e::harness::main("e2e", run)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Passed(f64),
    Failed(f64),
    Skipped,
    NotRun,
}

async fn run() -> ExitCode {
    let started = Instant::now();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("e2e: bad settings: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let (fixture, secret) = match manifests::fixture(&settings) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("e2e: fixture: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let root_password = match manifests::root_password(&secret) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("e2e: fixture: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("=== mysql-operator e2e ===");
    println!(
        "operator image {}, tools image {}, S3 image {}, exporter image {}, imagePullPolicy {}",
        settings.operator_image,
        settings.tools_image,
        settings.s3_image,
        settings
            .exporter_image
            .as_deref()
            .unwrap_or("(the operator's default)"),
        settings.pull_policy
    );
    println!(
        "namespaces {} (clusters) and {} (operator release {}); keep at the end: {}",
        settings.namespace, settings.operator_namespace, settings.release, settings.keep
    );
    let ctx = match Ctx::connect(settings, root_password).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("\ne2e FAILED: no usable Kubernetes cluster: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut state = scenarios::State::new(fixture, secret);
    let mut outcomes: Vec<(u32, &str, Outcome)> = Vec::new();
    let mut stop = false;
    for &(n, title) in SCENARIOS {
        if stop {
            outcomes.push((n, title, Outcome::NotRun));
            continue;
        }
        if !ctx.s.runs(n) {
            outcomes.push((n, title, Outcome::Skipped));
            continue;
        }
        println!("\n=== [{n}/{}] {title} ===", SCENARIOS.len());
        let t = Instant::now();
        let result = AssertUnwindSafe(scenarios::run(n, &ctx, &mut state))
            .catch_unwind()
            .await;
        let secs = t.elapsed().as_secs_f64();
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("{e:#}")),
            Err(panic) => Some(format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        };
        match error {
            None => {
                println!("--- PASS [{n}] {title} ({secs:.0} s)");
                outcomes.push((n, title, Outcome::Passed(secs)));
            }
            Some(e) => {
                println!("--- FAIL [{n}] {title} ({secs:.0} s):\n{e}");
                dump::diagnostics(&ctx, &format!("scenario {n} failed")).await;
                println!("--- FAIL [{n}] {title}: {e}");
                outcomes.push((n, title, Outcome::Failed(secs)));
                if n <= 2 {
                    println!("scenario {n} is a prerequisite of the others: stopping");
                    stop = true;
                }
            }
        }
    }
    scenarios::cleanup(&ctx, &state).await;

    println!(
        "\n=== summary ({:.0} s) ===",
        started.elapsed().as_secs_f64()
    );
    let mut failed = false;
    for (n, title, o) in &outcomes {
        let word = match o {
            Outcome::Passed(s) => format!("PASS {s:>5.0} s"),
            Outcome::Failed(s) => {
                failed = true;
                format!("FAIL {s:>5.0} s")
            }
            Outcome::Skipped => "skip (E2E_ONLY)".to_string(),
            Outcome::NotRun => {
                failed = true;
                "not run".to_string()
            }
        };
        println!("  [{n}] {word}  {title}");
    }
    println!("figures:\n{}", ctx.figures.table());
    if failed {
        println!("e2e FAILED");
        ExitCode::FAILURE
    } else {
        println!("e2e passed");
        ExitCode::SUCCESS
    }
}
