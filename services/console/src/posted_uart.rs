//! Posted MMIO for a guest's emulated PL011 (`abi::posted_mmio`): the
//! console publishes every register a load can read ([`READABLE`]) and has
//! the core map them, as the window's register page, read-only into the
//! guest whenever no load has a side effect — so the guest's flag polls do
//! not even trap — and, when a vCPU of the console waits for input and can
//! be woken, declares UARTDR posted, so the core queues the guest's
//! transmitted bytes and the guest goes on without a switch to the console.
//! A character of output then costs the guest one trap, answered in the
//! core.
//!
//! - The registers are published with the model's values at start and again
//!   whenever one changes (a synchronous access, input arriving, the queue
//!   drained). Transmission is instantaneous in the model, so no value ever
//!   depends on bytes still queued — except in loopback (CR.LBE), where a
//!   transmitted byte lands in the receive FIFO: while loopback is on,
//!   UARTDR is not posted.
//! - Reads are mapped only while the receive FIFO is empty and loopback is
//!   off: a load of UARTDR then has nothing to take, and reads zero, as the
//!   page does. Input arriving unmaps them before the guest is told, so it
//!   reads the byte from the model; reading the last byte maps them again.
//!   While unmapped, the core still answers loads of published registers
//!   itself.
//! - Queued bytes go through the model exactly as synchronous stores do
//!   (line assembly, the log, the interrupt status). They are drained before
//!   any synchronous access of the same guest is handled, so they happen
//!   first, and by the input vCPU, which the core wakes once per burst
//!   through its notification ([`queued_bit`]): it drains, re-arms, and
//!   waits again. Both drain under the guest's lock, so bytes are handled
//!   in the order the guest stored them.

use crate::guest::GuestConsole;
use crate::pl011_model::{offset, READABLE};
use crate::terminal::GuestOutput;
use abi::Error;
use bulkhead_runtime::ipc::{Hypervisor, Notification};
use bulkhead_runtime::posted_mmio::{DeviceWindow, Register};

/// The input notification's bit for guest number `guest`'s queued writes.
/// Bit 0 is the board UART's interrupt; guest `i` has bit `1 + i` (there
/// are at most [`crate::settings::MAX_GUESTS`]).
pub fn queued_bit(guest: usize) -> u64 {
    u32::try_from(guest + 1)
        .ok()
        .and_then(|shift| 1u64.checked_shl(shift))
        .unwrap_or(0)
}

/// What one drain did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drain {
    /// Stores taken from the core's queue.
    pub writes: usize,
    /// The guest's interrupt line went from low to high: nobody's reply
    /// carries the level, so the guest must be told (its doorbell).
    pub raised: bool,
}

/// What is published for one guest's UART.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PostedUart {
    /// The window, once publishing worked.
    window: Option<DeviceWindow>,
    /// UARTDR is to be posted whenever the model allows (not in loopback).
    post_data: bool,
    /// UARTDR is posted now.
    data_posted: bool,
    /// The values the core holds for [`READABLE`], in that order.
    published: [Option<u32>; READABLE.len()],
    /// The register page is to be mapped whenever the model allows (the
    /// core refused it once: not again).
    map_reads: bool,
    /// It is mapped now.
    reads_mapped: bool,
}

impl PostedUart {
    /// Nothing published.
    pub const fn new() -> Self {
        Self {
            window: None,
            post_data: false,
            data_posted: false,
            published: [None; READABLE.len()],
            map_reads: false,
            reads_mapped: false,
        }
    }

    /// Whether the guest's UARTDR stores may be queued in the core (and so
    /// must be drained).
    pub fn posts_data(&self) -> bool {
        self.window.is_some() && self.post_data
    }

    /// Whether the guest's loads read the mapped register page now.
    pub fn reads_mapped(&self) -> bool {
        self.reads_mapped
    }

    /// Publishes the registers of `uart`'s guest behind `window`, maps them
    /// for its loads and, with `post_data`, declares UARTDR posted. On an
    /// error nothing is left published (the guest's accesses all stay
    /// synchronous).
    pub fn start(
        &mut self,
        uart: &GuestConsole,
        hv: &impl Hypervisor,
        window: DeviceWindow,
        post_data: bool,
    ) -> Result<(), Error> {
        *self = Self {
            window: Some(window),
            post_data,
            map_reads: true,
            ..Self::new()
        };
        let published = self.republish(uart, hv);
        if published.is_err() {
            let _ = window.map_reads_on(hv, false);
            for register in READABLE.into_iter().chain([offset::DR]) {
                let _ = window.publish_on(hv, register, Register::Forget);
            }
            *self = Self::new();
        }
        published
    }

    /// Brings what the core has in line with the model: every readable
    /// register's value that changed, UARTDR posted unless loopback is on,
    /// and the register page mapped exactly while no load has a side effect
    /// (unmapped before the values change, mapped after). A refused mapping
    /// is not an error and is not tried again: the guest's loads trap, and
    /// the core answers them from the same values.
    pub fn republish(&mut self, uart: &GuestConsole, hv: &impl Hypervisor) -> Result<(), Error> {
        let Some(window) = self.window else {
            return Ok(());
        };
        let model = uart.uart();
        let mappable = self.map_reads && model.rx_level() == 0 && !model.loopback();
        if self.reads_mapped && !mappable {
            window.map_reads_on(hv, false)?;
            self.reads_mapped = false;
        }
        let post = self.post_data && !model.loopback();
        if post != self.data_posted {
            let register = if post {
                Register::Posted
            } else {
                Register::Forget
            };
            window.publish_on(hv, offset::DR, register)?;
            self.data_posted = post;
        }
        for (held, register) in self.published.iter_mut().zip(READABLE) {
            let value = model.peek(register);
            if *held != Some(value) {
                window.publish_on(hv, register, Register::Read(value))?;
                *held = Some(value);
            }
        }
        if mappable && !self.reads_mapped {
            // Refused (a window the core cannot map, say): loads keep
            // trapping and the core answers them from the same values.
            self.reads_mapped = window.map_reads_on(hv, true).is_ok();
            self.map_reads = self.reads_mapped;
        }
        Ok(())
    }

    /// Takes every store the core queued for the guest, oldest first, and
    /// performs each on `uart` as a synchronous store would be (`before_each`
    /// runs first, for the fault injection that counts accesses; `show` gets
    /// the output, as for [`GuestConsole::access`]); then republishes
    /// UARTFR if that changed it. With `wake`, the core signals it when the
    /// next store is queued.
    pub fn drain(
        &mut self,
        uart: &mut GuestConsole,
        hv: &impl Hypervisor,
        wake: Option<(Notification, u64)>,
        focused: bool,
        mut before_each: impl FnMut(),
        mut show: impl FnMut(GuestOutput<'_>),
    ) -> Result<Drain, Error> {
        let Some(window) = self.window.filter(|_| self.post_data) else {
            return Ok(Drain::default());
        };
        let was_high = uart.uart().interrupt_level();
        let mut writes = 0;
        loop {
            let drained = window.drain_on(hv, wake)?;
            for write in drained.writes() {
                before_each();
                uart.access(&write.to_access(), focused, &mut show);
                writes += 1;
            }
            if !drained.status.more {
                break;
            }
        }
        self.republish(uart, hv)?;
        Ok(Drain {
            writes,
            raised: !was_high && uart.uart().interrupt_level(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::access_reply;
    use crate::guest::tests::{load, store};
    use crate::pl011_model::{cr, fr, int};
    use crate::terminal::{tests::screen, Terminal};
    use abi::ipc::{MMIO_DRAIN, MMIO_PUBLISH};
    use abi::posted_mmio::QUEUE_CAPACITY;
    use bulkhead_runtime::ipc::{Endpoint, Registers};
    use kernel_core::posted_mmio::{Store, Wake, WindowState};
    use std::cell::{Cell, RefCell};

    const WINDOW: DeviceWindow = DeviceWindow {
        endpoint: Endpoint(0),
        badge: 0x100,
    };
    const INPUT: Notification = Notification(1);

    /// The core, for one window: its real posted-MMIO policy, and the
    /// notification bits a queued store signalled.
    #[derive(Default)]
    struct FakeCore {
        window: RefCell<WindowState>,
        signalled: Cell<u64>,
        refuse: Cell<Option<Error>>,
        calls: Cell<usize>,
        /// The window is two pages: the core refuses to map its reads.
        two_pages: Cell<bool>,
    }

    impl Hypervisor for FakeCore {
        fn hypercall(&self, function: u32, args: [u64; 6]) -> Registers {
            self.calls.set(self.calls.get() + 1);
            let [slot, badge, a3, a4, a5, _] = args;
            assert_eq!((slot, badge), (0, 0x100), "the window's endpoint and badge");
            if let Some(error) = self.refuse.get() {
                return [error.code() as u64, 0, 0, 0, 0, 0, 0];
            }
            let mut window = self.window.borrow_mut();
            match function {
                MMIO_PUBLISH => match window.publish(self.window_size(), a3, a4, a5) {
                    Ok(_) => [0; 7],
                    Err(e) => [e.code() as u64, 0, 0, 0, 0, 0, 0],
                },
                MMIO_DRAIN => {
                    let wake = (a4 != 0).then_some(Wake {
                        notification: a3 as u32,
                        bits: a4,
                    });
                    let d = window.drain(wake);
                    let [w0, w1, w2, w3, w4] = d.words;
                    [0, d.status.to_word(), w0, w1, w2, w3, w4]
                }
                _ => panic!("unexpected call {function:#x}"),
            }
        }
    }

    impl FakeCore {
        fn window_size(&self) -> u64 {
            if self.two_pages.get() {
                0x2000
            } else {
                0x1000
            }
        }

        fn mapped(&self) -> bool {
            self.window.borrow().reads_mapped()
        }

        /// A guest store as the core takes it: queued (true) or for the
        /// service to answer synchronously (false).
        fn guest_store(&self, offset: u64, size: u8, value: u64) -> bool {
            match self.window.borrow_mut().store(offset, size, value, 0) {
                Store::Queued { wake } => {
                    if let Some(wake) = wake {
                        assert_eq!(wake.notification, u32::from(INPUT.0));
                        self.signalled.set(self.signalled.get() | wake.bits);
                    }
                    true
                }
                Store::NotPosted | Store::QueueFull => false,
            }
        }

        fn guest_load(&self, offset: u64, size: u8) -> Option<u64> {
            self.window.borrow().load(offset, size)
        }
    }

    fn started(post_data: bool) -> (FakeCore, GuestConsole, PostedUart) {
        let core = FakeCore::default();
        let uart = GuestConsole::new();
        let mut posted = PostedUart::new();
        posted.start(&uart, &core, WINDOW, post_data).unwrap();
        (core, uart, posted)
    }

    /// A synchronous 32-bit store of `value` to `register`, output ignored.
    fn write_register(uart: &mut GuestConsole, register: u64, value: u32) {
        uart.access(&store(register, u64::from(value)), false, |_| {});
    }

    /// Unmasks the receive interrupts and switches loopback on: a byte
    /// transmitted from then on raises the line.
    fn loopback_with_receive_interrupts(uart: &mut GuestConsole) {
        write_register(uart, offset::IMSC, int::RX | int::RT);
        write_register(uart, offset::CR, cr::UARTEN | cr::LBE);
    }

    #[test]
    fn flags_are_published_and_follow_the_model() {
        let (core, mut uart, mut posted) = started(false);
        let idle = u64::from(fr::CTS | fr::DSR | fr::DCD | fr::TXFE | fr::RXFE);
        assert_eq!(core.guest_load(offset::FR, 4), Some(idle));
        assert_eq!(core.guest_load(offset::FR, 1), Some(idle));
        // Without posting, UARTDR stays synchronous.
        assert!(!posted.posts_data());
        assert!(!core.guest_store(offset::DR, 1, 0x41));
        // Input arrives: RXFE clears, and character mode makes RXFF set.
        uart.receive(b"a");
        posted.republish(&uart, &core).unwrap();
        let with_byte = (idle & !u64::from(fr::RXFE)) | u64::from(fr::RXFF);
        assert_eq!(core.guest_load(offset::FR, 4), Some(with_byte));
        // Unchanged: no call at all.
        let calls = core.calls.get();
        posted.republish(&uart, &core).unwrap();
        assert_eq!(core.calls.get(), calls);
        // The guest reads the byte (synchronously): FR is empty again.
        let ignore = |_: GuestOutput<'_>| {};
        let [byte, ..] = uart.access(&load(offset::DR), false, ignore);
        assert_eq!(byte, u64::from(b'a'));
        posted.republish(&uart, &core).unwrap();
        assert_eq!(core.guest_load(offset::FR, 4), Some(idle));
    }

    #[test]
    fn posted_bytes_print_in_order_through_the_model() {
        let (core, mut uart, mut posted) = started(true);
        assert!(posted.posts_data());
        let mut terminal = Terminal::new();
        let mut out = Vec::new();
        let mut served = 0;
        // Arm first, as the input vCPU does.
        let d = posted
            .drain(
                &mut uart,
                &core,
                Some((INPUT, queued_bit(0))),
                false,
                || {},
                |_| {},
            )
            .unwrap();
        assert_eq!(d, Drain::default());
        // A burst longer than the queue: what does not fit goes the
        // synchronous way, after draining what is queued.
        let text: Vec<u8> = (0..3 * QUEUE_CAPACITY)
            .map(|i| {
                if i % 50 == 49 {
                    b'\n'
                } else {
                    b'a' + (i % 26) as u8
                }
            })
            .collect();
        for &byte in &text {
            if !core.guest_store(offset::DR, 1, u64::from(byte)) {
                posted
                    .drain(
                        &mut uart,
                        &core,
                        None,
                        false,
                        || served += 1,
                        |o| terminal.guest_output(0, "g", o, &mut out),
                    )
                    .unwrap();
                served += 1;
                let reply = uart.access(&store(offset::DR, u64::from(byte)), false, |o| {
                    terminal.guest_output(0, "g", o, &mut out)
                });
                assert_eq!(reply, access_reply(0, false));
            }
        }
        // The first store after arming woke the input vCPU, once.
        assert_eq!(core.signalled.get(), queued_bit(0));
        let d = posted
            .drain(
                &mut uart,
                &core,
                Some((INPUT, queued_bit(0))),
                false,
                || served += 1,
                |o| terminal.guest_output(0, "g", o, &mut out),
            )
            .unwrap();
        assert!(d.writes > 0 && !d.raised);
        assert_eq!(served, text.len(), "every byte counted once");
        let expected: String = text
            .split(|&b| b == b'\n')
            .filter(|l| l.len() == 49)
            .map(|l| format!("[g] {}\r\n", String::from_utf8_lossy(l)))
            .collect();
        assert_eq!(screen(&out), expected);
        let (log, _) = uart.log().contents();
        assert_eq!(log.iter().filter(|&&b| b == b'\n').count(), text.len() / 50);
    }

    #[test]
    fn wider_stores_transmit_their_low_byte_as_synchronous_ones_do() {
        let (core, mut uart, mut posted) = started(true);
        assert!(core.guest_store(offset::DR, 4, 0x0001_0068)); // 'h'
        assert!(core.guest_store(offset::DR, 2, 0xFF69)); // 'i'
        assert!(core.guest_store(offset::DR, 1, 0x0A));
        // Another byte of DR is not posted; the model ignores it.
        assert!(!core.guest_store(offset::DR + 1, 1, 0x41));
        let mut lines = Vec::new();
        posted
            .drain(
                &mut uart,
                &core,
                None,
                false,
                || {},
                |o| {
                    if let GuestOutput::Line(l) = o {
                        lines.push(l.to_vec())
                    }
                },
            )
            .unwrap();
        assert_eq!(lines, [b"hi\n".to_vec()]);
    }

    #[test]
    fn loopback_stores_are_not_posted_and_raise_the_line_synchronously() {
        // In loopback a transmitted byte arrives in the receive FIFO: FR
        // depends on it, so while CR.LBE is set UARTDR is not posted.
        let (core, mut uart, mut posted) = started(true);
        let ignore = |_: GuestOutput<'_>| {};
        loopback_with_receive_interrupts(&mut uart);
        posted.republish(&uart, &core).unwrap();
        assert!(!core.guest_store(offset::DR, 1, 0x55));
        let reply = uart.access(&store(offset::DR, 0x55), false, ignore);
        assert_eq!(reply, access_reply(0, true), "the reply raises the line");
        posted.republish(&uart, &core).unwrap();
        assert_eq!(
            core.guest_load(offset::FR, 4)
                .map(|f| f & u64::from(fr::RXFE)),
            Some(0),
            "FR shows the byte at once"
        );
        // Loopback off: posted again.
        uart.access(&store(offset::CR, u64::from(cr::UARTEN)), false, ignore);
        posted.republish(&uart, &core).unwrap();
        assert!(core.guest_store(offset::DR, 1, 0x56));
    }

    #[test]
    fn a_drained_store_that_raises_the_line_is_reported() {
        // Loopback switched on while a byte is still queued: the drain puts
        // it in the receive FIFO, which raises the line, and nobody's reply
        // carries that.
        let (core, mut uart, mut posted) = started(true);
        let ignore = |_: GuestOutput<'_>| {};
        assert!(core.guest_store(offset::DR, 1, 0x55));
        loopback_with_receive_interrupts(&mut uart);
        let d = posted
            .drain(&mut uart, &core, None, false, || {}, ignore)
            .unwrap();
        assert_eq!(
            d,
            Drain {
                writes: 1,
                raised: true
            }
        );
    }

    #[test]
    fn a_refused_start_leaves_nothing_published() {
        let core = FakeCore::default();
        let uart = GuestConsole::new();
        let mut posted = PostedUart::new();
        core.refuse.set(Some(Error::NotPresent));
        assert_eq!(
            posted.start(&uart, &core, WINDOW, true),
            Err(Error::NotPresent)
        );
        assert!(!posted.posts_data());
        core.refuse.set(None);
        // Nothing to republish or drain: no calls.
        let calls = core.calls.get();
        posted.republish(&uart, &core).unwrap();
        let mut uart = uart;
        let d = posted
            .drain(&mut uart, &core, None, false, || {}, |_| {})
            .unwrap();
        assert_eq!(d, Drain::default());
        assert_eq!(core.calls.get(), calls);
    }

    /// Every word of the window as the guest's loads read it from the core
    /// equals what the model answers, without consuming anything.
    fn page_matches_model(core: &FakeCore, uart: &GuestConsole) {
        for register in (0..0x1000).step_by(4) {
            assert_eq!(
                core.guest_load(register, 4),
                Some(u64::from(uart.uart().peek(register))),
                "offset {register:#x}"
            );
        }
    }

    #[test]
    fn reads_are_mapped_exactly_while_no_load_has_a_side_effect() {
        let (core, mut uart, mut posted) = started(true);
        assert!(posted.reads_mapped() && core.mapped());
        page_matches_model(&core, &uart);
        let ignore = |_: GuestOutput<'_>| {};
        // A synchronous store changes registers: republished in place.
        write_register(&mut uart, offset::IMSC, int::RX | int::RT);
        write_register(&mut uart, offset::CR, cr::UARTEN | cr::TXE | cr::RXE);
        posted.republish(&uart, &core).unwrap();
        assert!(core.mapped());
        page_matches_model(&core, &uart);
        // Input: a load of UARTDR must take it, so loads trap again, and
        // the published values still follow the model.
        uart.receive(b"ab");
        posted.republish(&uart, &core).unwrap();
        assert!(!posted.reads_mapped() && !core.mapped());
        assert_eq!(
            core.guest_load(offset::DR, 4),
            None,
            "DR goes to the console"
        );
        assert_eq!(
            core.guest_load(offset::FR, 4)
                .map(|f| f & u64::from(fr::RXFE)),
            Some(0)
        );
        // Reading the bytes empties the FIFO: mapped again.
        for byte in *b"ab" {
            let [got, ..] = uart.access(&load(offset::DR), false, ignore);
            assert_eq!(got, u64::from(byte));
            posted.republish(&uart, &core).unwrap();
        }
        assert!(core.mapped());
        page_matches_model(&core, &uart);
        // Loopback: unmapped (and UARTDR not posted) until it is off.
        write_register(&mut uart, offset::CR, cr::UARTEN | cr::LBE);
        posted.republish(&uart, &core).unwrap();
        assert!(!core.mapped());
        write_register(&mut uart, offset::CR, cr::UARTEN);
        posted.republish(&uart, &core).unwrap();
        assert!(core.mapped());
        page_matches_model(&core, &uart);
        // Unchanged: no call at all.
        let calls = core.calls.get();
        posted.republish(&uart, &core).unwrap();
        assert_eq!(core.calls.get(), calls);
    }

    #[test]
    fn a_refused_mapping_leaves_loads_trapping_and_is_not_retried() {
        let core = FakeCore::default();
        core.two_pages.set(true);
        let uart = GuestConsole::new();
        let mut posted = PostedUart::new();
        posted.start(&uart, &core, WINDOW, true).unwrap();
        assert!(posted.posts_data() && !posted.reads_mapped() && !core.mapped());
        // The core still answers published registers; others are the
        // console's.
        let idle = u64::from(fr::CTS | fr::DSR | fr::DCD | fr::TXFE | fr::RXFE);
        assert_eq!(core.guest_load(offset::FR, 4), Some(idle));
        assert_eq!(core.guest_load(offset::DR, 4), None);
        let calls = core.calls.get();
        posted.republish(&uart, &core).unwrap();
        assert_eq!(core.calls.get(), calls, "not tried again");
    }

    #[test]
    fn guests_have_their_own_bits() {
        assert_eq!(queued_bit(0), 0b10);
        assert_eq!(queued_bit(15), 1 << 16);
        assert_eq!(queued_bit(63), 0, "no bit beyond the word");
    }
}
