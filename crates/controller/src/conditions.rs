//! Cluster conditions: set one keeping its transition time when the status is unchanged,
//! so a steady cluster's status compares equal and costs no write.

use api::{ClusterCondition, ConditionStatus, MysqlClusterStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Condition type set when a policy module cannot be attached.
pub const PLUGIN_FAILED: &str = "PluginFailed";

/// `Ready` reason set by the HA loop when every node is healthy behind a writable primary.
pub const CLUSTER_READY: &str = "ClusterReady";
/// `Ready` reason set by the HA loop when no healthy primary is seen.
pub const NO_PRIMARY: &str = "NoPrimary";
/// `Ready` reason set by the HA loop when a failover was vetoed or found no safe candidate.
pub const FAILOVER_BLOCKED: &str = "FailoverBlocked";
/// `Ready` reason set by the HA loop when the primary is healthy but not every node is
/// (presslabs' reason for a cluster that is not fully up).
pub const NODES_NOT_READY: &str = "StatefulSetNotReady";

/// The `ReadOnly` condition from `spec.readOnly` (presslabs' reasons).
pub fn read_only(status: &mut MysqlClusterStatus, read_only: bool) {
    let (v, reason) = if read_only {
        (ConditionStatus::True, "ClusterReadOnlyTrue")
    } else {
        (ConditionStatus::False, "ClusterReadOnlyFalse")
    };
    set(
        status,
        api::status::cluster_condition::READ_ONLY,
        v,
        reason,
        "spec.readOnly",
    );
}

/// Set (or replace) condition `type_`; `lastTransitionTime` moves only when `status` changes.
pub fn set(
    status: &mut MysqlClusterStatus,
    type_: &str,
    value: ConditionStatus,
    reason: &str,
    message: &str,
) {
    match status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != value {
                c.status = value;
                c.last_transition_time = Time(k8s_openapi::jiff::Timestamp::now());
            }
            c.reason = reason.into();
            c.message = message.into();
        }
        None => status.conditions.push(ClusterCondition {
            type_: type_.into(),
            status: value,
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
            reason: reason.into(),
            message: message.into(),
        }),
    }
}

/// Drop condition `type_` (e.g. PluginFailed on a cluster without modules).
pub fn remove(status: &mut MysqlClusterStatus, type_: &str) {
    status.conditions.retain(|c| c.type_ != type_);
}

/// Whether condition `type_` is present with `value`.
pub fn is(status: &MysqlClusterStatus, type_: &str, value: ConditionStatus) -> bool {
    status.condition(type_).is_some_and(|c| c.status == value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut s = MysqlClusterStatus::default();
        set(&mut s, "Ready", ConditionStatus::False, "A", "a");
        let t0 = s.conditions[0].last_transition_time.clone();
        set(&mut s, "Ready", ConditionStatus::False, "B", "b");
        assert_eq!(s.conditions[0].last_transition_time, t0);
        assert_eq!(s.conditions[0].reason, "B");
        std::thread::sleep(std::time::Duration::from_millis(2));
        set(&mut s, "Ready", ConditionStatus::True, "C", "c");
        assert_ne!(s.conditions[0].last_transition_time, t0);
        assert!(is(&s, "Ready", ConditionStatus::True));
        remove(&mut s, "Ready");
        assert!(s.conditions.is_empty());
    }
}
