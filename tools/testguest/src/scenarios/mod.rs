//! The scenarios, by the name `scenario=` gives them.

mod bench;
mod busy;
mod faults;
mod hello;
mod memtest;
mod ping;
mod power;
mod smp;
mod ticks;

/// A scenario runs until it powers the partition off, resets it, or faults.
pub type Scenario = fn() -> !;

/// Every scenario name, for the error message about an unknown one.
pub const NAMES: &str =
    "hello, ticks, spin, busy, memtest, ping, smp, oob, undef, reset, off, panic, bench";

/// The scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    let scenario: Scenario = match name {
        "hello" => hello::run,
        "ticks" => ticks::run,
        "spin" => ticks::spin,
        "busy" => busy::run,
        "memtest" => memtest::run,
        "ping" => ping::run,
        "smp" => smp::run,
        "oob" => faults::oob,
        "undef" => faults::undef,
        "reset" => power::reset,
        "off" => power::off,
        "panic" => faults::panic,
        "bench" => bench::run,
        _ => return None,
    };
    Some(scenario)
}
