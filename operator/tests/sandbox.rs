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
