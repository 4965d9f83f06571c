//! When the vmm wakes: blocked in `WAIT` on the fault notification when
//! nothing else needs it, or looking on a short period when the status
//! table is printed periodically, a partition must be restarted after
//! powering itself off (the core signals the fault notification for faults;
//! a power-off is only seen by looking), or there is no fault notification.

use crate::restart::RestartPolicy;
use crate::settings::{CapSlot, Settings};

/// How often a polling vmm looks at the fault notification and the
/// partitions: the longest a fault or a power-off waits for a decision.
pub const WATCH_INTERVAL_MS: u64 = 20;

/// How the vmm's main loop waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakePlan {
    /// Block in `WAIT` on the fault notification until the core signals a
    /// fault.
    WaitForFaults {
        /// The fault notification.
        slot: CapSlot,
    },
    /// `POLL` the fault notification, then sleep this many milliseconds.
    Poll {
        /// The sleep between looks.
        interval_ms: u64,
    },
}

impl WakePlan {
    /// The plan the settings call for.
    pub fn for_settings(settings: &Settings<'_>) -> Self {
        let watches_power_off = settings
            .partitions()
            .iter()
            .any(|p| p.rule.policy == RestartPolicy::Always);
        match (settings.status_ms, settings.faults) {
            (0, Some(slot)) if !watches_power_off => Self::WaitForFaults { slot },
            (0, _) => Self::Poll {
                interval_ms: WATCH_INTERVAL_MS,
            },
            (status_ms, _) => Self::Poll {
                interval_ms: status_ms.min(WATCH_INTERVAL_MS),
            },
        }
    }
}

/// Something due every `period_ms` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periodic {
    period_ms: u64,
    next_due_ms: u64,
}

impl Periodic {
    /// First due one period after `now_ms`; `None` for a period of 0 (never).
    pub fn new(period_ms: u64, now_ms: u64) -> Option<Self> {
        (period_ms > 0).then(|| Self {
            period_ms,
            next_due_ms: now_ms.saturating_add(period_ms),
        })
    }

    /// Whether it is due at `now_ms`; if so, the next time is one period
    /// later — on the original beat, unless the caller fell a whole period
    /// behind, when the beat restarts from now rather than firing in a burst.
    pub fn due(&mut self, now_ms: u64) -> bool {
        if now_ms < self.next_due_ms {
            return false;
        }
        let next = self.next_due_ms.saturating_add(self.period_ms);
        self.next_due_ms = if next > now_ms {
            next
        } else {
            now_ms.saturating_add(self.period_ms)
        };
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_runtime::bootargs::BootArgs;

    fn plan(text: &str) -> WakePlan {
        WakePlan::for_settings(&Settings::from_bootargs(&BootArgs::new(text)).unwrap())
    }

    #[test]
    fn blocks_when_nothing_needs_polling() {
        assert_eq!(
            plan("partitions=1:a:never,2:b:on-crash:3:1000 faults=0"),
            WakePlan::WaitForFaults { slot: CapSlot(0) }
        );
        assert_eq!(
            plan("partitions=1:a:never faults=7 status_ms=0"),
            WakePlan::WaitForFaults { slot: CapSlot(7) }
        );
    }

    #[test]
    fn polls_to_see_power_offs_under_always() {
        assert_eq!(
            plan("partitions=1:a:never,2:b:always faults=0"),
            WakePlan::Poll {
                interval_ms: WATCH_INTERVAL_MS
            }
        );
    }

    #[test]
    fn polls_without_a_fault_notification() {
        assert_eq!(
            plan("partitions=1:a:never"),
            WakePlan::Poll {
                interval_ms: WATCH_INTERVAL_MS
            }
        );
    }

    #[test]
    fn polls_for_a_periodic_table() {
        assert_eq!(
            plan("partitions=1:a:never faults=0 status_ms=1000"),
            WakePlan::Poll {
                interval_ms: WATCH_INTERVAL_MS
            }
        );
        assert_eq!(
            plan("partitions=1:a:never faults=0 status_ms=5"),
            WakePlan::Poll { interval_ms: 5 }
        );
    }

    #[test]
    fn a_zero_period_is_never_due() {
        assert_eq!(Periodic::new(0, 100), None);
    }

    #[test]
    fn due_on_the_beat() {
        let mut every = Periodic::new(100, 1000).unwrap();
        assert!(!every.due(1000));
        assert!(!every.due(1099));
        assert!(every.due(1100));
        assert!(!every.due(1100));
        // Late by a little: the next one stays on the beat.
        assert!(every.due(1230));
        assert!(!every.due(1299));
        assert!(every.due(1300));
    }

    #[test]
    fn a_long_stall_fires_once_and_restarts_the_beat() {
        let mut every = Periodic::new(100, 0).unwrap();
        assert!(every.due(1050));
        assert!(!every.due(1100));
        assert!(!every.due(1149));
        assert!(every.due(1150));
    }

    #[test]
    fn the_end_of_time_saturates() {
        let mut every = Periodic::new(100, u64::MAX - 50).unwrap();
        assert!(!every.due(u64::MAX - 1));
        assert!(every.due(u64::MAX));
        assert!(every.due(u64::MAX));
    }
}
