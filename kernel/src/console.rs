//! The core's own console: the PL011 the device tree names, lines prefixed
//! `[bulkhead] LEVEL`, and partition output prefixed `[<partition name>] `.
//! Whole lines are written under one lock so CPUs never interleave mid-line.

use core::fmt::{self, Write};

use platform::pl011::Pl011;
use spin::Mutex;

static UART: Mutex<Option<Pl011>> = Mutex::new(None);

/// Takes the UART at `base` (mapped device memory) for the console.
pub fn init(base: usize) {
    // SAFETY: `base` is the PL011 from the device tree, mapped as device
    // memory by the EL2 map; this lock is its only user in the core.
    let uart = unsafe { Pl011::new(base) };
    uart.init();
    *UART.lock() = Some(uart);
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

/// Prints one core line: `[bulkhead] LEVEL message`.
pub fn core_line(level: &str, args: fmt::Arguments<'_>) {
    let guard = UART.lock();
    if let Some(uart) = guard.as_ref() {
        let _ = writeln!(Writer(uart), "[bulkhead] {level} {args}");
    }
}

/// Prints one partition line: `[name] text`. Non-printable bytes are shown
/// as `?` so a partition cannot drive the terminal.
pub fn partition_line(name: &str, text: &[u8]) {
    let guard = UART.lock();
    if let Some(uart) = guard.as_ref() {
        let mut w = Writer(uart);
        let _ = write!(w, "[{name}] ");
        for &b in text {
            let c = if b == b'\t' || (0x20..0x7f).contains(&b) {
                b
            } else {
                b'?'
            };
            uart.write_byte(c);
        }
        let _ = w.write_str("\n");
    }
}

/// Prints raw text without a prefix (register dumps after a core line).
pub fn raw(args: fmt::Arguments<'_>) {
    let guard = UART.lock();
    if let Some(uart) = guard.as_ref() {
        let _ = Writer(uart).write_fmt(args);
    }
}

/// Breaks the console lock after a fatal error on this CPU, so the report
/// gets out even if the CPU died holding it.
pub fn force_unlock() {
    if UART.is_locked() {
        // SAFETY: called only on the fatal path, after which this CPU halts;
        // the worst case is interleaved output with another CPU.
        unsafe { UART.force_unlock() };
    }
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
