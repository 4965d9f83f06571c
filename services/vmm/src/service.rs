//! The vmm at work, over any [`Hypervisor`] (the core on the target, a fake
//! in host tests): starting the partitions, waking, looking at every
//! partition and applying the decisions, printing status tables, and
//! answering control requests. The program supplies the clock and the
//! console.

use crate::control::{self, ControlRequest};
use crate::events::Event;
use crate::schedule::{Periodic, WakePlan, WATCH_INTERVAL_MS};
use crate::settings::{CapSlot, Settings};
use crate::supervision::{startup_action, Decision, StartupAction, Supervisor};
use crate::table::{StatusRow, StatusTable};
use abi::Error;
use bulkhead_runtime::ipc::{Endpoint, Hypervisor, Message, Notification, PartitionCap};

/// Time, for the wake schedule and the restart windows.
pub trait Clock {
    /// Milliseconds of a monotonic clock.
    fn now_ms(&self) -> u64;
    /// Sleeps at least `ms` milliseconds.
    fn sleep_ms(&self, ms: u64);
}

/// Where the vmm's lines go.
pub trait Report {
    /// One event line.
    fn event(&mut self, event: Event<'_>);
    /// A whole status table, kept together.
    fn table(&mut self, table: &StatusTable<'_>);
}

/// Why [`Vmm::wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The fault notification was signalled with these bits.
    Signalled(u64),
    /// The polling period passed.
    Timer,
    /// `WAIT` on the fault notification failed.
    WaitFailed(Error),
}

/// The partition capability in `slot`.
fn partition_cap(slot: CapSlot) -> PartitionCap {
    PartitionCap(slot.0)
}

/// Reads every supervised partition's status into a table.
pub fn status_table<'a>(hv: &impl Hypervisor, settings: &Settings<'a>) -> StatusTable<'a> {
    let mut table = StatusTable::new();
    for partition in settings.partitions() {
        let row = StatusRow {
            name: partition.name,
            status: partition_cap(partition.slot).status_on(hv),
        };
        // The settings hold at most as many partitions as a table.
        if table.push(row).is_err() {
            break;
        }
    }
    table
}

/// Answers one control request (see [`crate::control`]); returns the reply.
pub fn answer_control(
    hv: &impl Hypervisor,
    settings: &Settings<'_>,
    message: Message,
    report: &mut impl Report,
) -> Message {
    let outcome = ControlRequest::decode(message).map(|request| match request {
        ControlRequest::PrintStatus => report.table(&status_table(hv, settings)),
    });
    control::reply(outcome)
}

/// Serves the control endpoint `endpoint` until it cannot: receives a
/// request, answers it and receives the next with `REPLY_RECV`. A failed
/// `REPLY_RECV` (say, the caller is gone) falls back to a plain `RECV`;
/// returns the error of a `RECV` that fails, after which serving is hopeless.
pub fn serve_control(
    hv: &impl Hypervisor,
    settings: &Settings<'_>,
    endpoint: Endpoint,
    report: &mut impl Report,
) -> Error {
    let mut received = endpoint.recv_on(hv);
    loop {
        received = match received {
            Ok((_badge, message)) => {
                let reply = answer_control(hv, settings, message, report);
                match endpoint.reply_recv_on(hv, reply) {
                    Ok(next) => Ok(next),
                    Err(_) => endpoint.recv_on(hv),
                }
            }
            Err(error) => return error,
        };
    }
}

/// The supervisor loop's state: vCPU 0 runs [`Vmm::start`], then
/// [`Vmm::wait`] and [`Vmm::look`] forever.
pub struct Vmm<'s, 'a, H> {
    hv: &'s H,
    settings: &'s Settings<'a>,
    supervisor: &'s mut Supervisor,
    plan: WakePlan,
    periodic_table: Option<Periodic>,
}

impl<'s, 'a, H: Hypervisor> Vmm<'s, 'a, H> {
    /// A vmm that has not started anything yet; `supervisor` is its memory
    /// (large, so the program keeps it in a static).
    pub fn new(
        hv: &'s H,
        settings: &'s Settings<'a>,
        supervisor: &'s mut Supervisor,
        now_ms: u64,
    ) -> Self {
        Self {
            hv,
            settings,
            supervisor,
            plan: WakePlan::for_settings(settings),
            periodic_table: Periodic::new(settings.status_ms, now_ms),
        }
    }

    /// How it waits now.
    pub fn plan(&self) -> WakePlan {
        self.plan
    }

    /// Checks the fault notification, starts every partition in order,
    /// applies the policy to any found faulted, and prints the first table.
    pub fn start(&mut self, now_ms: u64, report: &mut impl Report) {
        // POLL proves the capability and drops signals from before this vmm
        // started: the first look below sees every partition anyway.
        match self.settings.faults {
            Some(slot) => {
                if let Err(error) = Notification(slot.0).poll_on(self.hv) {
                    self.poll_instead(error, report);
                }
            }
            None => report.event(Event::NoFaultNotification {
                poll_ms: self.poll_ms(),
            }),
        }
        for (index, partition) in self.settings.partitions().iter().enumerate() {
            let cap = partition_cap(partition.slot);
            match startup_action(cap.status_on(self.hv)) {
                StartupAction::Start => match cap.start_on(self.hv) {
                    Ok(()) => {
                        self.supervisor.started(index);
                        report.event(Event::Started(partition.name));
                    }
                    Err(error) => report.event(Event::StartFailed(partition.name, error)),
                },
                StartupAction::AlreadyRunning => {
                    self.supervisor.started(index);
                    report.event(Event::AlreadyRunning(partition.name));
                }
                StartupAction::AwaitPolicy => {}
            }
        }
        self.sweep(now_ms, report);
        self.print_table(report);
    }

    /// Waits for the next look: blocked in `WAIT` on the fault notification,
    /// or sleeping one polling period.
    pub fn wait(&mut self, clock: &impl Clock) -> Wake {
        match self.plan {
            WakePlan::WaitForFaults { slot } => match Notification(slot.0).wait_on(self.hv) {
                Ok(bits) => Wake::Signalled(bits),
                Err(error) => Wake::WaitFailed(error),
            },
            WakePlan::Poll { interval_ms } => {
                clock.sleep_ms(interval_ms);
                Wake::Timer
            }
        }
    }

    /// Looks at every partition after `wake`, at `now_ms`: reports and
    /// applies each decision, and prints the table if anything changed or
    /// the periodic table is due. A failed `WAIT` turns the vmm to polling.
    pub fn look(&mut self, wake: Wake, now_ms: u64, report: &mut impl Report) {
        if let Wake::WaitFailed(error) = wake {
            self.poll_instead(error, report);
        }
        let changed = self.sweep(now_ms, report);
        let due = self
            .periodic_table
            .as_mut()
            .is_some_and(|periodic| periodic.due(now_ms));
        if changed || due {
            self.print_table(report);
        }
    }

    /// The polling period, were the vmm to poll.
    fn poll_ms(&self) -> u64 {
        match self.plan {
            WakePlan::Poll { interval_ms } => interval_ms,
            WakePlan::WaitForFaults { .. } => WATCH_INTERVAL_MS,
        }
    }

    /// The fault notification is unusable: look on a timer instead, so
    /// faults are still handled (and the vmm does not spin on a failing
    /// `WAIT`).
    fn poll_instead(&mut self, error: Error, report: &mut impl Report) {
        let poll_ms = self.poll_ms();
        self.plan = WakePlan::Poll {
            interval_ms: poll_ms,
        };
        report.event(Event::FaultsUnusable { error, poll_ms });
    }

    /// One look at every partition; returns whether anything changed.
    fn sweep(&mut self, now_ms: u64, report: &mut impl Report) -> bool {
        let mut changed = false;
        for (index, partition) in self.settings.partitions().iter().enumerate() {
            let cap = partition_cap(partition.slot);
            let status = cap.status_on(self.hv);
            let observation = self
                .supervisor
                .observe(index, &partition.rule, status, now_ms);
            if let (true, Err(error)) = (observation.changed, status) {
                report.event(Event::StatusUnreadable(partition.name, error));
            }
            changed |= observation.changed;
            if observation.decision == Decision::Nothing {
                continue;
            }
            changed = true;
            report.event(Event::Decided(partition.name, observation.decision));
            if let Decision::Restart(_) = observation.decision {
                match cap.restart_on(self.hv) {
                    Ok(()) => self.supervisor.started(index),
                    Err(error) => report.event(Event::RestartFailed(partition.name, error)),
                }
            }
        }
        changed
    }

    fn print_table(&mut self, report: &mut impl Report) {
        let table = status_table(self.hv, self.settings);
        for (index, row) in table.rows().iter().enumerate() {
            self.supervisor.remember(index, row.status);
        }
        report.table(&table);
    }
}

#[cfg(test)]
mod tests;
