//! Failure and call counters by module, hook and kind, in a plain struct the controller
//! copies into its Prometheus registry.

use policy::HookName;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counters of one (module, hook): calls, and failures by kind (`trap`, `timeout`,
/// `memory`, `invalid-output`, `rejected`, `unavailable`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookCounters {
    pub calls: u64,
    pub failures: BTreeMap<&'static str, u64>,
}

/// All counters of a host; cheap to update, snapshot on scrape.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<BTreeMap<(String, HookName), HookCounters>>,
}

impl Metrics {
    pub(crate) fn call(&self, module: &str, hook: HookName) {
        if let Ok(mut m) = self.inner.lock() {
            // Called on every hook call: look up without allocating the key.
            if let Some((_, c)) = m.iter_mut().find(|((n, h), _)| n == module && *h == hook) {
                c.calls += 1;
            } else {
                m.entry((module.to_string(), hook)).or_default().calls += 1;
            }
        }
    }

    pub(crate) fn failure(&self, module: &str, hook: HookName, kind: &'static str) {
        if let Ok(mut m) = self.inner.lock() {
            *m.entry((module.to_string(), hook))
                .or_default()
                .failures
                .entry(kind)
                .or_default() += 1;
        }
    }

    /// Failures of one module, hook and kind so far.
    pub fn failures(&self, module: &str, hook: HookName, kind: &str) -> u64 {
        self.inner
            .lock()
            .ok()
            .and_then(|m| {
                m.get(&(module.to_string(), hook))
                    .and_then(|c| c.failures.get(kind).copied())
            })
            .unwrap_or(0)
    }

    /// A copy of every counter, keyed by (module, hook), for export.
    pub fn snapshot(&self) -> BTreeMap<(String, HookName), HookCounters> {
        self.inner.lock().map(|m| m.clone()).unwrap_or_default()
    }
}
