//! System-register accesses a partition makes to find out what the core lets
//! it see, for tests of the core's trap policy (`kernel_core::sysregs`): ID
//! registers, a debug register, a set/way cache operation and a PMU register.

use core::arch::asm;

/// Reads ID_AA64PFR0_EL1 (processor features: ELs, FP, GIC, SVE, ...).
pub fn id_aa64pfr0() -> u64 {
    let value: u64;
    // SAFETY: an ID register read has no side effects (the core traps and
    // emulates it).
    unsafe { asm!("mrs {}, id_aa64pfr0_el1", out(reg) value, options(nomem, nostack)) };
    value
}

/// Reads ID_AA64DFR0_EL1 (debug features: PMU version, breakpoints, ...).
pub fn id_aa64dfr0() -> u64 {
    let value: u64;
    // SAFETY: as `id_aa64pfr0`.
    unsafe { asm!("mrs {}, id_aa64dfr0_el1", out(reg) value, options(nomem, nostack)) };
    value
}

/// Writes `value` to breakpoint value register 0 (DBGBVR0_EL1) and reads it
/// back. Breakpoint 0 stays disabled (DBGBCR0_EL1 is never written), so the
/// write cannot change what the program does.
pub fn write_and_read_dbgbvr0(value: u64) -> u64 {
    let read: u64;
    // SAFETY: a disabled breakpoint's value register has no effect on
    // execution or memory.
    unsafe {
        asm!(
            "msr dbgbvr0_el1, {v}",
            "isb",
            "mrs {r}, dbgbvr0_el1",
            v = in(reg) value,
            r = out(reg) read,
            options(nomem, nostack)
        )
    };
    read
}

/// Cleans and invalidates the data cache line at set 0, way 0, level 1
/// (DC CISW): what a bare-metal program does before turning its caches off.
pub fn clean_invalidate_set_way_zero() {
    // SAFETY: cleaning and invalidating a cache line writes dirty data back
    // and changes no memory contents.
    unsafe { asm!("dc cisw, {}", "dsb sy", in(reg) 0u64, options(nostack)) };
}

/// Reads PMCR_EL0. Without `pmu = true` the core makes this UNDEFINED, so
/// the runtime's vectors take an Undefined Instruction exception and report
/// it: this does not return then.
pub fn read_pmcr() -> u64 {
    let value: u64;
    // SAFETY: a PMU register read has no memory effects; if it is UNDEFINED
    // the exception goes to the runtime's vectors, which do not return here.
    unsafe { asm!("mrs {}, pmcr_el0", out(reg) value, options(nomem, nostack)) };
    value
}
