//! Test harness shared by the end-to-end suites: real `mariadbd` servers on loopback
//! addresses, a real S3-compatible server (SeaweedFS), and Wasm policy modules compiled
//! from `plugins/`. A missing tool is a test failure naming the install step
//! (`bash scripts/setup.sh`), never a silent skip.

pub mod mariadb;
mod repo;
pub use repo::repo_root;
pub mod s3;
pub mod wasm;
