//! Helpers of the end-to-end suite (`tests/e2e.rs` drives the scenarios): settings from
//! the environment, the kube client and external commands, waits with deadlines, the
//! diagnostics printed on failure, the objects the suite deploys, the writer client and
//! the figures, and the test binaries' `main`.

pub mod cluster;
pub mod ctx;
pub mod dump;
pub mod figures;
pub mod harness;
pub mod manifests;
pub mod settings;
pub mod wait;
pub mod wasm;
pub mod writer;

pub use ctx::Ctx;
pub use settings::Settings;
