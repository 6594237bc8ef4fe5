//! Pure functions from a `MysqlCluster` (plus operator options) to the objects the operator
//! applies: StatefulSet, Services, ConfigMap (`my.cnf`, init SQL, plugin manifest), the
//! operated Secret and the PodDisruptionBudget — with presslabs' names and labels.
//!
//! [`pod`] is the contract between the rendered pod template and the pod-side CLI.
//!
//! Nothing here talks to a cluster; the same output feeds `mysql-operator render` and the
//! controller, and it is deterministic so a second reconcile changes nothing.

pub mod cluster;
pub mod conf_value;
pub mod init_sql;
pub mod meta;
pub mod mycnf;
pub mod names;
pub mod pdb;
pub mod plugins;
pub mod pod;
pub mod quantity;
pub mod secret;
pub mod services;
pub mod statefulset;

/// Why a cluster cannot be rendered: the field at fault, what is wrong, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{field}: {message} (hint: {hint})")]
    Invalid {
        field: String,
        message: String,
        hint: String,
    },
}

pub use cluster::{ClusterInput, RenderOptions, Rendered, render, render_input};

#[cfg(test)]
mod tests;
