//! The supervision state machine: what the vmm does with each partition it
//! watches, given the status the core reports — start it at boot, restart it
//! or leave it stopped after a fault or a power-off, per its restart rule.
//! Pure: the program applies the decisions with `PARTITION_CONTROL`.

use crate::restart::{RestartPolicy, RestartRule, RestartWindow};
use abi::ipc::{PartitionState, PartitionStatus};
use abi::Error;
use kernel_core::manifest::MAX_PARTITIONS;

/// What to do with a partition when the vmm starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupAction {
    /// It is stopped (or its state cannot be read): start it.
    Start,
    /// It runs already — the vmm itself was restarted — so adopt it.
    AlreadyRunning,
    /// It faulted while no vmm watched: the first sweep applies its policy.
    AwaitPolicy,
}

/// The startup action for a partition in `status`.
pub fn startup_action(status: Result<PartitionStatus, Error>) -> StartupAction {
    match status.map(|status| status.state) {
        Ok(PartitionState::Running | PartitionState::Stopping) => StartupAction::AlreadyRunning,
        Ok(PartitionState::Faulted) => StartupAction::AwaitPolicy,
        // If the status cannot be read, trying to start it is what tells
        // the operator why.
        Ok(PartitionState::Stopped) | Err(_) => StartupAction::Start,
    }
}

/// Why a partition is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartReason {
    /// It faulted; `on-crash` allows restart number `restart` of `max` in
    /// the window.
    OnCrash {
        /// Restarts in the window, this one included.
        restart: u32,
        /// The rule's maximum.
        max: u32,
    },
    /// It faulted; policy `always`.
    FaultedPolicyAlways,
    /// It powered itself off; policy `always`.
    PoweredOffPolicyAlways,
}

/// Why a partition is left stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// It faulted; policy `never`.
    FaultedPolicyNever,
    /// It faulted; `on-crash` has used up its restarts in the window.
    RestartLimit,
    /// It powered itself off; only `always` restarts after that.
    PoweredOff(RestartPolicy),
}

/// The vmm's decision about one partition after reading its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing new.
    Nothing,
    /// Restart it (`PARTITION_CONTROL` RESTART).
    Restart(RestartReason),
    /// Leave it stopped.
    LeaveStopped(StopReason),
}

/// The result of reading one partition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Its state (or the readability of its status) differs from the last
    /// time: the status table should be printed.
    pub changed: bool,
    /// What to do about it.
    pub decision: Decision,
}

/// The last thing the vmm saw of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Nothing,
    State(PartitionState),
    Unreadable(Error),
}

/// What the vmm knows about one partition.
#[derive(Clone, Debug)]
struct Watch {
    seen: Seen,
    /// The fault count of the last fault a decision was made about.
    handled_faults: u32,
    /// The vmm started it and has not seen it stop since.
    expect_running: bool,
    restarts: RestartWindow,
}

impl Seen {
    fn of(status: Result<PartitionStatus, Error>) -> Self {
        match status {
            Ok(status) => Self::State(status.state),
            Err(error) => Self::Unreadable(error),
        }
    }
}

impl Watch {
    const NEW: Self = Self {
        seen: Seen::Nothing,
        handled_faults: 0,
        expect_running: false,
        restarts: RestartWindow::new(),
    };
}

/// The state of supervision for up to [`MAX_PARTITIONS`] partitions, indexed
/// like the settings' partition list. Large (each partition keeps its restart
/// window), so the program keeps it in a static.
#[derive(Clone, Debug)]
pub struct Supervisor {
    watches: [Watch; MAX_PARTITIONS],
}

impl Supervisor {
    /// Nothing seen yet.
    pub const fn new() -> Self {
        Self {
            watches: [const { Watch::NEW }; MAX_PARTITIONS],
        }
    }

    /// Partition `index` was started or restarted successfully (or found
    /// running): from now on, finding it stopped means it powered off.
    pub fn started(&mut self, index: usize) {
        if let Some(watch) = self.watches.get_mut(index) {
            watch.expect_running = true;
        }
    }

    /// Records what the vmm has just shown of partition `index` (in a
    /// status table), so that the next look reports a change only if there
    /// is one since. Decisions do not depend on it.
    pub fn remember(&mut self, index: usize, status: Result<PartitionStatus, Error>) {
        if let Some(watch) = self.watches.get_mut(index) {
            watch.seen = Seen::of(status);
        }
    }

    /// Takes in partition `index`'s status read at `now_ms` (milliseconds of
    /// a monotonic clock) and decides what to do about it under `rule`.
    ///
    /// A fault is new when the partition is `Faulted` and its fault count
    /// moved since the last decision (or the vmm had started it): so every
    /// fault is decided once, however many wakes see it. A `Stopped`
    /// partition the vmm had started has powered itself off. `Stopping` is
    /// a passage and decides nothing.
    pub fn observe(
        &mut self,
        index: usize,
        rule: &RestartRule,
        status: Result<PartitionStatus, Error>,
        now_ms: u64,
    ) -> Observation {
        let Some(watch) = self.watches.get_mut(index) else {
            return Observation {
                changed: false,
                decision: Decision::Nothing,
            };
        };
        let seen = Seen::of(status);
        let changed = watch.seen != seen;
        watch.seen = seen;
        let decision = match status {
            Ok(status)
                if status.state == PartitionState::Faulted
                    && (status.faults != watch.handled_faults || watch.expect_running) =>
            {
                watch.handled_faults = status.faults;
                watch.expect_running = false;
                after_fault(rule, &mut watch.restarts, now_ms)
            }
            Ok(status) if status.state == PartitionState::Stopped && watch.expect_running => {
                watch.expect_running = false;
                match rule.policy {
                    RestartPolicy::Always => {
                        Decision::Restart(RestartReason::PoweredOffPolicyAlways)
                    }
                    policy => Decision::LeaveStopped(StopReason::PoweredOff(policy)),
                }
            }
            _ => Decision::Nothing,
        };
        Observation { changed, decision }
    }
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

/// The policy's answer to a fault.
fn after_fault(rule: &RestartRule, restarts: &mut RestartWindow, now_ms: u64) -> Decision {
    match rule.policy {
        RestartPolicy::Never => Decision::LeaveStopped(StopReason::FaultedPolicyNever),
        RestartPolicy::Always => Decision::Restart(RestartReason::FaultedPolicyAlways),
        RestartPolicy::OnCrash => match restarts.admit(now_ms, rule.max_restarts, rule.window_ms) {
            Ok(restart) => Decision::Restart(RestartReason::OnCrash {
                restart,
                max: rule.max_restarts,
            }),
            Err(_) => Decision::LeaveStopped(StopReason::RestartLimit),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: PartitionState, faults: u32) -> Result<PartitionStatus, Error> {
        Ok(PartitionStatus {
            state,
            restarts: 0,
            faults,
            traps: 0,
            injected_irqs: 0,
            ipc_calls: 0,
        })
    }

    const ON_CRASH_2_IN_1S: RestartRule = RestartRule {
        policy: RestartPolicy::OnCrash,
        max_restarts: 2,
        window_ms: 1000,
    };

    #[test]
    fn startup_actions() {
        use PartitionState::*;
        assert_eq!(startup_action(status(Stopped, 0)), StartupAction::Start);
        assert_eq!(
            startup_action(status(Running, 0)),
            StartupAction::AlreadyRunning
        );
        assert_eq!(
            startup_action(status(Stopping, 0)),
            StartupAction::AlreadyRunning
        );
        assert_eq!(
            startup_action(status(Faulted, 1)),
            StartupAction::AwaitPolicy
        );
        assert_eq!(
            startup_action(Err(Error::BadCapability)),
            StartupAction::Start
        );
    }

    #[test]
    fn never_leaves_a_faulted_partition_stopped_once() {
        let mut supervisor = Supervisor::new();
        supervisor.started(0);
        let rule = RestartRule::NEVER;
        let first = supervisor.observe(0, &rule, status(PartitionState::Running, 0), 0);
        assert_eq!(
            first,
            Observation {
                changed: true,
                decision: Decision::Nothing
            }
        );
        let fault = supervisor.observe(0, &rule, status(PartitionState::Faulted, 1), 10);
        assert_eq!(
            fault,
            Observation {
                changed: true,
                decision: Decision::LeaveStopped(StopReason::FaultedPolicyNever)
            }
        );
        // Later wakes see the same fault: nothing to decide, nothing changed.
        let again = supervisor.observe(0, &rule, status(PartitionState::Faulted, 1), 20);
        assert_eq!(
            again,
            Observation {
                changed: false,
                decision: Decision::Nothing
            }
        );
    }

    #[test]
    fn on_crash_restarts_until_the_limit_then_leaves_it_stopped() {
        let mut supervisor = Supervisor::new();
        supervisor.started(0);
        let rule = ON_CRASH_2_IN_1S;
        for (faults, now, expected) in [
            (
                1,
                100,
                Decision::Restart(RestartReason::OnCrash { restart: 1, max: 2 }),
            ),
            (
                2,
                200,
                Decision::Restart(RestartReason::OnCrash { restart: 2, max: 2 }),
            ),
            (3, 300, Decision::LeaveStopped(StopReason::RestartLimit)),
        ] {
            let seen = supervisor.observe(0, &rule, status(PartitionState::Faulted, faults), now);
            assert_eq!(seen.decision, expected, "fault {faults}");
            if matches!(expected, Decision::Restart(_)) {
                supervisor.started(0);
                supervisor.observe(0, &rule, status(PartitionState::Running, faults), now);
            }
        }
        // Once the window has slid past the restarts, a new fault restarts
        // again (after an operator started it, say).
        supervisor.started(0);
        let later = supervisor.observe(0, &rule, status(PartitionState::Faulted, 4), 1250);
        assert_eq!(
            later.decision,
            Decision::Restart(RestartReason::OnCrash { restart: 1, max: 2 })
        );
    }

    #[test]
    fn always_restarts_after_a_fault_and_a_power_off() {
        let mut supervisor = Supervisor::new();
        supervisor.started(0);
        let rule = RestartRule::ALWAYS;
        let fault = supervisor.observe(0, &rule, status(PartitionState::Faulted, 1), 0);
        assert_eq!(
            fault.decision,
            Decision::Restart(RestartReason::FaultedPolicyAlways)
        );
        supervisor.started(0);
        let off = supervisor.observe(0, &rule, status(PartitionState::Stopped, 1), 5);
        assert_eq!(
            off.decision,
            Decision::Restart(RestartReason::PoweredOffPolicyAlways)
        );
    }

    #[test]
    fn a_power_off_is_left_alone_except_under_always() {
        for rule in [RestartRule::NEVER, ON_CRASH_2_IN_1S] {
            let mut supervisor = Supervisor::new();
            supervisor.started(3);
            let off = supervisor.observe(3, &rule, status(PartitionState::Stopped, 0), 0);
            assert_eq!(
                off.decision,
                Decision::LeaveStopped(StopReason::PoweredOff(rule.policy))
            );
            // Decided once.
            let again = supervisor.observe(3, &rule, status(PartitionState::Stopped, 0), 1);
            assert_eq!(again.decision, Decision::Nothing);
            assert!(!again.changed);
        }
    }

    #[test]
    fn a_partition_never_started_is_not_a_power_off() {
        let mut supervisor = Supervisor::new();
        let seen = supervisor.observe(
            0,
            &RestartRule::ALWAYS,
            status(PartitionState::Stopped, 0),
            0,
        );
        assert_eq!(seen.decision, Decision::Nothing);
        assert!(seen.changed);
    }

    #[test]
    fn stopping_is_a_passage() {
        let mut supervisor = Supervisor::new();
        supervisor.started(0);
        let seen = supervisor.observe(
            0,
            &RestartRule::ALWAYS,
            status(PartitionState::Stopping, 0),
            0,
        );
        assert_eq!(seen.decision, Decision::Nothing);
        let running = supervisor.observe(
            0,
            &RestartRule::ALWAYS,
            status(PartitionState::Running, 0),
            1,
        );
        assert_eq!(running.decision, Decision::Nothing);
        assert!(running.changed);
    }

    #[test]
    fn a_fault_found_at_startup_is_decided() {
        // The vmm restarted and finds a partition that faulted meanwhile:
        // its fault count is new to this vmm.
        let mut supervisor = Supervisor::new();
        let seen = supervisor.observe(
            0,
            &RestartRule::NEVER,
            status(PartitionState::Faulted, 2),
            0,
        );
        assert_eq!(
            seen.decision,
            Decision::LeaveStopped(StopReason::FaultedPolicyNever)
        );
    }

    #[test]
    fn a_fault_whose_count_did_not_move_is_still_decided_after_a_start() {
        // A core that counts faults differently (or a restart in between)
        // must not hide a fault of a partition the vmm started.
        let mut supervisor = Supervisor::new();
        supervisor.started(0);
        let seen = supervisor.observe(
            0,
            &RestartRule::ALWAYS,
            status(PartitionState::Faulted, 0),
            0,
        );
        assert_eq!(
            seen.decision,
            Decision::Restart(RestartReason::FaultedPolicyAlways)
        );
    }

    #[test]
    fn unreadable_status_is_a_change_once() {
        let mut supervisor = Supervisor::new();
        let first = supervisor.observe(0, &RestartRule::NEVER, Err(Error::BadCapability), 0);
        assert_eq!(
            first,
            Observation {
                changed: true,
                decision: Decision::Nothing
            }
        );
        let again = supervisor.observe(0, &RestartRule::NEVER, Err(Error::BadCapability), 1);
        assert!(!again.changed);
        let other = supervisor.observe(0, &RestartRule::NEVER, Err(Error::MissingRight), 2);
        assert!(other.changed);
    }

    #[test]
    fn what_was_shown_is_not_a_change() {
        let mut supervisor = Supervisor::new();
        supervisor.started(0);
        supervisor.remember(0, status(PartitionState::Running, 0));
        let seen = supervisor.observe(
            0,
            &RestartRule::NEVER,
            status(PartitionState::Running, 0),
            0,
        );
        assert!(!seen.changed);
        // Remembering does not hide a fault from the decision.
        supervisor.remember(0, status(PartitionState::Faulted, 1));
        let fault = supervisor.observe(
            0,
            &RestartRule::NEVER,
            status(PartitionState::Faulted, 1),
            1,
        );
        assert!(!fault.changed);
        assert_eq!(
            fault.decision,
            Decision::LeaveStopped(StopReason::FaultedPolicyNever)
        );
    }

    #[test]
    fn an_index_beyond_the_table_is_ignored() {
        let mut supervisor = Supervisor::new();
        supervisor.started(MAX_PARTITIONS);
        supervisor.remember(MAX_PARTITIONS, status(PartitionState::Running, 0));
        let seen = supervisor.observe(
            MAX_PARTITIONS,
            &RestartRule::ALWAYS,
            status(PartitionState::Faulted, 1),
            0,
        );
        assert_eq!(
            seen,
            Observation {
                changed: false,
                decision: Decision::Nothing
            }
        );
    }

    #[test]
    fn partitions_are_watched_separately() {
        let mut supervisor = Supervisor::new();
        supervisor.started(0);
        supervisor.started(1);
        let rule = RestartRule {
            policy: RestartPolicy::OnCrash,
            max_restarts: 1,
            window_ms: 1000,
        };
        let a = supervisor.observe(0, &rule, status(PartitionState::Faulted, 1), 0);
        let b = supervisor.observe(1, &rule, status(PartitionState::Faulted, 1), 0);
        assert_eq!(a.decision, b.decision);
        assert!(matches!(a.decision, Decision::Restart(_)));
    }
}
