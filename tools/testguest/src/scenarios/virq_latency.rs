//! `bench-virq [samples=N]`: `virq_inject_latency`, the instructions from
//! this vCPU's virtual timer interrupt arriving to the first instruction of
//! its IRQ vector (see `bulkhead_runtime::irq_latency`). Under Bulkhead that
//! is the core's path for a physical PPI taken at EL2 and injected with the
//! HW bit; on bare QEMU it is 0, which checks the method. N samples
//! (default 1000).

use bulkhead_runtime::{irq_latency, pmu, println, psci};

use crate::options;
use crate::scenarios::bench;

const SCENARIO: &str = "bench-virq";
const DEFAULT_SAMPLES: u64 = 1000;
/// Room for this many samples.
const MAX_SAMPLES: usize = 4096;
/// Timer counts between arming and firing: long enough for the probe loop to
/// have read the counter (16 instructions a count under `-icount shift=0`).
const LEAD_COUNTS: u64 = 32;

/// `bench-virq`.
pub fn run() -> ! {
    let count = options::number_or(SCENARIO, "samples", DEFAULT_SAMPLES);
    let count = usize::try_from(count)
        .unwrap_or(MAX_SAMPLES)
        .min(MAX_SAMPLES);
    pmu::enable_cycle_counter();
    let mut samples = [0u64; MAX_SAMPLES];
    let samples = samples.get_mut(..count).unwrap_or_default();
    for sample in samples.iter_mut() {
        match irq_latency::measure_virtual_timer(LEAD_COUNTS) {
            Ok(instructions) => *sample = instructions,
            Err(error) => {
                println!("{SCENARIO}: FAIL {error:?}");
                psci::system_off()
            }
        }
    }
    bench::report("virq_inject_latency", samples);
    psci::system_off()
}
