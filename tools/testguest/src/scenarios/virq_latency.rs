//! `bench-virq [samples=N]`: interrupt delivery path lengths (see
//! `bulkhead_runtime::irq_latency`), N samples each (default 1000):
//!
//! - `virq_inject_latency`: from this vCPU's virtual timer interrupt
//!   arriving to the first instruction of its IRQ vector. Under Bulkhead the
//!   core's path for a physical PPI taken at EL2 and injected with the HW
//!   bit; on bare QEMU 0, which checks the method.
//! - `vsgi_self_latency` (GICv3): from just before this vCPU's
//!   ICC_SGI1R_EL1 write sending itself an SGI to its IRQ vector. Under
//!   Bulkhead the trapped write emulated by the core's vGIC, the SGI
//!   injected and the return; on bare QEMU 1 (the write itself).

use bulkhead_runtime::irq_latency::{self, ProbeError};
use bulkhead_runtime::{pmu, println, psci};

use crate::options;
use crate::scenarios::bench;

const SCENARIO: &str = "bench-virq";
const DEFAULT_SAMPLES: u64 = 1000;
/// Room for this many samples.
const MAX_SAMPLES: usize = 4096;
/// Timer counts between arming and firing: long enough for the probe loop to
/// have read the counter (16 instructions a count under `-icount shift=0`).
const LEAD_COUNTS: u64 = 32;

/// Takes `samples` measurements and reports them as `name`; `false` if the
/// probe cannot run here (reported), failing the scenario on any other error.
fn sample(
    name: &str,
    samples: &mut [u64],
    mut one: impl FnMut() -> Result<u64, ProbeError>,
) -> bool {
    for sample in samples.iter_mut() {
        match one() {
            Ok(instructions) => *sample = instructions,
            Err(ProbeError::NotGicV3) => {
                println!("{SCENARIO}: {name} needs a GICv3, skipped");
                return false;
            }
            Err(error) => {
                println!("{SCENARIO}: FAIL {name}: {error:?}");
                psci::system_off()
            }
        }
    }
    bench::report(name, samples);
    true
}

/// `bench-virq`.
pub fn run() -> ! {
    let count = options::number_or(SCENARIO, "samples", DEFAULT_SAMPLES);
    let count = usize::try_from(count)
        .unwrap_or(MAX_SAMPLES)
        .min(MAX_SAMPLES);
    pmu::enable_cycle_counter();
    let mut samples = [0u64; MAX_SAMPLES];
    let samples = samples.get_mut(..count).unwrap_or_default();
    sample("virq_inject_latency", samples, || {
        irq_latency::measure_virtual_timer(LEAD_COUNTS)
    });
    sample(
        "vsgi_self_latency",
        samples,
        irq_latency::measure_sgi_to_self,
    );
    psci::system_off()
}
