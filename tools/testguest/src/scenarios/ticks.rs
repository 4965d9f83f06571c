//! `ticks` and `spin`: the virtual timer and its interrupt. `ticks count=N
//! [period_ms=P] [fault_after=K]` prints N ticks P ms apart (default 20), each
//! after a WFI that the timer interrupt ends, and can fault after tick K;
//! `spin` prints a line every 50 ms forever.

use crate::options;
use crate::scenarios::faults;
use bulkhead_runtime::{println, psci, timer};

const DEFAULT_PERIOD_MS: u64 = 20;
const SPIN_PERIOD_MS: u64 = 50;

/// `ticks`.
pub fn run() -> ! {
    let count = options::required_number("ticks", "count");
    let period_ms = options::number_or("ticks", "period_ms", DEFAULT_PERIOD_MS);
    let fault_after = options::number("ticks", "fault_after");
    for tick in 1..=count {
        timer::sleep_ms(period_ms);
        println!("tick {tick}/{count}");
        if fault_after == Some(tick) {
            println!("ticks: faulting on purpose");
            faults::read_outside_ram("ticks");
            psci::system_off()
        }
    }
    println!("ticks: done");
    psci::system_off()
}

/// `spin`.
pub fn spin() -> ! {
    let mut round: u64 = 0;
    loop {
        round = round.wrapping_add(1);
        println!("spin {round}");
        timer::sleep_ms(SPIN_PERIOD_MS);
    }
}
