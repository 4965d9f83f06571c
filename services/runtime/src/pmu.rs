//! The PMU cycle counter and an instruction counter, for benchmarks (Arm ARM
//! DDI 0487, D13 "The Performance Monitors Extension"). Usable only when the
//! partition's config grants `pmu = true`; otherwise the core traps these
//! registers and faults the partition. Under `qemu -icount shift=0`
//! PMCCNTR_EL0 counts executed instructions exactly, so a measurement is a
//! deterministic path length.
//!
//! What QEMU counts, checked: both PMCCNTR_EL0 (the virtual clock, one count
//! per instruction at `shift=0`) and the INST_RETIRED event (its global
//! instruction count) advance with the instructions of *every* emulated CPU,
//! not just this one's — TCG runs the CPUs round robin on one clock. A
//! measurement is therefore one CPU's path length only while the other CPUs
//! are idle (in WFI they execute nothing). The two differ in one way: the
//! clock also jumps over time when every CPU idles; INST_RETIRED does not.

use crate::hvc::smccc_asm;
use core::arch::asm;

/// PMCR_EL0.E (bit 0): counters enabled; C (bit 2): reset the cycle counter;
/// LC (bit 6): the cycle counter overflows at 64 bits (D23.4.14).
const PMCR_ENABLE_RESET_LONG: u64 = 1 << 0 | 1 << 2 | 1 << 6;
/// PMCNTENSET_EL0.C (bit 31): enable the cycle counter.
const PMCNTENSET_CYCLE: u64 = 1 << 31;
/// PMCCFILTR_EL0.NSH (bit 27): also count at EL2, so a hypercall's time in the
/// core is measured. P, U (EL1, EL0) stay 0: counted.
const PMCCFILTR_COUNT_EL2: u64 = 1 << 27;

/// PMEVTYPER<n>_EL0.evtCount = 0x08, INST_RETIRED: instructions
/// architecturally executed (Arm ARM D13.11 "Common event numbers").
const EVENT_INST_RETIRED: u64 = 0x08;
/// PMEVTYPER<n>_EL0.NSH (bit 27): also count at EL2, so the core's work on
/// this CPU is included; P and U (bits 31, 30) stay 0: EL1 and EL0 counted.
const PMEVTYPER_COUNT_EL2: u64 = 1 << 27;
/// PMCNTENSET_EL0.P0 (bit 0): enable event counter 0.
const PMCNTENSET_COUNTER0: u64 = 1 << 0;
/// PMCR_EL0.E (bit 0): counters enabled; P (bit 1): reset the event
/// counters (D23.4.14).
const PMCR_ENABLE_RESET_EVENTS: u64 = 1 << 0 | 1 << 1;

/// Starts event counter 0 from zero counting INST_RETIRED at EL0, EL1 and
/// EL2. Leaves the cycle counter as it is. Read it with [`instructions`].
pub fn enable_instruction_counter() {
    // SAFETY: PMU control registers only change what the counters count.
    unsafe {
        asm!(
            "msr pmevtyper0_el0, {event}",
            "msr pmcntenset_el0, {enable}",
            "mrs {control}, pmcr_el0",
            "orr {control}, {control}, {reset}",
            "msr pmcr_el0, {control}",
            "isb",
            event = in(reg) EVENT_INST_RETIRED | PMEVTYPER_COUNT_EL2,
            enable = in(reg) PMCNTENSET_COUNTER0,
            control = out(reg) _,
            reset = in(reg) PMCR_ENABLE_RESET_EVENTS,
            options(nostack, preserves_flags),
        );
    }
}

/// Event counter 0 now: instructions since [`enable_instruction_counter`],
/// modulo 2^32 — the event counters of a PMUv3 before v3p5 (Cortex-A72) are
/// 32 bits wide, so take differences with `wrapping_sub` and keep each
/// measured stretch below 2^32 instructions.
pub fn instructions() -> u32 {
    let count: u64;
    // SAFETY: reads a counter; no side effects.
    unsafe {
        asm!("isb", "mrs {count}, pmevcntr0_el0", count = out(reg) count, options(nostack, preserves_flags));
    }
    count as u32
}

/// Starts the cycle counter from zero, counting EL0, EL1 and EL2.
pub fn enable_cycle_counter() {
    // SAFETY: PMU control registers only change what the counters count.
    unsafe {
        asm!(
            "msr pmccfiltr_el0, {filter}",
            "msr pmcntenset_el0, {enable}",
            "msr pmcr_el0, {control}",
            "isb",
            filter = in(reg) PMCCFILTR_COUNT_EL2,
            enable = in(reg) PMCNTENSET_CYCLE,
            control = in(reg) PMCR_ENABLE_RESET_LONG,
            options(nostack, preserves_flags),
        );
    }
}

/// The cycle counter now.
pub fn cycles() -> u64 {
    let count: u64;
    // SAFETY: reads a counter; no side effects.
    unsafe {
        asm!("isb", "mrs {count}, pmccntr_el0", count = out(reg) count, options(nostack, preserves_flags));
    }
    count
}

/// The cost of measuring nothing: `isb; read; read; isb`. Subtract the
/// minimum of several of these from [`measure_null_hypercall`] samples.
pub fn measure_empty() -> u64 {
    let (start, end): (u64, u64);
    // SAFETY: reads a counter twice; no side effects.
    unsafe {
        asm!(
            "isb",
            "mrs {start}, pmccntr_el0",
            "mrs {end}, pmccntr_el0",
            "isb",
            start = out(reg) start,
            end = out(reg) end,
            options(nostack, preserves_flags),
        );
    }
    end.wrapping_sub(start)
}

/// Counts one hypercall `function` with x1 = `arg1` (x2..x6 zero):
/// `isb; read; hvc #0; read; isb`, with the arguments loaded before the first
/// read so that only the call is timed. The call's results are discarded;
/// the caller vouches that `function` starts no code (not CPU_ON).
pub fn measure_hypercall(function: u32, arg1: u64) -> u64 {
    let (start, end): (u64, u64);
    // SAFETY: the call only changes the registers declared clobbered here
    // (SMCCC: x0-x17); `start`/`end` are allocated apart from them.
    unsafe {
        smccc_asm!(
            [
                "isb",
                "mrs {start}, pmccntr_el0",
                "hvc #0",
                "mrs {end}, pmccntr_el0",
                "isb",
            ],
            function,
            [arg1, 0, 0, 0, 0, 0],
            start = out(reg) start,
            end = out(reg) end,
            options(nostack),
        );
    }
    end.wrapping_sub(start)
}

/// Counts one `NULL` hypercall round trip.
pub fn measure_null_hypercall() -> u64 {
    measure_hypercall(abi::hvc::NULL, 0)
}

/// Counts one 32-bit load from `address` (an emulated device register):
/// `isb; read; ldr; read; isb`.
pub fn measure_mmio_read(address: usize) -> u64 {
    let (start, end): (u64, u64);
    // SAFETY: a load from an address the caller maps as a device window of its
    // own partition; the core completes it (or faults the partition).
    unsafe {
        asm!(
            "isb",
            "mrs {start}, pmccntr_el0",
            "ldr {value:w}, [{address}]",
            "mrs {end}, pmccntr_el0",
            "isb",
            start = out(reg) start,
            end = out(reg) end,
            value = out(reg) _,
            address = in(reg) address,
            options(nostack),
        );
    }
    end.wrapping_sub(start)
}

/// Counts one 32-bit store of `value` to `address` (an emulated device
/// register): `isb; read; str; read; isb`.
pub fn measure_mmio_write(address: usize, value: u32) -> u64 {
    let (start, end): (u64, u64);
    // SAFETY: a store to an address the caller maps as a device window of
    // its own partition; the core completes it (or faults the partition).
    unsafe {
        asm!(
            "isb",
            "mrs {start}, pmccntr_el0",
            "str {value:w}, [{address}]",
            "mrs {end}, pmccntr_el0",
            "isb",
            start = out(reg) start,
            end = out(reg) end,
            value = in(reg) value,
            address = in(reg) address,
            options(nostack),
        );
    }
    end.wrapping_sub(start)
}
