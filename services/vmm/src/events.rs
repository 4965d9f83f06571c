//! What the vmm says on the console about the partitions it supervises: one
//! line per event, each starting with `vmm: ` and naming the partition in
//! quotes, so people and test scripts can find them.

use crate::restart::policy_name;
use crate::settings::SettingsError;
use crate::supervision::{Decision, RestartReason, StopReason};
use abi::Error;
use core::fmt;

/// Something that happened to a partition, as one console line (without its
/// newline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// START succeeded.
    Started(&'a str),
    /// The vmm found it running when it started (the vmm was restarted).
    AlreadyRunning(&'a str),
    /// START failed.
    StartFailed(&'a str, Error),
    /// The vmm decided about it (a [`Decision::Nothing`] says nothing).
    Decided(&'a str, Decision),
    /// RESTART failed.
    RestartFailed(&'a str, Error),
    /// PARTITION_STATUS failed.
    StatusUnreadable(&'a str, Error),
    /// The boot arguments are unusable; the vmm stops.
    BadSettings(SettingsError<'a>),
    /// The fault notification cannot be waited on; the vmm looks every
    /// `poll_ms` milliseconds instead.
    FaultsUnusable {
        /// What `WAIT`/`POLL` answered.
        error: Error,
        /// The new period.
        poll_ms: u64,
    },
    /// No `faults=` slot: the vmm looks every `poll_ms` milliseconds.
    NoFaultNotification {
        /// The polling period.
        poll_ms: u64,
    },
    /// `control=` is given but the vmm has no vCPU to serve it with.
    ControlWithoutVcpu,
    /// A vCPU meant to serve the control endpoint did not start.
    ControlVcpuNotStarted {
        /// The vCPU.
        vcpu: usize,
        /// What `CPU_ON` answered.
        error: Error,
    },
    /// Serving the control endpoint failed; this vCPU stops serving.
    ControlFailed {
        /// The serving vCPU.
        vcpu: usize,
        /// What `RECV`/`REPLY_RECV` answered.
        error: Error,
    },
}

impl Event<'_> {
    /// Whether the event has a line to print.
    pub fn is_silent(&self) -> bool {
        matches!(self, Self::Decided(_, Decision::Nothing))
    }
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Started(name) => write!(f, "vmm: started \"{name}\""),
            Self::AlreadyRunning(name) => write!(f, "vmm: \"{name}\" already running"),
            Self::StartFailed(name, error) => {
                write!(f, "vmm: cannot start \"{name}\": {error:?}")
            }
            Self::RestartFailed(name, error) => {
                write!(f, "vmm: cannot restart \"{name}\": {error:?}")
            }
            Self::StatusUnreadable(name, error) => {
                write!(f, "vmm: cannot read the status of \"{name}\": {error:?}")
            }
            Self::BadSettings(error) => write!(f, "vmm: cannot run: {error}"),
            Self::FaultsUnusable { error, poll_ms } => write!(
                f,
                "vmm: cannot wait on the fault notification: {error:?}; looking every {poll_ms} ms instead"
            ),
            Self::NoFaultNotification { poll_ms } => write!(
                f,
                "vmm: no fault notification; looking every {poll_ms} ms"
            ),
            Self::ControlWithoutVcpu => write!(
                f,
                "vmm: control endpoint not served: the vmm has no vCPU besides vCPU 0"
            ),
            Self::ControlVcpuNotStarted { vcpu, error } => write!(
                f,
                "vmm: cannot start vCPU {vcpu} to serve the control endpoint: {error:?}"
            ),
            Self::ControlFailed { vcpu, error } => write!(
                f,
                "vmm: control endpoint: {error:?}; vCPU {vcpu} stops serving it"
            ),
            Self::Decided(name, decision) => match decision {
                Decision::Nothing => Ok(()),
                Decision::Restart(RestartReason::OnCrash { restart, max }) => {
                    write!(
                        f,
                        "vmm: restarting \"{name}\" (restart {restart} of {max} in window)"
                    )
                }
                Decision::Restart(RestartReason::FaultedPolicyAlways) => {
                    write!(f, "vmm: restarting \"{name}\" (faulted; policy always)")
                }
                Decision::Restart(RestartReason::PoweredOffPolicyAlways) => {
                    write!(f, "vmm: restarting \"{name}\" (powered off; policy always)")
                }
                Decision::LeaveStopped(StopReason::FaultedPolicyNever) => {
                    write!(f, "vmm: \"{name}\" faulted; policy never: left stopped")
                }
                Decision::LeaveStopped(StopReason::RestartLimit) => write!(
                    f,
                    "vmm: \"{name}\" exceeded max restarts in window; left stopped"
                ),
                Decision::LeaveStopped(StopReason::PoweredOff(policy)) => write!(
                    f,
                    "vmm: \"{name}\" powered off; policy {}: left stopped",
                    policy_name(policy)
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restart::RestartPolicy;
    use std::format;

    #[test]
    fn every_event_reads_as_documented() {
        let cases = [
            (Event::Started("linux"), "vmm: started \"linux\""),
            (
                Event::AlreadyRunning("linux"),
                "vmm: \"linux\" already running",
            ),
            (
                Event::StartFailed("linux", Error::MissingRight),
                "vmm: cannot start \"linux\": MissingRight",
            ),
            (
                Event::RestartFailed("linux", Error::WrongState),
                "vmm: cannot restart \"linux\": WrongState",
            ),
            (
                Event::StatusUnreadable("linux", Error::BadCapability),
                "vmm: cannot read the status of \"linux\": BadCapability",
            ),
            (
                Event::Decided(
                    "linux",
                    Decision::Restart(RestartReason::OnCrash { restart: 2, max: 3 }),
                ),
                "vmm: restarting \"linux\" (restart 2 of 3 in window)",
            ),
            (
                Event::Decided("linux", Decision::Restart(RestartReason::FaultedPolicyAlways)),
                "vmm: restarting \"linux\" (faulted; policy always)",
            ),
            (
                Event::Decided(
                    "linux",
                    Decision::Restart(RestartReason::PoweredOffPolicyAlways),
                ),
                "vmm: restarting \"linux\" (powered off; policy always)",
            ),
            (
                Event::Decided("linux", Decision::LeaveStopped(StopReason::FaultedPolicyNever)),
                "vmm: \"linux\" faulted; policy never: left stopped",
            ),
            (
                Event::Decided("linux", Decision::LeaveStopped(StopReason::RestartLimit)),
                "vmm: \"linux\" exceeded max restarts in window; left stopped",
            ),
            (
                Event::Decided(
                    "linux",
                    Decision::LeaveStopped(StopReason::PoweredOff(RestartPolicy::OnCrash)),
                ),
                "vmm: \"linux\" powered off; policy on-crash: left stopped",
            ),
            (
                Event::BadSettings(SettingsError::TooManyPartitions),
                "vmm: cannot run: more than 16 partitions are listed",
            ),
            (
                Event::FaultsUnusable {
                    error: Error::BadCapability,
                    poll_ms: 20,
                },
                "vmm: cannot wait on the fault notification: BadCapability; looking every 20 ms instead",
            ),
            (
                Event::NoFaultNotification { poll_ms: 20 },
                "vmm: no fault notification; looking every 20 ms",
            ),
            (
                Event::ControlWithoutVcpu,
                "vmm: control endpoint not served: the vmm has no vCPU besides vCPU 0",
            ),
            (
                Event::ControlVcpuNotStarted {
                    vcpu: 1,
                    error: Error::InvalidParameter,
                },
                "vmm: cannot start vCPU 1 to serve the control endpoint: InvalidParameter",
            ),
            (
                Event::ControlFailed {
                    vcpu: 2,
                    error: Error::MissingRight,
                },
                "vmm: control endpoint: MissingRight; vCPU 2 stops serving it",
            ),
        ];
        for (event, text) in cases {
            assert!(!event.is_silent());
            assert_eq!(format!("{event}"), text);
        }
    }

    #[test]
    fn nothing_decided_is_silent() {
        let event = Event::Decided("linux", Decision::Nothing);
        assert!(event.is_silent());
        assert_eq!(format!("{event}"), "");
    }
}
