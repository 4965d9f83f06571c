//! `busy count=N [work=W]`: a CPU-bound partition that never waits. It does N
//! steps of W million rounds of arithmetic, printing after each, then powers
//! off. Two of these on one CPU only both make progress if the core slices
//! time between them; a higher-priority partition beside them only gets its
//! turns on time if the core preempts them.

use crate::options;
use bulkhead_runtime::{println, psci};

const DEFAULT_WORK_MILLIONS: u64 = 2;

/// One step: `rounds` of xorshift, with a result the compiler cannot skip.
fn step(seed: u64, rounds: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    core::hint::black_box(x)
}

/// `busy`.
pub fn run() -> ! {
    let count = options::required_number("busy", "count");
    let rounds =
        options::number_or("busy", "work", DEFAULT_WORK_MILLIONS).saturating_mul(1_000_000);
    let mut value = 0x9E37_79B9_7F4A_7C15;
    for i in 1..=count {
        value = step(value, rounds);
        println!("busy {i}/{count} ({:#06x})", value & 0xffff);
    }
    println!("busy: done");
    psci::system_off()
}
