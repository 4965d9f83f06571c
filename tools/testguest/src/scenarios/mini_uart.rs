//! `mini-uart`: a real-time partition that owns the Raspberry Pi's mini UART
//! (the AUX page passed through at `aux=`, its interrupt at `irq=`) and
//! prints on it directly, interrupt driven, on a fixed period, measuring how
//! late each timer wake-up is. `mini-uart aux=IPA irq=INTID [count=N]
//! [period_ms=P] [clock_hz=HZ] [baud=B]` sends a line `rt: tick k/N` every
//! P ms (default 20) at B baud (default 115200) from a VPU clock of HZ
//! (default 500 MHz, the Pi 4's, which config.txt's `core_freq_min=500`
//! holds).
//!
//! Each line goes into the runtime's transmit queue
//! (`bulkhead_runtime::mini_uart::InterruptTransmitter`); the UART's
//! transmit-empty interrupt (INTID 125, the AUX block's SPI 93, passed
//! through with the HW bit) takes it out a FIFO's worth at a time while the
//! partition sleeps until its next tick, and the handler's EOI deactivates
//! the physical SPI. Every 100 ticks, and after the last, it reports the
//! wake-up lateness and the transmit interrupts taken on the core's console.
//! With `count=N` it stops after N lines, ends with `rt: done, N lines, T tx
//! interrupts` on the mini UART and the same on the console (T counts the
//! interrupts that carried the N tick lines), and powers off; without, it
//! runs for ever.

use core::fmt::Write as _;

use crate::options;
use bulkhead_runtime::mini_uart::{self, baud_divisor, InterruptTransmitter};
use bulkhead_runtime::stats::Summary;
use bulkhead_runtime::{hvc, irq, println, psci, timer};

const NAME: &str = "mini-uart";
const DEFAULT_PERIOD_MS: u64 = 20;
const DEFAULT_CLOCK_HZ: u64 = 500_000_000;
const DEFAULT_BAUD: u64 = 115_200;
/// Ticks summarised in one lateness report.
const REPORT_WINDOW: usize = 100;

/// Stops with a configuration error, or a failure, on the core's console.
fn refuse(why: core::fmt::Arguments<'_>) -> ! {
    println!("{NAME}: {why}");
    hvc::abort_panic()
}

/// Stops because the transmit interrupt stopped coming (the queue made no
/// progress for a second).
fn stalled(tx: &InterruptTransmitter) -> ! {
    refuse(format_args!(
        "FAIL the transmit interrupt stopped coming with {} bytes queued ({} taken)",
        tx.queued(),
        tx.interrupts()
    ))
}

/// Every interrupt goes to the transmitter; the runtime handles the timer's.
fn on_interrupt(intid: u32) {
    mini_uart::on_interrupt(intid);
}

/// Microseconds in `ticks` counts of the virtual counter.
fn micros(ticks: u64) -> u64 {
    let frequency = u128::from(timer::frequency().max(1));
    u64::try_from(u128::from(ticks) * 1_000_000 / frequency).unwrap_or(u64::MAX)
}

/// Reports the wake-up lateness of ticks `first..=last` on the console.
fn report(first: u64, last: u64, samples: &mut [u64], interrupts: u64) {
    if let Some(s) = Summary::of_samples(samples) {
        println!(
            "{NAME}: ticks {first}-{last}: timer wake-up lateness min {} us, median {} us, max {} us; {interrupts} tx interrupts so far",
            micros(s.min),
            micros(s.median),
            micros(s.max)
        );
    }
}

/// `mini-uart`.
pub fn run() -> ! {
    let aux = options::required_number(NAME, "aux");
    let intid = options::required_number(NAME, "irq");
    let count = options::number(NAME, "count");
    let period_ms = options::number_or(NAME, "period_ms", DEFAULT_PERIOD_MS);
    let clock_hz = options::number_or(NAME, "clock_hz", DEFAULT_CLOCK_HZ);
    let baud = options::number_or(NAME, "baud", DEFAULT_BAUD);
    let Some(uart) = mini_uart::passthrough(aux) else {
        refuse(format_args!(
            "aux={aux:#x} is not a page in the device window below RAM"
        ))
    };
    let Ok(intid) = u32::try_from(intid) else {
        refuse(format_args!("irq={intid} is not an INTID"))
    };
    let divisor = u32::try_from(clock_hz)
        .ok()
        .zip(u32::try_from(baud).ok())
        .and_then(|(clock, baud)| baud_divisor(clock, baud))
        .unwrap_or_else(|| {
            refuse(format_args!(
                "no divisor gives {baud} baud from {clock_hz} Hz"
            ))
        });
    uart.init(divisor);
    irq::set_handler(on_interrupt);
    let Some(mut tx) = InterruptTransmitter::start(uart, intid) else {
        refuse(format_args!("the mini UART's transmitter already runs"))
    };
    match count {
        Some(n) => println!(
            "{NAME}: {n} lines on the mini UART, one every {period_ms} ms, sent on its interrupt {intid}"
        ),
        None => println!(
            "{NAME}: a line on the mini UART every {period_ms} ms, sent on its interrupt {intid}"
        ),
    }

    let period = timer::ticks_from_ms(period_ms);
    let mut window = [0u64; REPORT_WINDOW];
    let mut filled = 0;
    let mut deadline = timer::now();
    let mut tick: u64 = 0;
    while count.is_none_or(|n| tick < n) {
        tick += 1;
        deadline = deadline.saturating_add(period);
        // The queued line goes out on the transmit interrupt meanwhile.
        timer::sleep_until(deadline);
        let late = timer::now().saturating_sub(deadline);
        let queued = match count {
            Some(n) => writeln!(tx, "rt: tick {tick}/{n}"),
            None => writeln!(tx, "rt: tick {tick}"),
        };
        if queued.is_err() {
            stalled(&tx)
        }
        if let Some(slot) = window.get_mut(filled) {
            *slot = late;
            filled += 1;
        }
        if filled == REPORT_WINDOW || count == Some(tick) {
            let first = tick + 1 - filled as u64;
            let samples = window.get_mut(..filled).unwrap_or_default();
            report(first, tick, samples, tx.interrupts());
            filled = 0;
        }
    }
    // Every tick line has gone out, so the count is the interrupts that
    // carried them.
    if tx.flush().is_err() {
        stalled(&tx)
    }
    let taken = tx.interrupts();
    if writeln!(tx, "rt: done, {tick} lines, {taken} tx interrupts").is_err() || tx.flush().is_err()
    {
        stalled(&tx)
    }
    println!("{NAME}: done, {tick} lines, {taken} tx interrupts");
    psci::system_off()
}
