//! The `main` of the suite's test binaries (no libtest harness): answer `--list` for tools
//! that enumerate tests, ignore libtest's other flags, and run one async body on a
//! 2-worker runtime.

use std::future::Future;
use std::process::ExitCode;

/// Run `body` as test binary `name`.
pub fn main<F: Future<Output = ExitCode>>(name: &str, body: impl FnOnce() -> F) -> ExitCode {
    // `cargo test -p mysql-operator-e2e -- --nocapture` passes libtest flags; there is
    // nothing to capture here, they are accepted and ignored.
    if std::env::args().skip(1).any(|a| a == "--list") {
        println!("{name}: test");
        return ExitCode::SUCCESS;
    }
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(body()),
        Err(e) => {
            eprintln!("{name}: cannot start the tokio runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
