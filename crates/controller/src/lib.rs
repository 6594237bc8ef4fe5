//! The controller: reconcilers that turn `MysqlCluster` objects into Kubernetes objects,
//! written against a small storage seam ([`store::Store`]) so they run unchanged against
//! a real API server and against the in-memory one the tests use.

pub mod accounts;
pub mod backup;
pub mod cluster;
pub mod conditions;
pub mod desired;
pub mod ha;
pub mod lease;
pub mod metrics;
pub mod plugins;
pub mod rbac;
pub mod runtime;
pub mod secret;
pub mod store;

pub use cluster::{ClusterReconciler, Options, Outcome, ReconcileError};
pub use store::{KubeStore, MemoryStore, Store, StoreError};
