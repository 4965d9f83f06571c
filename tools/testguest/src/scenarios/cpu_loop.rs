//! `bench-cpu [hz=H] [iterations=N] [samples=S]`: a CPU-bound loop while the
//! guest takes a periodic virtual-timer interrupt at H Hz (default 250,
//! Linux's usual HZ), for `guest_cpu_ratio`. Each of S samples (default 11)
//! runs the same N loop iterations and counts the instructions executed
//! meanwhile at every EL (INST_RETIRED with EL2 included), so under Bulkhead
//! the core's per-interrupt and scheduling work on this CPU is in the figure;
//! xtask divides it by the same binary's figure on bare QEMU. Prints
//! `BENCH guest_cpu_loop instructions …` and `BENCH guest_cpu_ticks
//! interrupts …` (timer interrupts taken per sample, which must be alike in
//! both runs for the ratio to compare like with like).

use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering};

use bulkhead_runtime::stats::Summary;
use bulkhead_runtime::{irq, pmu, println, psci, timer};

use crate::options;
use crate::scenarios::bench;

const SCENARIO: &str = "bench-cpu";
const DEFAULT_HZ: u64 = 250;
/// About ten 250 Hz ticks' worth of loop per sample.
const DEFAULT_ITERATIONS: u64 = 5_000_000;
const DEFAULT_SAMPLES: u64 = 11;
/// Room for this many samples.
const MAX_SAMPLES: usize = 64;

/// Timer counts between ticks.
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// The deadline the timer is armed for.
static NEXT_DEADLINE: AtomicU64 = AtomicU64::new(0);
/// Ticks taken.
static TICKS: AtomicU64 = AtomicU64::new(0);

/// The periodic tick: re-arms the timer one period after the previous
/// deadline (not after now, so the rate does not drift), as a periodic
/// clock-event device does.
fn on_interrupt(intid: u32) {
    if intid != timer::interrupt_id() {
        return;
    }
    let next = NEXT_DEADLINE
        .load(Ordering::Relaxed)
        .wrapping_add(PERIOD.load(Ordering::Relaxed));
    NEXT_DEADLINE.store(next, Ordering::Relaxed);
    timer::arm_at(next);
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// The work: `iterations` rounds of xorshift64, each depending on the last,
/// so the compiler can neither skip nor batch them.
fn spin(iterations: u64, seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..black_box(iterations) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

fn fail(what: &str) -> ! {
    println!("{SCENARIO}: FAIL {what}");
    psci::system_off()
}

/// `bench-cpu`.
pub fn run() -> ! {
    let hz = options::number_or(SCENARIO, "hz", DEFAULT_HZ);
    let iterations = options::number_or(SCENARIO, "iterations", DEFAULT_ITERATIONS);
    let samples = options::number_or(SCENARIO, "samples", DEFAULT_SAMPLES);
    let samples = usize::try_from(samples)
        .unwrap_or(MAX_SAMPLES)
        .min(MAX_SAMPLES);
    let period = match timer::frequency().checked_div(hz) {
        Some(period) if period > 0 => period,
        _ => fail("hz must be between 1 and the timer frequency"),
    };

    pmu::enable_cycle_counter();
    pmu::enable_instruction_counter();
    let probe = pmu::instructions();
    if spin(1000, 1) == 0 || pmu::instructions() == probe {
        fail("the INST_RETIRED counter does not count (not under -icount?)");
    }

    PERIOD.store(period, Ordering::Relaxed);
    NEXT_DEADLINE.store(timer::now().wrapping_add(period), Ordering::Relaxed);
    irq::set_handler(on_interrupt);
    timer::arm_at(NEXT_DEADLINE.load(Ordering::Relaxed));
    irq::enable();

    let mut instructions = [0u64; MAX_SAMPLES];
    let mut clock = [0u64; MAX_SAMPLES];
    let mut ticks = [0u64; MAX_SAMPLES];
    let mut checksum: u64 = 0;
    for sample in 0..samples {
        let ticks_before = TICKS.load(Ordering::Relaxed);
        let clock_before = pmu::cycles();
        let counted_before = pmu::instructions();
        checksum ^= spin(iterations, checksum ^ (sample as u64 + 1));
        let counted = pmu::instructions().wrapping_sub(counted_before);
        let elapsed = pmu::cycles().wrapping_sub(clock_before);
        let taken = TICKS.load(Ordering::Relaxed).wrapping_sub(ticks_before);
        if let (Some(i), Some(c), Some(t)) = (
            instructions.get_mut(sample),
            clock.get_mut(sample),
            ticks.get_mut(sample),
        ) {
            *i = u64::from(counted);
            *c = elapsed;
            *t = taken;
        }
    }
    irq::disable();
    timer::disarm();

    let instructions = instructions.get_mut(..samples).unwrap_or_default();
    let clock = clock.get_mut(..samples).unwrap_or_default();
    let ticks = ticks.get_mut(..samples).unwrap_or_default();
    // The counter and the clock both count every emulated CPU's
    // instructions; they agree unless a CPU idled (the clock then jumps).
    if let (Some(i), Some(c)) = (
        Summary::of_samples(instructions),
        Summary::of_samples(clock),
    ) {
        println!(
            "{SCENARIO}: {iterations} iterations, {hz} Hz tick: median {} instructions counted, clock {} (checksum {checksum:#x})",
            i.median, c.median
        );
    }
    bench::report("guest_cpu_loop", instructions);
    match Summary::of_samples(ticks) {
        Some(t) => println!(
            "BENCH guest_cpu_ticks interrupts {} {} {}",
            t.min, t.median, t.max
        ),
        None => fail("no samples"),
    }
    psci::system_off()
}
