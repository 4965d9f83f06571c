//! System-register accesses a partition makes to find out what the core lets
//! it see, for tests of the core's trap policy (`kernel_core::sysregs`): ID
//! registers, a debug register, ACTLR_EL1, ICC_SRE_EL1, a set/way cache
//! operation and a PMU register.

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

/// Reads ACTLR_EL1, writes it with bit 0 flipped and reads it again:
/// (before, after). The core traps both and ignores the write, so the
/// IMPLEMENTATION DEFINED controls stay as they were.
pub fn flip_and_read_actlr() -> (u64, u64) {
    let (before, after): (u64, u64);
    // SAFETY: the core emulates both accesses (HCR_EL2.TACR); the write is
    // ignored, so nothing about execution changes.
    unsafe {
        asm!(
            "mrs {b}, actlr_el1",
            "eor {t}, {b}, #1",
            "msr actlr_el1, {t}",
            "isb",
            "mrs {a}, actlr_el1",
            b = out(reg) before,
            t = out(reg) _,
            a = out(reg) after,
            options(nomem, nostack)
        )
    };
    (before, after)
}

/// What [`registers_across_a_trap`] puts in its `i`th register.
pub fn register_pattern(i: usize) -> u64 {
    0x5A5A_0000_0000_0000 | ((i as u64 + 1) * 0x0101_0101)
}

/// General registers x1..x28 (x18 and x19 aside: the platform register and
/// one LLVM reserves) hold
/// distinct patterns across a trapped `MRS ACTLR_EL1` (into x0): what
/// each holds afterwards, in that order. The core must hand every one back
/// as it was; only x0 takes the result.
pub fn registers_across_a_trap() -> [u64; 26] {
    let mut values: [u64; 26] = core::array::from_fn(register_pattern);
    // SAFETY: the core emulates the read (HCR_EL2.TACR); every register
    // the instruction could disturb is an operand.
    unsafe {
        asm!(
            "mrs x0, actlr_el1",
            out("x0") _,
            inout("x1") values[0],
            inout("x2") values[1],
            inout("x3") values[2],
            inout("x4") values[3],
            inout("x5") values[4],
            inout("x6") values[5],
            inout("x7") values[6],
            inout("x8") values[7],
            inout("x9") values[8],
            inout("x10") values[9],
            inout("x11") values[10],
            inout("x12") values[11],
            inout("x13") values[12],
            inout("x14") values[13],
            inout("x15") values[14],
            inout("x16") values[15],
            inout("x17") values[16],
            inout("x20") values[17],
            inout("x21") values[18],
            inout("x22") values[19],
            inout("x23") values[20],
            inout("x24") values[21],
            inout("x25") values[22],
            inout("x26") values[23],
            inout("x27") values[24],
            inout("x28") values[25],
            options(nomem, nostack)
        )
    };
    values
}

/// Writes 0 to ICC_SRE_EL1 (GICv3 system-register interface only) and reads
/// it back. The core keeps it at SRE | DFB | DIB, so the interface stays on.
pub fn clear_and_read_icc_sre() -> u64 {
    let value: u64;
    // SAFETY: the core emulates both accesses and ignores the write, so the
    // GIC interface this program uses does not change.
    unsafe {
        asm!(
            "msr icc_sre_el1, xzr",
            "isb",
            "mrs {}, icc_sre_el1",
            out(reg) value,
            options(nomem, nostack)
        )
    };
    value
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
