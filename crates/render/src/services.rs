//! The cluster's Services, as presslabs named and shaped them: `<c>-mysql` (healthy
//! nodes), `<c>-mysql-master` (`role=master`), `<c>-mysql-replicas` (`role=replica`,
//! `healthy=yes`), the namespace-wide headless `mysql` that governs the StatefulSet, and a
//! per-cluster headless `<c>-mysql-operated` for peer discovery.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::meta::Ctx;
use crate::names::{
    AGENT_PORT, AGENT_PORT_NAME, EXPORTER_PORT, EXPORTER_PORT_NAME, HEADLESS_SERVICE,
    HEALTHY_LABEL, MYSQL_PORT, MYSQL_PORT_NAME, ROLE_LABEL,
};

fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: number,
        target_port: Some(IntOrString::Int(number)),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    }
}

fn service(metadata: ObjectMeta, spec: ServiceSpec) -> Service {
    Service {
        metadata,
        spec: Some(spec),
        status: None,
    }
}

/// A ClusterIP Service of the cluster, told apart by presslabs' `service-type` label and
/// selecting the cluster's pods that carry `labels`.
fn cluster_ip_service(
    ctx: &Ctx,
    name: String,
    service_type: &str,
    labels: &[(&str, &str)],
    ports: Vec<ServicePort>,
) -> Service {
    service(
        ctx.owned_meta(name, &[("mysql.presslabs.org/service-type", service_type)]),
        ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(ctx.selector_with(labels)),
            ports: Some(ports),
            ..ServiceSpec::default()
        },
    )
}

/// `<c>-mysql`: every healthy node, for reads that tolerate any member.
pub fn healthy_service(ctx: &Ctx) -> Service {
    cluster_ip_service(
        ctx,
        ctx.names.healthy_service(),
        "ready-nodes",
        &[(HEALTHY_LABEL, "yes")],
        vec![port(MYSQL_PORT_NAME, MYSQL_PORT)],
    )
}

/// `<c>-mysql-master`: the one writable primary, plus its agent port (a new replica
/// clones from the primary when no healthy replica answers).
pub fn master_service(ctx: &Ctx) -> Service {
    cluster_ip_service(
        ctx,
        ctx.names.master_service(),
        "master",
        &[(ROLE_LABEL, "master")],
        vec![
            port(MYSQL_PORT_NAME, MYSQL_PORT),
            port(AGENT_PORT_NAME, AGENT_PORT),
        ],
    )
}

/// `<c>-mysql-replicas`: healthy replicas only, plus the agent port peers clone from.
pub fn replicas_service(ctx: &Ctx) -> Service {
    cluster_ip_service(
        ctx,
        ctx.names.replicas_service(),
        "ready-replicas",
        &[(ROLE_LABEL, "replica"), (HEALTHY_LABEL, "yes")],
        vec![
            port(MYSQL_PORT_NAME, MYSQL_PORT),
            port(AGENT_PORT_NAME, AGENT_PORT),
        ],
    )
}

/// `mysql`: headless, shared by all clusters of the namespace and owned by none of them
/// (deleting one cluster must not remove the others' pod DNS names); publishes pods
/// before they are ready so the operator can reach them to make them ready.
pub fn headless_service(ctx: &Ctx) -> Service {
    let selector = ctx
        .selector
        .iter()
        .filter(|(k, _)| k.as_str() != crate::names::CLUSTER_LABEL)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    service(
        ObjectMeta {
            name: Some(HEADLESS_SERVICE.into()),
            namespace: ctx.namespace.clone(),
            labels: Some(
                [
                    ("app.kubernetes.io/name".to_string(), "mysql".to_string()),
                    (
                        "app.kubernetes.io/managed-by".to_string(),
                        "mysql.presslabs.org".to_string(),
                    ),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector),
            publish_not_ready_addresses: Some(true),
            ports: Some(vec![
                port(MYSQL_PORT_NAME, MYSQL_PORT),
                port(EXPORTER_PORT_NAME, EXPORTER_PORT),
            ]),
            ..ServiceSpec::default()
        },
    )
}

/// `<c>-mysql-operated`: headless over this cluster's pods only, ready or not, so the
/// init step and the operator can list a cluster's peers by DNS.
pub fn operated_service(ctx: &Ctx) -> Service {
    service(
        ctx.owned_meta(
            ctx.names.operated(),
            &[("mysql.presslabs.org/service-type", "operated")],
        ),
        ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(ctx.selector.clone()),
            publish_not_ready_addresses: Some(true),
            ports: Some(vec![
                port(MYSQL_PORT_NAME, MYSQL_PORT),
                port(AGENT_PORT_NAME, AGENT_PORT),
            ]),
            ..ServiceSpec::default()
        },
    )
}

/// All five, in a stable order.
pub fn services(ctx: &Ctx) -> Vec<Service> {
    vec![
        headless_service(ctx),
        operated_service(ctx),
        healthy_service(ctx),
        master_service(ctx),
        replicas_service(ctx),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ctx() -> Ctx {
        Ctx::new("c", Some("ns"), Some("uid"), "8.0.20", &BTreeMap::new())
    }

    fn spec(s: &Service) -> &ServiceSpec {
        s.spec.as_ref().unwrap()
    }

    fn ports(s: &Service) -> Vec<(String, i32, i32)> {
        spec(s)
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| {
                assert_eq!(p.protocol.as_deref(), Some("TCP"));
                let target = match p.target_port {
                    Some(IntOrString::Int(t)) => t,
                    _ => panic!("numeric target port expected"),
                };
                (p.name.clone().unwrap(), p.port, target)
            })
            .collect()
    }

    #[test]
    fn healthy_service_selects_healthy_pods() {
        let s = healthy_service(&ctx());
        assert_eq!(s.metadata.name.as_deref(), Some("c-mysql"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(
            s.metadata.labels.as_ref().unwrap()["mysql.presslabs.org/service-type"],
            "ready-nodes"
        );
        assert!(s.metadata.owner_references.is_some());
        let sel = spec(&s).selector.clone().unwrap();
        assert_eq!(sel.len(), 4);
        assert_eq!(sel["healthy"], "yes");
        assert_eq!(sel["mysql.presslabs.org/cluster"], "c");
        assert_eq!(spec(&s).type_.as_deref(), Some("ClusterIP"));
        assert_eq!(ports(&s), vec![("mysql".into(), 3306, 3306)]);
    }

    #[test]
    fn master_service_selects_role_master() {
        let s = master_service(&ctx());
        assert_eq!(s.metadata.name.as_deref(), Some("c-mysql-master"));
        assert_eq!(
            s.metadata.labels.as_ref().unwrap()["mysql.presslabs.org/service-type"],
            "master"
        );
        let sel = spec(&s).selector.clone().unwrap();
        assert_eq!(sel["role"], "master");
        assert!(!sel.contains_key("healthy"));
        assert_eq!(
            ports(&s),
            vec![
                ("mysql".into(), 3306, 3306),
                ("sidecar-http".into(), 8080, 8080)
            ],
            "init clones from master:8080 when no replica answers"
        );
    }

    #[test]
    fn replicas_service_selects_healthy_replicas() {
        let s = replicas_service(&ctx());
        assert_eq!(s.metadata.name.as_deref(), Some("c-mysql-replicas"));
        assert_eq!(
            s.metadata.labels.as_ref().unwrap()["mysql.presslabs.org/service-type"],
            "ready-replicas"
        );
        let sel = spec(&s).selector.clone().unwrap();
        assert_eq!(sel["role"], "replica");
        assert_eq!(sel["healthy"], "yes");
        assert_eq!(
            ports(&s),
            vec![
                ("mysql".into(), 3306, 3306),
                ("sidecar-http".into(), 8080, 8080)
            ]
        );
    }

    #[test]
    fn headless_service_is_shared_and_unowned() {
        let s = headless_service(&ctx());
        assert_eq!(s.metadata.name.as_deref(), Some("mysql"));
        assert!(
            s.metadata.owner_references.is_none(),
            "shared by all clusters of the namespace"
        );
        assert_eq!(spec(&s).cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec(&s).publish_not_ready_addresses, Some(true));
        let sel = spec(&s).selector.clone().unwrap();
        assert_eq!(
            sel,
            BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "mysql.presslabs.org".to_string()
                ),
                ("app.kubernetes.io/name".to_string(), "mysql".to_string()),
            ])
        );
        assert_eq!(
            ports(&s),
            vec![
                ("mysql".into(), 3306, 3306),
                ("prometheus".into(), 9125, 9125)
            ]
        );
    }

    #[test]
    fn operated_service_is_headless_per_cluster() {
        let s = operated_service(&ctx());
        assert_eq!(s.metadata.name.as_deref(), Some("c-mysql-operated"));
        assert_eq!(spec(&s).cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec(&s).publish_not_ready_addresses, Some(true));
        assert_eq!(
            spec(&s).selector.as_ref().unwrap()["mysql.presslabs.org/cluster"],
            "c"
        );
        assert_eq!(
            ports(&s),
            vec![
                ("mysql".into(), 3306, 3306),
                ("sidecar-http".into(), 8080, 8080)
            ]
        );
    }

    #[test]
    fn all_services_in_stable_order() {
        let names: Vec<_> = services(&ctx())
            .iter()
            .map(|s| s.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "mysql",
                "c-mysql-operated",
                "c-mysql",
                "c-mysql-master",
                "c-mysql-replicas"
            ]
        );
    }
}
