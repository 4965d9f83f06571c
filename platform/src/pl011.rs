//! Arm PrimeCell PL011 UART (Arm DDI 0183G), polled transmit and receive.
//! Used by the core for its own console; the console service later owns it.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! [u32,
    /// Flag register (UARTFR, DDI 0183G §3.3.3).
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Control register (UARTCR, §3.3.8).
    CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) []
    ],
    /// Line control (UARTLCR_H, §3.3.7).
    LCR_H [
        /// Word length: 0b11 = 8 bits.
        WLEN OFFSET(5) NUMBITS(2) [],
        /// FIFO enable.
        FEN OFFSET(4) NUMBITS(1) []
    ]
];

register_structs! {
    /// PL011 register block.
    pub Pl011Registers {
        (0x000 => dr: ReadWrite<u32>),
        (0x004 => _reserved0),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x02c => lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => cr: ReadWrite<u32, CR::Register>),
        (0x034 => _reserved2),
        (0x038 => imsc: ReadWrite<u32>),
        (0x03c => _reserved3),
        (0x044 => icr: WriteOnly<u32>),
        (0x048 => @END),
    }
}

/// Receive interrupt bit in UARTIMSC/UARTRIS/UARTMIS/UARTICR (§3.3.10-14).
const IMSC_RXIM: u32 = 1 << 4;
/// Receive timeout interrupt bit in the same registers.
const IMSC_RTIM: u32 = 1 << 6;

/// A PL011 at a fixed MMIO address.
#[derive(Debug)]
pub struct Pl011 {
    base: usize,
}

impl Pl011 {
    /// # Safety
    /// `base` must be the address of a PL011 register block, mapped as device
    /// memory, and no one else may drive it concurrently without a lock.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &Pl011Registers {
        // SAFETY: `new`'s contract: `base` is a mapped PL011 register block.
        unsafe { &*(self.base as *const Pl011Registers) }
    }

    /// Enables the UART with FIFOs, 8N1, interrupts masked. The baud rate set
    /// by firmware (or QEMU's default) is kept.
    pub fn init(&self) {
        let r = self.regs();
        r.cr.set(0);
        r.imsc.set(0);
        r.icr.set(0x7ff);
        r.lcr_h.write(LCR_H::WLEN.val(0b11) + LCR_H::FEN::SET);
        r.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        let r = self.regs();
        while r.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        r.dr.set(u32::from(byte));
    }

    /// A received byte, if any.
    pub fn try_read_byte(&self) -> Option<u8> {
        let r = self.regs();
        if r.fr.is_set(FR::RXFE) {
            None
        } else {
            Some((r.dr.get() & 0xff) as u8)
        }
    }

    /// Unmasks the receive and receive-timeout interrupts (UARTIMSC RXIM,
    /// bit 4, and RTIM, bit 6; DDI 0183G §3.3.10), keeping the other mask
    /// bits, so a byte arriving raises the UART's interrupt line.
    pub fn enable_receive_interrupts(&self) {
        let r = self.regs();
        r.imsc.set(r.imsc.get() | IMSC_RXIM | IMSC_RTIM);
    }

    /// Clears the receive and receive-timeout interrupts (UARTICR RXIC and
    /// RTIC, §3.3.14). Both also clear themselves once the receive FIFO is
    /// drained; clearing them explicitly covers a byte that arrived between
    /// the last read and the clear.
    pub fn clear_receive_interrupts(&self) {
        self.regs().icr.set(IMSC_RXIM | IMSC_RTIM);
    }

    /// Waits until every queued byte has left the UART.
    pub fn flush(&self) {
        while self.regs().fr.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }
}
