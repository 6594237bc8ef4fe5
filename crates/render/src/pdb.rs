//! The PodDisruptionBudget `<c>-mysql`: keeps voluntary evictions (node drains) from
//! taking down more of the cluster than `spec.minAvailable` allows.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::meta::Ctx;

/// The budget for the effective `minAvailable` (the spec's, or presslabs' 50% for more
/// than one replica, as `MysqlClusterSpec::effective_min_available` resolves it); `None`
/// when none applies, since a budget on a single pod would block every drain.
pub fn pod_disruption_budget(
    ctx: &Ctx,
    min_available: Option<&IntOrString>,
) -> Option<PodDisruptionBudget> {
    let min_available = min_available?.clone();
    Some(PodDisruptionBudget {
        metadata: ctx.owned_meta(ctx.names.pdb(), &[]),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(min_available),
            selector: Some(LabelSelector {
                match_labels: Some(ctx.selector.clone()),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ctx() -> Ctx {
        Ctx::new("c", Some("ns"), None, "8.0.20", &BTreeMap::new())
    }

    #[test]
    fn budget_selects_the_cluster_pods() {
        let pdb = pod_disruption_budget(&ctx(), Some(&IntOrString::String("50%".into()))).unwrap();
        assert_eq!(pdb.metadata.name.as_deref(), Some("c-mysql"));
        assert_eq!(pdb.metadata.namespace.as_deref(), Some("ns"));
        let spec = pdb.spec.unwrap();
        assert_eq!(spec.min_available, Some(IntOrString::String("50%".into())));
        assert_eq!(spec.max_unavailable, None);
        assert_eq!(
            spec.selector.unwrap().match_labels.unwrap(),
            crate::names::selector_labels("c")
        );
        let pdb = pod_disruption_budget(&ctx(), Some(&IntOrString::Int(2))).unwrap();
        assert_eq!(pdb.spec.unwrap().min_available, Some(IntOrString::Int(2)));
    }

    #[test]
    fn no_budget_without_min_available() {
        assert!(pod_disruption_budget(&ctx(), None).is_none());
    }
}
