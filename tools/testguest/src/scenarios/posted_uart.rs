//! `posted-uart base=B tag=T [bursts=N] [lines=M] [self=S] [park=1]`: a guest that
//! drives the emulated PL011 at B (served by the console, which publishes
//! its registers, maps them for loads and posts UARTDR) with single
//! instructions of every width, so the transcript shows that posted MMIO
//! behaves as the synchronous path does:
//!
//! - UARTFR read as 1, 2, 4 and 8 bytes (zero- and sign-extended, and at
//!   byte offsets inside the word) reads the model's value;
//! - with `self` (a capability with right `status` to its own partition),
//!   a thousand loads of UARTFR while the UART is idle take no exception:
//!   they read the mapped register page;
//! - a line stored with STRB, STRH, STR W (posted) and STR X and a store to
//!   UARTDR + 1 (synchronous) comes out as the synchronous path makes it;
//! - `bursts` bursts of `lines` lines, each far longer than the core's
//!   queue, with every sixteenth byte stored synchronously (an 8-byte
//!   store) and synchronous register accesses between bursts: every line
//!   must arrive whole, in order, with its partition's prefix;
//! - in loopback (CR.LBE) a stored byte shows in UARTFR at once.
//!
//! Each line names the guest's `tag`, so a test can tell a line printed
//! under the wrong partition's name.

use bulkhead_runtime::ipc::PartitionCap;
use bulkhead_runtime::mmio::Window;
use bulkhead_runtime::{devicetree, println, psci};

use crate::options;

/// PL011 registers (Arm DDI 0183G §3.2) and the bits used here.
const DR: usize = 0x00;
const FR: usize = 0x18;
const CR: usize = 0x30;
const FR_RXFE: u64 = 1 << 4;
/// CR reset value (TXE | RXE), and loopback on top of an enabled UART.
const CR_RESET: u32 = 0x300;
const CR_LOOPBACK: u32 = CR_RESET | 1 << 7 | 1;

/// Bytes of each burst line after its heading.
const PAYLOAD: usize = 80;

/// The `index`th byte of line `line` of burst `burst`: letters in an order
/// each line shifts, so a lost, doubled or swapped byte shows.
pub fn payload_byte(burst: u64, line: u64, index: usize) -> u8 {
    let step = burst * 7 + line * 3 + index as u64;
    b'a' + (step % 26) as u8
}

/// Stores one byte to UARTDR: every sixteenth as an 8-byte store, which the
/// core never posts, so it goes to the console after what is queued.
fn put(uart: Window, count: &mut usize, byte: u8) {
    if *count % 16 == 15 {
        uart.write_u64(DR, 0xFFFF_FFFF_FFFF_FF00 | u64::from(byte));
    } else {
        uart.write_u8(DR, byte);
    }
    *count += 1;
}

fn put_all(uart: Window, count: &mut usize, bytes: &[u8]) {
    for &byte in bytes {
        put(uart, count, byte);
    }
}

fn check(tag: &str, what: &str, ok: bool, failures: &mut u32) {
    if !ok {
        println!("posted-uart {tag}: FAIL {what}");
        *failures += 1;
    }
}

/// UARTFR through the published value, at every width, against an 8-byte
/// load (answered by the console).
fn flag_reads(uart: Window, tag: &str, failures: &mut u32) {
    let fr = uart.read_u64(FR);
    check(
        tag,
        "FR reads the model's idle value",
        fr & 0xFF == 0x97,
        failures,
    );
    check(tag, "LDR W", u64::from(uart.read_u32(FR)) == fr, failures);
    check(
        tag,
        "LDRH",
        u64::from(uart.read_u16(FR)) == fr & 0xFFFF,
        failures,
    );
    check(
        tag,
        "LDRB",
        u64::from(uart.read_u8(FR)) == fr & 0xFF,
        failures,
    );
    check(
        tag,
        "LDRSB sign-extends",
        uart.read_i8_sign_extended(FR) == i64::from(fr as u8 as i8),
        failures,
    );
    check(
        tag,
        "LDRSH",
        uart.read_i16_sign_extended(FR) == i64::from(fr as u16 as i16),
        failures,
    );
    check(
        tag,
        "LDRSW",
        uart.read_i32_sign_extended(FR) == i64::from(fr as u32 as i32),
        failures,
    );
    check(
        tag,
        "LDRB at FR + 1",
        u64::from(uart.read_u8(FR + 1)) == (fr >> 8) & 0xFF,
        failures,
    );
    check(
        tag,
        "LDRH at FR + 2",
        u64::from(uart.read_u16(FR + 2)) == (fr >> 16) & 0xFFFF,
        failures,
    );
}

/// Formatted text stored byte by byte with [`put`].
struct Stores<'a> {
    uart: Window,
    count: &'a mut usize,
}

impl core::fmt::Write for Stores<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        put_all(self.uart, self.count, s.as_bytes());
        Ok(())
    }
}

/// Stores `args` to UARTDR with [`put`].
fn put_fmt(uart: Window, count: &mut usize, args: core::fmt::Arguments<'_>) {
    let _ = core::fmt::Write::write_fmt(&mut Stores { uart, count }, args);
}

/// One line whose last bytes are stored at each width.
fn widths_line(uart: Window, tag: &str, count: &mut usize) {
    put_fmt(uart, count, format_args!("posted-uart {tag}: widths "));
    uart.write_u8(DR, b'b');
    uart.write_u16(DR, 0xAB00 | u16::from(b'h'));
    uart.write_u32(DR, 0x1234_5600 | u32::from(b'w'));
    uart.write_u64(DR, 0xFFFF_FFFF_FFFF_FF00 | u64::from(b'x'));
    // Not UARTDR's low byte: the UART ignores it.
    uart.write_u8(DR + 1, b'Z');
    uart.write_u8(DR, b'\n');
}

/// Line `line` of burst `burst`.
fn burst_line(uart: Window, tag: &str, burst: u64, line: u64, count: &mut usize) {
    put_fmt(
        uart,
        count,
        format_args!("posted-uart {tag}: burst {burst} line {line} "),
    );
    for index in 0..PAYLOAD {
        put(uart, count, payload_byte(burst, line, index));
    }
    put_all(uart, count, b"|\n");
}

/// Exceptions the core has taken from this partition so far.
fn traps(own: PartitionCap) -> Option<u64> {
    own.status().ok().map(|status| status.traps)
}

/// A thousand UARTFR loads while the UART is idle cost (next to) no
/// exceptions: the register page is mapped. A synchronous store first (CR,
/// unchanged) waits for the console, which published before serving.
fn reads_do_not_trap(uart: Window, tag: &str, own: PartitionCap, failures: &mut u32) {
    const LOADS: u64 = 1000;
    uart.write_u32(CR, CR_RESET);
    let before = traps(own);
    let mut flags = 0;
    for _ in 0..LOADS {
        flags |= uart.read_u32(FR);
    }
    let after = traps(own);
    match (before, after) {
        // The second status call is one; an interrupt or two may come.
        (Some(before), Some(after)) if after - before < 10 => {
            println!("posted-uart {tag}: {LOADS} FR loads took no exception");
        }
        other => {
            println!("posted-uart {tag}: FAIL FR loads trapped: {other:?}");
            *failures += 1;
        }
    }
    check(tag, "FR idle", u64::from(flags) & 0xFF == 0x97, failures);
}

/// Loopback: a stored byte is in the receive FIFO at once.
fn loopback(uart: Window, tag: &str, failures: &mut u32) {
    uart.write_u32(CR, CR_LOOPBACK);
    uart.write_u8(DR, b'L');
    check(
        tag,
        "loopback byte shows in FR",
        u64::from(uart.read_u32(FR)) & FR_RXFE == 0,
        failures,
    );
    check(
        tag,
        "loopback byte reads back",
        uart.read_u32(DR) & 0xFF == u32::from(b'L'),
        failures,
    );
    check(
        tag,
        "FR empty again",
        u64::from(uart.read_u32(FR)) & FR_RXFE != 0,
        failures,
    );
    uart.write_u32(CR, CR_RESET);
}

pub fn run() -> ! {
    let base = options::required_number("posted-uart", "base") as usize;
    let bursts = options::number_or("posted-uart", "bursts", 4);
    let lines = options::number_or("posted-uart", "lines", 6);
    let args = devicetree::bootargs();
    let tag = args.value("tag").unwrap_or("?");
    let uart = Window::new(base);
    let mut failures = 0;
    let mut count = 0;
    println!("posted-uart {tag}: start");
    flag_reads(uart, tag, &mut failures);
    if let Some(own) = options::number("posted-uart", "self") {
        reads_do_not_trap(uart, tag, PartitionCap(own as u16), &mut failures);
    }
    widths_line(uart, tag, &mut count);
    for burst in 1..=bursts {
        for line in 1..=lines {
            burst_line(uart, tag, burst, line, &mut count);
        }
        // Synchronous accesses between bursts.
        check(
            tag,
            "CR keeps its reset value",
            uart.read_u32(CR) == CR_RESET,
            &mut failures,
        );
        flag_reads(uart, tag, &mut failures);
    }
    loopback(uart, tag, &mut failures);
    if failures == 0 {
        println!("posted-uart {tag}: all ok");
    }
    println!("posted-uart {tag}: done");
    // `park=1`: wait for ever instead of powering off, so no line of the
    // core's (which shares the board UART with the console service and
    // can split a line the console is printing) comes while another guest
    // still prints.
    if options::number_or("posted-uart", "park", 0) != 0 {
        psci::park()
    }
    psci::system_off()
}
