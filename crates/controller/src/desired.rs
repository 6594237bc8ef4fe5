//! The objects a cluster should have, behind the [`Renderer`] seam. The production
//! renderer, [`RenderCrate`], is `crates/render` (the same output `mysql-operator render`
//! prints), fed with what only the controller knows: the live operated Secret's revision
//! and the digests of the policy modules it verified.

use std::collections::BTreeMap;

use api::MysqlCluster;

pub use render::statefulset::{
    CONFIG_REV_ANNOTATION as CONFIG_REV, SECRET_REV_ANNOTATION as SECRET_REV,
};
pub use render::{RenderError as RenderFailure, RenderOptions, Rendered as Desired};

/// The names of one cluster's objects the reconcilers address directly (presslabs' names,
/// from `render::names`, so adopted clusters keep theirs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// `<c>-mysql`: StatefulSet.
    pub statefulset: String,
    /// `<c>-mysql-master`.
    pub master_service: String,
    /// `mysql`: the namespace-wide headless Service, owned by no cluster.
    pub headless_service: String,
    /// `<c>-mysql-operated`.
    pub operated_secret: String,
    /// `<c>-mysql`.
    pub pdb: String,
}

impl Names {
    /// The names for cluster `c`.
    pub fn of(c: &str) -> Names {
        let n = render::names::Names::new(c);
        Names {
            statefulset: n.stateful_set(),
            master_service: n.master_service(),
            headless_service: render::names::HEADLESS_SERVICE.into(),
            operated_secret: n.operated(),
            pdb: n.pdb(),
        }
    }

    /// Name of pod `ordinal` (`<c>-mysql-<n>`).
    pub fn pod(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.statefulset)
    }
}

/// What the operator feeds the renderer besides the cluster.
#[derive(Clone, Debug, Default)]
pub struct RenderInputs {
    /// Image of the init/agent containers (`--sidecar-image`), used when the cluster sets none.
    pub sidecar_image: String,
    /// Hash of the live operated Secret's data (the `secret_rev` annotation).
    pub secret_rev: String,
    /// The modules the controller resolved and verified: name → sha256. Only these are
    /// mounted and listed in `plugins.json`, each pinned to the verified digest, so a pod
    /// loads exactly what the operator checked and never waits on a missing ConfigMap.
    pub verified_plugins: BTreeMap<String, String>,
}

/// Spec → objects; pure and deterministic, so a second reconcile changes nothing.
pub trait Renderer: Send + Sync + 'static {
    /// The desired objects for `cluster`. The operated Secret in the result carries only
    /// placeholders: the reconciler owns its passwords.
    fn render(
        &self,
        cluster: &MysqlCluster,
        inputs: &RenderInputs,
    ) -> Result<Desired, RenderFailure>;
}

/// `crates/render` as the controller's renderer; `options` holds the operator-wide
/// settings (exporter image, pull policy, version → image table).
#[derive(Clone, Debug, Default)]
pub struct RenderCrate {
    /// Operator-wide render settings; `sidecar_image` and `secret_revision` are replaced
    /// per cluster from [`RenderInputs`].
    pub options: RenderOptions,
}

impl Renderer for RenderCrate {
    fn render(
        &self,
        cluster: &MysqlCluster,
        inputs: &RenderInputs,
    ) -> Result<Desired, RenderFailure> {
        let opts = RenderOptions {
            sidecar_image: inputs.sidecar_image.clone(),
            secret_revision: Some(inputs.secret_rev.clone()),
            ..self.options.clone()
        };
        let mut input = render::ClusterInput::from_cluster(cluster, &opts)?;
        input.plugins.retain_mut(|p| {
            let Some(sha) = inputs.verified_plugins.get(&p.name) else {
                return false;
            };
            p.sha256 = Some(sha.clone());
            true
        });
        render::render_input(&input, &opts)
    }
}

/// sha256 of a byte map, in key order (the secret revision annotation).
pub fn digest_map<'a>(entries: impl IntoIterator<Item = (&'a String, &'a [u8])>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (k, v) in entries {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v);
        h.update([0]);
    }
    hex::encode(h.finalize())
}
