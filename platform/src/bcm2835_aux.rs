//! The BCM2835-family mini UART (UART1 of the AUX block, on the Raspberry
//! Pi 4 at 0xFE21_5040): an 8250-like UART with 8-byte FIFOs whose baud
//! rate derives from the VPU core clock, polled or interrupt driven.
//! Bulkhead's console is the PL011; the mini UART is a device a partition
//! may own.
//!
//! Register layout: BCM2711 ARM Peripherals §2.1.1 (AUX_IRQ, AUX_ENABLES)
//! and §2.2.2 (AUX_MU_*), offsets from the AUX page. Every access is 32 bits
//! wide, which the block requires (older QEMU models refuse anything else).
//!
//! # Interrupts
//!
//! The AUX block has one interrupt line (SPI 93 on the BCM2711, INTID 125)
//! for the mini UART and the two SPI masters; AUX_IRQ (offset 0) says which
//! of them asserts it ([`AuxDevices`]). The mini UART's part follows
//! AUX_MU_IER and is reported by AUX_MU_IIR like a 16550's:
//!
//! - AUX_MU_IER bit 0 enables the receive interrupt (asserted while the
//!   receive FIFO holds a byte) and bit 1 the transmit interrupt (asserted
//!   while the transmit FIFO is empty): the 16550's ERBFI and ETBEI, which
//!   Linux's 8250_bcm2835aux driver relies on. Both the BCM2835 and the
//!   BCM2711 ARM Peripherals tables print the two bits the other way round
//!   (bit 0 transmit, bit 1 receive); that is a documentation error (the
//!   eLinux "BCM2835 datasheet errata" for page 12, and the Raspberry Pi
//!   documentation issue 2385 for the BCM2711: setting bit 1 gives an
//!   interrupt storm while the transmitter is idle). QEMU's `bcm2835_aux`
//!   model followed the datasheet until QEMU 3.0 and has used the hardware's
//!   layout since (its RX_INT is 0x1, TX_INT 0x2): with the datasheet's bit,
//!   QEMU 10.0.2 takes no transmit interrupt (checked with the `mini-uart`
//!   test scenario). So QEMU and a board agree, and the driver uses the
//!   hardware's layout ([`Interrupts`]). The same errata say bits 3:2,
//!   printed as "don't care", are needed for receive interrupts (on a 16550
//!   they enable the line and modem status interrupts);
//!   [`Interrupts::RECEIVE`] sets them, QEMU ignores them.
//! - AUX_MU_IIR bit 0 is clear while an interrupt is pending, and bits 2:1
//!   say which: 01 transmit FIFO empty, 10 receive FIFO holds a byte (the
//!   datasheet has these right; QEMU models them the same).
//! - Where QEMU differs: its transmitter sends each byte the moment it is
//!   written, so its transmit FIFO is always empty, LSR always says it can
//!   take a byte, and the transmit interrupt stays asserted for as long as
//!   it is enabled. On a board the FIFO fills (8 bytes) and the interrupt
//!   drops until it has drained. A driver that writes at most a FIFO's worth
//!   per interrupt ([`FIFO_DEPTH`]) and disables the transmit interrupt once
//!   it has nothing left to send behaves the same on both. QEMU's AUX_IRQ
//!   has only the mini UART's bit (it models no SPI master).

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    /// The AUX page's mini UART registers.
    pub AuxRegisters {
        (0x00 => aux_irq: ReadOnly<u32>),
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
/// AUX_MU_IIR bit 0: clear while an interrupt is pending (§2.2.2).
const IIR_NONE_PENDING: u32 = 1 << 0;
/// AUX_MU_IIR bits 2:1 on read: which interrupt is pending.
const IIR_ID_MASK: u32 = 0b110;
/// IIR ID 01: the transmit FIFO is empty.
const IIR_ID_TRANSMIT_EMPTY: u32 = 0b010;
/// IIR ID 10: the receive FIFO holds a byte.
const IIR_ID_RECEIVE_READY: u32 = 0b100;
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

/// Bytes the transmit (and the receive) FIFO holds (§2.2: "8 symbols deep").
pub const FIFO_DEPTH: usize = 8;

/// AUX_IRQ (§2.1.1): which AUX devices assert the block's shared interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxDevices(u32);

impl AuxDevices {
    /// Bit 0: the mini UART.
    pub const MINI_UART: Self = Self(1 << 0);
    /// Bit 1: SPI master 1.
    pub const SPI1: Self = Self(1 << 1);
    /// Bit 2: SPI master 2.
    pub const SPI2: Self = Self(1 << 2);

    /// The devices an AUX_IRQ value names (other bits are reserved).
    pub const fn from_register(value: u32) -> Self {
        Self(value & (Self::MINI_UART.0 | Self::SPI1.0 | Self::SPI2.0))
    }

    /// True if every device of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if no device asserts the interrupt.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Mini UART interrupts to enable: an AUX_MU_IER value in the hardware's
/// layout (see the module documentation for the datasheet's error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupts(u32);

impl Interrupts {
    /// None.
    pub const NONE: Self = Self(0);
    /// Bit 0 (ERBFI), with bits 3:2 that the errata say reception also
    /// needs: asserted while the receive FIFO holds a byte.
    pub const RECEIVE: Self = Self(0b1101);
    /// Bit 1 (ETBEI): asserted while the transmit FIFO is empty.
    pub const TRANSMIT: Self = Self(1 << 1);

    /// Both sets.
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The AUX_MU_IER value.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

/// The mini UART interrupt AUX_MU_IIR reports as pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// The transmit FIFO is empty (and the transmit interrupt enabled).
    TransmitEmpty,
    /// The receive FIFO holds a byte (and the receive interrupt enabled).
    ReceiveReady,
}

impl Pending {
    /// The interrupt an AUX_MU_IIR value reports, if any. ID 11 cannot
    /// occur (§2.2.2) and counts as none.
    pub const fn from_iir(iir: u32) -> Option<Self> {
        if iir & IIR_NONE_PENDING != 0 {
            return None;
        }
        match iir & IIR_ID_MASK {
            IIR_ID_TRANSMIT_EMPTY => Some(Self::TransmitEmpty),
            IIR_ID_RECEIVE_READY => Some(Self::ReceiveReady),
            _ => None,
        }
    }
}

/// How far the rate a divisor gives may be from the rate asked for, in
/// percent: within it, both ends of an 8N1 line still sample every bit.
const MAX_BAUD_ERROR_PERCENT: u64 = 2;

/// The AUX_MU_BAUD value for `baud` from a VPU clock of `clock_hz`:
/// baud = clock / (8 × (divisor + 1)) (§2.2.1), rounded to the nearest
/// divisor. `None` when no 16-bit divisor comes within
/// `MAX_BAUD_ERROR_PERCENT` of the rate.
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
        while !self.try_write_byte(byte) {
            core::hint::spin_loop();
        }
    }

    /// Queues one byte in the transmit FIFO if it has room; false if it is
    /// full.
    pub fn try_write_byte(&self, byte: u8) -> bool {
        let r = self.regs();
        let room = r.lsr.get() & LSR_TX_EMPTY != 0;
        if room {
            r.io.set(u32::from(byte));
        }
        room
    }

    /// Enables exactly `interrupts` (AUX_MU_IER), disabling the others.
    pub fn set_interrupts(&self, interrupts: Interrupts) {
        self.regs().ier.set(interrupts.bits());
    }

    /// The AUX devices asserting the block's shared interrupt (AUX_IRQ).
    pub fn pending_devices(&self) -> AuxDevices {
        AuxDevices::from_register(self.regs().aux_irq.get())
    }

    /// The mini UART interrupt pending, if any (AUX_MU_IIR). The datasheet
    /// ties the transmit interrupt to the FIFO being empty, not to IIR
    /// reads as a 16550 does; callers refill or disable rather than rely on
    /// either.
    pub fn pending(&self) -> Option<Pending> {
        Pending::from_iir(self.regs().iir.get())
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
    fn iir_names_the_pending_interrupt() {
        // FIFO-enable bits 7:6 read as 1 (QEMU and the datasheet).
        assert_eq!(Pending::from_iir(0xc1), None);
        assert_eq!(Pending::from_iir(0xc2), Some(Pending::TransmitEmpty));
        assert_eq!(Pending::from_iir(0xc4), Some(Pending::ReceiveReady));
        // QEMU reports the ID of the transmit interrupt with nothing pending.
        assert_eq!(Pending::from_iir(0xc3), None);
        assert_eq!(Pending::from_iir(0xc6), None, "ID 11 cannot occur");
    }

    #[test]
    fn aux_irq_names_the_devices() {
        let both = AuxDevices::from_register(0b101);
        assert!(both.contains(AuxDevices::MINI_UART) && both.contains(AuxDevices::SPI2));
        assert!(!both.contains(AuxDevices::SPI1));
        assert!(AuxDevices::from_register(0x8).is_empty(), "reserved bits");
    }

    #[test]
    fn interrupt_enables_use_the_hardware_layout() {
        assert_eq!(Interrupts::TRANSMIT.bits(), 0b10);
        assert_eq!(Interrupts::RECEIVE.bits() & 0b11, 0b01);
        assert_eq!(
            Interrupts::RECEIVE.with(Interrupts::TRANSMIT).bits(),
            0b1111
        );
        assert_eq!(Interrupts::NONE.bits(), 0);
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
