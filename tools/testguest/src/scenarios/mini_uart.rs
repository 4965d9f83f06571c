//! `mini-uart`: a real-time partition that owns the Raspberry Pi's mini UART
//! (the AUX page passed through at `aux=`) and prints on it directly, on a
//! fixed period, measuring how late each timer wake-up is. `mini-uart
//! aux=IPA [count=N] [period_ms=P] [clock_hz=HZ] [baud=B]` sends a line
//! `rt: tick k/N` every P ms (default 20) at B baud (default 115200) from a
//! VPU clock of HZ (default 500 MHz, the Pi 4's, which config.txt's
//! `core_freq_min=500` holds). Every 100 ticks, and after the last, it
//! reports the wake-up lateness on the core's console. With `count=N` it
//! stops after N lines and powers off; without, it runs for ever.
//!
//! It drives the UART by polling: the mini UART's interrupt (SPI 93, shared
//! with the AUX SPI masters) is not used yet.

use core::fmt::Write as _;

use crate::options;
use bulkhead_runtime::mini_uart::{self, baud_divisor, MiniUart};
use bulkhead_runtime::stats::Summary;
use bulkhead_runtime::{hvc, println, psci, timer};

const NAME: &str = "mini-uart";
const DEFAULT_PERIOD_MS: u64 = 20;
const DEFAULT_CLOCK_HZ: u64 = 500_000_000;
const DEFAULT_BAUD: u64 = 115_200;
/// Ticks summarised in one lateness report.
const REPORT_WINDOW: usize = 100;

/// The mini UART as a `core::fmt::Write` target, CR before each LF for
/// terminals.
struct UartWriter<'a>(&'a MiniUart);

impl core::fmt::Write for UartWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.0.write_byte(b'\r');
            }
            self.0.write_byte(byte);
        }
        Ok(())
    }
}

/// Stops with a configuration error on the core's console.
fn refuse(why: core::fmt::Arguments<'_>) -> ! {
    println!("{NAME}: {why}");
    hvc::abort_panic()
}

/// Microseconds in `ticks` counts of the virtual counter.
fn micros(ticks: u64) -> u64 {
    let frequency = u128::from(timer::frequency().max(1));
    u64::try_from(u128::from(ticks) * 1_000_000 / frequency).unwrap_or(u64::MAX)
}

/// Reports the wake-up lateness of ticks `first..=last` on the console.
fn report(first: u64, last: u64, samples: &mut [u64]) {
    if let Some(s) = Summary::of_samples(samples) {
        println!(
            "{NAME}: ticks {first}-{last}: timer wake-up lateness min {} us, median {} us, max {} us",
            micros(s.min),
            micros(s.median),
            micros(s.max)
        );
    }
}

/// `mini-uart`.
pub fn run() -> ! {
    let aux = options::required_number(NAME, "aux");
    let count = options::number(NAME, "count");
    let period_ms = options::number_or(NAME, "period_ms", DEFAULT_PERIOD_MS);
    let clock_hz = options::number_or(NAME, "clock_hz", DEFAULT_CLOCK_HZ);
    let baud = options::number_or(NAME, "baud", DEFAULT_BAUD);
    let Some(uart) = mini_uart::passthrough(aux) else {
        refuse(format_args!(
            "aux={aux:#x} is not a page in the device window below RAM"
        ))
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
    match count {
        Some(n) => println!("{NAME}: {n} lines on the mini UART, one every {period_ms} ms"),
        None => println!("{NAME}: a line on the mini UART every {period_ms} ms"),
    }

    let period = timer::ticks_from_ms(period_ms);
    let mut window = [0u64; REPORT_WINDOW];
    let mut filled = 0;
    let mut deadline = timer::now();
    let mut tick: u64 = 0;
    while count.is_none_or(|n| tick < n) {
        tick += 1;
        deadline = deadline.saturating_add(period);
        timer::sleep_until(deadline);
        let late = timer::now().saturating_sub(deadline);
        // Writing to the UART cannot fail.
        let _ = match count {
            Some(n) => writeln!(UartWriter(&uart), "rt: tick {tick}/{n}"),
            None => writeln!(UartWriter(&uart), "rt: tick {tick}"),
        };
        if let Some(slot) = window.get_mut(filled) {
            *slot = late;
            filled += 1;
        }
        if filled == REPORT_WINDOW || count == Some(tick) {
            let first = tick + 1 - filled as u64;
            report(first, tick, window.get_mut(..filled).unwrap_or_default());
            filled = 0;
        }
    }
    let _ = writeln!(UartWriter(&uart), "rt: done");
    uart.flush();
    println!("{NAME}: done");
    psci::system_off()
}
