//! Host tests of the vmm's work against a fake core that keeps partition
//! states, a fault notification and a control endpoint's inbox the way the
//! EL2 core does (kernel/src/lifecycle.rs, kernel/src/ipc.rs).

use super::*;
use abi::ipc::{self as ids, control as ops, PartitionState, PartitionStatus};
use bulkhead_runtime::bootargs::BootArgs;
use bulkhead_runtime::ipc::Registers;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::format;
use std::string::String;
use std::vec::Vec;

const FAULTS_SLOT: u16 = 1;
const CONTROL_SLOT: u16 = 9;

#[derive(Clone, Debug)]
struct FakePartition {
    slot: u16,
    state: PartitionState,
    restarts: u32,
    faults: u32,
    /// Makes PARTITION_CONTROL fail.
    control_error: Option<Error>,
    /// Makes PARTITION_STATUS fail.
    status_error: Option<Error>,
}

/// The parts of the core the vmm uses.
struct FakeCore {
    partitions: RefCell<Vec<FakePartition>>,
    fault_bits: Cell<u64>,
    /// Makes WAIT and POLL fail.
    notification_error: Cell<Option<Error>>,
    /// Control requests still to arrive; `Err` ends a RECV with that error.
    inbox: RefCell<VecDeque<Result<Message, Error>>>,
    /// Replies sent with REPLY_RECV.
    replies: RefCell<Vec<Message>>,
    /// Makes the next REPLY_RECV fail before receiving.
    reply_error: Cell<Option<Error>>,
    /// Every PARTITION_CONTROL: (slot, operation).
    controls: RefCell<Vec<(u16, u64)>>,
}

fn ok(words: [u64; 6]) -> Registers {
    let [a, b, c, d, e, f] = words;
    [0, a, b, c, d, e, f]
}

fn err(error: Error) -> Registers {
    [error.code() as u64, 0, 0, 0, 0, 0, 0]
}

impl FakeCore {
    /// Partitions in slots 2, 3, …, all stopped.
    fn with_partitions(count: u16) -> Self {
        Self {
            partitions: RefCell::new(
                (0..count)
                    .map(|n| FakePartition {
                        slot: n + 2,
                        state: PartitionState::Stopped,
                        restarts: 0,
                        faults: 0,
                        control_error: None,
                        status_error: None,
                    })
                    .collect(),
            ),
            fault_bits: Cell::new(0),
            notification_error: Cell::new(None),
            inbox: RefCell::new(VecDeque::new()),
            replies: RefCell::new(Vec::new()),
            reply_error: Cell::new(None),
            controls: RefCell::new(Vec::new()),
        }
    }

    fn edit(&self, slot: u16, change: impl FnOnce(&mut FakePartition)) {
        let mut partitions = self.partitions.borrow_mut();
        let partition = partitions.iter_mut().find(|p| p.slot == slot).unwrap();
        change(partition);
    }

    fn state(&self, slot: u16) -> PartitionState {
        self.partitions
            .borrow()
            .iter()
            .find(|p| p.slot == slot)
            .unwrap()
            .state
    }

    /// What the core does when a partition faults under a supervisor.
    fn fault(&self, slot: u16) {
        self.edit(slot, |p| {
            p.state = PartitionState::Faulted;
            p.faults += 1;
        });
        self.fault_bits.set(self.fault_bits.get() | 1);
    }

    /// A partition's PSCI SYSTEM_OFF under a supervisor: no signal.
    fn power_off(&self, slot: u16) {
        self.edit(slot, |p| p.state = PartitionState::Stopped);
    }

    fn partition_status(&self, slot: u64) -> Registers {
        let partitions = self.partitions.borrow();
        let Some(p) = partitions.iter().find(|p| u64::from(p.slot) == slot) else {
            return err(Error::BadCapability);
        };
        if let Some(error) = p.status_error {
            return err(error);
        }
        let status = PartitionStatus {
            state: p.state,
            restarts: p.restarts,
            faults: p.faults,
            traps: 100,
            injected_irqs: 10,
            ipc_calls: 1,
        };
        let [a, b, c, d, e] = status.to_words();
        ok([a, b, c, d, e, 0])
    }

    /// As `lifecycle::control`.
    fn partition_control(&self, slot: u64, operation: u64) -> Registers {
        self.controls.borrow_mut().push((slot as u16, operation));
        let mut partitions = self.partitions.borrow_mut();
        let Some(p) = partitions.iter_mut().find(|p| u64::from(p.slot) == slot) else {
            return err(Error::BadCapability);
        };
        if let Some(error) = p.control_error {
            return err(error);
        }
        use PartitionState::*;
        match (operation, p.state) {
            (ops::START, Stopped | Faulted) => p.state = Running,
            (ops::RESTART, Stopped | Faulted | Running) => {
                p.restarts += 1;
                p.state = Running;
            }
            (ops::STOP, Running) => p.state = Stopped,
            _ => return err(Error::WrongState),
        }
        ok([0; 6])
    }

    fn notification(&self, slot: u64, blocking: bool) -> Registers {
        if slot != u64::from(FAULTS_SLOT) {
            return err(Error::BadCapability);
        }
        if let Some(error) = self.notification_error.get() {
            return err(error);
        }
        let bits = self.fault_bits.replace(0);
        assert!(
            !blocking || bits != 0,
            "WAIT with no bits set would block forever"
        );
        ok([bits, 0, 0, 0, 0, 0])
    }

    fn receive(&self, slot: u64, reply: Option<Message>) -> Registers {
        if slot != u64::from(CONTROL_SLOT) {
            return err(Error::BadCapability);
        }
        if let Some(reply) = reply {
            if let Some(error) = self.reply_error.take() {
                return err(error);
            }
            self.replies.borrow_mut().push(reply);
        }
        match self.inbox.borrow_mut().pop_front() {
            Some(Ok([a, b, c, d, e])) => [0, 0x77, a, b, c, d, e],
            Some(Err(error)) => err(error),
            None => panic!("RECV with an empty inbox would block forever"),
        }
    }
}

impl Hypervisor for FakeCore {
    fn hypercall(&self, function: u32, args: [u64; 6]) -> Registers {
        let [slot, a, b, c, d, e] = args;
        match function {
            ids::PARTITION_STATUS => self.partition_status(slot),
            ids::PARTITION_CONTROL => self.partition_control(slot, a),
            ids::WAIT => self.notification(slot, true),
            ids::POLL => self.notification(slot, false),
            ids::RECV => self.receive(slot, None),
            ids::REPLY_RECV => self.receive(slot, Some([a, b, c, d, e])),
            _ => err(Error::NotSupported),
        }
    }
}

/// What the vmm printed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Printed {
    Event(String),
    /// A table: each partition's name and state column.
    Table(Vec<(String, String)>),
}

#[derive(Default)]
struct Recorder {
    printed: Vec<Printed>,
}

impl Report for Recorder {
    fn event(&mut self, event: Event<'_>) {
        assert!(!event.is_silent(), "a silent event was reported");
        self.printed.push(Printed::Event(format!("{event}")));
    }

    fn table(&mut self, table: &StatusTable<'_>) {
        // The table's own formatting is tested in `table`; check it is whole.
        let text = format!("{table}");
        assert!(text.starts_with("vmm: status\n"));
        assert_eq!(text.lines().count(), table.rows().len() + 2);
        self.printed.push(Printed::Table(
            table
                .rows()
                .iter()
                .map(|row| {
                    let state = match row.status {
                        Ok(status) => status.state.name(),
                        Err(_) => "unreadable",
                    };
                    (String::from(row.name), String::from(state))
                })
                .collect(),
        ));
    }
}

impl Recorder {
    fn take(&mut self) -> Vec<Printed> {
        core::mem::take(&mut self.printed)
    }
}

fn event(text: &str) -> Printed {
    Printed::Event(String::from(text))
}

fn table(rows: &[(&str, PartitionState)]) -> Printed {
    Printed::Table(
        rows.iter()
            .map(|(name, state)| (String::from(*name), String::from(state.name())))
            .collect(),
    )
}

struct FakeClock {
    now_ms: Cell<u64>,
    slept_ms: Cell<u64>,
}

impl FakeClock {
    fn new() -> Self {
        Self {
            now_ms: Cell::new(0),
            slept_ms: Cell::new(0),
        }
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }

    fn sleep_ms(&self, ms: u64) {
        self.now_ms.set(self.now_ms.get() + ms);
        self.slept_ms.set(self.slept_ms.get() + ms);
    }
}

/// One turn of the program's loop: wait, then look at the clock's time.
fn step(vmm: &mut Vmm<'_, '_, FakeCore>, clock: &FakeClock, out: &mut Recorder) -> Wake {
    let wake = vmm.wait(clock);
    vmm.look(wake, clock.now_ms(), out);
    wake
}

fn settings(text: &str) -> Settings<'_> {
    Settings::from_bootargs(&BootArgs::new(text)).unwrap()
}

use PartitionState::{Faulted, Running, Stopped};

#[test]
fn starts_in_order_then_prints_the_table() {
    let core = FakeCore::with_partitions(3);
    let settings =
        settings("partitions=2:console:always,3:linux:on-crash:2:1000,4:probe:never faults=1");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    vmm.start(0, &mut out);
    assert_eq!(
        out.take(),
        [
            event("vmm: started \"console\""),
            event("vmm: started \"linux\""),
            event("vmm: started \"probe\""),
            table(&[("console", Running), ("linux", Running), ("probe", Running)]),
        ]
    );
    assert_eq!(
        *core.controls.borrow(),
        [(2, ops::START), (3, ops::START), (4, ops::START)]
    );
}

#[test]
fn on_crash_restarts_up_to_the_maximum_in_the_window() {
    let core = FakeCore::with_partitions(2);
    let settings = settings("partitions=2:linux:on-crash:2:1000,3:steady:never faults=1");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let clock = FakeClock::new();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    assert_eq!(
        vmm.plan(),
        WakePlan::WaitForFaults {
            slot: CapSlot(FAULTS_SLOT)
        }
    );
    vmm.start(0, &mut out);
    out.take();

    for (k, now) in [(1, 100), (2, 200)] {
        core.fault(2);
        let wake = vmm.wait(&clock);
        assert_eq!(wake, Wake::Signalled(1));
        vmm.look(wake, now, &mut out);
        assert_eq!(
            out.take(),
            [
                event(&format!(
                    "vmm: restarting \"linux\" (restart {k} of 2 in window)"
                )),
                table(&[("linux", Running), ("steady", Running)]),
            ]
        );
    }
    core.fault(2);
    let wake = vmm.wait(&clock);
    vmm.look(wake, 300, &mut out);
    assert_eq!(
        out.take(),
        [
            event("vmm: \"linux\" exceeded max restarts in window; left stopped"),
            table(&[("linux", Faulted), ("steady", Running)]),
        ]
    );
    assert_eq!(core.state(2), Faulted);
    assert_eq!(
        core.controls
            .borrow()
            .iter()
            .filter(|(_, op)| *op == ops::RESTART)
            .count(),
        2
    );
    // The neighbour was never touched after its start.
    assert_eq!(core.state(3), Running);
}

#[test]
fn never_leaves_a_faulted_partition_stopped() {
    let core = FakeCore::with_partitions(1);
    let settings = settings("partitions=2:probe:never faults=1");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let clock = FakeClock::new();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    vmm.start(0, &mut out);
    out.take();
    core.fault(2);
    let wake = vmm.wait(&clock);
    vmm.look(wake, 10, &mut out);
    assert_eq!(
        out.take(),
        [
            event("vmm: \"probe\" faulted; policy never: left stopped"),
            table(&[("probe", Faulted)]),
        ]
    );
    assert_eq!(*core.controls.borrow(), [(2, ops::START)]);
}

#[test]
fn always_restarts_after_a_fault_and_after_a_power_off_it_polls_for() {
    let core = FakeCore::with_partitions(1);
    let settings = settings("partitions=2:console:always faults=1");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let clock = FakeClock::new();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    assert_eq!(
        vmm.plan(),
        WakePlan::Poll {
            interval_ms: WATCH_INTERVAL_MS
        }
    );
    vmm.start(0, &mut out);
    out.take();

    // Nothing happened: a look prints nothing.
    let wake = vmm.wait(&clock);
    assert_eq!(wake, Wake::Timer);
    assert_eq!(clock.slept_ms.get(), WATCH_INTERVAL_MS);
    vmm.look(wake, clock.now_ms(), &mut out);
    assert_eq!(out.take(), []);

    core.fault(2);
    let wake = vmm.wait(&clock);
    vmm.look(wake, clock.now_ms(), &mut out);
    assert_eq!(
        out.take(),
        [
            event("vmm: restarting \"console\" (faulted; policy always)"),
            table(&[("console", Running)]),
        ]
    );

    core.power_off(2);
    let wake = vmm.wait(&clock);
    vmm.look(wake, clock.now_ms(), &mut out);
    assert_eq!(
        out.take(),
        [
            event("vmm: restarting \"console\" (powered off; policy always)"),
            table(&[("console", Running)]),
        ]
    );
    assert_eq!(core.state(2), Running);
}

#[test]
fn a_power_off_is_left_alone_under_on_crash() {
    let core = FakeCore::with_partitions(1);
    let settings = settings("partitions=2:job:on-crash:1:100 faults=1 status_ms=1000");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let clock = FakeClock::new();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    vmm.start(0, &mut out);
    out.take();
    core.power_off(2);
    let wake = vmm.wait(&clock);
    vmm.look(wake, clock.now_ms(), &mut out);
    assert_eq!(
        out.take(),
        [
            event("vmm: \"job\" powered off; policy on-crash: left stopped"),
            table(&[("job", Stopped)]),
        ]
    );
    assert_eq!(*core.controls.borrow(), [(2, ops::START)]);
}

#[test]
fn the_periodic_table_comes_on_time() {
    let core = FakeCore::with_partitions(1);
    let settings = settings("partitions=2:a:never faults=1 status_ms=50");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let clock = FakeClock::new();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    assert_eq!(
        vmm.plan(),
        WakePlan::Poll {
            interval_ms: WATCH_INTERVAL_MS
        }
    );
    vmm.start(0, &mut out);
    out.take();
    let mut tables_at = Vec::new();
    for _ in 0..10 {
        let wake = vmm.wait(&clock);
        vmm.look(wake, clock.now_ms(), &mut out);
        if !out.take().is_empty() {
            tables_at.push(clock.now_ms());
        }
    }
    // Looks at 20, 40, …, 200 ms; the table is due at 50, 100, 150, 200.
    assert_eq!(tables_at, [60, 100, 160, 200]);
}

#[test]
fn a_restarted_vmm_adopts_running_partitions_and_decides_faulted_ones() {
    let core = FakeCore::with_partitions(3);
    core.edit(2, |p| p.state = Running);
    core.edit(3, |p| {
        p.state = Faulted;
        p.faults = 1;
    });
    let settings = settings("partitions=2:a:never,3:b:always,4:c:never faults=1");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    vmm.start(0, &mut out);
    assert_eq!(
        out.take(),
        [
            event("vmm: \"a\" already running"),
            event("vmm: started \"c\""),
            event("vmm: restarting \"b\" (faulted; policy always)"),
            table(&[("a", Running), ("b", Running), ("c", Running)]),
        ]
    );
    assert_eq!(
        *core.controls.borrow(),
        [(4, ops::START), (3, ops::RESTART)]
    );
}

#[test]
fn failures_are_reported() {
    let core = FakeCore::with_partitions(2);
    core.edit(2, |p| p.control_error = Some(Error::MissingRight));
    core.edit(3, |p| p.status_error = Some(Error::BadCapability));
    let settings = settings("partitions=2:a:always,3:b:never faults=1");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let clock = FakeClock::new();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    vmm.start(0, &mut out);
    assert_eq!(
        out.take(),
        [
            event("vmm: cannot start \"a\": MissingRight"),
            // Unreadable status: starting it is still tried.
            event("vmm: started \"b\""),
            event("vmm: cannot read the status of \"b\": BadCapability"),
            Printed::Table(std::vec![
                (String::from("a"), String::from("stopped")),
                (String::from("b"), String::from("unreadable")),
            ]),
        ]
    );

    // "a" was never started, so a stopped "a" is no power-off; make it run
    // and fault, and let its restart fail.
    core.edit(2, |p| p.state = Running);
    let wake = vmm.wait(&clock);
    vmm.look(wake, clock.now_ms(), &mut out);
    out.take();
    core.fault(2);
    step(&mut vmm, &clock, &mut out);
    // A vmm that did not start "a" still decides its new fault.
    assert_eq!(
        out.take()[..2],
        [
            event("vmm: restarting \"a\" (faulted; policy always)"),
            event("vmm: cannot restart \"a\": MissingRight"),
        ]
    );
    // The unreadable status is not reported again.
    step(&mut vmm, &clock, &mut out);
    assert_eq!(out.take(), []);
}

#[test]
fn an_unusable_fault_notification_turns_the_vmm_to_polling() {
    let core = FakeCore::with_partitions(1);
    let settings = settings("partitions=2:a:never faults=1");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let clock = FakeClock::new();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    vmm.start(0, &mut out);
    out.take();
    core.notification_error.set(Some(Error::MissingRight));
    let wake = vmm.wait(&clock);
    assert_eq!(wake, Wake::WaitFailed(Error::MissingRight));
    vmm.look(wake, 0, &mut out);
    assert_eq!(
        out.take(),
        [event(
            "vmm: cannot wait on the fault notification: MissingRight; looking every 20 ms instead"
        )]
    );
    assert_eq!(
        vmm.plan(),
        WakePlan::Poll {
            interval_ms: WATCH_INTERVAL_MS
        }
    );
    // Faults are still handled, without a signal.
    core.fault(2);
    let wake = vmm.wait(&clock);
    assert_eq!(wake, Wake::Timer);
    vmm.look(wake, clock.now_ms(), &mut out);
    assert_eq!(
        out.take(),
        [
            event("vmm: \"a\" faulted; policy never: left stopped"),
            table(&[("a", Faulted)]),
        ]
    );
}

#[test]
fn a_bad_fault_slot_is_found_at_start() {
    let core = FakeCore::with_partitions(1);
    let settings = settings("partitions=2:a:never faults=7 status_ms=5");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    vmm.start(0, &mut out);
    assert_eq!(
        out.take()[0],
        event(
            "vmm: cannot wait on the fault notification: BadCapability; looking every 5 ms instead"
        )
    );
    assert_eq!(vmm.plan(), WakePlan::Poll { interval_ms: 5 });
}

#[test]
fn without_a_fault_notification_the_vmm_polls() {
    let core = FakeCore::with_partitions(1);
    let settings = settings("partitions=2:a:never");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    let clock = FakeClock::new();
    let mut vmm = Vmm::new(&core, &settings, &mut supervisor, 0);
    vmm.start(0, &mut out);
    assert_eq!(
        out.take(),
        [
            event("vmm: no fault notification; looking every 20 ms"),
            event("vmm: started \"a\""),
            table(&[("a", Running)]),
        ]
    );
    core.fault(2);
    assert_eq!(step(&mut vmm, &clock, &mut out), Wake::Timer);
    assert_eq!(
        out.take(),
        [
            event("vmm: \"a\" faulted; policy never: left stopped"),
            table(&[("a", Faulted)]),
        ]
    );
}

#[test]
fn stale_signals_are_dropped_at_start() {
    let core = FakeCore::with_partitions(1);
    core.fault_bits.set(1);
    let settings = settings("partitions=2:a:never faults=1");
    let mut supervisor = Supervisor::new();
    let mut out = Recorder::default();
    Vmm::new(&core, &settings, &mut supervisor, 0).start(0, &mut out);
    assert_eq!(core.fault_bits.get(), 0);
}

#[test]
fn control_print_status_prints_and_replies_zero() {
    let core = FakeCore::with_partitions(2);
    core.edit(3, |p| p.state = Running);
    let settings = settings("partitions=2:a:never,3:b:never faults=1 control=9");
    let mut out = Recorder::default();
    let reply = answer_control(
        &core,
        &settings,
        [control::PRINT_STATUS, 0, 0, 0, 0],
        &mut out,
    );
    assert_eq!(reply, [0; 5]);
    assert_eq!(out.take(), [table(&[("a", Stopped), ("b", Running)])]);

    let reply = answer_control(&core, &settings, [42, 0, 0, 0, 0], &mut out);
    assert_eq!(reply[0] as i64, Error::NotSupported.code());
    assert_eq!(out.take(), []);
}

#[test]
fn serving_control_answers_each_request_until_receive_fails() {
    let core = FakeCore::with_partitions(1);
    let settings = settings("partitions=2:a:never faults=1 control=9");
    core.inbox.borrow_mut().extend([
        Ok([control::PRINT_STATUS, 0, 0, 0, 0]),
        Ok([5, 0, 0, 0, 0]),
        // The REPLY_RECV after the second request fails, and so does the
        // RECV it falls back to.
        Err(Error::WrongState),
        Err(Error::WrongState),
    ]);
    let mut out = Recorder::default();
    assert_eq!(
        serve_control(&core, &settings, Endpoint(CONTROL_SLOT), &mut out),
        Error::WrongState
    );
    assert_eq!(out.take(), [table(&[("a", Stopped)])]);
    let replies = core.replies.borrow();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0], [0; 5]);
    assert_eq!(replies[1][0] as i64, Error::NotSupported.code());

    // A bad endpoint ends serving at once.
    assert_eq!(
        serve_control(&core, &settings, Endpoint(8), &mut out),
        Error::BadCapability
    );
}

#[test]
fn a_lost_reply_falls_back_to_receive() {
    let core = FakeCore::with_partitions(1);
    let settings = settings("partitions=2:a:never faults=1 control=9");
    core.inbox.borrow_mut().extend([
        Ok([control::PRINT_STATUS, 0, 0, 0, 0]),
        Ok([control::PRINT_STATUS, 0, 0, 0, 0]),
        Err(Error::WrongState),
        Err(Error::WrongState),
    ]);
    core.reply_error.set(Some(Error::WrongState));
    let mut out = Recorder::default();
    assert_eq!(
        serve_control(&core, &settings, Endpoint(CONTROL_SLOT), &mut out),
        Error::WrongState
    );
    // Both requests were answered with a table; the first reply was lost,
    // the second request still came in through RECV.
    assert_eq!(out.take().len(), 2);
    assert_eq!(core.replies.borrow().len(), 1);
}
