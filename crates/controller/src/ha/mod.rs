//! The HA wiring: one `topology::Engine` per cluster, started, restarted and stopped as
//! clusters appear, change shape or disappear ([`Supervisor`]); from what the engine and
//! its probes see, the pod labels `role`/`healthy` the Services select on, presslabs'
//! `status.nodes`, `readyNodes` and conditions, Kubernetes Events for failovers,
//! switchovers, vetoes, fencing and policy-module failures, and a switchover before the
//! primary pod goes away on purpose. `spec.readOnly: true` runs no engine: every node is
//! kept read-only and nothing is promoted.

mod cluster_loop;
mod supervisor;
pub mod view;

use std::collections::HashMap;

pub use supervisor::{Caches, HaConfig, HaError, HaSync, Supervisor};

/// Pod → `host:port`: how the operator reaches a node. A seam so tests point pods at
/// local servers.
pub trait Resolver: Send + Sync + 'static {
    /// Address of pod `pod` (ordinal `ordinal`) of cluster `cluster` in `namespace`.
    fn resolve(&self, namespace: &str, cluster: &str, pod: &str, ordinal: u32) -> (String, u16);
}

/// Production: the pod's DNS name through the governing headless Service
/// (`<c>-mysql-<n>.mysql.<ns>`, as presslabs), port 3306.
#[derive(Clone, Copy, Debug, Default)]
pub struct DnsResolver;

impl Resolver for DnsResolver {
    fn resolve(&self, namespace: &str, cluster: &str, _pod: &str, ordinal: u32) -> (String, u16) {
        (
            render::names::Names::new(cluster).pod_host(ordinal, namespace),
            render::names::MYSQL_PORT as u16,
        )
    }
}

/// A fixed pod → address table (tests; also handy behind a port-forward).
#[derive(Clone, Debug, Default)]
pub struct StaticResolver(pub HashMap<String, (String, u16)>);

impl Resolver for StaticResolver {
    fn resolve(&self, namespace: &str, cluster: &str, pod: &str, ordinal: u32) -> (String, u16) {
        self.0
            .get(pod)
            .cloned()
            .unwrap_or_else(|| DnsResolver.resolve(namespace, cluster, pod, ordinal))
    }
}
