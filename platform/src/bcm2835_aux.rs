//! The BCM2835-family mini UART (UART1 of the AUX block, on the Raspberry
//! Pi 4 at 0xFE21_5040), polled: an 8250-like UART with 8-byte FIFOs whose
//! baud rate derives from the VPU core clock. Bulkhead's console is the
//! PL011; the mini UART is a device a partition may own.
//!
//! Register layout: BCM2711 ARM Peripherals §2.1.1 (AUX_IRQ, AUX_ENABLES)
//! and §2.2.2 (AUX_MU_*), offsets from the AUX page. Every access is 32 bits
//! wide, which the block requires (QEMU's model refuses anything else).

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    /// The AUX page's mini UART registers.
    pub AuxRegisters {
        (0x00 => _aux_irq),
        (0x04 => enables: ReadWrite<u32>),
        (0x08 => _reserved0),
        (0x40 => io: ReadWrite<u32>),
        (0x44 => ier: ReadWrite<u32>),
        (0x48 => iir: ReadWrite<u32>),
        (0x4c => lcr: ReadWrite<u32>),
        (0x50 => mcr: ReadWrite<u32>),
        (0x54 => lsr: ReadOnly<u32>),
        (0x58 => _msr_scratch),
        (0x60 => cntl: ReadWrite<u32>),
        (0x64 => _stat),
        (0x68 => baud: ReadWrite<u32>),
        (0x6c => @END),
    }
}

/// AUX_ENABLES bit 0: the mini UART's registers and clock are on. Bits 1 and
/// 2 enable the SPI masters, which are left as they are.
const ENABLES_MINI_UART: u32 = 1 << 0;
/// AUX_MU_LCR data size 8 bits: 0b11 (the BCM2835 errata: bit 1 is needed
/// too, despite the documented 1-bit field).
const LCR_8_BITS: u32 = 0b11;
/// AUX_MU_IIR write: clear the receive (bit 1) and transmit (bit 2) FIFOs.
const IIR_CLEAR_FIFOS: u32 = 0b110;
/// AUX_MU_LSR bit 0: the receive FIFO holds a byte.
const LSR_DATA_READY: u32 = 1 << 0;
/// AUX_MU_LSR bit 5: the transmit FIFO can take a byte.
const LSR_TX_EMPTY: u32 = 1 << 5;
/// AUX_MU_LSR bit 6: the transmit FIFO is empty and the transmitter idle.
const LSR_TX_IDLE: u32 = 1 << 6;
/// AUX_MU_CNTL: receiver (bit 0) and transmitter (bit 1) enabled.
const CNTL_RX_TX: u32 = 0b11;

/// How far the rate a divisor gives may be from the rate asked for, in
/// percent: within it, both ends of an 8N1 line still sample every bit.
const MAX_BAUD_ERROR_PERCENT: u64 = 2;

/// The AUX_MU_BAUD value for `baud` from a VPU clock of `clock_hz`:
/// baud = clock / (8 × (divisor + 1)) (§2.2.1), rounded to the nearest
/// divisor. `None` when no 16-bit divisor comes within
/// [`MAX_BAUD_ERROR_PERCENT`] of the rate.
pub fn baud_divisor(clock_hz: u32, baud: u32) -> Option<u16> {
    let per_tick = u64::from(baud).checked_mul(8).filter(|&t| t != 0)?;
    let ticks = (u64::from(clock_hz) + per_tick / 2) / per_tick;
    let divisor = u16::try_from(ticks.checked_sub(1)?).ok()?;
    let actual = u64::from(clock_hz) / (8 * ticks);
    let error = actual.abs_diff(u64::from(baud));
    (error * 100 <= u64::from(baud) * MAX_BAUD_ERROR_PERCENT).then_some(divisor)
}

/// The mini UART of an AUX page at a fixed MMIO address.
#[derive(Debug)]
pub struct MiniUart {
    base: usize,
}

impl MiniUart {
    /// # Safety
    /// `base` must be the address of an AUX register page, mapped as device
    /// memory, and no one else may drive its mini UART concurrently.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &AuxRegisters {
        // SAFETY: `new`'s contract: `base` is a mapped AUX register page.
        unsafe { &*(self.base as *const AuxRegisters) }
    }

    /// Turns the mini UART on at the baud rate `divisor` gives ([`baud_divisor`]):
    /// 8N1, FIFOs cleared, interrupts off, no flow control.
    pub fn init(&self, divisor: u16) {
        let r = self.regs();
        r.enables.set(r.enables.get() | ENABLES_MINI_UART);
        r.cntl.set(0);
        r.ier.set(0);
        r.lcr.set(LCR_8_BITS);
        r.mcr.set(0);
        r.iir.set(IIR_CLEAR_FIFOS);
        r.baud.set(u32::from(divisor));
        r.cntl.set(CNTL_RX_TX);
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        let r = self.regs();
        while r.lsr.get() & LSR_TX_EMPTY == 0 {
            core::hint::spin_loop();
        }
        r.io.set(u32::from(byte));
    }

    /// A received byte, if any.
    pub fn try_read_byte(&self) -> Option<u8> {
        let r = self.regs();
        (r.lsr.get() & LSR_DATA_READY != 0).then(|| (r.io.get() & 0xff) as u8)
    }

    /// Waits until every queued byte has left the UART.
    pub fn flush(&self) {
        while self.regs().lsr.get() & LSR_TX_IDLE == 0 {
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisors_for_the_pi_4_core_clock() {
        // 500 MHz / (8 × 543) = 115 101 baud, 0.09 % slow.
        assert_eq!(baud_divisor(500_000_000, 115_200), Some(542));
        // The Linux bcm2835aux driver's example: 250 MHz core clock.
        assert_eq!(baud_divisor(250_000_000, 115_200), Some(270));
        assert_eq!(baud_divisor(500_000_000, 9_600), Some(6_509));
    }

    #[test]
    fn impossible_rates_have_no_divisor() {
        assert_eq!(baud_divisor(500_000_000, 0), None);
        // Faster than clock / 8, or too coarse near it (1 MHz instead of 1.5).
        assert_eq!(baud_divisor(8_000_000, 2_000_000), None);
        assert_eq!(baud_divisor(8_000_000, 1_500_000), None);
        assert_eq!(baud_divisor(8_000_000, 1_000_000), Some(0));
        // Slower than a 16-bit divisor reaches.
        assert_eq!(baud_divisor(500_000_000, 100), None);
    }
}
