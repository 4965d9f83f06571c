//! The sliding window of a partition's recent restarts that an `on-crash`
//! policy counts against: one implementation for the core (systems without a
//! supervisor) and the vmm service.

/// Most restarts an `on-crash` rule may allow inside its window. The config
/// tool accepts `max_restarts` up to the same number, so the window can hold
/// every restart a rule counts.
pub const MAX_RESTARTS_IN_WINDOW: u32 = 1000;

/// Restart times a window keeps: exactly as many as the largest rule counts.
const HISTORY_LEN: usize = MAX_RESTARTS_IN_WINDOW as usize;

/// `on-crash` refused a restart: the rule's maximum is used up in the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitReached;

/// The times of a partition's most recent restarts (milliseconds from any
/// fixed origin), newest overwriting oldest. Counting only the restarts whose
/// age is at most the window makes the window slide with time: a partition
/// that crashes steadily but slowly is restarted forever, one that crashes
/// `max` times in quick succession is left stopped.
#[derive(Clone, Debug)]
pub struct RestartWindow {
    times_ms: [u64; HISTORY_LEN],
    /// Recorded times, at most `HISTORY_LEN`.
    len: usize,
    /// Where the next time goes.
    next: usize,
}

impl RestartWindow {
    /// A partition that has not been restarted.
    pub const fn new() -> Self {
        Self {
            times_ms: [0; HISTORY_LEN],
            len: 0,
            next: 0,
        }
    }

    /// Restarts no older than `window_ms` at `now_ms`. A restart exactly
    /// `window_ms` old still counts, as in the core's own policy.
    pub fn recent(&self, now_ms: u64, window_ms: u64) -> u32 {
        let count = self
            .times_ms
            .iter()
            .take(self.len)
            .filter(|&&time| now_ms.saturating_sub(time) <= window_ms)
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// Records a restart at `now_ms` if fewer than `max_restarts` (at most
    /// [`MAX_RESTARTS_IN_WINDOW`]) lie in the window; returns how many there
    /// are with this one (1 for the first).
    pub fn admit(
        &mut self,
        now_ms: u64,
        max_restarts: u32,
        window_ms: u64,
    ) -> Result<u32, LimitReached> {
        let max_restarts = max_restarts.min(MAX_RESTARTS_IN_WINDOW);
        let recent = self.recent(now_ms, window_ms);
        if recent >= max_restarts {
            return Err(LimitReached);
        }
        if let Some(slot) = self.times_ms.get_mut(self.next) {
            *slot = now_ms;
        }
        self.next = (self.next + 1) % HISTORY_LEN;
        self.len = (self.len + 1).min(HISTORY_LEN);
        Ok(recent + 1)
    }
}

impl Default for RestartWindow {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_maximum_then_refuses() {
        let mut window = RestartWindow::new();
        assert_eq!(window.admit(100, 3, 1000), Ok(1));
        assert_eq!(window.admit(200, 3, 1000), Ok(2));
        assert_eq!(window.admit(300, 3, 1000), Ok(3));
        assert_eq!(window.admit(400, 3, 1000), Err(LimitReached));
        // A refusal records nothing.
        assert_eq!(window.recent(400, 1000), 3);
    }

    #[test]
    fn the_window_slides() {
        let mut window = RestartWindow::new();
        assert_eq!(window.admit(0, 2, 1000), Ok(1));
        assert_eq!(window.admit(500, 2, 1000), Ok(2));
        assert_eq!(window.admit(1000, 2, 1000), Err(LimitReached));
        // The restart at 0 is exactly 1000 ms old at 1000 and still counts;
        // one millisecond later it has left the window.
        assert_eq!(window.recent(1001, 1000), 1);
        assert_eq!(window.admit(1001, 2, 1000), Ok(2));
        assert_eq!(window.admit(1400, 2, 1000), Err(LimitReached));
        assert_eq!(window.admit(1501, 2, 1000), Ok(2));
    }

    #[test]
    fn slow_crashes_restart_forever() {
        let mut window = RestartWindow::new();
        for n in 0..5000u64 {
            assert_eq!(window.admit(n * 2000, 1, 1000), Ok(1), "restart {n}");
        }
    }

    #[test]
    fn zero_maximum_never_restarts() {
        let mut window = RestartWindow::new();
        assert_eq!(window.admit(0, 0, 1000), Err(LimitReached));
    }

    #[test]
    fn the_largest_rule_is_counted_exactly() {
        let mut window = RestartWindow::new();
        for k in 1..=MAX_RESTARTS_IN_WINDOW {
            assert_eq!(
                window.admit(u64::from(k), MAX_RESTARTS_IN_WINDOW, 1 << 40),
                Ok(k)
            );
        }
        assert_eq!(
            window.admit(5000, MAX_RESTARTS_IN_WINDOW, 1 << 40),
            Err(LimitReached)
        );
        // A larger maximum than the window holds is treated as the largest.
        assert_eq!(window.admit(5000, u32::MAX, 1 << 40), Err(LimitReached));
        // The ring wraps: after the oldest leave the window, new ones fit.
        assert_eq!(window.recent(1 << 41, 1 << 40), 0);
        assert_eq!(
            window.admit(1 << 41, MAX_RESTARTS_IN_WINDOW, 1 << 40),
            Ok(1)
        );
        assert_eq!(window.recent(1 << 41, 1 << 40), 1);
    }

    #[test]
    fn a_clock_that_goes_back_counts_restarts_as_recent() {
        let mut window = RestartWindow::new();
        assert_eq!(window.admit(5000, 2, 10), Ok(1));
        assert_eq!(window.recent(0, 10), 1);
    }
}
