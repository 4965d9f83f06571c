//! A PL011 UART as a guest sees it, emulated without hardware: the register
//! file of the Arm PrimeCell UART (PL011) Technical Reference Manual, Arm DDI
//! 0183G, §3 "Programmers Model", complete enough for Linux's `amba-pl011`
//! driver (probe, startup, termios, interrupt handler, polled console) and
//! its `earlycon=pl011`.
//!
//! What is modelled, and where it departs from the silicon on purpose:
//!
//! - Transmit drains instantly: every store to UARTDR hands the byte to the
//!   caller at once, so the TX FIFO is always empty (FR.TXFE = 1, TXFF = 0,
//!   BUSY = 0). Bytes are sent whether or not UARTEN/TXE are set, as QEMU's
//!   model does: `earlycon` writes before anything enables the UART.
//! - A 16-entry receive FIFO (one entry while LCR_H.FEN = 0, "character
//!   mode", §2.4.3). A byte that finds it full is lost and raises the overrun
//!   error (RSR.OE, RIS.OERIS).
//! - Interrupts are levels computed from that state (§3.4): TXRIS while the
//!   transmitter is enabled (its FIFO is always at or below any trigger
//!   level), RXRIS while the RX FIFO holds at least the IFLS trigger level,
//!   RTRIS while it holds anything (the emulated line is idle at once, so the
//!   receive timeout has always expired). Writing ICR clears only the latched
//!   overrun interrupt; the level interrupts clear when their cause goes,
//!   which is what Linux relies on (it never ICRs TX/RX/RT in its handler).
//! - The modem lines read as connected: FR.CTS, DSR and DCD are 1, and no
//!   modem-status interrupt is ever raised.
//! - CR.LBE (loopback) sends transmitted bytes to the receive FIFO instead.
//! - Baud rate, line format, IrDA and DMA registers hold what is written and
//!   have no further effect.
//! - The ID registers say PL011 revision 1 (UARTPeriphID2 = 0x14): Linux
//!   takes a revision below 3 to mean a 16-deep FIFO (`AMBA_REV_BITS`), which
//!   is the depth modelled here.

use crate::byte_ring::ByteRing;

/// Bytes the UART decodes: one 4 KiB page (§3.2).
pub const WINDOW_SIZE: u64 = 0x1000;
/// Depth of the receive FIFO with LCR_H.FEN set (§2.4.3).
pub const FIFO_DEPTH: usize = 16;

/// Every register a load can read something other than zero from without
/// a side effect (§3.2, Table 3-1), UARTDR excepted: what a published
/// register page must hold (`crate::posted_uart`).
pub const READABLE: [u64; 20] = [
    offset::RSR_ECR,
    offset::FR,
    offset::ILPR,
    offset::IBRD,
    offset::FBRD,
    offset::LCR_H,
    offset::CR,
    offset::IFLS,
    offset::IMSC,
    offset::RIS,
    offset::MIS,
    offset::DMACR,
    offset::PERIPH_ID0,
    offset::PERIPH_ID0 + 4,
    offset::PERIPH_ID0 + 8,
    offset::PERIPH_ID0 + 12,
    offset::PCELL_ID0,
    offset::PCELL_ID0 + 4,
    offset::PCELL_ID0 + 8,
    offset::PCELL_ID0 + 12,
];

/// Register offsets (§3.2, Table 3-1).
pub mod offset {
    /// Data register.
    pub const DR: u64 = 0x000;
    /// Receive status (read) / error clear (write).
    pub const RSR_ECR: u64 = 0x004;
    /// Flag register.
    pub const FR: u64 = 0x018;
    /// IrDA low-power counter.
    pub const ILPR: u64 = 0x020;
    /// Integer baud rate divisor.
    pub const IBRD: u64 = 0x024;
    /// Fractional baud rate divisor.
    pub const FBRD: u64 = 0x028;
    /// Line control.
    pub const LCR_H: u64 = 0x02C;
    /// Control.
    pub const CR: u64 = 0x030;
    /// Interrupt FIFO level select.
    pub const IFLS: u64 = 0x034;
    /// Interrupt mask set/clear.
    pub const IMSC: u64 = 0x038;
    /// Raw interrupt status.
    pub const RIS: u64 = 0x03C;
    /// Masked interrupt status.
    pub const MIS: u64 = 0x040;
    /// Interrupt clear.
    pub const ICR: u64 = 0x044;
    /// DMA control.
    pub const DMACR: u64 = 0x048;
    /// UARTPeriphID0; ID1..ID3 follow at 4-byte steps.
    pub const PERIPH_ID0: u64 = 0xFE0;
    /// UARTPCellID0; ID1..ID3 follow at 4-byte steps, up to 0xFFC.
    pub const PCELL_ID0: u64 = 0xFF0;
}

/// UARTFR bits (§3.3.3).
pub mod fr {
    /// Clear to send.
    pub const CTS: u32 = 1 << 0;
    /// Data set ready.
    pub const DSR: u32 = 1 << 1;
    /// Data carrier detect.
    pub const DCD: u32 = 1 << 2;
    /// Transmitting.
    pub const BUSY: u32 = 1 << 3;
    /// Receive FIFO empty.
    pub const RXFE: u32 = 1 << 4;
    /// Transmit FIFO full.
    pub const TXFF: u32 = 1 << 5;
    /// Receive FIFO full.
    pub const RXFF: u32 = 1 << 6;
    /// Transmit FIFO empty.
    pub const TXFE: u32 = 1 << 7;
}

/// UARTCR bits (§3.3.8).
pub mod cr {
    /// UART enable.
    pub const UARTEN: u32 = 1 << 0;
    /// Loopback enable.
    pub const LBE: u32 = 1 << 7;
    /// Transmit enable.
    pub const TXE: u32 = 1 << 8;
    /// Receive enable.
    pub const RXE: u32 = 1 << 9;
}

/// UARTLCR_H bits (§3.3.7).
pub mod lcr_h {
    /// FIFO enable.
    pub const FEN: u32 = 1 << 4;
}

/// Interrupt bits shared by UARTIMSC, UARTRIS, UARTMIS and UARTICR
/// (§3.3.10–§3.3.14).
pub mod int {
    /// Receive.
    pub const RX: u32 = 1 << 4;
    /// Transmit.
    pub const TX: u32 = 1 << 5;
    /// Receive timeout.
    pub const RT: u32 = 1 << 6;
    /// Framing error.
    pub const FE: u32 = 1 << 7;
    /// Parity error.
    pub const PE: u32 = 1 << 8;
    /// Break error.
    pub const BE: u32 = 1 << 9;
    /// Overrun error.
    pub const OE: u32 = 1 << 10;
    /// Every defined bit (the modem interrupts are bits 0..=3).
    pub const ALL: u32 = 0x7FF;
}

/// UARTRSR bit: overrun error (§3.3.2).
const RSR_OE: u32 = 1 << 3;

/// UARTPeriphID0..3 (§3.3.15): part 0x011, designer 0x41 (Arm), revision 1.
pub const PERIPHERAL_ID: [u8; 4] = [0x11, 0x10, 0x14, 0x00];
/// UARTPCellID0..3 (§3.3.16): the PrimeCell identification.
pub const PRIMECELL_ID: [u8; 4] = [0x0D, 0xF0, 0x05, 0xB1];

/// Reset values (§3.3, Table 3-1): TXE and RXE set, UART disabled; both FIFO
/// triggers at half full.
const CR_RESET: u32 = cr::TXE | cr::RXE;
const IFLS_RESET: u32 = 0x12;

/// Writable bits of each read/write register (§3.3).
const ILPR_MASK: u32 = 0xFF;
const IBRD_MASK: u32 = 0xFFFF;
const FBRD_MASK: u32 = 0x3F;
const LCR_H_MASK: u32 = 0xFF;
const CR_MASK: u32 = 0xFFFF;
const IFLS_MASK: u32 = 0x3F;
const DMACR_MASK: u32 = 0x7;

/// The FIFO level a 3-bit IFLS field selects, in entries of a 16-deep FIFO:
/// 1/8, 1/4, 1/2, 3/4, 7/8 (§3.3.9); the reserved encodings act as 1/2.
fn trigger_level(select: u32) -> usize {
    match select {
        0b000 => 2,
        0b001 => 4,
        0b011 => 12,
        0b100 => 14,
        _ => 8,
    }
}

/// The bits of an access of `size` bytes.
fn size_mask(size: u8) -> u64 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        4 => 0xFFFF_FFFF,
        _ => u64::MAX,
    }
}

/// One emulated PL011.
#[derive(Clone, Copy, Debug)]
pub struct Pl011Model {
    rx: ByteRing<FIFO_DEPTH>,
    /// Receive status: the overrun bit.
    rsr: u32,
    ilpr: u32,
    ibrd: u32,
    fbrd: u32,
    lcr_h: u32,
    cr: u32,
    ifls: u32,
    imsc: u32,
    dmacr: u32,
    /// Raw interrupts that stay set until ICR clears them (overrun).
    latched: u32,
}

impl Default for Pl011Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Pl011Model {
    /// A UART in its reset state.
    pub const fn new() -> Self {
        Self {
            rx: ByteRing::new(),
            rsr: 0,
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            lcr_h: 0,
            cr: CR_RESET,
            ifls: IFLS_RESET,
            imsc: 0,
            dmacr: 0,
            latched: 0,
        }
    }

    /// Entries the receive FIFO has: 16, or 1 in character mode.
    fn rx_capacity(&self) -> usize {
        if self.lcr_h & lcr_h::FEN != 0 {
            FIFO_DEPTH
        } else {
            1
        }
    }

    /// The receive FIFO level at which RXRIS rises.
    fn rx_trigger(&self) -> usize {
        if self.lcr_h & lcr_h::FEN != 0 {
            trigger_level((self.ifls >> 3) & 0b111)
        } else {
            1
        }
    }

    /// Bytes waiting in the receive FIFO.
    pub fn rx_level(&self) -> usize {
        self.rx.len()
    }

    /// Whether another received byte would fit.
    pub fn rx_has_room(&self) -> bool {
        self.rx.len() < self.rx_capacity()
    }

    /// UARTRIS: the raw interrupt status.
    pub fn raw_interrupts(&self) -> u32 {
        let mut ris = self.latched;
        if self.cr & (cr::UARTEN | cr::TXE) == cr::UARTEN | cr::TXE {
            ris |= int::TX;
        }
        if !self.rx.is_empty() {
            ris |= int::RT;
        }
        if self.rx.len() >= self.rx_trigger() {
            ris |= int::RX;
        }
        ris
    }

    /// Loopback is on (CR.LBE): transmitted bytes go to the receive FIFO,
    /// so UARTFR then does depend on them.
    pub fn loopback(&self) -> bool {
        self.cr & cr::LBE != 0
    }

    /// UARTMIS: the raw status under the mask.
    pub fn masked_interrupts(&self) -> u32 {
        self.raw_interrupts() & self.imsc
    }

    /// The UART's interrupt line (UARTINTR, the OR of the masked interrupts).
    pub fn interrupt_level(&self) -> bool {
        self.masked_interrupts() != 0
    }

    /// UARTFR (§3.3.3). It depends only on the receive FIFO: transmission is
    /// instantaneous (TXFE = 1, TXFF = BUSY = 0), so the value never waits
    /// on a transmitted byte — which is what lets the console publish it to
    /// the core while the guest's stores to UARTDR are still queued there
    /// (`crate::posted_uart`).
    pub fn flags(&self) -> u32 {
        let mut flags = fr::CTS | fr::DSR | fr::DCD | fr::TXFE;
        if self.rx.is_empty() {
            flags |= fr::RXFE;
        }
        if !self.rx_has_room() {
            flags |= fr::RXFF;
        }
        flags
    }

    /// A byte arrives on the receive line. Returns false if the FIFO was
    /// full: the byte is lost and the overrun error raised, as on the
    /// hardware (§3.3.2).
    pub fn receive(&mut self, byte: u8) -> bool {
        if !self.rx_has_room() {
            self.rsr |= RSR_OE;
            self.latched |= int::OE;
            return false;
        }
        self.rx.push(byte);
        true
    }

    /// The value of the 32-bit register at `register` (4-byte aligned);
    /// `consume` lets a read of UARTDR take the byte from the FIFO.
    fn read_register(&mut self, register: u64, consume: bool) -> u32 {
        if register == offset::DR && consume {
            return self.rx.pop().map_or(0, u32::from);
        }
        self.peek(register)
    }

    /// The 32-bit register at `register` (4-byte aligned) as a load without
    /// side effects reads it: UARTDR reads zero (only a load of its lowest
    /// byte takes a received byte, and it is not one of [`READABLE`]), as
    /// does every offset outside [`READABLE`].
    pub fn peek(&self, register: u64) -> u32 {
        match register {
            offset::RSR_ECR => self.rsr,
            offset::FR => self.flags(),
            offset::ILPR => self.ilpr,
            offset::IBRD => self.ibrd,
            offset::FBRD => self.fbrd,
            offset::LCR_H => self.lcr_h,
            offset::CR => self.cr,
            offset::IFLS => self.ifls,
            offset::IMSC => self.imsc,
            offset::RIS => self.raw_interrupts(),
            offset::MIS => self.masked_interrupts(),
            offset::DMACR => self.dmacr,
            offset::PERIPH_ID0..=0xFEC => id_byte(&PERIPHERAL_ID, register - offset::PERIPH_ID0),
            offset::PCELL_ID0..=0xFFC => id_byte(&PRIMECELL_ID, register - offset::PCELL_ID0),
            // A DR load that does not consume reads as zero; ICR is
            // write-only; everything else is reserved (reads as zero).
            _ => 0,
        }
    }

    /// A guest load of `size` bytes at `offset` in the window. A load that
    /// does not start at a register's lowest byte reads its upper bytes and
    /// has no side effect.
    pub fn read(&mut self, offset: u64, size: u8) -> u64 {
        let register = offset & !3;
        let shift = (offset & 3) * 8;
        let value = self.read_register(register, shift == 0);
        (u64::from(value) >> shift) & size_mask(size)
    }

    /// A guest store of `size` bytes of `value` at `offset`. Returns the
    /// byte to transmit, if the store was to UARTDR (and loopback is off).
    pub fn write(&mut self, offset: u64, size: u8, value: u64) -> Option<u8> {
        let register = offset & !3;
        let shift = (offset & 3) * 8;
        // The bits of the 32-bit register this store covers, and their value.
        let lanes = u32::try_from((size_mask(size) << shift) & 0xFFFF_FFFF).unwrap_or(u32::MAX);
        let bits =
            u32::try_from(((value & size_mask(size)) << shift) & 0xFFFF_FFFF).unwrap_or(u32::MAX);
        let merge = |old: u32, mask: u32| ((old & !lanes) | bits) & mask;
        match register {
            offset::DR => {
                if shift != 0 {
                    return None;
                }
                let byte = (bits & 0xFF) as u8;
                if self.cr & cr::LBE != 0 {
                    self.receive(byte);
                    return None;
                }
                return Some(byte);
            }
            // Any store to UARTECR clears the error status (§3.3.2).
            offset::RSR_ECR => self.rsr = 0,
            offset::ILPR => self.ilpr = merge(self.ilpr, ILPR_MASK),
            offset::IBRD => self.ibrd = merge(self.ibrd, IBRD_MASK),
            offset::FBRD => self.fbrd = merge(self.fbrd, FBRD_MASK),
            offset::LCR_H => self.lcr_h = merge(self.lcr_h, LCR_H_MASK),
            offset::CR => self.cr = merge(self.cr, CR_MASK),
            offset::IFLS => self.ifls = merge(self.ifls, IFLS_MASK),
            offset::IMSC => self.imsc = merge(self.imsc, int::ALL),
            offset::ICR => self.latched &= !(bits & int::ALL),
            offset::DMACR => self.dmacr = merge(self.dmacr, DMACR_MASK),
            // FR, RIS, MIS and the ID registers are read-only; the rest is
            // reserved.
            _ => {}
        }
        None
    }
}

/// Byte `index / 4` of an ID register set, for the register at that
/// distance from the first one.
fn id_byte(ids: &[u8; 4], distance: u64) -> u32 {
    usize::try_from(distance / 4)
        .ok()
        .and_then(|index| ids.get(index))
        .map_or(0, |&byte| u32::from(byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read32(uart: &mut Pl011Model, register: u64) -> u32 {
        uart.read(register, 4) as u32
    }

    /// The read/write registers and the bits of each that keep a value.
    const WRITABLE: [(u64, u32); 8] = [
        (offset::ILPR, 0xFF),
        (offset::IBRD, 0xFFFF),
        (offset::FBRD, 0x3F),
        (offset::LCR_H, 0xFF),
        (offset::CR, 0xFFFF),
        (offset::IFLS, 0x3F),
        (offset::IMSC, 0x7FF),
        (offset::DMACR, 0x7),
    ];

    #[test]
    fn every_other_offset_peeks_as_zero() {
        // A model with every register non-zero that can be (loopback
        // aside, which would swallow nothing here but is not the point).
        let mut uart = Pl011Model::new();
        for (register, mask) in WRITABLE {
            write32(
                &mut uart,
                register,
                mask & !(cr::LBE * u32::from(register == offset::CR)),
            );
        }
        for _ in 0..20 {
            uart.receive(b'x');
        }
        for register in (0..WINDOW_SIZE).step_by(4) {
            let peeked = uart.peek(register);
            if !READABLE.contains(&register) {
                assert_eq!(peeked, 0, "offset {register:#x}");
            }
        }
        // And peeking takes nothing from the FIFO.
        assert_eq!(uart.rx_level(), FIFO_DEPTH);
        for register in READABLE {
            assert_eq!(uart.peek(register), read32(&mut uart, register));
        }
    }

    fn write32(uart: &mut Pl011Model, register: u64, value: u32) -> Option<u8> {
        uart.write(register, 4, u64::from(value))
    }

    #[test]
    fn reset_state() {
        let mut uart = Pl011Model::new();
        assert_eq!(read32(&mut uart, offset::CR), 0x300);
        assert_eq!(read32(&mut uart, offset::IFLS), 0x12);
        assert_eq!(read32(&mut uart, offset::IMSC), 0);
        assert_eq!(read32(&mut uart, offset::LCR_H), 0);
        let flags = read32(&mut uart, offset::FR);
        assert_eq!(flags & (fr::TXFE | fr::RXFE), fr::TXFE | fr::RXFE);
        assert_eq!(flags & (fr::TXFF | fr::RXFF | fr::BUSY), 0);
        assert_eq!(
            flags & (fr::CTS | fr::DSR | fr::DCD),
            fr::CTS | fr::DSR | fr::DCD
        );
        // UART disabled: no transmit interrupt, nothing received.
        assert_eq!(read32(&mut uart, offset::RIS), 0);
        assert!(!uart.interrupt_level());
    }

    #[test]
    fn id_registers() {
        let mut uart = Pl011Model::new();
        let periph: Vec<u32> = (0..4).map(|i| read32(&mut uart, 0xFE0 + 4 * i)).collect();
        assert_eq!(periph, vec![0x11, 0x10, 0x14, 0x00]);
        let cell: Vec<u32> = (0..4).map(|i| read32(&mut uart, 0xFF0 + 4 * i)).collect();
        assert_eq!(cell, vec![0x0D, 0xF0, 0x05, 0xB1]);
        // What Linux's amba bus assembles (amba_read_periphid): the low byte
        // of each register, little-endian, gives the periphid and cid.
        let pid = periph
            .iter()
            .enumerate()
            .fold(0u32, |id, (i, b)| id | (b & 0xff) << (8 * i));
        let cid = cell
            .iter()
            .enumerate()
            .fold(0u32, |id, (i, b)| id | (b & 0xff) << (8 * i));
        assert_eq!(pid, 0x0014_1011);
        assert_eq!(cid, 0xB105_F00D);
        // Linux's vendor_arm entry: id 0x00041011 under mask 0x000fffff;
        // revision (bits 23:20) 1 < 3 means a 16-deep FIFO.
        assert_eq!(pid & 0x000F_FFFF, 0x0004_1011);
        assert!((pid >> 20) & 0xF < 3);
        // ID registers ignore stores.
        write32(&mut uart, 0xFE0, 0xFF);
        assert_eq!(read32(&mut uart, 0xFE0), 0x11);
    }

    #[test]
    fn plain_registers_keep_their_writable_bits() {
        let mut uart = Pl011Model::new();
        for (register, mask) in WRITABLE {
            assert_eq!(write32(&mut uart, register, 0xFFFF_FFFF), None);
            assert_eq!(read32(&mut uart, register), mask, "register {register:#x}");
            write32(&mut uart, register, 0);
            assert_eq!(read32(&mut uart, register), 0);
        }
        // Read-only registers ignore stores; reserved space reads as zero.
        write32(&mut uart, offset::FR, 0);
        assert_ne!(read32(&mut uart, offset::FR), 0);
        write32(&mut uart, 0x100, 0xFFFF_FFFF);
        assert_eq!(read32(&mut uart, 0x100), 0);
        assert_eq!(read32(&mut uart, offset::ICR), 0);
    }

    #[test]
    fn narrow_accesses_hit_the_right_lanes() {
        let mut uart = Pl011Model::new();
        // Linux's default access is 16 bits (readw/writew).
        uart.write(offset::IBRD, 2, 0x1234);
        assert_eq!(uart.read(offset::IBRD, 2), 0x1234);
        // A byte store to the upper half of CR changes only that byte.
        uart.write(offset::CR, 4, 0x0301);
        uart.write(offset::CR + 1, 1, 0x00);
        assert_eq!(uart.read(offset::CR, 4), 0x0001);
        assert_eq!(uart.read(offset::CR, 1), 0x01);
        uart.write(offset::CR + 1, 1, 0x03);
        assert_eq!(uart.read(offset::CR + 1, 1), 0x03);
        // An 8-byte load reads the register zero-extended.
        assert_eq!(uart.read(offset::CR, 8), 0x0301);
        // A byte store above DR's low byte does not transmit.
        assert_eq!(uart.write(offset::DR + 1, 1, 0x41), None);
    }

    #[test]
    fn transmit_hands_out_bytes_at_once() {
        let mut uart = Pl011Model::new();
        // Even before anything enables the UART: earlycon writes bytes.
        assert_eq!(uart.write(offset::DR, 1, u64::from(b'h')), Some(b'h'));
        assert_eq!(uart.write(offset::DR, 4, 0x1_0069), Some(b'i'));
        let flags = read32(&mut uart, offset::FR);
        assert_eq!(flags & (fr::TXFE | fr::BUSY | fr::TXFF), fr::TXFE);
    }

    #[test]
    fn flags_follow_only_the_receive_fifo() {
        let mut uart = Pl011Model::new();
        let idle = uart.flags();
        assert_eq!(idle, fr::CTS | fr::DSR | fr::DCD | fr::TXFE | fr::RXFE);
        // Transmitting, enabling, disabling: FR stays as it is.
        uart.write(offset::DR, 1, u64::from(b'x'));
        write32(&mut uart, offset::CR, cr::UARTEN | cr::TXE | cr::RXE);
        uart.write(offset::DR, 4, u64::from(b'y'));
        write32(&mut uart, offset::CR, 0);
        assert_eq!(uart.flags(), idle);
        // Receiving changes it, and so does enabling the FIFO (RXFF).
        uart.receive(b'a');
        assert_eq!(uart.flags(), (idle & !fr::RXFE) | fr::RXFF);
        write32(&mut uart, offset::LCR_H, lcr_h::FEN);
        assert_eq!(uart.flags(), idle & !fr::RXFE);
        read32(&mut uart, offset::DR);
        assert_eq!(uart.flags(), idle);
    }

    #[test]
    fn earlycon_write_sequence() {
        // Linux's pl011_putc: wait while FR.TXFF, store the byte, wait while
        // FR.BUSY; with 32-bit (mmio32) or byte accesses.
        let mut uart = Pl011Model::new();
        let mut sent = Vec::new();
        for &byte in b"Booting Linux\n" {
            let mut spins = 0;
            while uart.read(offset::FR, 4) & u64::from(fr::TXFF) != 0 {
                spins += 1;
                assert!(spins < 10, "TXFF never clears");
            }
            sent.extend(uart.write(offset::DR, 1, u64::from(byte)));
            while uart.read(offset::FR, 4) & u64::from(fr::BUSY) != 0 {
                spins += 1;
                assert!(spins < 10, "BUSY never clears");
            }
        }
        assert_eq!(sent, b"Booting Linux\n");
    }

    #[test]
    fn receive_fifo_fills_and_drains_in_order() {
        let mut uart = Pl011Model::new();
        write32(&mut uart, offset::LCR_H, 0x70); // 8 bits, FIFO enabled
        for byte in 0..FIFO_DEPTH as u8 {
            assert!(uart.receive(b'a' + byte));
        }
        let flags = read32(&mut uart, offset::FR);
        assert_eq!(flags & (fr::RXFF | fr::RXFE), fr::RXFF);
        assert!(!uart.rx_has_room());
        // The 17th byte is lost: overrun.
        assert!(!uart.receive(b'!'));
        assert_eq!(read32(&mut uart, offset::RSR_ECR), 1 << 3);
        assert_ne!(read32(&mut uart, offset::RIS) & int::OE, 0);
        let mut got = Vec::new();
        while read32(&mut uart, offset::FR) & fr::RXFE == 0 {
            got.push(read32(&mut uart, offset::DR) as u8);
        }
        assert_eq!(got, (b'a'..b'a' + 16).collect::<Vec<_>>());
        // An empty FIFO reads as zero.
        assert_eq!(read32(&mut uart, offset::DR), 0);
        // ECR clears the status, ICR the latched interrupt.
        write32(&mut uart, offset::RSR_ECR, 0);
        assert_eq!(read32(&mut uart, offset::RSR_ECR), 0);
        write32(&mut uart, offset::ICR, int::OE);
        assert_eq!(read32(&mut uart, offset::RIS) & int::OE, 0);
    }

    #[test]
    fn character_mode_holds_one_byte() {
        let mut uart = Pl011Model::new();
        assert!(uart.receive(b'x'));
        assert!(!uart.rx_has_room());
        assert_ne!(read32(&mut uart, offset::FR) & fr::RXFF, 0);
        assert!(!uart.receive(b'y'));
        assert_eq!(read32(&mut uart, offset::DR), u32::from(b'x'));
        assert!(uart.rx_has_room());
    }

    #[test]
    fn narrow_dr_load_above_the_low_byte_does_not_consume() {
        let mut uart = Pl011Model::new();
        uart.receive(b'z');
        assert_eq!(uart.read(offset::DR + 1, 1), 0);
        assert_eq!(uart.rx_level(), 1);
        assert_eq!(uart.read(offset::DR, 2), u64::from(b'z'));
        assert_eq!(uart.rx_level(), 0);
    }

    #[test]
    fn receive_interrupts_follow_the_fifo_level_and_ifls() {
        let mut uart = Pl011Model::new();
        write32(&mut uart, offset::LCR_H, 0x70);
        write32(&mut uart, offset::IMSC, int::RX);
        // Default trigger: half full, 8 bytes.
        for n in 1..=8u8 {
            uart.receive(n);
            let ris = read32(&mut uart, offset::RIS);
            assert_ne!(ris & int::RT, 0, "timeout with data waiting");
            assert_eq!(ris & int::RX != 0, n >= 8, "RX at level {n}");
            assert_eq!(uart.interrupt_level(), n >= 8);
        }
        // RXIFLSEL = 0b000: 1/8 = 2 bytes.
        write32(&mut uart, offset::IFLS, 0b000_010);
        read32(&mut uart, offset::DR);
        for _ in 0..5 {
            read32(&mut uart, offset::DR);
        }
        assert_eq!(uart.rx_level(), 2);
        assert!(uart.interrupt_level());
        read32(&mut uart, offset::DR);
        assert!(!uart.interrupt_level(), "below the 1/8 trigger");
        // The receive timeout reports the remaining byte when unmasked.
        write32(&mut uart, offset::IMSC, int::RX | int::RT);
        assert!(uart.interrupt_level());
        assert_eq!(read32(&mut uart, offset::MIS), int::RT);
        // ICR does not clear a level whose cause remains; draining does.
        write32(&mut uart, offset::ICR, int::ALL);
        assert!(uart.interrupt_level());
        read32(&mut uart, offset::DR);
        assert!(!uart.interrupt_level());
        assert_eq!(read32(&mut uart, offset::MIS), 0);
    }

    #[test]
    fn trigger_levels() {
        assert_eq!(
            [0b000, 0b001, 0b010, 0b011, 0b100, 0b101, 0b111].map(trigger_level),
            [2, 4, 8, 12, 14, 8, 8]
        );
    }

    #[test]
    fn transmit_interrupt_while_enabled_and_unmasked() {
        let mut uart = Pl011Model::new();
        write32(&mut uart, offset::IMSC, int::TX);
        assert!(!uart.interrupt_level(), "UART disabled");
        write32(&mut uart, offset::CR, cr::UARTEN | cr::TXE | cr::RXE);
        assert_eq!(read32(&mut uart, offset::RIS) & int::TX, int::TX);
        assert!(uart.interrupt_level());
        // Still set after a byte: the FIFO drains at once.
        uart.write(offset::DR, 1, u64::from(b'a'));
        assert!(uart.interrupt_level());
        // Masking it off is what lowers the line.
        write32(&mut uart, offset::IMSC, 0);
        assert!(!uart.interrupt_level());
        assert_eq!(read32(&mut uart, offset::MIS), 0);
        // Transmitter disabled: no TX interrupt.
        write32(&mut uart, offset::IMSC, int::TX);
        write32(&mut uart, offset::CR, cr::UARTEN | cr::RXE);
        assert!(!uart.interrupt_level());
    }

    #[test]
    fn loopback_returns_transmitted_bytes_to_the_receiver() {
        let mut uart = Pl011Model::new();
        write32(
            &mut uart,
            offset::CR,
            cr::UARTEN | cr::TXE | cr::RXE | cr::LBE,
        );
        assert_eq!(uart.write(offset::DR, 1, 0x55), None);
        assert_eq!(read32(&mut uart, offset::DR), 0x55);
    }

    /// The register traffic of Linux's amba-pl011 from probe to an
    /// interrupt-driven read and write (drivers/tty/serial/amba-pl011.c:
    /// pl011_hwinit, pl011_startup, pl011_enable_interrupts,
    /// pl011_set_termios, pl011_int, pl011_rx_chars, pl011_tx_chars).
    #[test]
    fn linux_probe_and_interrupt_driven_io() {
        let mut uart = Pl011Model::new();
        let r16 = |uart: &mut Pl011Model, reg| uart.read(reg, 2) as u32;
        let w16 = |uart: &mut Pl011Model, reg, v: u32| uart.write(reg, 2, u64::from(v));

        // pl011_hwinit: clear errors and RX interrupts, save IMSC, unmask RX.
        w16(
            &mut uart,
            offset::ICR,
            int::OE | int::BE | int::PE | int::FE | int::RT | int::RX,
        );
        let saved_im = r16(&mut uart, offset::IMSC);
        assert_eq!(saved_im, 0);
        w16(&mut uart, offset::IMSC, int::RT | int::RX);
        assert!(!uart.interrupt_level(), "nothing received yet");

        // pl011_startup: IFLS, then CR with UARTEN | RXE | TXE.
        w16(&mut uart, offset::IFLS, 0x12);
        let cr_now = r16(&mut uart, offset::CR) & (1 << 11 | 1 << 10);
        w16(
            &mut uart,
            offset::CR,
            cr_now | cr::UARTEN | cr::RXE | cr::TXE,
        );

        // pl011_enable_interrupts: clear RX/RT, drain up to 2 * FIFO size,
        // unmask RX and RT.
        uart.receive(b'?');
        w16(&mut uart, offset::ICR, int::RT | int::RX);
        for _ in 0..2 * FIFO_DEPTH {
            if r16(&mut uart, offset::FR) & fr::RXFE != 0 {
                break;
            }
            r16(&mut uart, offset::DR);
        }
        assert_eq!(uart.rx_level(), 0);
        w16(&mut uart, offset::IMSC, int::RT | int::RX);

        // pl011_set_termios: 115200 8N1 with FIFOs at 24 MHz.
        w16(&mut uart, offset::CR, 0);
        w16(&mut uart, offset::FBRD, 0x1B);
        w16(&mut uart, offset::IBRD, 0x0D);
        w16(&mut uart, offset::LCR_H, 0x70);
        w16(&mut uart, offset::CR, 0x0301);
        assert_eq!(r16(&mut uart, offset::IBRD), 0x0D);
        assert_eq!(r16(&mut uart, offset::FBRD), 0x1B);
        assert!(!uart.interrupt_level());

        // Input arrives: the line rises at once (receive timeout).
        for &byte in b"ls\r" {
            uart.receive(byte);
        }
        assert!(uart.interrupt_level());
        // pl011_int: read MIS, ICR everything but TX/RT/RX, read until RXFE.
        let status = r16(&mut uart, offset::MIS);
        assert_eq!(status, int::RT);
        w16(
            &mut uart,
            offset::ICR,
            status & !(int::TX | int::RT | int::RX),
        );
        let mut got = Vec::new();
        while r16(&mut uart, offset::FR) & fr::RXFE == 0 {
            got.push(r16(&mut uart, offset::DR) as u8);
        }
        assert_eq!(got, b"ls\r");
        assert_eq!(r16(&mut uart, offset::MIS), 0);
        assert!(!uart.interrupt_level());

        // Output: pl011_start_tx fills the FIFO while !TXFF, then unmasks TX;
        // the handler writes the rest and masks TX when nothing is left.
        let mut sent = Vec::new();
        for &byte in b"ok\n" {
            assert_eq!(r16(&mut uart, offset::FR) & fr::TXFF, 0);
            sent.extend(w16(&mut uart, offset::DR, u32::from(byte)));
        }
        let im = r16(&mut uart, offset::IMSC) | int::TX;
        w16(&mut uart, offset::IMSC, im);
        assert!(uart.interrupt_level());
        assert_eq!(r16(&mut uart, offset::MIS), int::TX);
        w16(&mut uart, offset::IMSC, im & !int::TX);
        assert!(!uart.interrupt_level());
        assert_eq!(sent, b"ok\n");
    }
}
