//! Where the repository is, found when the tests run rather than when they are compiled:
//! cargo reuses artifacts across checkouts in different directories (its hashes do not
//! include the workspace path), so a compile-time `env!("CARGO_MANIFEST_DIR")` can name a
//! checkout that no longer exists.

use std::path::{Path, PathBuf};

/// The repository root: the nearest ancestor of the running test's package directory
/// (`CARGO_MANIFEST_DIR`, set by `cargo test`; else the current directory) that holds
/// `wit/policy.wit`.
pub fn repo_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    start
        .ancestors()
        .find(|d| d.join("wit/policy.wit").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            panic!(
                "no repository root (a directory with wit/policy.wit) above {}: run the tests \
                 with `cargo test` from the checkout",
                start.display()
            )
        })
}
