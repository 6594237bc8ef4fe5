//! Scenario 1: `helm install` of charts/mysql-operator with the run's images: the operator
//! Deployment becomes Ready with the real image, ServiceAccount and RBAC.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use mysql_operator_e2e::Ctx;
use mysql_operator_e2e::figures::secs;
use mysql_operator_e2e::wait::{Check, Fatal, wait_until};

use super::{State, create_namespace, wait_deployment};

const CRDS: [&str; 4] = [
    "mysqlclusters.mysql.presslabs.org",
    "mysqlbackups.mysql.presslabs.org",
    "mysqldatabases.mysql.presslabs.org",
    "mysqlusers.mysql.presslabs.org",
];

pub async fn run(ctx: &Ctx, st: &mut State) -> Result<()> {
    let s = &ctx.s;
    default_storage_class(ctx).await?;
    no_other_operator(ctx).await?;
    create_namespace(ctx, &s.namespace).await?;
    create_namespace(ctx, &s.operator_namespace).await?;

    let crds: Api<CustomResourceDefinition> = Api::all(ctx.client.clone());
    let existing = crds.get_opt(CRDS[0]).await?;
    let chart = s.repo_root.join("charts/mysql-operator");
    let mut args: Vec<String> = vec![
        "install".into(),
        s.release.clone(),
        chart.display().to_string(),
        "-n".into(),
        s.operator_namespace.clone(),
        "--set".into(),
        format!("image={}", s.operator_image),
        "--set".into(),
        format!("sidecarImage={}", s.tools_image),
        "--set".into(),
        format!("imagePullPolicy={}", s.pull_policy),
        "--set".into(),
        "logLevel=info".into(),
        "--timeout".into(),
        "5m".into(),
    ];
    if let Some(image) = &s.exporter_image {
        args.extend(["--set".into(), format!("metricsExporterImage={image}")]);
    }
    if let Some(crd) = existing {
        // CRDs are cluster-wide: a kept earlier run (or another install) owns them, and
        // helm refuses to adopt them. Bring them to this tree's version and install
        // without them.
        let owner = crd
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("meta.helm.sh/release-namespace").cloned())
            .unwrap_or_else(|| "(not helm)".into());
        println!(
            "  the CRDs exist already (release namespace {owner}); applying this tree's CRDs and installing with installCRDs=false"
        );
        let file = s
            .repo_root
            .join("charts/mysql-operator/generated/crds.yaml");
        ctx.kubectl(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=mysql-operator-e2e",
                "-f",
                &file.display().to_string(),
            ],
            Duration::from_secs(60),
        )
        .await?
        .ok("kubectl apply of the CRDs")?;
        args.extend(["--set".into(), "installCRDs=false".into()]);
        st.crds_from_release = false;
    }
    println!("  helm {}", args.join(" "));
    let t = Instant::now();
    let out = ctx.helm(&args, Duration::from_secs(360)).await?;
    st.installed = true;
    out.ok("helm install")?;

    wait_until(
        "the four CRDs Established",
        s.timeout(120),
        Duration::from_secs(1),
        || async {
            let mut pending = Vec::new();
            for name in CRDS {
                let established = crds.get_opt(name).await?.is_some_and(|c| {
                    c.status.and_then(|s| s.conditions).is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    })
                });
                if !established {
                    pending.push(name);
                }
            }
            Ok(if pending.is_empty() {
                Check::Done(())
            } else {
                Check::Pending(format!("not established: {}", pending.join(", ")))
            })
        },
    )
    .await?;

    let name = s.operator_fullname();
    let deployments: Api<Deployment> = ctx.op_api();
    let pods: Api<Pod> = ctx.op_api();
    let selector = format!(
        "app.kubernetes.io/instance={},app.kubernetes.io/component=controller",
        s.release
    );
    wait_deployment(&deployments, &pods, &name, &selector, 1, s.timeout(300)).await?;
    ctx.figures.add(
        1,
        "helm install -> operator Deployment Ready",
        secs(t.elapsed()),
    );

    // The real image, ServiceAccount and arguments.
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    ensure!(list.len() == 1, "{} operator pods, want 1", list.len());
    let pod = &list[0];
    let spec = pod.spec.as_ref().context("operator pod without spec")?;
    ensure!(
        spec.service_account_name.as_deref() == Some(name.as_str()),
        "operator pod runs as ServiceAccount {:?}, want the chart's {name}",
        spec.service_account_name
    );
    let sas: Api<ServiceAccount> = ctx.op_api();
    ensure!(
        sas.get_opt(&name).await?.is_some(),
        "ServiceAccount {name} missing"
    );
    let c = &spec.containers[0];
    ensure!(
        c.image.as_deref() == Some(s.operator_image.as_str()),
        "operator container image {:?}, want {}",
        c.image,
        s.operator_image
    );
    let args = c.args.clone().unwrap_or_default();
    let sidecar = format!("--sidecar-image={}", s.tools_image);
    ensure!(
        args.contains(&sidecar),
        "operator args {args:?} lack {sidecar}"
    );
    println!(
        "  operator pod {} Ready: image {}, ServiceAccount {name}, args {}",
        pod.metadata.name.as_deref().unwrap_or("?"),
        s.operator_image,
        args.join(" ")
    );
    Ok(())
}

/// The fixture's PVC names no StorageClass: the node needs a default one.
async fn default_storage_class(ctx: &Ctx) -> Result<()> {
    let api: Api<StorageClass> = Api::all(ctx.client.clone());
    let list = api.list(&ListParams::default()).await?.items;
    let default: Vec<String> = list
        .iter()
        .filter(|sc| {
            sc.metadata.annotations.as_ref().is_some_and(|a| {
                a.get("storageclass.kubernetes.io/is-default-class")
                    .map(String::as_str)
                    == Some("true")
            })
        })
        .filter_map(|sc| sc.metadata.name.clone())
        .collect();
    if default.is_empty() {
        bail!(Fatal(format!(
            "no default StorageClass (the cluster's PVCs name none); StorageClasses: [{}]. \
             `scripts/local-cluster.sh up` installs one; kind ships `standard`",
            list.iter()
                .filter_map(|s| s.metadata.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    println!("  default StorageClass: {}", default.join(", "));
    Ok(())
}

/// Another operator watching every namespace would reconcile the test clusters too.
async fn no_other_operator(ctx: &Ctx) -> Result<()> {
    let api: Api<Deployment> = Api::all(ctx.client.clone());
    let list = api
        .list(&ListParams::default().labels("app.kubernetes.io/name=mysql-operator"))
        .await?
        .items;
    for d in list {
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        if ns == ctx.s.operator_namespace {
            continue;
        }
        let args = d
            .spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.args.clone())
            .unwrap_or_default();
        let scoped = args.iter().any(|a| {
            a.starts_with("--namespace=") && a != &format!("--namespace={}", ctx.s.namespace)
        });
        if !scoped {
            bail!(Fatal(format!(
                "another mysql-operator Deployment {ns}/{} watches every namespace and would reconcile the \
                 test clusters too (a run kept with E2E_KEEP=1?). Remove it first: `helm uninstall -n {ns} <release>` \
                 and `kubectl delete ns {ns}`",
                d.metadata.name.unwrap_or_default()
            )));
        }
    }
    Ok(())
}
