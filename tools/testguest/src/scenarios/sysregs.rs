//! `sysregs`: what a partition without the PMU sees of the CPU through the
//! core's trap policy. ID registers show no EL2, EL3, SVE or PMU; a debug
//! register reads as zero after a write; general registers survive a
//! trapped access; ACTLR_EL1 and (GICv3) ICC_SRE_EL1 ignore writes; a set/way cache operation is
//! accepted; and reading a PMU register is UNDEFINED, which ends the
//! scenario through the runtime's exception report.

use bulkhead_runtime::{println, sysreg_probe};

/// The 4-bit ID field at bit `shift` of `value`.
fn field(value: u64, shift: u32) -> u64 {
    (value >> shift) & 0xf
}

/// `sysregs`.
pub fn run() -> ! {
    let mut ok = true;
    let mut check = |what: &str, good: bool| {
        println!("sysregs: {what}: {}", if good { "ok" } else { "FAIL" });
        ok &= good;
    };

    let pfr0 = sysreg_probe::id_aa64pfr0();
    println!("sysregs: ID_AA64PFR0_EL1 {pfr0:#018x}");
    // EL1 [7:4] is AArch64 (1 or 2); EL2 [11:8], EL3 [15:12], SVE [35:32] read 0.
    check(
        "EL0 and EL1 AArch64 only",
        field(pfr0, 0) == 1 && field(pfr0, 4) == 1,
    );
    check(
        "EL2, EL3 and SVE hidden",
        field(pfr0, 8) | field(pfr0, 12) | field(pfr0, 32) == 0,
    );

    let dfr0 = sysreg_probe::id_aa64dfr0();
    println!("sysregs: ID_AA64DFR0_EL1 {dfr0:#018x}");
    // DebugVer [3:0] stays (v8 debug is mandatory); PMUVer [11:8] reads 0.
    check("debug architecture shown", field(dfr0, 0) >= 6);
    check("PMU hidden", field(dfr0, 8) == 0);

    check(
        "DBGBVR0_EL1 reads as zero after a write",
        sysreg_probe::write_and_read_dbgbvr0(0x4000_1000) == 0,
    );

    let kept = sysreg_probe::registers_across_a_trap();
    check(
        "x1..x28 survive a trapped access",
        kept.iter()
            .enumerate()
            .all(|(i, &v)| v == sysreg_probe::register_pattern(i)),
    );
    let (before, after) = sysreg_probe::flip_and_read_actlr();
    check("ACTLR_EL1 ignores writes", before == after);
    // GIC [27:24] = 1: the GICv3 system-register interface.
    if field(pfr0, 24) == 1 {
        check(
            "ICC_SRE_EL1 stays SRE|DFB|DIB",
            sysreg_probe::clear_and_read_icc_sre() == 0x7,
        );
    }

    sysreg_probe::clean_invalidate_set_way_zero();
    check("DC CISW accepted", true);

    println!("sysregs: {}", if ok { "all ok" } else { "FAILED" });
    println!("sysregs: reading PMCR_EL0, which must be UNDEFINED");
    let pmcr = sysreg_probe::read_pmcr();
    println!("sysregs: FAIL PMCR_EL0 read returned {pmcr:#x}");
    bulkhead_runtime::psci::system_off()
}
