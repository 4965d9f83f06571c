//! `bench` (needs `pmu = true`): the instruction count of a NULL hypercall
//! round trip, measured with the PMU cycle counter (exact instruction counts
//! under `qemu -icount shift=0`). Prints the line xtask parses:
//! `BENCH hvc_null_roundtrip instructions <min> <median> <max>`.

use bulkhead_runtime::stats::Summary;
use bulkhead_runtime::{pmu, println, psci};

/// Empty measurements whose minimum is the measurement's own cost.
const OVERHEAD_SAMPLES: usize = 100;
/// NULL calls timed one by one.
const CALLS: usize = 1000;

pub fn run() -> ! {
    pmu::enable_cycle_counter();
    let overhead = (0..OVERHEAD_SAMPLES)
        .map(|_| pmu::measure_empty())
        .min()
        .unwrap_or(0);
    println!("bench: measurement overhead {overhead} instructions");

    let mut samples = [0u64; CALLS];
    for sample in samples.iter_mut() {
        *sample = pmu::measure_null_hypercall().saturating_sub(overhead);
    }
    match Summary::of_samples(&mut samples) {
        Some(summary) => println!(
            "BENCH hvc_null_roundtrip instructions {} {} {}",
            summary.min, summary.median, summary.max
        ),
        None => println!("bench: FAIL no samples"),
    }
    psci::system_off()
}
