//! The Raspberry Pi mini UART for a partition the configuration gives the
//! AUX page to (`[[partition.passthrough]]` of 0xFE21_5000, with `irq = 125`
//! for the AUX block's interrupt): the program drives it directly with
//! `platform::bcm2835_aux`, without the core or a console service in the
//! way, polled or through [`InterruptTransmitter`].
//!
//! The interrupt-driven transmitter keeps a queue of bytes the program
//! fills; the handler refills the UART's FIFO from it on the transmit-empty
//! interrupt, which the core injects through the partition's virtual GIC
//! with the HW bit: the runtime's EOI ([`crate::irq`]) deactivates the
//! physical SPI, which the still-asserted line pends again while bytes are
//! left. The transmit interrupt is enabled while the queue holds bytes and
//! disabled once it is empty, since it stays asserted as long as the FIFO is
//! empty (the whole time on QEMU, whose FIFO drains at once).

use crate::byte_ring::ByteRing;
use crate::entry::PARTITION_BASE;
use crate::translation_table::is_device_range;
use crate::{gic, irq, timer};
pub use platform::bcm2835_aux::{baud_divisor, MiniUart};
use platform::bcm2835_aux::{AuxDevices, Interrupts, Pending, FIFO_DEPTH};
use spin::Mutex;

/// Bytes of the AUX register page (BCM2711 ARM Peripherals §2.1.1).
const AUX_PAGE_SIZE: u64 = 0x1000;

/// Bytes the transmit queue holds: a few lines of text.
pub const TX_QUEUE_CAPACITY: usize = 256;

/// How long a waiting writer lets the queue make no progress before it
/// gives up: at the slowest rate a 16-bit divisor gives from a 500 MHz clock
/// (about 950 baud) a FIFO's worth leaves in under 0.1 s.
const STALL_MS: u64 = 1000;

/// How often a waiting writer looks at the queue again.
const WAIT_STEP_MS: u64 = 1;

/// The mini UART of the AUX page passed through at `aux_page` (an IPA).
/// `None` unless the page is page aligned and lies in the Device part of
/// the runtime's identity map ([`crate::translation_table`]).
pub fn passthrough(aux_page: u64) -> Option<MiniUart> {
    if !aux_page.is_multiple_of(AUX_PAGE_SIZE)
        || !is_device_range(aux_page, AUX_PAGE_SIZE, PARTITION_BASE)
    {
        return None;
    }
    let base = usize::try_from(aux_page).ok()?;
    // the page lies in a Device-nGnRE block of the identity map (checked
    // above), which holds no RAM the program uses, so the driver's accesses
    // cannot touch Rust-owned memory; if the configuration did not pass the
    // page through, the access faults at stage 2 and the core reports it.
    // Exclusive use is the caller's to arrange: one vCPU drives the UART.
    // SAFETY: sound for the reasons just given.
    Some(unsafe { MiniUart::new(base) })
}

/// What the program and the interrupt handler share.
struct Transmitter {
    uart: MiniUart,
    intid: u32,
    queue: ByteRing<TX_QUEUE_CAPACITY>,
    /// AUX_MU_IER holds [`Interrupts::TRANSMIT`].
    enabled: bool,
    /// Transmit-empty interrupts taken.
    interrupts: u64,
}

impl Transmitter {
    /// Moves up to a FIFO's worth of queued bytes into the UART, and
    /// disables the transmit interrupt once the queue is empty. A board's
    /// FIFO takes at most [`FIFO_DEPTH`] bytes; QEMU's always has room, and
    /// the same limit there keeps one interrupt per FIFO's worth.
    fn refill(&mut self) {
        for _ in 0..FIFO_DEPTH {
            let Some(byte) = self.queue.peek() else {
                break;
            };
            if !self.uart.try_write_byte(byte) {
                break;
            }
            self.queue.pop();
        }
        if self.queue.is_empty() && self.enabled {
            self.uart.set_interrupts(Interrupts::NONE);
            self.enabled = false;
        }
    }
}

/// The one transmitter a program may run. Locked with interrupts masked on
/// the program's side; the handler runs masked.
static TRANSMITTER: Mutex<Option<Transmitter>> = Mutex::new(None);

/// The transmit queue made no progress for a second: the transmit
/// interrupt is not being delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stalled {
    /// Bytes still queued.
    pub queued: usize,
}

/// The mini UART's transmitter, driven by its transmit-empty interrupt
/// (see the module documentation). Bytes move while the program sleeps in
/// [`crate::timer`] or otherwise takes interrupts: the runtime masks them
/// elsewhere. The program's interrupt handler ([`irq::set_handler`]) passes
/// every INTID to [`on_interrupt`].
#[derive(Debug)]
pub struct InterruptTransmitter {
    _private: (),
}

impl InterruptTransmitter {
    /// Takes over `uart`, already initialised ([`MiniUart::init`] leaves its
    /// interrupts disabled), and enables `intid`, the AUX block's interrupt,
    /// for this vCPU. `None` if a transmitter already runs.
    pub fn start(uart: MiniUart, intid: u32) -> Option<Self> {
        let started = irq::without_interrupts(|| {
            let mut slot = TRANSMITTER.lock();
            if slot.is_some() {
                return false;
            }
            uart.set_interrupts(Interrupts::NONE);
            *slot = Some(Transmitter {
                uart,
                intid,
                queue: ByteRing::new(),
                enabled: false,
                interrupts: 0,
            });
            true
        });
        if started {
            gic::enable_interrupt(intid);
        }
        started.then_some(Self { _private: () })
    }

    /// Runs `f` on the shared state, with interrupts masked.
    fn with<R>(&self, f: impl FnOnce(&mut Transmitter) -> R) -> Option<R> {
        irq::without_interrupts(|| TRANSMITTER.lock().as_mut().map(f))
    }

    /// Queues as much of `bytes` as fits and enables the transmit interrupt
    /// if anything is queued; returns how many bytes were taken.
    fn queue(&self, bytes: &[u8]) -> usize {
        self.with(|tx| {
            let taken = bytes
                .iter()
                .take_while(|&&byte| tx.queue.push(byte))
                .count();
            if !tx.queue.is_empty() && !tx.enabled {
                tx.uart.set_interrupts(Interrupts::TRANSMIT);
                tx.enabled = true;
            }
            taken
        })
        .unwrap_or(0)
    }

    /// Bytes queued and not yet in the UART.
    pub fn queued(&self) -> usize {
        self.with(|tx| tx.queue.len()).unwrap_or(0)
    }

    /// Transmit-empty interrupts taken so far.
    pub fn interrupts(&self) -> u64 {
        self.with(|tx| tx.interrupts).unwrap_or(0)
    }

    /// Sleeps a step at a time, taking interrupts, while `busy` holds;
    /// `Err` once the queue length has not gone down for [`STALL_MS`].
    fn wait_while(&self, busy: impl Fn(&Self) -> bool) -> Result<(), Stalled> {
        let patience = timer::ticks_from_ms(STALL_MS);
        let mut last = self.queued();
        let mut since = timer::now();
        while busy(self) {
            timer::sleep_ms(WAIT_STEP_MS);
            let now_queued = self.queued();
            if now_queued < last {
                last = now_queued;
                since = timer::now();
            } else if timer::now().saturating_sub(since) > patience {
                return Err(Stalled { queued: now_queued });
            }
        }
        Ok(())
    }

    /// Queues all of `bytes`, waiting (taking interrupts) while the queue is
    /// full.
    pub fn write(&self, bytes: &[u8]) -> Result<(), Stalled> {
        let mut rest = bytes;
        loop {
            rest = rest.get(self.queue(rest)..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(());
            }
            self.wait_while(|tx| tx.queued() >= TX_QUEUE_CAPACITY)?;
        }
    }

    /// Waits (taking interrupts) until every queued byte is in the UART,
    /// then until the UART has sent them.
    pub fn flush(&self) -> Result<(), Stalled> {
        self.wait_while(|tx| tx.queued() != 0)?;
        self.with(|tx| tx.uart.flush());
        Ok(())
    }
}

/// Text for a terminal: CR before each LF.
impl core::fmt::Write for InterruptTransmitter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let mut lines = s.split('\n');
        if let Some(first) = lines.next() {
            self.write(first.as_bytes()).map_err(|_| core::fmt::Error)?;
        }
        for line in lines {
            self.write(b"\r\n").map_err(|_| core::fmt::Error)?;
            self.write(line.as_bytes()).map_err(|_| core::fmt::Error)?;
        }
        Ok(())
    }
}

/// The interrupt handler's part: if `intid` is the running transmitter's
/// and AUX_IRQ and AUX_MU_IIR say the mini UART's transmit FIFO is empty,
/// counts the interrupt and refills the FIFO. True if it did. The AUX SPI
/// masters share the interrupt; their part is left to the caller.
pub fn on_interrupt(intid: u32) -> bool {
    let mut slot = TRANSMITTER.lock();
    let Some(tx) = slot.as_mut().filter(|tx| tx.intid == intid) else {
        return false;
    };
    if !tx.uart.pending_devices().contains(AuxDevices::MINI_UART)
        || tx.uart.pending() != Some(Pending::TransmitEmpty)
    {
        return false;
    }
    tx.interrupts += 1;
    tx.refill();
    true
}
