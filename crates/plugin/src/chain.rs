//! The chains that run at each hook: the attached modules in spec order, each under its
//! failure policy, ending in (or, for init-script, starting from) the built-in rule. A
//! chain implements the same trait as the built-in, so callers see one interface.

use crate::registry::{Attached, FailurePolicy};
use policy::{
    BackupFilter, BackupFilterRequest, Decision, Exclusions, FailoverCandidate, FailoverRequest,
    HookError, HookName, InitScript, InitScriptRequest,
};
use std::sync::Arc;

/// Applies the failure policy: `Ok(None)` means "skip this module".
fn apply<T>(a: &Attached, hook: HookName, r: Result<T, HookError>) -> Result<Option<T>, HookError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) => match a.policy {
            FailurePolicy::Ignore => {
                tracing::warn!(cluster = %a.cluster, module = %a.name, hook = %hook, kind = e.kind(), error = %e, "policy module failed; failurePolicy=Ignore, skipping it");
                Ok(None)
            }
            FailurePolicy::Fail => Err(e),
        },
    }
}

/// `failover-candidate`: the first module that promotes or vetoes decides; abstaining or
/// ignored failures pass to the next; the built-in rule decides last.
pub struct FailoverChain {
    cluster: String,
    links: Vec<Arc<Attached>>,
    builtin: Arc<dyn FailoverCandidate>,
}

impl FailoverChain {
    pub(crate) fn new(
        cluster: &str,
        links: Vec<Arc<Attached>>,
        builtin: Arc<dyn FailoverCandidate>,
    ) -> Self {
        FailoverChain {
            cluster: cluster.to_string(),
            links,
            builtin,
        }
    }

    /// Names of the attached modules, in order.
    pub fn modules(&self) -> Vec<&str> {
        self.links.iter().map(|a| a.name.as_str()).collect()
    }
}

impl FailoverCandidate for FailoverChain {
    fn choose(&self, request: &FailoverRequest) -> Result<Decision, HookError> {
        let hook = HookName::FailoverCandidate;
        let _span =
            tracing::info_span!("policy_hook", cluster = %self.cluster, hook = %hook).entered();
        for a in &self.links {
            match apply(a, hook, a.call(hook, |m| m.failover(request, &a.settings)))? {
                Some(Decision::Abstain) | None => continue,
                Some(d) => {
                    tracing::info!(module = %a.name, decision = ?d, "failover decided by policy module");
                    return Ok(d);
                }
            }
        }
        self.builtin.choose(request)
    }
}

/// `init-script`: starts from the built-in script; each module rewrites the script the
/// previous one produced (it sees it as `default-script`).
pub struct InitScriptChain {
    cluster: String,
    links: Vec<Arc<Attached>>,
    builtin: Arc<dyn InitScript>,
}

impl InitScriptChain {
    pub(crate) fn new(
        cluster: &str,
        links: Vec<Arc<Attached>>,
        builtin: Arc<dyn InitScript>,
    ) -> Self {
        InitScriptChain {
            cluster: cluster.to_string(),
            links,
            builtin,
        }
    }
}

impl InitScript for InitScriptChain {
    fn render(&self, request: &InitScriptRequest) -> Result<String, HookError> {
        let hook = HookName::InitScript;
        let _span =
            tracing::info_span!("policy_hook", cluster = %self.cluster, hook = %hook).entered();
        let mut script = self.builtin.render(request)?;
        for a in &self.links {
            let req = InitScriptRequest {
                default_script: script.clone(),
                ..request.clone()
            };
            if let Some(s) = apply(a, hook, a.call(hook, |m| m.init_script(&req, &a.settings)))? {
                script = s;
            }
        }
        Ok(script)
    }
}

/// `backup-filter`: the union of the built-in exclusions and every module's.
pub struct BackupFilterChain {
    cluster: String,
    links: Vec<Arc<Attached>>,
    builtin: Arc<dyn BackupFilter>,
}

impl BackupFilterChain {
    pub(crate) fn new(
        cluster: &str,
        links: Vec<Arc<Attached>>,
        builtin: Arc<dyn BackupFilter>,
    ) -> Self {
        BackupFilterChain {
            cluster: cluster.to_string(),
            links,
            builtin,
        }
    }
}

impl BackupFilter for BackupFilterChain {
    fn exclusions(&self, request: &BackupFilterRequest) -> Result<Exclusions, HookError> {
        let hook = HookName::BackupFilter;
        let _span =
            tracing::info_span!("policy_hook", cluster = %self.cluster, hook = %hook).entered();
        let mut out = self.builtin.exclusions(request)?;
        for a in &self.links {
            if let Some(e) = apply(
                a,
                hook,
                a.call(hook, |m| m.backup_filter(request, &a.settings)),
            )? {
                out = out.merge(e);
            }
        }
        Ok(out)
    }
}

/// The built-in `init-script` behaviour when no rule is given: the operator's default script.
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultScript;

impl InitScript for DefaultScript {
    fn render(&self, request: &InitScriptRequest) -> Result<String, HookError> {
        Ok(request.default_script.clone())
    }
}

/// The built-in `backup-filter` behaviour when no rule is given: copy everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoExclusions;

impl BackupFilter for NoExclusions {
    fn exclusions(&self, _request: &BackupFilterRequest) -> Result<Exclusions, HookError> {
        Ok(Exclusions::default())
    }
}
