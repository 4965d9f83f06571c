//! The console of last resort, for when `CONSOLE_WRITE` is not available (bare
//! QEMU, used to test the runtime itself): the PL011 that the device tree's
//! `/chosen/stdout-path` names, written by polling. Under Bulkhead the console
//! is the `CONSOLE_WRITE` hypercall and this UART is not touched.
//!
//! Registers from the PrimeCell UART (PL011) TRM, ARM DDI 0183: UARTDR at
//! 0x000, UARTFR at 0x018 with TXFF (transmit FIFO full) in bit 5. QEMU's
//! model and the firmware-initialised UARTs need no setup to transmit.

use crate::devicetree;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_bitfields![u32,
    FLAGS [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) []
    ]
];

register_structs! {
    Pl011Registers {
        (0x000 => data: ReadWrite<u32>),
        (0x004 => _reserved),
        (0x018 => flags: ReadOnly<u32, FLAGS::Register>),
        (0x01c => @END),
    }
}

/// The UART's IPA, looked up once (0 = none).
static BASE: spin::Once<usize> = spin::Once::new();

/// Polls of a full FIFO before a byte is dropped: a wedged UART must not hang
/// a fault report.
const FULL_FIFO_POLLS: u32 = 1 << 20;

fn registers() -> Option<&'static Pl011Registers> {
    let base = *BASE.call_once(|| devicetree::stdout_pl011().unwrap_or(0));
    if base == 0 || !base.is_multiple_of(4) {
        return None;
    }
    // SAFETY: the address is the `reg` of the PL011 node the device tree names
    // as stdout, identity mapped as Device memory (it is below 1 GiB); only
    // this module accesses it, and every access is a volatile register access.
    Some(unsafe { &*(base as *const Pl011Registers) })
}

/// Writes `bytes` to the fallback UART (with CR before LF for terminals), or
/// drops them if there is none.
pub(crate) fn write_fallback(bytes: &[u8]) {
    let Some(uart) = registers() else {
        return;
    };
    for &byte in bytes {
        if byte == b'\n' {
            put(uart, b'\r');
        }
        put(uart, byte);
    }
}

fn put(uart: &Pl011Registers, byte: u8) {
    for _ in 0..FULL_FIFO_POLLS {
        if !uart.flags.is_set(FLAGS::TXFF) {
            uart.data.set(u32::from(byte));
            return;
        }
        core::hint::spin_loop();
    }
}
