//! `mysql-operator sandbox` starts real servers, elects a primary, prints it, and
//! cleans up when its duration ends.

use std::process::Command;

#[test]
fn sandbox_elects_a_primary_and_cleans_up() {
    let out = Command::new(env!("CARGO_BIN_EXE_mysql-operator"))
        .args(["sandbox", "--replicas", "2", "--duration", "8"])
        .output()
        .expect("run mysql-operator");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sandbox failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("node sandbox-mysql-1 at 127."), "{stdout}");
    assert!(
        stdout.contains("promoted sandbox-mysql-0"),
        "no election printed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("sandbox-mysql-1 now replicates from sandbox-mysql-0"),
        "{stdout}"
    );
    assert!(stdout.contains("servers removed"), "{stdout}");
}

fn sandbox_with_plugins(dir: &std::path::Path, duration: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mysql-operator"))
        .args(["sandbox", "--replicas", "2", "--duration", duration])
        .arg("--plugins")
        .arg(dir)
        .output()
        .expect("run mysql-operator")
}

#[test]
fn sandbox_refuses_a_plugins_dir_without_modules() {
    let dir = tempfile::tempdir().unwrap();
    let out = sandbox_with_plugins(dir.path(), "1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no *.wasm modules found"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("node sandbox-mysql"),
        "servers must not start when the modules are unusable"
    );
}

#[test]
fn sandbox_refuses_a_module_that_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("garbage.wasm"), b"not a component").unwrap();
    let out = sandbox_with_plugins(dir.path(), "1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("plugin garbage did not load"), "{stderr}");
}

#[test]
fn sandbox_attaches_the_modules_of_a_directory() {
    let component = testkit::wasm::rust_component("failover-prefer-zone")
        .expect("build plugins/testing/failover-prefer-zone (run `bash scripts/setup.sh` for the wasm targets and wasm-tools)");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&component, dir.path().join("prefer-zone.wasm")).unwrap();
    std::fs::write(
        dir.path().join("prefer-zone.settings.json"),
        r#"{"zone":"eu-1a"}"#,
    )
    .unwrap();
    let out = sandbox_with_plugins(dir.path(), "8");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sandbox failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("plugin prefer-zone attached (sha256 "),
        "{stdout}"
    );
    assert!(stdout.contains("promoted sandbox-mysql-0"), "{stdout}");
    assert!(stdout.contains("servers removed"), "{stdout}");
}
