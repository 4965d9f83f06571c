//! One guest's console: its emulated PL011, the typed input waiting for room
//! in its receive FIFO, the line its output is being assembled into, and its
//! bounded log. Turns each MMIO access message into the reply the core
//! completes the access with, and typed bytes into the guest's input.

use crate::byte_ring::ByteRing;
use crate::log_ring::LogRing;
use crate::pl011_model::{Pl011Model, WINDOW_SIZE};
use crate::terminal::GuestOutput;
use abi::ipc::mmio::Access;
use bulkhead_runtime::ipc::Message;
use bulkhead_runtime::line_buffer::LineBuffer;

/// Reply word 1 when the device's interrupt line is low after the access.
pub const LINE_LOW: u64 = 0;
/// Reply word 1 when it is high.
pub const LINE_HIGH: u64 = 1;

/// The reply to an access: word 0 = the value a load reads (ignored for a
/// store), word 1 = the interrupt line level afterwards.
pub fn access_reply(value: u64, line_high: bool) -> Message {
    [value, if line_high { LINE_HIGH } else { LINE_LOW }, 0, 0, 0]
}

/// Typed bytes that wait for room in the guest's receive FIFO, as behind
/// flow control: input arrives in batches far faster than a serial line
/// would bring it, and a pasted line should not overrun a 16-byte FIFO.
pub const INPUT_QUEUE_CAPACITY: usize = 256;

/// What delivering received bytes did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reception {
    /// Bytes that found the input queue full and were lost.
    pub dropped: usize,
    /// The interrupt line went from low to high: the guest must be told
    /// (it is not inside an access whose reply would carry the level).
    pub raised: bool,
}

/// The console state of one guest.
#[derive(Debug)]
pub struct GuestConsole {
    uart: Pl011Model,
    pending_input: ByteRing<INPUT_QUEUE_CAPACITY>,
    line: LineBuffer,
    log: LogRing,
    /// Someone has typed to this guest: it is used interactively, so its
    /// unfinished lines (prompts, echo) are shown while it has focus.
    typed_into: bool,
}

impl Default for GuestConsole {
    fn default() -> Self {
        Self::new()
    }
}

impl GuestConsole {
    /// A UART in its reset state, no output yet.
    pub const fn new() -> Self {
        Self {
            uart: Pl011Model::new(),
            pending_input: ByteRing::new(),
            line: LineBuffer::new(),
            log: LogRing::new(),
            typed_into: false,
        }
    }

    /// The emulated UART.
    pub fn uart(&self) -> &Pl011Model {
        &self.uart
    }

    /// The guest's recent output.
    pub fn log(&self) -> &LogRing {
        &self.log
    }

    /// Performs one access by the guest and returns the reply. Output it
    /// causes goes to `show`: every finished line, and, when the guest has
    /// input focus (`focused`) and has been typed to, the unfinished line as
    /// it grows. Until someone types to it, a guest's output is shown line
    /// by line only, so transcripts of unattended runs hold whole lines.
    pub fn access(
        &mut self,
        access: &Access,
        focused: bool,
        show: impl FnOnce(GuestOutput<'_>),
    ) -> Message {
        let mut value = 0;
        // The window may be larger than the UART's page; the rest is
        // reserved space.
        if access.offset < WINDOW_SIZE {
            if access.write {
                if let Some(byte) = self.uart.write(access.offset, access.size, access.value) {
                    self.transmit(byte, focused, show);
                }
            } else {
                value = self.uart.read(access.offset, access.size);
            }
        }
        // A load may have made room in the FIFO, a store may have enabled
        // it (16 entries instead of 1).
        self.refill();
        access_reply(value, self.uart.interrupt_level())
    }

    /// Moves waiting input into the receive FIFO while it has room.
    fn refill(&mut self) {
        while self.uart.rx_has_room() {
            let Some(byte) = self.pending_input.pop() else {
                break;
            };
            self.uart.receive(byte);
        }
    }

    /// Adds a transmitted byte to the line being assembled. Carriage
    /// returns are dropped: the terminal ends every line with CR LF itself.
    fn transmit(&mut self, byte: u8, focused: bool, show: impl FnOnce(GuestOutput<'_>)) {
        if byte == b'\r' {
            return;
        }
        if self.line.push(byte) {
            self.log.push(self.line.as_bytes());
            show(GuestOutput::Line(self.line.as_bytes()));
            self.line.clear();
        } else if focused && self.typed_into {
            show(GuestOutput::Partial(self.line.as_bytes()));
        }
    }

    /// Bytes typed for this guest arrive on its UART's receive line.
    pub fn receive(&mut self, bytes: &[u8]) -> Reception {
        self.typed_into |= !bytes.is_empty();
        let was_high = self.uart.interrupt_level();
        let mut dropped = 0;
        for &byte in bytes {
            if !self.pending_input.push(byte) {
                dropped += 1;
            }
            self.refill();
        }
        Reception {
            dropped,
            raised: !was_high && self.uart.interrupt_level(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pl011_model::{cr, fr, int, offset};
    use crate::terminal::{tests::screen, Terminal};

    /// A 32-bit store the guest makes.
    pub(crate) fn store(offset: u64, value: u64) -> Access {
        Access {
            write: true,
            size: 4,
            offset,
            value,
            vcpu: 0,
        }
    }

    /// A 32-bit load the guest makes.
    pub(crate) fn load(offset: u64) -> Access {
        Access {
            write: false,
            size: 4,
            offset,
            value: 0,
            vcpu: 0,
        }
    }

    /// Writes `text` byte by byte as earlycon would, rendering to a screen.
    fn type_out(
        guest: &mut GuestConsole,
        terminal: &mut Terminal,
        screen_bytes: &mut Vec<u8>,
        index: usize,
        name: &str,
        focused: bool,
        text: &[u8],
    ) {
        for &byte in text {
            let reply = guest.access(&store(offset::DR, u64::from(byte)), focused, |out| {
                terminal.guest_output(index, name, out, screen_bytes)
            });
            assert_eq!(reply, access_reply(0, false));
        }
    }

    #[test]
    fn lines_are_assembled_prefixed_and_logged() {
        let mut hello = GuestConsole::new();
        let mut ticker = GuestConsole::new();
        let mut terminal = Terminal::new();
        let mut out = Vec::new();
        type_out(
            &mut hello,
            &mut terminal,
            &mut out,
            0,
            "hello",
            false,
            b"hel",
        );
        type_out(
            &mut ticker,
            &mut terminal,
            &mut out,
            1,
            "ticker",
            false,
            b"tick 1\r\n",
        );
        type_out(
            &mut hello,
            &mut terminal,
            &mut out,
            0,
            "hello",
            false,
            b"lo\r\n",
        );
        assert_eq!(screen(&out), "[ticker] tick 1\r\n[hello] hello\r\n");
        let (log, _) = hello.log().contents();
        assert_eq!(log, b"hello\n");
        let (log, _) = ticker.log().contents();
        assert_eq!(log, b"tick 1\n");
    }

    #[test]
    fn the_focused_guest_shows_its_unfinished_line_once_typed_to() {
        let mut shell = GuestConsole::new();
        let mut other = GuestConsole::new();
        let mut terminal = Terminal::new();
        let mut out = Vec::new();
        let (linux, ticker) = ((0, "linux"), (1, "ticker"));
        let mut write = |guest: &mut GuestConsole, (index, name), focused, text: &[u8]| {
            type_out(guest, &mut terminal, &mut out, index, name, focused, text);
            screen(&out)
        };
        // Not typed to yet: whole lines only.
        assert_eq!(write(&mut shell, linux, true, b"Please press Enter"), "");
        shell.receive(b"\r");
        assert_eq!(
            write(&mut shell, linux, true, b"\n/ # "),
            "[linux] Please press Enter\r\n[linux] / # "
        );
        write(&mut other, ticker, false, b"tick\n");
        assert_eq!(
            write(&mut shell, linux, true, b"ls\r\n"),
            "[linux] Please press Enter\r\n[linux] / # \r\n[ticker] tick\r\n[linux] / # ls\r\n"
        );
        // Without focus, whole lines only again.
        let before = write(&mut shell, linux, false, b"");
        assert_eq!(write(&mut shell, linux, false, b"/ # "), before);
    }

    #[test]
    fn loads_read_registers_and_report_the_line() {
        let mut guest = GuestConsole::new();
        let ignore = |_: GuestOutput<'_>| panic!("no output expected");
        assert_eq!(
            guest.access(&load(0xFE0), false, ignore),
            access_reply(0x11, false)
        );
        // Enable the UART and unmask TX: the line is high from then on.
        guest.access(
            &store(offset::CR, u64::from(cr::UARTEN | cr::TXE)),
            false,
            ignore,
        );
        let reply = guest.access(&store(offset::IMSC, u64::from(int::TX)), false, ignore);
        assert_eq!(reply, access_reply(0, true));
        assert_eq!(
            guest.access(&load(offset::MIS), false, ignore),
            access_reply(u64::from(int::TX), true)
        );
        // Beyond the UART's page: reserved.
        assert_eq!(
            guest.access(&load(0x1000), false, ignore),
            access_reply(0, true)
        );
    }

    #[test]
    fn received_bytes_raise_the_line_once() {
        let mut guest = GuestConsole::new();
        let ignore = |_: GuestOutput<'_>| panic!("no output expected");
        guest.access(&store(offset::LCR_H, 0x70), false, ignore);
        guest.access(
            &store(offset::IMSC, u64::from(int::RX | int::RT)),
            false,
            ignore,
        );
        assert_eq!(
            guest.receive(b"ab"),
            Reception {
                dropped: 0,
                raised: true
            }
        );
        // Already high: nothing new to tell.
        assert_eq!(guest.receive(b"c"), Reception::default());
        assert_eq!(
            guest.access(&load(offset::DR), false, ignore),
            access_reply(0x61, true)
        );
        guest.access(&load(offset::DR), false, ignore);
        assert_eq!(
            guest.access(&load(offset::DR), false, ignore),
            access_reply(0x63, false)
        );
    }

    #[test]
    fn input_beyond_the_fifo_waits_and_nothing_is_lost() {
        let mut guest = GuestConsole::new();
        let ignore = |_: GuestOutput<'_>| panic!("no output expected");
        // Character mode (FIFO off): one byte in the UART, the rest queued.
        assert_eq!(guest.receive(b"hello, world"), Reception::default());
        assert_eq!(guest.uart().rx_level(), 1);
        // Enabling the FIFO makes room for 16: the queued bytes move in,
        // and with the receive interrupts unmasked the line is high.
        guest.access(&store(offset::LCR_H, 0x70), false, ignore);
        assert_eq!(guest.uart().rx_level(), 12);
        let reply = guest.access(
            &store(offset::IMSC, u64::from(int::RX | int::RT)),
            false,
            ignore,
        );
        assert_eq!(reply, access_reply(0, true));
        // Already high: a paste raises nothing new, and waits.
        let paste: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        assert_eq!(guest.receive(&paste), Reception::default());
        assert_eq!(guest.uart().rx_level(), 16);
        let mut got = Vec::new();
        loop {
            let [flags, _, ..] = guest.access(&load(offset::FR), false, ignore);
            if flags & u64::from(fr::RXFE) != 0 {
                break;
            }
            let [byte, line, ..] = guest.access(&load(offset::DR), false, ignore);
            got.push(byte as u8);
            // The line stays high until the very last byte is read.
            let queued = 12 + paste.len() - got.len();
            assert_eq!(line == LINE_HIGH, queued > 0, "after {} bytes", got.len());
        }
        assert_eq!(got, [b"hello, world".as_slice(), &paste].concat());
        // The queue is bounded: what does not fit is dropped.
        let flood = [b'x'; INPUT_QUEUE_CAPACITY + 16 + 10];
        assert_eq!(guest.receive(&flood).dropped, 10);
        assert_eq!(guest.uart().rx_level(), 16);
    }

    #[test]
    fn masked_input_does_not_raise_the_line() {
        let mut guest = GuestConsole::new();
        assert_eq!(
            guest.receive(b"a"),
            Reception {
                dropped: 0,
                raised: false
            }
        );
    }
}
