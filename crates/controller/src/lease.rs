//! Leader election on a `coordination.k8s.io/v1` Lease: acquire when free or expired,
//! renew periodically, and report loss so the process stops reconciling (another replica
//! takes over). Optimistic concurrency (resourceVersion) makes two candidates safe.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tracing::{info, warn};

/// Settings of the election.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// Lease name (`--leader-election-id`).
    pub name: String,
    /// This candidate's identity (the pod name).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub duration: Duration,
    /// How often the holder renews (well under `duration`).
    pub renew_every: Duration,
}

/// Why the election failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The API call failed.
    #[error("lease {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// Whether `lease` may be taken by `identity` at `now`.
pub fn can_take(lease: &Lease, identity: &str, now: Timestamp) -> bool {
    let Some(spec) = &lease.spec else { return true };
    match spec.holder_identity.as_deref() {
        None | Some("") => true,
        Some(h) if h == identity => true,
        Some(_) => {
            let secs = i64::from(spec.lease_duration_seconds.unwrap_or(15));
            match spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) {
                Some(MicroTime(t)) => *t + SignedDuration::from_secs(secs) < now,
                None => true,
            }
        }
    }
}

fn spec_for(cfg: &LeaseConfig, prev: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
    let ours = prev.and_then(|s| s.holder_identity.as_deref()) == Some(cfg.identity.as_str());
    let transitions = prev.and_then(|s| s.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(i32::try_from(cfg.duration.as_secs()).unwrap_or(i32::MAX)),
        acquire_time: if ours {
            prev.and_then(|s| s.acquire_time.clone())
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if ours { transitions } else { transitions + 1 }),
        ..Default::default()
    }
}

/// One attempt to take or renew the lease; `Ok(true)` when we hold it afterwards.
pub async fn try_acquire(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool, LeaseError> {
    let err = |source| LeaseError::Api {
        namespace: cfg.namespace.clone(),
        name: cfg.name.clone(),
        source,
    };
    let now = Timestamp::now();
    match api.get_opt(&cfg.name).await.map_err(err)? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    namespace: Some(cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(spec_for(cfg, None, now)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(err(e)),
            }
        }
        Some(current) => {
            if !can_take(&current, &cfg.identity, now) {
                return Ok(false);
            }
            let mut next = current.clone();
            next.spec = Some(spec_for(cfg, current.spec.as_ref(), now));
            // replace() carries the resourceVersion: a concurrent writer makes this a 409.
            match api.replace(&cfg.name, &PostParams::default(), &next).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(err(e)),
            }
        }
    }
}

/// Block until this candidate leads, then keep renewing in the background. The returned
/// receiver turns `false` when leadership is lost (renewal failed past the lease duration).
pub async fn acquire(api: Api<Lease>, cfg: LeaseConfig) -> watch::Receiver<bool> {
    loop {
        match try_acquire(&api, &cfg).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => warn!(error = %e, "leader election attempt failed"),
        }
        tokio::time::sleep(cfg.renew_every).await;
    }
    info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
    let (tx, rx) = watch::channel(true);
    tokio::spawn(async move {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(cfg.renew_every).await;
            match try_acquire(&api, &cfg).await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => {
                    warn!("lease taken by another candidate");
                    let _ = tx.send(false);
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "lease renewal failed");
                    if last_ok.elapsed() >= cfg.duration {
                        let _ = tx.send(false);
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Give the lease up on shutdown (holder cleared) so a standby takes over at once instead
/// of waiting for expiry. Best effort: errors are only logged.
pub async fn release(api: &Api<Lease>, cfg: &LeaseConfig) {
    let Ok(Some(mut current)) = api.get_opt(&cfg.name).await else {
        return;
    };
    let ours = current
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        == Some(cfg.identity.as_str());
    if !ours {
        return;
    }
    if let Some(spec) = current.spec.as_mut() {
        spec.holder_identity = None;
        spec.renew_time = None;
    }
    match api
        .replace(&cfg.name, &PostParams::default(), &current)
        .await
    {
        Ok(_) => info!(lease = %cfg.name, "released the lease"),
        Err(e) => warn!(error = %e, "releasing the lease failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_secs_ago: i64) -> Lease {
        let now = Timestamp::now();
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(now - SignedDuration::from_secs(renewed_secs_ago))),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn expiry_and_ownership_decide() {
        let now = Timestamp::now();
        assert!(
            can_take(&lease("me", 1), "me", now),
            "renewing our own lease"
        );
        assert!(
            !can_take(&lease("other", 1), "me", now),
            "a fresh lease of another holder"
        );
        assert!(can_take(&lease("other", 60), "me", now), "an expired lease");
        assert!(can_take(&Lease::default(), "me", now), "an empty lease");
    }

    #[test]
    fn transitions_count_only_on_change_of_holder() {
        let cfg = LeaseConfig {
            namespace: "ns".into(),
            name: "l".into(),
            identity: "me".into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        };
        let now = Timestamp::now();
        let first = spec_for(&cfg, lease("other", 60).spec.as_ref(), now);
        assert_eq!(first.lease_transitions, Some(1));
        let renewed = spec_for(&cfg, Some(&first), now);
        assert_eq!(renewed.lease_transitions, Some(1));
        assert_eq!(renewed.acquire_time, first.acquire_time);
    }
}
