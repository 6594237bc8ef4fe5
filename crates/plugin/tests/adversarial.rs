//! Misbehaving modules: each proves its documented outcome under both failure policies —
//! `Ignore` falls back to the built-in rule, `Fail` fails the step with the module's error
//! of the right kind — and is counted by module, hook and kind.

mod common;

use common::*;
use plugin::*;
use policy::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Attaches the adversarial module in `mode` under both policies and checks the failover
/// and init-script hooks.
fn check_mode(mode: &str, limits: Limits, kind: &str, message_has: &str) {
    for policy in [FailurePolicy::Ignore, FailurePolicy::Fail] {
        let (reg, _) = registry(quick_breaker());
        let cluster = format!("adv-{mode}-{policy:?}");
        let name = format!("adv-{mode}-{policy:?}");
        let mut s = spec(
            &name,
            module("adversarial"),
            &format!(r#"{{"mode":"{mode}"}}"#),
            policy,
        );
        s.module.limits = limits.clone();
        let out = reg.sync(&cluster, &[s]);
        assert!(out[0].result.is_ok(), "{mode}: {:?}", out[0].result);

        let started = Instant::now();
        let got = reg
            .failover_chain(&cluster, builtin())
            .choose(&failover_request(FailoverReason::PrimaryLost));
        let elapsed = started.elapsed();
        let script = reg
            .init_script_chain(&cluster, Arc::new(DefaultScript))
            .render(&init_request(NodeRole::Replica));
        println!(
            "mode {mode} policy {policy:?}: failover {:?} after {elapsed:?}",
            got.as_ref().map_err(|e| e.to_string())
        );
        assert!(
            elapsed < Duration::from_secs(10),
            "{mode}: a bad module must be stopped quickly, took {elapsed:?}"
        );
        match policy {
            FailurePolicy::Ignore => {
                assert_eq!(
                    got.unwrap(),
                    Decision::Promote("shop-mysql-1".into()),
                    "{mode}: Ignore falls back to the built-in rule"
                );
                if mode != "invalid-candidate" {
                    assert_eq!(
                        script.unwrap(),
                        init_request(NodeRole::Replica).default_script,
                        "{mode}: Ignore keeps the default script"
                    );
                }
            }
            FailurePolicy::Fail => {
                let e = got.unwrap_err();
                assert_eq!(e.kind(), kind, "{mode}: {e}");
                assert_eq!(e.module(), name);
                assert!(e.to_string().contains(message_has), "{mode}: {e}");
                if mode != "invalid-candidate" {
                    assert_eq!(script.unwrap_err().kind(), kind, "{mode}: init-script");
                }
            }
        }
        let metrics = reg.host().metrics();
        assert!(
            metrics.failures(&name, HookName::FailoverCandidate, kind) >= 1,
            "{mode}: failure counted"
        );
    }
}

#[test]
fn infinite_loop_is_stopped_by_fuel() {
    let limits = Limits {
        fuel: 50_000_000,
        timeout_ms: 60_000,
        ..Limits::default()
    };
    check_mode("loop", limits, "timeout", "fuel");
}

#[test]
fn infinite_loop_is_stopped_by_the_deadline() {
    let limits = Limits {
        fuel: 0,
        timeout_ms: 200,
        ..Limits::default()
    };
    check_mode("loop", limits, "timeout", "deadline of 200 ms");
}

#[test]
fn memory_bomb_hits_the_memory_cap() {
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    check_mode("memory", limits, "memory", "cap 16777216");
}

#[test]
fn trap_is_contained() {
    check_mode("trap", Limits::default(), "trap", "unreachable");
}

#[test]
fn huge_output_is_refused() {
    check_mode(
        "huge-output",
        Limits::default(),
        "invalid-output",
        "maxOutputBytes",
    );
}

#[test]
fn invalid_candidate_name_is_refused() {
    check_mode(
        "invalid-candidate",
        Limits::default(),
        "invalid-output",
        "not one of the candidates",
    );
}

#[test]
fn module_refusal_is_reported() {
    check_mode(
        "refuse",
        Limits::default(),
        "rejected",
        "refused on purpose",
    );
}

#[test]
fn oversized_input_is_not_sent() {
    let limits = Limits {
        max_input_bytes: 100,
        ..Limits::default()
    };
    check_mode("ok", limits, "unavailable", "maxInputBytes");
}

/// Attachments that fail at load or attach time: `Ignore` → built-in, `Fail` → the hook
/// fails with "unavailable" naming the reason.
fn check_refused_attachment(
    s: AttachmentSpec,
    expect: impl Fn(&LoadError) -> bool,
    reason_has: &str,
) {
    for policy in [FailurePolicy::Ignore, FailurePolicy::Fail] {
        let (reg, events) = registry(quick_breaker());
        let cluster = format!("refused-{}-{policy:?}", s.module.name);
        let mut s = s.clone();
        s.failure_policy = policy;
        let out = reg.sync(&cluster, &[s]);
        let err = out[0].result.as_ref().unwrap_err();
        println!("{policy:?}: {err}");
        assert!(expect(err), "{err:?}");
        assert!(err.to_string().contains(reason_has), "{err}");
        assert!(matches!(
            &events.take()[..],
            [PluginEvent::LoadFailed {
                serving_previous: None,
                ..
            }]
        ));
        assert!(reg.status(&cluster)[0].error.is_some());
        let got = reg
            .failover_chain(&cluster, builtin())
            .choose(&failover_request(FailoverReason::PrimaryLost));
        match policy {
            FailurePolicy::Ignore => {
                assert_eq!(got.unwrap(), Decision::Promote("shop-mysql-1".into()))
            }
            FailurePolicy::Fail => {
                let e = got.unwrap_err();
                assert_eq!(e.kind(), "unavailable");
                assert!(e.to_string().contains(reason_has), "{e}");
            }
        }
    }
}

#[test]
fn wrong_wit_version_is_refused() {
    let s = spec(
        "wrong-version",
        module("wrong-version"),
        "{}",
        FailurePolicy::Fail,
    );
    check_refused_attachment(
        s,
        |e| matches!(e, LoadError::WrongAbi { .. }),
        "mysql-operator:policy/meta@0.2.0",
    );
}

#[test]
fn bad_digest_is_refused() {
    let mut s = spec(
        "pinned",
        module("failover-prefer-zone"),
        r#"{"zone":"a"}"#,
        FailurePolicy::Fail,
    );
    s.module.sha256 = Some("0".repeat(64));
    check_refused_attachment(
        s,
        |e| matches!(e, LoadError::DigestMismatch { .. }),
        "pins 0000",
    );
}

#[test]
fn rejected_settings_are_refused_at_attach() {
    let s = spec(
        "rejects",
        module("adversarial"),
        r#"{"mode":"reject-settings"}"#,
        FailurePolicy::Fail,
    );
    check_refused_attachment(
        s,
        |e| matches!(e, LoadError::SettingsRejected { .. }),
        "refused on purpose",
    );
    let s = spec(
        "zone-missing",
        module("failover-prefer-zone"),
        "{}",
        FailurePolicy::Fail,
    );
    check_refused_attachment(
        s,
        |e| matches!(e, LoadError::SettingsRejected { .. }),
        "need a non-empty \"zone\"",
    );
    let s = spec(
        "not-json",
        module("failover-prefer-zone"),
        "{zone: a",
        FailurePolicy::Fail,
    );
    check_refused_attachment(
        s,
        |e| matches!(e, LoadError::SettingsNotJson { .. }),
        "not valid JSON",
    );
}

#[test]
fn disallowed_import_is_refused() {
    let bytes = testkit::wasm::bytes(testkit::wasm::wat_component(
        "testing-wat/disallowed-import.wat",
    ));
    let s = spec("evil", bytes, "{}", FailurePolicy::Fail);
    check_refused_attachment(
        s,
        |e| matches!(e, LoadError::DisallowedImport { .. }),
        "evil:net/connect@1.0.0",
    );
}

#[test]
fn circuit_breaker_skips_a_failing_module_then_retries() {
    let cfg = BreakerConfig {
        threshold: 2,
        base_backoff: Duration::from_millis(300),
        max_backoff: Duration::from_secs(5),
    };
    let (reg, events) = registry(cfg);
    reg.sync(
        "breaker",
        &[spec(
            "flaky",
            module("adversarial"),
            r#"{"mode":"trap"}"#,
            FailurePolicy::Fail,
        )],
    );
    events.take();
    let chain = reg.failover_chain("breaker", builtin());
    let req = failover_request(FailoverReason::PrimaryLost);
    let metrics = reg.host().metrics().clone();
    assert_eq!(chain.choose(&req).unwrap_err().kind(), "trap");
    assert_eq!(chain.choose(&req).unwrap_err().kind(), "trap");
    let ev = events.take();
    assert!(
        matches!(&ev[..], [PluginEvent::BreakerOpened { failures: 2, backoff, hook: HookName::FailoverCandidate, .. }] if *backoff == Duration::from_millis(300)),
        "{ev:?}"
    );
    // Open: the module is not called at all.
    let e = chain.choose(&req).unwrap_err();
    assert_eq!(e.kind(), "unavailable");
    assert!(e.to_string().contains("circuit breaker open"), "{e}");
    assert_eq!(
        metrics.failures("flaky", HookName::FailoverCandidate, "trap"),
        2
    );
    // After the back-off, one trial call; it traps again and the window doubles.
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(chain.choose(&req).unwrap_err().kind(), "trap");
    let ev = events.take();
    assert!(
        matches!(&ev[..], [PluginEvent::BreakerOpened { backoff, .. }] if *backoff == Duration::from_millis(600)),
        "{ev:?}"
    );
    assert_eq!(
        metrics.failures("flaky", HookName::FailoverCandidate, "trap"),
        3
    );
    assert!(metrics.failures("flaky", HookName::FailoverCandidate, "unavailable") >= 1);

    // With Ignore, an open breaker means the built-in decides, without calling the module.
    reg.sync(
        "breaker",
        &[spec(
            "flaky",
            module("adversarial"),
            r#"{"mode":"trap"}"#,
            FailurePolicy::Ignore,
        )],
    );
    let chain = reg.failover_chain("breaker", builtin());
    for _ in 0..4 {
        assert_eq!(
            chain.choose(&req).unwrap(),
            Decision::Promote("shop-mysql-1".into())
        );
    }
    assert_eq!(
        metrics.failures("flaky", HookName::FailoverCandidate, "trap"),
        5,
        "two more traps, then skipped"
    );
}
