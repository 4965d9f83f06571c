//! `irq-passthrough uart=B irq=N`: a guest that owns the board's PL011 (its
//! registers passed through at B and its interrupt, SPI INTID N, passed
//! through to its virtual GIC) takes the UART's transmit interrupt — a
//! level-sensitive physical SPI the core links to the virtual one with the
//! HW bit, so the guest's EOI deactivates it:
//!
//! - with UARTIMSC.TXIM set, every byte written raises the transmit
//!   interrupt (QEMU sends at once), which the handler clears through
//!   UARTICR before its EOI; each byte brings one;
//! - disabling the virtual SPI disables the physical one: a byte written
//!   meanwhile raises nothing until the guest enables it again, and then
//!   the still-asserted line is taken at once.
//!
//! The core's own log lines go to the same UART and raise the interrupt
//! too, so the counts are "at least".

use bulkhead_runtime::gic;
use bulkhead_runtime::mmio::Window;
use bulkhead_runtime::{irq, println, psci, timer};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::options;

const SCENARIO: &str = "irq-passthrough";
/// PL011 registers (ARM DDI 0183G §3.2): data, interrupt mask set/clear,
/// masked interrupt status, interrupt clear.
const UARTDR: usize = 0x000;
const UARTIMSC: usize = 0x038;
const UARTMIS: usize = 0x040;
const UARTICR: usize = 0x044;
/// UARTIMSC/UARTMIS/UARTICR bit of the transmit interrupt.
const TX_INTERRUPT: u32 = 1 << 5;
/// Every interrupt bit the PL011 has.
const ALL_INTERRUPTS: u32 = 0x7ff;
const TIMEOUT_MS: u64 = 1000;
const QUIET_MS: u64 = 20;

static UART: AtomicUsize = AtomicUsize::new(0);
static INTID: AtomicU32 = AtomicU32::new(0);
/// Transmit interrupts taken (and cleared) by the handler.
static TAKEN: AtomicU32 = AtomicU32::new(0);

fn uart() -> Window {
    Window::new(UART.load(Ordering::Relaxed))
}

fn on_interrupt(intid: u32) {
    if intid != INTID.load(Ordering::Relaxed) {
        return;
    }
    let status = uart().read_u32(UARTMIS);
    uart().write_u32(UARTICR, status);
    if status & TX_INTERRUPT != 0 {
        TAKEN.fetch_add(1, Ordering::AcqRel);
    }
}

/// Sleeps (taking interrupts) until more than `before` transmit interrupts
/// were taken, or the timeout passes.
fn wait_for_more_than(before: u32) -> bool {
    let deadline = timer::now().saturating_add(timer::ticks_from_ms(TIMEOUT_MS));
    while TAKEN.load(Ordering::Acquire) <= before {
        if timer::now() >= deadline {
            return false;
        }
        timer::sleep_ms(1);
    }
    true
}

fn set_enabled(intid: u32, enabled: bool) {
    if let Some(gicd) = gic::distributor() {
        gicd.irqs().set_enabled(intid, enabled);
    }
}

pub fn run() -> ! {
    let base = options::required_number(SCENARIO, "uart");
    let intid = options::required_number(SCENARIO, "irq");
    UART.store(base as usize, Ordering::Relaxed);
    INTID.store(intid as u32, Ordering::Relaxed);
    let intid = intid as u32;
    irq::set_handler(on_interrupt);
    gic::enable_interrupt(intid);
    uart().write_u32(UARTICR, ALL_INTERRUPTS);
    uart().write_u32(UARTIMSC, TX_INTERRUPT);

    let mut failures = 0;
    let bytes = b"passthrough\r\n";
    let mut delivered = 0;
    for &byte in bytes {
        let before = TAKEN.load(Ordering::Acquire);
        uart().write_u32(UARTDR, u32::from(byte));
        if wait_for_more_than(before) {
            delivered += 1;
        }
    }
    if delivered == bytes.len() {
        println!("{SCENARIO}: each byte brought a transmit interrupt ok");
    } else {
        failures += 1;
        println!(
            "{SCENARIO}: FAIL {delivered} of {} bytes brought a transmit interrupt",
            bytes.len()
        );
    }

    set_enabled(intid, false);
    let before = TAKEN.load(Ordering::Acquire);
    uart().write_u32(UARTDR, u32::from(b'\n'));
    timer::sleep_ms(QUIET_MS);
    let while_disabled = TAKEN.load(Ordering::Acquire) - before;
    set_enabled(intid, true);
    let after_enable = wait_for_more_than(before);
    if while_disabled == 0 && after_enable {
        println!("{SCENARIO}: disabled, then taken once enabled ok");
    } else {
        failures += 1;
        println!(
            "{SCENARIO}: FAIL {while_disabled} taken while disabled, taken after enabling: {after_enable}"
        );
    }
    uart().write_u32(UARTIMSC, 0);
    if failures == 0 {
        println!("{SCENARIO}: all ok");
    }
    psci::system_off()
}
