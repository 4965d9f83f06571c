//! Benchmarks (need `pmu = true`), measured with the PMU cycle counter, which
//! counts instructions exactly under `qemu -icount shift=0`. Each prints the
//! line xtask parses: `BENCH <name> instructions <min> <median> <max>`.
//!
//! - `bench`: `hvc_null_roundtrip`, a NULL hypercall and return.
//! - `bench-ipc slot=S`: `ipc_call_reply_roundtrip`, a CALL on endpoint cap S
//!   to a server on the same CPU and its reply.
//! - `bench-mmio base=B`: `mmio_emulated_read_roundtrip`, a 32-bit load from
//!   an emulated device window at B, answered by its service.
//! - `bench-mmio-posted base=B`: the same window served by a device server
//!   that published its ID register and posted its data register
//!   (`posted-device-server`): `mmio_published_read_roundtrip`, a 32-bit
//!   load of the ID, which the core answers, and `mmio_posted_write`, a
//!   32-bit store to the data register, which the core queues. The stores
//!   are timed in batches smaller than the core's queue, each batch
//!   followed (untimed) by a load the server answers after draining it.

use abi::posted_mmio::QUEUE_CAPACITY;
use bulkhead_runtime::mmio::Window;
use bulkhead_runtime::stats::Summary;
use bulkhead_runtime::{pmu, println, psci};

use crate::options;
use crate::scenarios::device::{DATA, DATA_COUNT, DEVICE_ID};

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

/// Times `one` [`SAMPLES`] times and prints the result; `one` gets the
/// sample's index.
fn measure_samples(name: &str, mut one: impl FnMut(usize) -> u64) {
    pmu::enable_cycle_counter();
    let overhead = overhead();
    println!("bench: {name}: measurement overhead {overhead} instructions");
    let mut samples = [0u64; SAMPLES];
    for (index, sample) in samples.iter_mut().enumerate() {
        *sample = one(index).saturating_sub(overhead);
    }
    report(name, &mut samples);
}

fn measure(name: &str, mut one: impl FnMut() -> u64) -> ! {
    measure_samples(name, |_| one());
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

/// Stores timed between two synchronous loads: well inside the core's
/// queue, so none of them finds it full.
const POSTED_BATCH: usize = QUEUE_CAPACITY / 2;

/// `bench-mmio-posted`.
pub fn mmio_posted() -> ! {
    let base = options::required_number("bench-mmio-posted", "base") as usize;
    let device = Window::new(base);
    if device.read_u32(0) != DEVICE_ID {
        println!("bench: FAIL the published ID register reads wrong");
    }
    measure_samples("mmio_published_read_roundtrip", |_| {
        pmu::measure_mmio_read(base)
    });
    let before = device.read_u64(DATA_COUNT);
    measure_samples("mmio_posted_write", |index| {
        if index % POSTED_BATCH == 0 {
            // Untimed: the server drains the queue before answering.
            device.read_u64(DATA_COUNT);
        }
        pmu::measure_mmio_write(base + DATA, index as u32)
    });
    let stored = device.read_u64(DATA_COUNT).wrapping_sub(before);
    if stored != SAMPLES as u64 {
        println!("bench: FAIL the server took {stored} of {SAMPLES} posted stores");
    }
    psci::system_off()
}
