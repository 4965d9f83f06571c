//! Benchmarks (need `pmu = true`), measured with the PMU cycle counter, which
//! counts instructions exactly under `qemu -icount shift=0`. Each prints the
//! line xtask parses: `BENCH <name> instructions <min> <median> <max>`.
//!
//! - `bench`: `hvc_null_roundtrip`, a NULL hypercall and return.
//! - `bench-ipc slot=S`: `ipc_call_reply_roundtrip`, a CALL on endpoint cap S
//!   to a server on the same CPU and its reply.
//! - `bench-mmio base=B`: `mmio_emulated_read_roundtrip`, a 32-bit load from
//!   an emulated device window at B, answered by its service.

use bulkhead_runtime::stats::Summary;
use bulkhead_runtime::{pmu, println, psci};

use crate::options;

/// Empty measurements whose minimum is the measurement's own cost.
const OVERHEAD_SAMPLES: usize = 100;
/// Round trips timed one by one.
pub const SAMPLES: usize = 1000;

/// The cost of measuring nothing, to subtract from each sample.
fn overhead() -> u64 {
    (0..OVERHEAD_SAMPLES)
        .map(|_| pmu::measure_empty())
        .min()
        .unwrap_or(0)
}

/// Prints the BENCH line for `samples`.
pub fn report(name: &str, samples: &mut [u64]) {
    match Summary::of_samples(samples) {
        Some(s) => println!("BENCH {name} instructions {} {} {}", s.min, s.median, s.max),
        None => println!("bench: FAIL {name}: no samples"),
    }
}

fn measure(name: &str, mut one: impl FnMut() -> u64) -> ! {
    pmu::enable_cycle_counter();
    let overhead = overhead();
    println!("bench: {name}: measurement overhead {overhead} instructions");
    let mut samples = [0u64; SAMPLES];
    for sample in samples.iter_mut() {
        *sample = one().saturating_sub(overhead);
    }
    report(name, &mut samples);
    psci::system_off()
}

/// `bench`.
pub fn run() -> ! {
    measure("hvc_null_roundtrip", pmu::measure_null_hypercall)
}

/// `bench-ipc`.
pub fn ipc() -> ! {
    let slot = options::required_number("bench-ipc", "slot");
    measure("ipc_call_reply_roundtrip", || {
        pmu::measure_hypercall(abi::ipc::CALL, slot)
    })
}

/// `bench-mmio`.
pub fn mmio() -> ! {
    let base = options::required_number("bench-mmio", "base") as usize;
    measure("mmio_emulated_read_roundtrip", || {
        pmu::measure_mmio_read(base)
    })
}
