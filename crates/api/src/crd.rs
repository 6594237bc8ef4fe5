//! The four CustomResourceDefinitions, generated from the types (the chart ships exactly
//! this output).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_core::CustomResourceExt;

use crate::{MysqlBackup, MysqlCluster, MysqlDatabase, MysqlUser};

/// All CRDs of the API group, in a stable order (cluster, backup, database, user).
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        MysqlCluster::crd(),
        MysqlBackup::crd(),
        MysqlDatabase::crd(),
        MysqlUser::crd(),
    ]
}
