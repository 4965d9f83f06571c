//! Capability IPC for partition programs: typed handles for the endpoint,
//! notification and partition capabilities the configuration grants (named by
//! their slot in the partition's capability table), and the calls of
//! [`abi::ipc`] on them.
//!
//! Each call has two forms: the plain one (`call`, `recv`, `signal`, …) makes
//! the hypercall with `HVC #0` and exists only on the target; the `*_on` form
//! takes any [`Hypervisor`], so the register packing and result decoding are
//! tested on the host against a fake, and so are programs built on them.
//!
//! Register use is the table in [`abi::ipc`]: x1 = slot, message words in
//! x2..x6; `CALL` returns its reply in x1..x5, `RECV`/`REPLY_RECV` return the
//! badge in x1 and the message in x2..x6. A negative x0 is the
//! [`abi::Error`] the core reports (for example `WrongState` to a caller
//! whose server stopped while it waited).

use crate::smccc;
use abi::ipc::{self as ids, control, PartitionStatus, MESSAGE_WORDS};
use abi::Error;

/// The words of a message or a reply.
pub type Message = [u64; MESSAGE_WORDS];

/// x0..x6 as a call left them.
pub type Registers = [u64; 7];

/// Whatever makes a hypercall: the core ([`Core`], on the target) or a fake
/// in host tests.
pub trait Hypervisor {
    /// Makes call `function` with x1..x6 = `args`; returns x0..x6.
    fn hypercall(&self, function: u32, args: [u64; 6]) -> Registers;
}

/// The Bulkhead core, reached with `HVC #0`.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Core;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
impl Hypervisor for Core {
    #[inline]
    fn hypercall(&self, function: u32, args: [u64; 6]) -> Registers {
        // None of the IPC calls takes an entry point, so the unchecked call
        // is the right one (see `hvc::call`).
        crate::hvc::raw_call_full(crate::hvc::Conduit::Hvc, function, args)
    }
}

/// Makes `function` and turns a negative x0 into its error.
#[inline]
pub(crate) fn checked(
    hv: &impl Hypervisor,
    function: u32,
    args: [u64; 6],
) -> Result<Registers, Error> {
    let registers = hv.hypercall(function, args);
    smccc::status(function, registers[0]).map(|_| registers)
}

/// x1 = `slot`, x2..x6 = `message`.
#[inline]
fn slot_and_message(slot: u16, message: Message) -> [u64; 6] {
    let [m0, m1, m2, m3, m4] = message;
    [u64::from(slot), m0, m1, m2, m3, m4]
}

/// x1 = `slot`, x2 = `value`, the rest zero.
#[inline]
fn slot_and_word(slot: u16, value: u64) -> [u64; 6] {
    [u64::from(slot), value, 0, 0, 0, 0]
}

/// The (badge, message) of a `RECV`/`REPLY_RECV` result: x1, x2..x6.
#[inline]
fn received(registers: Registers) -> (u64, Message) {
    let [_, badge, m0, m1, m2, m3, m4] = registers;
    (badge, [m0, m1, m2, m3, m4])
}

/// A capability to an endpoint: calls on it (right `CALL`) or serves it
/// (right `RECV`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint(pub u16);

impl Endpoint {
    /// `CALL`: sends `message` to the endpoint's server and waits for its
    /// reply (x1..x5).
    #[inline]
    pub fn call_on(&self, hv: &impl Hypervisor, message: Message) -> Result<Message, Error> {
        let [_, r0, r1, r2, r3, r4, _] = checked(hv, ids::CALL, slot_and_message(self.0, message))?;
        Ok([r0, r1, r2, r3, r4])
    }

    /// `RECV`: waits for the next message; returns the badge of the
    /// capability it was sent through and the message.
    #[inline]
    pub fn recv_on(&self, hv: &impl Hypervisor) -> Result<(u64, Message), Error> {
        checked(hv, ids::RECV, slot_and_word(self.0, 0)).map(received)
    }

    /// `REPLY_RECV`: answers the message being handled with `reply`, then
    /// waits for the next one, as [`Endpoint::recv_on`].
    #[inline]
    pub fn reply_recv_on(
        &self,
        hv: &impl Hypervisor,
        reply: Message,
    ) -> Result<(u64, Message), Error> {
        checked(hv, ids::REPLY_RECV, slot_and_message(self.0, reply)).map(received)
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
impl Endpoint {
    /// [`Endpoint::call_on`] the core.
    #[inline]
    pub fn call(&self, message: Message) -> Result<Message, Error> {
        self.call_on(&Core, message)
    }

    /// [`Endpoint::recv_on`] the core.
    #[inline]
    pub fn recv(&self) -> Result<(u64, Message), Error> {
        self.recv_on(&Core)
    }

    /// [`Endpoint::reply_recv_on`] the core.
    #[inline]
    pub fn reply_recv(&self, reply: Message) -> Result<(u64, Message), Error> {
        self.reply_recv_on(&Core, reply)
    }
}

/// A capability to a notification: signals it (right `SIGNAL`) or waits on
/// it (right `WAIT`, which also allows `POLL` and `IRQ_ACK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification(pub u16);

impl Notification {
    /// `SIGNAL`: ORs `bits` into the word and wakes its waiter.
    pub fn signal_on(&self, hv: &impl Hypervisor, bits: u64) -> Result<(), Error> {
        checked(hv, ids::SIGNAL, slot_and_word(self.0, bits)).map(|_| ())
    }

    /// `WAIT`: blocks until some bit is set; returns the bits and clears them.
    pub fn wait_on(&self, hv: &impl Hypervisor) -> Result<u64, Error> {
        checked(hv, ids::WAIT, slot_and_word(self.0, 0)).map(|registers| registers[1])
    }

    /// `POLL`: returns the bits (possibly none) and clears them.
    pub fn poll_on(&self, hv: &impl Hypervisor) -> Result<u64, Error> {
        checked(hv, ids::POLL, slot_and_word(self.0, 0)).map(|registers| registers[1])
    }

    /// `IRQ_ACK`: unmasks the physical interrupt bound to the notification,
    /// once the device has been serviced.
    pub fn irq_ack_on(&self, hv: &impl Hypervisor) -> Result<(), Error> {
        checked(hv, ids::IRQ_ACK, slot_and_word(self.0, 0)).map(|_| ())
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
impl Notification {
    /// [`Notification::signal_on`] the core.
    pub fn signal(&self, bits: u64) -> Result<(), Error> {
        self.signal_on(&Core, bits)
    }

    /// [`Notification::wait_on`] the core.
    pub fn wait(&self) -> Result<u64, Error> {
        self.wait_on(&Core)
    }

    /// [`Notification::poll_on`] the core.
    pub fn poll(&self) -> Result<u64, Error> {
        self.poll_on(&Core)
    }

    /// [`Notification::irq_ack_on`] the core.
    pub fn irq_ack(&self) -> Result<(), Error> {
        self.irq_ack_on(&Core)
    }
}

/// A capability to a partition: controls it (right `CONTROL`) or reads its
/// status (right `STATUS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionCap(pub u16);

impl PartitionCap {
    /// `PARTITION_CONTROL` with `operation` (one of [`abi::ipc::control`]).
    fn control_on(&self, hv: &impl Hypervisor, operation: u64) -> Result<(), Error> {
        checked(hv, ids::PARTITION_CONTROL, slot_and_word(self.0, operation)).map(|_| ())
    }

    /// Starts the stopped partition from its pristine image.
    pub fn start_on(&self, hv: &impl Hypervisor) -> Result<(), Error> {
        self.control_on(hv, control::START)
    }

    /// Stops the running partition.
    pub fn stop_on(&self, hv: &impl Hypervisor) -> Result<(), Error> {
        self.control_on(hv, control::STOP)
    }

    /// Stops the partition if it runs, then starts it from its pristine image.
    pub fn restart_on(&self, hv: &impl Hypervisor) -> Result<(), Error> {
        self.control_on(hv, control::RESTART)
    }

    /// `PARTITION_STATUS`: its state and the core's counters. A state the
    /// ABI does not define means the core broke the ABI: `InternalFailure`.
    pub fn status_on(&self, hv: &impl Hypervisor) -> Result<PartitionStatus, Error> {
        let [_, w0, w1, w2, w3, w4, _] =
            checked(hv, ids::PARTITION_STATUS, slot_and_word(self.0, 0))?;
        PartitionStatus::from_words([w0, w1, w2, w3, w4]).ok_or(Error::InternalFailure)
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
impl PartitionCap {
    /// [`PartitionCap::start_on`] the core.
    pub fn start(&self) -> Result<(), Error> {
        self.start_on(&Core)
    }

    /// [`PartitionCap::stop_on`] the core.
    pub fn stop(&self) -> Result<(), Error> {
        self.stop_on(&Core)
    }

    /// [`PartitionCap::restart_on`] the core.
    pub fn restart(&self) -> Result<(), Error> {
        self.restart_on(&Core)
    }

    /// [`PartitionCap::status_on`] the core.
    pub fn status(&self) -> Result<PartitionStatus, Error> {
        self.status_on(&Core)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use abi::ipc::PartitionState;
    use std::cell::RefCell;

    /// Records every call and answers with scripted registers.
    pub(crate) struct FakeCore {
        pub(crate) calls: RefCell<Vec<(u32, [u64; 6])>>,
        answer: Registers,
    }

    impl FakeCore {
        pub(crate) fn answering(answer: Registers) -> Self {
            Self {
                calls: RefCell::new(Vec::new()),
                answer,
            }
        }

        fn only_call(&self) -> (u32, [u64; 6]) {
            let calls = self.calls.borrow();
            assert_eq!(calls.len(), 1, "exactly one hypercall");
            calls[0]
        }
    }

    impl Hypervisor for FakeCore {
        fn hypercall(&self, function: u32, args: [u64; 6]) -> Registers {
            self.calls.borrow_mut().push((function, args));
            self.answer
        }
    }

    fn error_registers(error: Error) -> Registers {
        [error.code() as u64, 11, 12, 13, 14, 15, 16]
    }

    #[test]
    fn call_sends_slot_and_message_and_returns_x1_to_x5() {
        let core = FakeCore::answering([0, 1, 2, 3, 4, 5, 6]);
        let reply = Endpoint(7).call_on(&core, [10, 20, 30, 40, 50]);
        assert_eq!(reply, Ok([1, 2, 3, 4, 5]));
        assert_eq!(core.only_call(), (ids::CALL, [7, 10, 20, 30, 40, 50]));
    }

    #[test]
    fn recv_returns_badge_and_x2_to_x6() {
        let core = FakeCore::answering([0, 0x100, 2, 3, 4, 5, 6]);
        assert_eq!(Endpoint(3).recv_on(&core), Ok((0x100, [2, 3, 4, 5, 6])));
        assert_eq!(core.only_call(), (ids::RECV, [3, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn reply_recv_sends_the_reply() {
        let core = FakeCore::answering([0, 0x101, 9, 8, 7, 6, 5]);
        assert_eq!(
            Endpoint(2).reply_recv_on(&core, [0x41, 1, 0, 0, 0]),
            Ok((0x101, [9, 8, 7, 6, 5]))
        );
        assert_eq!(core.only_call(), (ids::REPLY_RECV, [2, 0x41, 1, 0, 0, 0]));
    }

    #[test]
    fn errors_come_back_as_abi_errors() {
        for error in [
            Error::BadCapability,
            Error::MissingRight,
            Error::WrongState,
            Error::InvalidParameter,
        ] {
            let core = FakeCore::answering(error_registers(error));
            assert_eq!(Endpoint(1).call_on(&core, [0; 5]), Err(error));
            assert_eq!(Endpoint(1).recv_on(&core), Err(error));
            assert_eq!(Endpoint(1).reply_recv_on(&core, [0; 5]), Err(error));
            assert_eq!(Notification(1).signal_on(&core, 1), Err(error));
            assert_eq!(Notification(1).wait_on(&core), Err(error));
            assert_eq!(Notification(1).poll_on(&core), Err(error));
            assert_eq!(Notification(1).irq_ack_on(&core), Err(error));
            assert_eq!(PartitionCap(1).start_on(&core), Err(error));
            assert_eq!(PartitionCap(1).status_on(&core), Err(error));
        }
        // A negative code the ABI does not define.
        let core = FakeCore::answering([(-77i64) as u64, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Endpoint(1).recv_on(&core), Err(Error::InternalFailure));
    }

    #[test]
    fn notification_calls() {
        let core = FakeCore::answering([0, 0b101, 0, 0, 0, 0, 0]);
        assert_eq!(Notification(4).signal_on(&core, 0b10), Ok(()));
        assert_eq!(Notification(4).wait_on(&core), Ok(0b101));
        assert_eq!(Notification(4).poll_on(&core), Ok(0b101));
        assert_eq!(Notification(4).irq_ack_on(&core), Ok(()));
        assert_eq!(
            *core.calls.borrow(),
            vec![
                (ids::SIGNAL, [4, 0b10, 0, 0, 0, 0]),
                (ids::WAIT, [4, 0, 0, 0, 0, 0]),
                (ids::POLL, [4, 0, 0, 0, 0, 0]),
                (ids::IRQ_ACK, [4, 0, 0, 0, 0, 0]),
            ]
        );
    }

    #[test]
    fn partition_control_operations() {
        let core = FakeCore::answering([0; 7]);
        let partition = PartitionCap(9);
        assert_eq!(partition.start_on(&core), Ok(()));
        assert_eq!(partition.stop_on(&core), Ok(()));
        assert_eq!(partition.restart_on(&core), Ok(()));
        assert_eq!(
            *core.calls.borrow(),
            vec![
                (ids::PARTITION_CONTROL, [9, control::START, 0, 0, 0, 0]),
                (ids::PARTITION_CONTROL, [9, control::STOP, 0, 0, 0, 0]),
                (ids::PARTITION_CONTROL, [9, control::RESTART, 0, 0, 0, 0]),
            ]
        );
    }

    #[test]
    fn partition_status_decodes_x1_to_x5() {
        let status = PartitionStatus {
            state: PartitionState::Faulted,
            restarts: 2,
            faults: 3,
            traps: 400,
            injected_irqs: 50,
            ipc_calls: 6,
        };
        let [w0, w1, w2, w3, w4] = status.to_words();
        let core = FakeCore::answering([0, w0, w1, w2, w3, w4, 0]);
        assert_eq!(PartitionCap(5).status_on(&core), Ok(status));
        assert_eq!(
            core.only_call(),
            (ids::PARTITION_STATUS, [5, 0, 0, 0, 0, 0])
        );

        // A state byte the ABI does not define.
        let core = FakeCore::answering([0, 0xee, 0, 0, 0, 0, 0]);
        assert_eq!(
            PartitionCap(5).status_on(&core),
            Err(Error::InternalFailure)
        );
    }
}
