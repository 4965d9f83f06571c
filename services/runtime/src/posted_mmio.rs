//! Posted MMIO for device services (`abi::posted_mmio`): a service that
//! emulates a device for a guest publishes register values the core then
//! answers the guest's loads with, and declares registers whose stores the
//! core queues, then drains those stores — so the guest's common accesses
//! cost it no switch to the service.
//!
//! A [`DeviceWindow`] names one emulated window: the endpoint the service
//! serves (right `recv`) and the badge the configuration gave the window.
//! As in [`crate::ipc`], each call has a `*_on` form over any
//! [`Hypervisor`] (host-tested against a fake) and a plain one on the
//! target.

use abi::ipc as ids;
use abi::posted_mmio::{kind, Drained, DRAIN_MAX};
use abi::Error;

use crate::ipc::{checked, Endpoint, Hypervisor, Notification};

/// What a published register does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Register {
    /// Loads of 1, 2 or 4 bytes inside the word read this value, answered
    /// by the core.
    Read(u32),
    /// Stores of 1, 2 or 4 bytes at the offset are queued by the core.
    Posted,
    /// Neither: its accesses come to the service as messages again.
    Forget,
}

/// One emulated device window the service serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceWindow {
    /// The endpoint its accesses arrive on (right `recv`).
    pub endpoint: Endpoint,
    /// The badge the configuration gave the window.
    pub badge: u64,
}

impl DeviceWindow {
    /// `MMIO_PUBLISH`: the register at `offset` (4-byte aligned, inside the
    /// window) becomes `register`. Errors: `InvalidParameter` (offset),
    /// `WrongState` (the window's table is full), `NotPresent` (no window
    /// with this badge behind the endpoint), `BadCapability`,
    /// `MissingRight`.
    pub fn publish_on(
        &self,
        hv: &impl Hypervisor,
        offset: u64,
        register: Register,
    ) -> Result<(), Error> {
        let (kind, value) = match register {
            Register::Read(value) => (kind::READ, u64::from(value)),
            Register::Posted => (kind::POSTED, 0),
            Register::Forget => (kind::NONE, 0),
        };
        self.publish_kind_on(hv, offset, kind, value)
    }

    /// `MMIO_PUBLISH` with `MAP_READS` (`map`) or `TRAP_READS`: the core
    /// maps the window's register page — every `Read` value published, zero
    /// elsewhere — read-only into the guest, so its loads stop trapping; or
    /// unmaps it, after which every load traps again. While mapped, every
    /// register the guest may read must be published and no load may need
    /// a side effect. `InvalidParameter`: the window is not exactly one
    /// page, or the page cannot be mapped at its address.
    pub fn map_reads_on(&self, hv: &impl Hypervisor, map: bool) -> Result<(), Error> {
        let kind = if map {
            kind::MAP_READS
        } else {
            kind::TRAP_READS
        };
        self.publish_kind_on(hv, 0, kind, 0)
    }

    fn publish_kind_on(
        &self,
        hv: &impl Hypervisor,
        offset: u64,
        kind: u64,
        value: u64,
    ) -> Result<(), Error> {
        let args = [
            u64::from(self.endpoint.0),
            self.badge,
            offset,
            kind,
            value,
            0,
        ];
        checked(hv, ids::MMIO_PUBLISH, args).map(|_| ())
    }

    /// `MMIO_DRAIN`: up to five queued stores, oldest first, and whether
    /// more wait. With `wake` = (notification, bits) — a notification the
    /// service waits on — and the queue empty afterwards, the next store
    /// queued signals those bits once. A result that breaks the ABI is
    /// `InternalFailure`.
    pub fn drain_on(
        &self,
        hv: &impl Hypervisor,
        wake: Option<(Notification, u64)>,
    ) -> Result<Drained, Error> {
        let (slot, bits) = wake.map_or((0, 0), |(n, bits)| (u64::from(n.0), bits));
        let args = [u64::from(self.endpoint.0), self.badge, slot, bits, 0, 0];
        let [_, status, w0, w1, w2, w3, w4] = checked(hv, ids::MMIO_DRAIN, args)?;
        let words: [u64; DRAIN_MAX] = [w0, w1, w2, w3, w4];
        Drained::from_registers(status, words).ok_or(Error::InternalFailure)
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
impl DeviceWindow {
    /// [`DeviceWindow::publish_on`] the core.
    pub fn publish(&self, offset: u64, register: Register) -> Result<(), Error> {
        self.publish_on(&crate::ipc::Core, offset, register)
    }

    /// [`DeviceWindow::drain_on`] the core.
    pub fn drain(&self, wake: Option<(Notification, u64)>) -> Result<Drained, Error> {
        self.drain_on(&crate::ipc::Core, wake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::tests::FakeCore;
    use abi::posted_mmio::{DrainStatus, PostedWrite};

    const UART: DeviceWindow = DeviceWindow {
        endpoint: Endpoint(2),
        badge: 0x100,
    };

    #[test]
    fn publish_packs_offset_kind_and_value() {
        let core = FakeCore::answering([0; 7]);
        UART.publish_on(&core, 0x18, Register::Read(0x97)).unwrap();
        UART.publish_on(&core, 0, Register::Posted).unwrap();
        UART.publish_on(&core, 0x18, Register::Forget).unwrap();
        UART.map_reads_on(&core, true).unwrap();
        UART.map_reads_on(&core, false).unwrap();
        assert_eq!(
            *core.calls.borrow(),
            vec![
                (ids::MMIO_PUBLISH, [2, 0x100, 0x18, kind::READ, 0x97, 0]),
                (ids::MMIO_PUBLISH, [2, 0x100, 0, kind::POSTED, 0, 0]),
                (ids::MMIO_PUBLISH, [2, 0x100, 0x18, kind::NONE, 0, 0]),
                (ids::MMIO_PUBLISH, [2, 0x100, 0, kind::MAP_READS, 0, 0]),
                (ids::MMIO_PUBLISH, [2, 0x100, 0, kind::TRAP_READS, 0, 0]),
            ]
        );
    }

    #[test]
    fn drain_names_the_notification_and_decodes_the_writes() {
        let write = PostedWrite {
            value: 0x41,
            offset: 0,
            size: 1,
            vcpu: 1,
        };
        let status = DrainStatus {
            count: 1,
            more: true,
            armed: false,
        };
        let core = FakeCore::answering([0, status.to_word(), write.to_word(), 0, 0, 0, 0]);
        let drained = UART.drain_on(&core, Some((Notification(1), 0b10))).unwrap();
        assert_eq!(drained.status, status);
        assert_eq!(drained.writes().collect::<Vec<_>>(), [write]);
        UART.drain_on(&core, None).unwrap();
        assert_eq!(
            *core.calls.borrow(),
            vec![
                (ids::MMIO_DRAIN, [2, 0x100, 1, 0b10, 0, 0]),
                (ids::MMIO_DRAIN, [2, 0x100, 0, 0, 0, 0]),
            ]
        );
    }

    #[test]
    fn errors_and_broken_results() {
        for error in [
            Error::InvalidParameter,
            Error::WrongState,
            Error::NotPresent,
            Error::BadCapability,
            Error::MissingRight,
        ] {
            let core = FakeCore::answering([error.code() as u64, 0, 0, 0, 0, 0, 0]);
            assert_eq!(UART.publish_on(&core, 0, Register::Posted), Err(error));
            assert_eq!(UART.drain_on(&core, None), Err(error));
        }
        // Six writes claimed, or a counted word with no write in it.
        let core = FakeCore::answering([0, 6, 0, 0, 0, 0, 0]);
        assert_eq!(UART.drain_on(&core, None), Err(Error::InternalFailure));
        let core = FakeCore::answering([0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(UART.drain_on(&core, None), Err(Error::InternalFailure));
    }
}
