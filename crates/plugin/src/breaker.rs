//! The circuit breaker of one attachment: after repeated traps, timeouts or memory
//! failures the module is skipped for a back-off window that doubles on each relapse.

use policy::HookError;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When the breaker opens and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive trap/timeout/memory failures that open the breaker.
    pub threshold: u32,
    /// First back-off window; doubled after each failed trial call.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            threshold: 3,
            base_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(600),
        }
    }
}

/// A change of breaker state worth an Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerChange {
    Opened { failures: u32, backoff: Duration },
    Closed,
}

#[derive(Debug)]
struct State {
    consecutive: u32,
    open_until: Option<Instant>,
    backoff: Duration,
}

/// Thread-safe breaker state of one attachment.
#[derive(Debug)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: Mutex<State>,
}

/// Failures that say the module itself misbehaves (not a refusal or bad settings).
fn counts(e: &HookError) -> bool {
    matches!(
        e,
        HookError::Trap { .. } | HookError::Timeout { .. } | HookError::Memory { .. }
    )
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Self {
        let backoff = cfg.base_backoff;
        Breaker {
            cfg,
            state: Mutex::new(State {
                consecutive: 0,
                open_until: None,
                backoff,
            }),
        }
    }

    /// `Err(remaining)` while the breaker is open; after the window one trial call passes.
    pub fn check(&self) -> Result<(), Duration> {
        let Ok(s) = self.state.lock() else {
            return Ok(());
        };
        match s.open_until {
            Some(until) => {
                let now = Instant::now();
                if now < until {
                    Err(until - now)
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// Records a call's outcome; returns a state change to report, if any.
    pub fn record<T>(&self, outcome: &Result<T, HookError>) -> Option<BreakerChange> {
        let Ok(mut s) = self.state.lock() else {
            return None;
        };
        match outcome {
            Err(e) if counts(e) => {
                s.consecutive += 1;
                let trial_failed = s.open_until.is_some();
                if trial_failed {
                    s.backoff = (s.backoff * 2).min(self.cfg.max_backoff);
                }
                if trial_failed || s.consecutive >= self.cfg.threshold {
                    s.open_until = Some(Instant::now() + s.backoff);
                    return Some(BreakerChange::Opened {
                        failures: s.consecutive,
                        backoff: s.backoff,
                    });
                }
                None
            }
            Err(_) => None,
            Ok(_) => {
                let was_open = s.open_until.take().is_some();
                s.consecutive = 0;
                s.backoff = self.cfg.base_backoff;
                was_open.then_some(BreakerChange::Closed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trap() -> Result<(), HookError> {
        Err(HookError::Trap {
            module: "m".into(),
            message: "x".into(),
        })
    }

    #[test]
    fn opens_after_threshold_doubles_and_closes() {
        let b = Breaker::new(BreakerConfig {
            threshold: 2,
            base_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_millis(50),
        });
        assert_eq!(b.record(&trap()), None);
        assert!(b.check().is_ok());
        assert!(matches!(
            b.record(&trap()),
            Some(BreakerChange::Opened { failures: 2, .. })
        ));
        assert!(b.check().is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.check().is_ok(), "trial call after the window");
        assert_eq!(
            b.record(&trap()),
            Some(BreakerChange::Opened {
                failures: 3,
                backoff: Duration::from_millis(50)
            })
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            b.record(&Ok::<(), HookError>(())),
            Some(BreakerChange::Closed)
        );
        assert!(b.check().is_ok());
        let rejected: Result<(), HookError> = Err(HookError::Rejected {
            module: "m".into(),
            message: "no".into(),
        });
        for _ in 0..5 {
            assert_eq!(
                b.record(&rejected),
                None,
                "refusals do not trip the breaker"
            );
        }
    }
}
