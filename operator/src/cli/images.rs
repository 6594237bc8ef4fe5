//! The image and pull flags `render` and `controller` share, so `mysql-operator render`
//! prints exactly what a controller started with the same flags applies.

use std::collections::BTreeMap;

use anyhow::Context;

/// Images of the clusters' pods and how they are pulled (presslabs' operator options).
#[derive(Debug, Clone, clap::Args)]
pub struct ImageArgs {
    /// Image of the init and agent containers when a cluster sets no `sidecarImage`: the
    /// tools image (server, backup tool and `mysql-operator`; see `render::pod`).
    #[arg(long, env = "MYSQL_OPERATOR_SIDECAR_IMAGE", default_value_t = render::RenderOptions::default().sidecar_image)]
    pub sidecar_image: String,
    /// Image of the metrics exporter container.
    #[arg(long, env = "MYSQL_OPERATOR_METRICS_EXPORTER_IMAGE", default_value = render::cluster::DEFAULT_EXPORTER_IMAGE)]
    pub metrics_exporter_image: String,
    /// Pull policy when a cluster's podSpec sets none.
    #[arg(long, default_value_t = render::RenderOptions::default().image_pull_policy)]
    pub image_pull_policy: String,
    /// Pull secret when a cluster's podSpec sets none.
    #[arg(long)]
    pub image_pull_secret: Option<String>,
    /// Server image per version, e.g. `8.0.20=mirror/percona:8.0.20,5.7=mirror/percona:5.7`
    /// (presslabs' `--mysql-versions-to-image`).
    #[arg(long, value_delimiter = ',')]
    pub mysql_versions_to_image: Vec<String>,
}

impl ImageArgs {
    /// The render options these flags describe, for clusters without a namespace in
    /// their manifest going to `namespace`.
    pub fn options(&self, namespace: Option<String>) -> anyhow::Result<render::RenderOptions> {
        let p = &self.image_pull_policy;
        anyhow::ensure!(
            matches!(p.as_str(), "Always" | "IfNotPresent" | "Never"),
            "--image-pull-policy {p:?}: use Always, IfNotPresent or Never"
        );
        let mut images = BTreeMap::new();
        for pair in self
            .mysql_versions_to_image
            .iter()
            .filter(|p| !p.trim().is_empty())
        {
            let (version, image) = pair
                .split_once('=')
                .filter(|(v, i)| !v.trim().is_empty() && !i.trim().is_empty())
                .with_context(|| format!("--mysql-versions-to-image {pair:?}: write VERSION=IMAGE, e.g. 8.0.20=percona:8.0.20"))?;
            images.insert(version.trim().to_string(), image.trim().to_string());
        }
        Ok(render::RenderOptions {
            sidecar_image: self.sidecar_image.clone(),
            metrics_exporter_image: self.metrics_exporter_image.clone(),
            image_pull_policy: p.clone(),
            image_pull_secret: self.image_pull_secret.clone(),
            namespace,
            version_images: images,
            secret_revision: None,
        })
    }
}
