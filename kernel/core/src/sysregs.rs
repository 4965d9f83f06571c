//! What the core does with a trapped system-register access: the ID registers
//! a partition reads are sanitized so that it sees a consistent CPU without the
//! features the core does not virtualize; debug registers read as zero and
//! ignore writes; the PMU (unless granted), implementation-defined registers
//! and writes to read-only ID registers are UNDEFINED; set/way cache
//! maintenance becomes a clean and invalidate of the partition's memory.
//!
//! ACTLR_EL1 and ICC_SRE_EL1 trap so that the core need not switch them
//! between partitions: the first reads this CPU's own value, the second the
//! fixed value of every GICv3 guest, and writes to either are ignored.
//!
//! Which accesses trap at all is set in the core's HCR_EL2 (TID3, TIDCP, TSW,
//! TACR), MDCR_EL2 (TDA, TDOSA, TDRA; TPM and TPMCR without the PMU) and
//! ICC_SRE_EL2 (Enable), Arm ARM D17.2.48 and D17.2.71, GIC IHI 0069H
//! §12.5.26. Encodings are from the Arm ARM, C5.3 and D17.

use crate::esr::{sysreg_key, SysRegAccess};

/// What to do with one trapped access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An ID register read: return the hardware value passed through
    /// [`sanitize_id_register`]. `op2` and `crm` name it in the ID space
    /// `S3_0_C0_C<crm>_<op2>`.
    IdRegister {
        /// CRm, 1..=7.
        crm: u8,
        /// Op2, 0..=7.
        op2: u8,
    },
    /// Reads as zero, writes are ignored (the debug registers: a guest gets
    /// no hardware breakpoints, watchpoints, OS lock or debug channel).
    ReadAsZeroWriteIgnored,
    /// The instruction is UNDEFINED for the partition: the core injects an
    /// Undefined Instruction exception, as hardware without the feature does.
    Undefined,
    /// ACTLR_EL1, trapped by HCR_EL2.TACR: IMPLEMENTATION DEFINED controls
    /// the core does not switch between partitions. A read returns this
    /// CPU's value (the same for every partition); a write is ignored, as
    /// under KVM.
    AuxiliaryControl,
    /// ICC_SRE_EL1, trapped by ICC_SRE_EL2.Enable = 0: every GICv3 guest
    /// reads SRE | DFB | DIB (the system-register interface); a write is
    /// ignored.
    GicSystemRegisterEnable,
    /// A data-cache maintenance by set/way (DC ISW, CSW, CISW): meaningless
    /// for a guest (the sets and ways are the physical CPU's, shared with
    /// others), so the core cleans and invalidates the partition's memory.
    SetWay,
    /// Not a register this policy knows: the caller decides (the vGIC's
    /// registers) or faults the partition.
    Unknown,
}

/// Decides what a trapped access does. PMU accesses trap only from a
/// partition without the PMU, so they are always refused here.
pub fn decide(access: &SysRegAccess) -> Decision {
    let SysRegAccess {
        op0,
        op1,
        crn,
        crm,
        op2,
        read,
        ..
    } = *access;
    match (op0, op1, crn, crm) {
        // The ID space (Arm ARM D17.1.2, "Reserved encodings in the ID space
        // are RAZ"): trapped by HCR_EL2.TID3. The registers are read-only.
        (3, 0, 0, 1..=7) if read => Decision::IdRegister { crm, op2 },
        (3, 0, 0, 1..=7) => Decision::Undefined,
        // op0 = 2 is the debug and trace register space (Arm ARM C5.3):
        // MDSCR_EL1, OSLAR_EL1, OSDLR_EL1, DBGB/W[CV]R<n>_EL1, MDCCINT_EL1,
        // DBGCLAIM*, DBGDTR*, ... trapped by MDCR_EL2.TDA/TDOSA/TDRA.
        (2, ..) => Decision::ReadAsZeroWriteIgnored,
        // ACTLR_EL1: op0 3, op1 0, CRn 1, CRm 0, op2 1 (Arm ARM D23.2.2).
        (3, 0, 1, 0) if op2 == 1 => Decision::AuxiliaryControl,
        // ICC_SRE_EL1: op0 3, op1 0, CRn 12, CRm 12, op2 5 (IHI 0069H
        // §12.2.20).
        (3, 0, 12, 12) if op2 == 5 => Decision::GicSystemRegisterEnable,
        // DC ISW / CSW / CISW: SYS op0 = 1, op1 = 0, CRn = 7, CRm = 6/10/14,
        // op2 = 2 (Arm ARM C5.3.13), trapped by HCR_EL2.TSW.
        (1, 0, 7, 6 | 10 | 14) if op2 == 2 => Decision::SetWay,
        // PMU registers (Arm ARM D17.5): PMCR_EL0 .. PMOVSSET_EL0
        // (op1 = 3, CRn = 9, CRm = 12..=14), PMINTENSET/CLR_EL1 (op1 = 0,
        // CRn = 9, CRm = 14), PMEVCNTR<n>_EL0 / PMEVTYPER<n>_EL0 /
        // PMCCFILTR_EL0 (op1 = 3, CRn = 14, CRm = 8..=15). They trap by
        // MDCR_EL2.TPM when the partition has no PMU, which its ID registers
        // also say.
        (3, 3, 9, 12..=14) | (3, 0, 9, 14) | (3, 3, 14, 8..=15) => Decision::Undefined,
        // IMPLEMENTATION DEFINED registers (CRn = 11 or 15), trapped by
        // HCR_EL2.TIDCP: as KVM does, they do not exist for a guest.
        (3, _, 11 | 15, _) => Decision::Undefined,
        _ => Decision::Unknown,
    }
}

/// Clears the 4-bit ID fields whose lowest bits are in `fields` (bit
/// positions) from `value`.
const fn clear_fields(value: u64, fields: &[u32]) -> u64 {
    let mut v = value;
    let mut i = 0;
    while i < fields.len() {
        v &= !(0xf << fields[i]);
        i += 1;
    }
    v
}

/// Keeps only the 4-bit ID fields at `fields` of `value`.
const fn keep_fields(value: u64, fields: &[u32]) -> u64 {
    let mut kept = 0;
    let mut i = 0;
    while i < fields.len() {
        kept |= value & (0xf << fields[i]);
        i += 1;
    }
    kept
}

/// An ELn field of ID_AA64PFR0_EL1 for "AArch64 only".
const AARCH64_ONLY: u64 = 0b0001;

/// ID_AA64PFR0_EL1 (S3_0_C0_C4_0).
pub const ID_AA64PFR0_EL1: u32 = sysreg_key(3, 0, 0, 4, 0);
/// ID_AA64PFR1_EL1.
pub const ID_AA64PFR1_EL1: u32 = sysreg_key(3, 0, 0, 4, 1);
/// ID_AA64ZFR0_EL1 (SVE).
pub const ID_AA64ZFR0_EL1: u32 = sysreg_key(3, 0, 0, 4, 4);
/// ID_AA64SMFR0_EL1 (SME).
pub const ID_AA64SMFR0_EL1: u32 = sysreg_key(3, 0, 0, 4, 5);
/// ID_AA64DFR0_EL1.
pub const ID_AA64DFR0_EL1: u32 = sysreg_key(3, 0, 0, 5, 0);
/// ID_AA64DFR1_EL1.
pub const ID_AA64DFR1_EL1: u32 = sysreg_key(3, 0, 0, 5, 1);
/// ID_AA64AFR0_EL1 (implementation defined).
pub const ID_AA64AFR0_EL1: u32 = sysreg_key(3, 0, 0, 5, 4);
/// ID_AA64AFR1_EL1 (implementation defined).
pub const ID_AA64AFR1_EL1: u32 = sysreg_key(3, 0, 0, 5, 5);
/// ID_AA64ISAR1_EL1.
pub const ID_AA64ISAR1_EL1: u32 = sysreg_key(3, 0, 0, 6, 1);
/// ID_AA64ISAR2_EL1.
pub const ID_AA64ISAR2_EL1: u32 = sysreg_key(3, 0, 0, 6, 2);
/// ID_AA64MMFR2_EL1.
pub const ID_AA64MMFR2_EL1: u32 = sysreg_key(3, 0, 0, 7, 2);
/// ID_PFR1_EL1 (AArch32 view).
pub const ID_PFR1_EL1: u32 = sysreg_key(3, 0, 0, 1, 1);
/// ID_DFR0_EL1 (AArch32 view).
pub const ID_DFR0_EL1: u32 = sysreg_key(3, 0, 0, 1, 2);

/// The value a partition reads from ID register `key` (a [`sysreg_key`])
/// whose hardware value is `hardware`. Features the core does not give
/// partitions read as absent:
///
/// - EL2 and EL3, Secure EL2, RME: a partition runs at EL1 only and calls
///   PSCI through HVC.
/// - SVE, SME, MTE, AMU, MPAM, RAS, NMI: their state is not switched
///   between partitions (SVE/SME registers, tags, counters, error records).
/// - Pointer authentication: its keys are not switched (HCR_EL2.API/APK
///   stay 0, so its instructions would trap).
/// - WFET/WFIT: the core emulates WFI/WFE only.
/// - Trace, SPE, BRBE, and the PMU unless `pmu` (the config's `pmu = true`).
/// - Nested virtualization.
///
/// Everything else is the hardware's, so guests see the real CPU.
pub fn sanitize_id_register(key: u32, hardware: u64, pmu: bool) -> u64 {
    match key {
        // FP [19:16], AdvSIMD [23:20], GIC [27:24], DIT [51:48], CSV2
        // [59:56], CSV3 [63:60] as the hardware has them; EL0 [3:0] and EL1
        // [7:4] say AArch64 only (1): the core runs partitions in AArch64
        // and treats an exception from AArch32 as the partition's fault, so
        // a guest must not start 32-bit tasks; EL2, EL3, RAS, SVE, SEL2,
        // MPAM, AMU, RME read 0 (Arm ARM D17.2.67).
        ID_AA64PFR0_EL1 => {
            keep_fields(hardware, &[16, 20, 24, 48, 56, 60]) | AARCH64_ONLY | AARCH64_ONLY << 4
        }
        // BT [3:0], SSBS [7:4], CSV2_frac [35:32] (D17.2.68).
        ID_AA64PFR1_EL1 => keep_fields(hardware, &[0, 4, 32]),
        ID_AA64ZFR0_EL1 | ID_AA64SMFR0_EL1 | ID_AA64DFR1_EL1 => 0,
        ID_AA64AFR0_EL1 | ID_AA64AFR1_EL1 => 0,
        // DebugVer [3:0], BRPs [15:12], WRPs [23:20], CTX_CMPs [31:28],
        // DoubleLock [39:36]; with the PMU also PMUVer [11:8], MTPMU
        // [51:48], HPMN0 [63:60] (D17.2.59).
        ID_AA64DFR0_EL1 => {
            let debug = keep_fields(hardware, &[0, 12, 20, 28, 36]);
            if pmu {
                debug | keep_fields(hardware, &[8, 48, 60])
            } else {
                debug
            }
        }
        // APA [7:4], API [11:8], GPA [27:24], GPI [31:28] (D17.2.62).
        ID_AA64ISAR1_EL1 => clear_fields(hardware, &[4, 8, 24, 28]),
        // WFxT [3:0], GPA3 [11:8], APA3 [15:12] (D17.2.63).
        ID_AA64ISAR2_EL1 => clear_fields(hardware, &[0, 8, 12]),
        // NV [27:24] (D17.2.66).
        ID_AA64MMFR2_EL1 => clear_fields(hardware, &[24]),
        // AArch32 views: Virtualization [15:12] of ID_PFR1 (no EL2), and
        // PerfMon [27:24] of ID_DFR0 without the PMU.
        ID_PFR1_EL1 => clear_fields(hardware, &[12]),
        ID_DFR0_EL1 if !pmu => clear_fields(hardware, &[24]),
        _ => hardware,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8, read: bool) -> SysRegAccess {
        SysRegAccess {
            op0,
            op1,
            crn,
            crm,
            op2,
            register: 3,
            read,
        }
    }

    #[test]
    fn id_space_reads_are_sanitized_and_writes_undefined() {
        assert_eq!(
            decide(&access(3, 0, 0, 4, 0, true)),
            Decision::IdRegister { crm: 4, op2: 0 }
        );
        assert_eq!(
            decide(&access(3, 0, 0, 7, 7, true)),
            Decision::IdRegister { crm: 7, op2: 7 }
        );
        assert_eq!(decide(&access(3, 0, 0, 5, 0, false)), Decision::Undefined);
        // MIDR/MPIDR (CRm 0) are not in the trapped ID space.
        assert_eq!(decide(&access(3, 0, 0, 0, 5, true)), Decision::Unknown);
    }

    #[test]
    fn debug_registers_read_as_zero_and_ignore_writes() {
        // MDSCR_EL1, OSLAR_EL1, DBGBCR0_EL1, DBGWVR1_EL1, MDCCSR_EL0.
        for (op1, crn, crm, op2) in [
            (0, 0, 2, 2),
            (0, 1, 0, 4),
            (0, 0, 0, 5),
            (0, 0, 1, 6),
            (3, 0, 1, 0),
        ] {
            for read in [true, false] {
                assert_eq!(
                    decide(&access(2, op1, crn, crm, op2, read)),
                    Decision::ReadAsZeroWriteIgnored
                );
            }
        }
    }

    #[test]
    fn actlr_and_icc_sre_are_fixed_for_reads_and_writes() {
        for read in [true, false] {
            assert_eq!(
                decide(&access(3, 0, 1, 0, 1, read)),
                Decision::AuxiliaryControl
            );
            assert_eq!(
                decide(&access(3, 0, 12, 12, 5, read)),
                Decision::GicSystemRegisterEnable
            );
        }
        // SCTLR_EL1 (op2 0) and CPACR_EL1 (op2 2) never trap to this policy;
        // ICC_CTLR_EL1 (op2 4) belongs to the virtual CPU interface.
        assert_eq!(decide(&access(3, 0, 1, 0, 0, true)), Decision::Unknown);
        assert_eq!(decide(&access(3, 0, 1, 0, 2, true)), Decision::Unknown);
        assert_eq!(decide(&access(3, 0, 12, 12, 4, true)), Decision::Unknown);
    }

    #[test]
    fn set_way_operations_are_recognised_and_by_va_ones_are_not() {
        for crm in [6, 10, 14] {
            assert_eq!(decide(&access(1, 0, 7, crm, 2, false)), Decision::SetWay);
        }
        // DC IVAC (op2 1) and DC CIVAC (op1 3) never trap to this policy.
        assert_eq!(decide(&access(1, 0, 7, 6, 1, false)), Decision::Unknown);
        assert_eq!(decide(&access(1, 3, 7, 14, 1, false)), Decision::Unknown);
    }

    #[test]
    fn pmu_and_implementation_defined_registers_are_undefined() {
        // PMCR_EL0, PMUSERENR_EL0, PMINTENSET_EL1, PMEVCNTR3_EL0, PMCCFILTR_EL0.
        for (op1, crn, crm, op2) in [
            (3, 9, 12, 0),
            (3, 9, 14, 0),
            (0, 9, 14, 1),
            (3, 14, 8, 3),
            (3, 14, 15, 7),
        ] {
            assert_eq!(
                decide(&access(3, op1, crn, crm, op2, true)),
                Decision::Undefined
            );
        }
        // Cortex-A72 CPUACTLR_EL1 (S3_1_C15_C2_0) and an S3_x_C11 register.
        assert_eq!(decide(&access(3, 1, 15, 2, 0, true)), Decision::Undefined);
        assert_eq!(decide(&access(3, 0, 11, 0, 0, false)), Decision::Undefined);
        // ICC_SGI1R_EL1 (S3_0_C12_C11_5) belongs to the vGIC.
        assert_eq!(decide(&access(3, 0, 12, 11, 5, false)), Decision::Unknown);
    }

    #[test]
    fn pfr0_hides_aarch32_el2_el3_sve_ras_amu_and_keeps_the_rest() {
        // A CPU with EL0-EL3 AArch64 (1), FP/AdvSIMD (0), GICv3 sysregs (1),
        // RAS (1), SVE (1), AMU (1), CSV2 (1), CSV3 (1).
        let hw: u64 = 0x1
            | 0x1 << 4
            | 0x1 << 8
            | 0x1 << 12
            | 0x1 << 24
            | 0x1 << 28
            | 0x1 << 32
            | 0x1 << 44
            | 0x1 << 56
            | 0x1 << 60;
        let seen = sanitize_id_register(ID_AA64PFR0_EL1, hw, false);
        assert_eq!(seen, 0x1 | 0x1 << 4 | 0x1 << 24 | 0x1 << 56 | 0x1 << 60);
        // A CPU that also runs AArch32 at EL0 and EL1 (2) is shown AArch64 only.
        let seen = sanitize_id_register(ID_AA64PFR0_EL1, hw | 0x2 | 0x2 << 4, false);
        assert_eq!(seen & 0xff, 0x11);
    }

    #[test]
    fn dfr0_shows_the_pmu_only_when_granted() {
        // DebugVer 6, PMUVer 4 (PMUv3 for v8.1), BRPs 5, WRPs 3, CTX_CMPs 1,
        // TraceVer 1, PMSVer 1.
        let hw: u64 = 0x6 | 0x1 << 4 | 0x4 << 8 | 0x5 << 12 | 0x3 << 20 | 0x1 << 28 | 0x1 << 32;
        let debug = 0x6 | 0x5 << 12 | 0x3 << 20 | 0x1 << 28;
        assert_eq!(sanitize_id_register(ID_AA64DFR0_EL1, hw, false), debug);
        assert_eq!(
            sanitize_id_register(ID_AA64DFR0_EL1, hw, true),
            debug | 0x4 << 8
        );
        // The AArch32 view agrees.
        let dfr0 = 0x3 << 24 | 0x6;
        assert_eq!(sanitize_id_register(ID_DFR0_EL1, dfr0, false), 0x6);
        assert_eq!(sanitize_id_register(ID_DFR0_EL1, dfr0, true), dfr0);
    }

    #[test]
    fn pointer_authentication_sve_and_unknown_ids_as_the_table_says() {
        let isar1 = 0x1 << 4 | 0x1 << 8 | 0x1 << 24 | 0x1 << 28 | 0x1 << 20 | 0x2;
        assert_eq!(
            sanitize_id_register(ID_AA64ISAR1_EL1, isar1, true),
            0x1 << 20 | 0x2
        );
        assert_eq!(sanitize_id_register(ID_AA64ZFR0_EL1, 0x1111, true), 0);
        assert_eq!(
            sanitize_id_register(ID_AA64ISAR2_EL1, 0xf_ffff, true),
            0xf_0000 | 0xf0
        );
        // ID_AA64ISAR0_EL1 and ID_AA64MMFR0_EL1 are the hardware's.
        let isar0 = sysreg_key(3, 0, 0, 6, 0);
        assert_eq!(sanitize_id_register(isar0, 0x1234_5678, false), 0x1234_5678);
        assert_eq!(sanitize_id_register(ID_PFR1_EL1, 0xf_f0f0, false), 0xf_00f0);
    }
}
