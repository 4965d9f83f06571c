//! The core's own console: the PL011 the device tree names, lines prefixed
//! `[bulkhead] LEVEL`, and partition output prefixed `[<partition name>] `.
//! Whole lines are written under one lock so CPUs never interleave mid-line,
//! and kept back while the partition that prints on the same UART claims
//! it (`kernel_core::uart_claim`), so the two never split each other's.

use core::fmt::{self, Write};

use kernel_core::uart_claim::{self, ClaimResult, UartClaim};
use platform::pl011::Pl011;
use spin::Mutex;

use crate::partition::Partition;

/// The UART, its physical address, and who claims it.
struct Console {
    uart: Option<Pl011>,
    base: u64,
    claim: UartClaim,
}

static CONSOLE: Mutex<Console> = Mutex::new(Console {
    uart: None,
    base: 0,
    claim: UartClaim::new(),
});

/// Takes the UART at `base` (mapped device memory, at its physical
/// address) for the console.
pub fn init(base: usize) {
    // SAFETY: `base` is the PL011 from the device tree, mapped as device
    // memory by the EL2 map; this lock is its only user in the core.
    let uart = unsafe { Pl011::new(base) };
    uart.init();
    let mut console = CONSOLE.lock();
    console.uart = Some(uart);
    console.base = base as u64;
}

struct Writer<'a>(&'a Pl011);

impl Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.0.write_byte(b'\r');
            }
            self.0.write_byte(b);
        }
        Ok(())
    }
}

/// Collects one line for [`UartClaim::hold`]; anything past its capacity
/// makes it overflow (the line is then printed at once).
struct LineBytes {
    bytes: [u8; LINE_BYTES],
    len: usize,
    overflow: bool,
}

/// Most bytes of one core line kept back whole.
const LINE_BYTES: usize = 512;

impl Write for LineBytes {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match self.bytes.get_mut(self.len..self.len + s.len()) {
            Some(space) => {
                space.copy_from_slice(s.as_bytes());
                self.len += s.len();
                Ok(())
            }
            None => {
                self.overflow = true;
                Err(fmt::Error)
            }
        }
    }
}

/// Writes what `text` produces: on the UART, or kept back whole while a
/// partition claims it ([`uart_claim`]), or on the UART anyway if it does
/// not fit.
fn emit(text: impl Fn(&mut dyn Write) -> fmt::Result) {
    let mut guard = CONSOLE.lock();
    let console = &mut *guard;
    let Some(uart) = console.uart.as_ref() else {
        return;
    };
    if console.claim.claimed() {
        let mut line = LineBytes {
            bytes: [0; LINE_BYTES],
            len: 0,
            overflow: false,
        };
        let _ = text(&mut line);
        if !line.overflow && console.claim.hold(&line.bytes[..line.len]) {
            return;
        }
    }
    let _ = text(&mut Writer(uart));
}

/// Prints `bytes` kept back during a claim.
fn print_held(uart: Option<&Pl011>, bytes: &[u8]) {
    if let Some(uart) = uart {
        // Held bytes came from `emit`, which only keeps UTF-8 text.
        let _ = Writer(uart).write_str(core::str::from_utf8(bytes).unwrap_or("?\n"));
    }
}

/// Partition `p` claims the UART (`UART_CLAIM`): true if it may and now
/// holds it.
pub fn claim(p: &Partition) -> bool {
    let mut console = CONSOLE.lock();
    uart_claim::holds_uart(&p.regions, console.base)
        && console.claim.claim(p.id) == ClaimResult::Claimed
}

/// Partition `id` ends its claim (`UART_RELEASE`, or it stopped): the lines
/// kept back are printed now.
pub fn release(id: usize) {
    let mut guard = CONSOLE.lock();
    let console = &mut *guard;
    print_held(console.uart.as_ref(), console.claim.release(id));
}

/// Prints one core line: `[bulkhead] LEVEL message`.
pub fn core_line(level: &str, args: fmt::Arguments<'_>) {
    emit(|w| writeln!(w, "[bulkhead] {level} {args}"));
}

/// Prints one partition line: `[name] text`. Non-printable bytes are shown
/// as `?` so a partition cannot drive the terminal.
pub fn partition_line(name: &str, text: &[u8]) {
    emit(|w| {
        write!(w, "[{name}] ")?;
        for &b in text {
            let c = if b == b'\t' || (0x20..0x7f).contains(&b) {
                b
            } else {
                b'?'
            };
            w.write_char(char::from(c))?;
        }
        w.write_str("\n")
    });
}

/// Prints raw text without a prefix (register dumps after a core line).
pub fn raw(args: fmt::Arguments<'_>) {
    emit(|w| w.write_fmt(args));
}

/// Breaks the console lock after a fatal error on this CPU, so the report
/// gets out even if the CPU died holding it, and ends any claim (printing
/// what it kept back first): the report must not wait for a partition.
pub fn force_unlock() {
    if CONSOLE.is_locked() {
        // SAFETY: called only on the fatal path, after which this CPU halts;
        // the worst case is interleaved output with another CPU.
        unsafe { CONSOLE.force_unlock() };
    }
    let mut guard = CONSOLE.lock();
    let console = &mut *guard;
    print_held(console.uart.as_ref(), console.claim.end());
}

/// `[bulkhead] INFO ...`
macro_rules! info {
    ($($arg:tt)*) => { $crate::console::core_line("INFO", format_args!($($arg)*)) };
}

/// `[bulkhead] ERROR ...`
macro_rules! error {
    ($($arg:tt)*) => { $crate::console::core_line("ERROR", format_args!($($arg)*)) };
}

pub(crate) use {error, info};

/// A partition's pending console line.
#[derive(Debug)]
pub struct LineBuffer {
    buf: [u8; LINE_MAX],
    len: usize,
}

/// Longest line kept before it is printed anyway.
const LINE_MAX: usize = 200;

impl LineBuffer {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            buf: [0; LINE_MAX],
            len: 0,
        }
    }

    /// Appends bytes, printing each complete (or over-long) line as
    /// `[name] line`.
    pub fn push(&mut self, name: &str, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\n' => self.flush(name),
                b'\r' => {}
                _ => {
                    if self.len == LINE_MAX {
                        self.flush(name);
                    }
                    self.buf[self.len] = b;
                    self.len += 1;
                }
            }
        }
    }

    /// Prints what is pending, if anything.
    pub fn flush(&mut self, name: &str) {
        if self.len > 0 {
            partition_line(name, &self.buf[..self.len]);
            self.len = 0;
        }
    }

    /// Drops what is pending (partition reset).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}
