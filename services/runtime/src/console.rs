//! The partition's console: [`crate::print!`]/[`crate::println!`] collect a
//! line per vCPU and send it with `CONSOLE_WRITE` (40 bytes a call; the core
//! prints whole lines prefixed with the partition's name). A whole line is
//! sent under one lock, so lines from different vCPUs never mix.
//!
//! With `console=pl011` in the boot arguments the lines go to that PL011
//! from the start (a guest whose UART a console service emulates); so they do
//! in [`crate::native`] mode, where no core is there to print them.
//!
//! When `CONSOLE_WRITE` is not available — it answers NOT_SUPPORTED, as QEMU
//! without EL2 answers every HVC, or there is no hypervisor at all — the lines
//! go to the PL011 of the device tree's `/chosen/stdout-path` instead, if it
//! names one (see [`crate::pl011`]).

use crate::entry::MAX_VCPUS;
use crate::line_buffer::LineBuffer;
use crate::{hvc, irq, native, pl011, smp};
use abi::hvc::CONSOLE_WRITE_MAX;
use abi::Error;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use spin::Mutex;

/// Each vCPU's unfinished line.
static LINES: [Mutex<LineBuffer>; MAX_VCPUS] = [const { Mutex::new(LineBuffer::new()) }; MAX_VCPUS];
/// Held while one line is sent.
static SENDING: Mutex<()> = Mutex::new(());
/// Set once `CONSOLE_WRITE` turned out not to be available.
static HYPERCALL_UNAVAILABLE: AtomicBool = AtomicBool::new(false);
/// How long a fault report waits for a sender that may have died holding the
/// lock before it sends anyway.
const EMERGENCY_LOCK_ATTEMPTS: u32 = 1 << 20;

/// Formats into this vCPU's line; used by the print macros.
pub fn print_args(args: fmt::Arguments<'_>) {
    irq::without_interrupts(|| {
        // try_lock: a Display impl that itself prints must not deadlock.
        match LINES.get(smp::current_vcpu()).and_then(Mutex::try_lock) {
            Some(mut line) => {
                let _ = LineWriter {
                    line: &mut line,
                    send: send_line,
                }
                .write_fmt(args);
            }
            None => emergency_print(args),
        }
    });
}

/// Writes `text` to this vCPU's line.
pub fn write_str(text: &str) {
    print_args(format_args!("{text}"));
}

/// Sends this vCPU's unfinished line now, without waiting for its newline.
pub fn flush() {
    irq::without_interrupts(|| {
        if let Some(mut line) = LINES.get(smp::current_vcpu()).and_then(Mutex::try_lock) {
            if !line.is_empty() {
                send_line(line.as_bytes());
                line.clear();
            }
        }
    });
}

/// Prints a report from a fault or panic: bypasses this vCPU's line (the
/// fault may have happened while it was locked) and does not wait forever for
/// the send lock.
pub(crate) fn emergency_print(args: fmt::Arguments<'_>) {
    let mut line = LineBuffer::new();
    let _ = LineWriter {
        line: &mut line,
        send: send_line_emergency,
    }
    .write_fmt(args);
    if !line.is_empty() {
        send_line_emergency(line.as_bytes());
    }
}

/// Adapts a [`LineBuffer`] to `core::fmt`.
struct LineWriter<'a> {
    line: &'a mut LineBuffer,
    send: fn(&[u8]),
}

impl Write for LineWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.line.write(text.as_bytes(), self.send);
        Ok(())
    }
}

fn send_line(bytes: &[u8]) {
    let _sending = SENDING.lock();
    send_bytes(bytes);
}

fn send_line_emergency(bytes: &[u8]) {
    let mut sending = None;
    for _ in 0..EMERGENCY_LOCK_ATTEMPTS {
        sending = SENDING.try_lock();
        if sending.is_some() {
            break;
        }
        core::hint::spin_loop();
    }
    send_bytes(bytes);
    drop(sending);
}

/// Whether the boot arguments say `console=pl011`: print through the PL011
/// the device tree names (for a guest, the one its config emulates) rather
/// than the core's CONSOLE_WRITE.
fn uart_chosen() -> bool {
    const UNKNOWN: u8 = 0;
    const HYPERCALL: u8 = 1;
    const UART: u8 = 2;
    match UART_CHOICE.load(Ordering::Relaxed) {
        UNKNOWN => {
            let uart = crate::devicetree::bootarg_value("console") == Some("pl011");
            UART_CHOICE.store(if uart { UART } else { HYPERCALL }, Ordering::Relaxed);
            uart
        }
        choice => choice == UART,
    }
}

static UART_CHOICE: AtomicU8 = AtomicU8::new(0);

fn send_bytes(bytes: &[u8]) {
    if HYPERCALL_UNAVAILABLE.load(Ordering::Relaxed) || uart_chosen() || native::is_active() {
        pl011::write_fallback(bytes);
        return;
    }
    for chunk in bytes.chunks(CONSOLE_WRITE_MAX) {
        match hvc::console_write(chunk) {
            Ok(_) => {}
            // Also what the runtime answers itself when there is no
            // hypervisor (see `hvc::hypervisor_present`).
            Err(Error::NotSupported) => {
                HYPERCALL_UNAVAILABLE.store(true, Ordering::Relaxed);
                pl011::write_fallback(chunk);
            }
            // The core refused these bytes; nowhere else to put them.
            Err(_) => {}
        }
    }
}
