//! Decoding of ESR_EL2, the syndrome of an exception taken to EL2: which class
//! of exception it was and the fields the core needs to handle it (data-abort
//! access details, trapped system-register accesses, HVC immediates, WFI/WFE).
//!
//! Layout (Arm ARM D17.2.37 ESR_EL2): EC bits 31:26, IL bit 25, ISS bits 24:0;
//! bits 55:32 (ISS2) only matter for FEAT_LS64 and similar and are not used here.

/// ESR_EL2.EC, bits 31:26.
const EC_SHIFT: u32 = 26;
const EC_MASK: u64 = 0x3f;
/// ESR_EL2.IL, bit 25: 32-bit instruction trapped.
const IL_BIT: u64 = 1 << 25;
/// ESR_EL2.ISS, bits 24:0.
const ISS_MASK: u64 = (1 << 25) - 1;

/// The instruction-specific syndrome, bits 24:0.
pub fn iss(esr: u64) -> u32 {
    (esr & ISS_MASK) as u32
}

/// Reads `width` bits of the ISS starting at `shift`.
const fn iss_field(esr: u64, shift: u32, width: u32) -> u8 {
    ((esr >> shift) & ((1 << width) - 1)) as u8
}

const fn iss_bit(esr: u64, bit: u32) -> bool {
    (esr >> bit) & 1 != 0
}

/// Exception class, ESR_EL2.EC (Arm ARM D17.2.37, "EC, bits [31:26]").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionClass {
    /// 0x00: unknown reason (e.g. an UNDEFINED instruction).
    Unknown,
    /// 0x01: trapped WFI, WFE, WFIT or WFET.
    Wfx,
    /// 0x03: trapped AArch32 MCR or MRC to CP15.
    Cp15McrMrc,
    /// 0x04: trapped AArch32 MCRR or MRRC to CP15.
    Cp15McrrMrrc,
    /// 0x05: trapped AArch32 MCR or MRC to CP14.
    Cp14McrMrc,
    /// 0x06: trapped AArch32 LDC or STC to CP14.
    Cp14LdcStc,
    /// 0x07: trapped access to SVE, Advanced SIMD or floating point.
    FpAsimdAccess,
    /// 0x08: trapped AArch32 VMRS (ID group traps).
    Vmrs,
    /// 0x09: trapped pointer-authentication instruction.
    PointerAuth,
    /// 0x0A: trapped LD64B, ST64B, ST64BV or ST64BV0.
    Ld64b,
    /// 0x0C: trapped AArch32 MRRC to CP14.
    Cp14Mrrc,
    /// 0x0D: branch target exception.
    BranchTarget,
    /// 0x0E: illegal execution state.
    IllegalState,
    /// 0x11: SVC from AArch32.
    Svc32,
    /// 0x12: HVC from AArch32.
    Hvc32,
    /// 0x13: SMC from AArch32.
    Smc32,
    /// 0x15: SVC from AArch64.
    Svc64,
    /// 0x16: HVC from AArch64.
    Hvc64,
    /// 0x17: SMC from AArch64 (trapped by HCR_EL2.TSC).
    Smc64,
    /// 0x18: trapped MSR, MRS or system instruction in AArch64.
    SysReg,
    /// 0x19: trapped SVE access.
    Sve,
    /// 0x1A: trapped ERET, ERETAA or ERETAB.
    Eret,
    /// 0x1B: TSTART access trap.
    Tstart,
    /// 0x1C: pointer-authentication failure (FEAT_FPAC).
    PacFail,
    /// 0x1D: trapped SME access.
    Sme,
    /// 0x20: instruction abort from a lower exception level.
    InstrAbortLower,
    /// 0x21: instruction abort taken without a change of exception level.
    InstrAbortSame,
    /// 0x22: PC alignment fault.
    PcAlignment,
    /// 0x24: data abort from a lower exception level.
    DataAbortLower,
    /// 0x25: data abort taken without a change of exception level.
    DataAbortSame,
    /// 0x26: SP alignment fault.
    SpAlignment,
    /// 0x27: memory-copy/set (FEAT_MOPS) exception.
    MemoryOperation,
    /// 0x28: trapped AArch32 floating-point exception.
    Fp32,
    /// 0x2C: trapped AArch64 floating-point exception.
    Fp64,
    /// 0x2F: SError interrupt.
    SError,
    /// 0x30: breakpoint from a lower exception level.
    BreakpointLower,
    /// 0x31: breakpoint taken without a change of exception level.
    BreakpointSame,
    /// 0x32: software step from a lower exception level.
    SoftwareStepLower,
    /// 0x33: software step taken without a change of exception level.
    SoftwareStepSame,
    /// 0x34: watchpoint from a lower exception level.
    WatchpointLower,
    /// 0x35: watchpoint taken without a change of exception level.
    WatchpointSame,
    /// 0x38: AArch32 BKPT.
    Bkpt32,
    /// 0x3A: AArch32 vector catch.
    VectorCatch,
    /// 0x3C: AArch64 BRK.
    Brk64,
    /// Any value the architecture reserves or this decoder does not name.
    Other(u8),
}

impl ExceptionClass {
    /// The exception class of a syndrome.
    pub fn from_esr(esr: u64) -> Self {
        match ((esr >> EC_SHIFT) & EC_MASK) as u8 {
            0x00 => Self::Unknown,
            0x01 => Self::Wfx,
            0x03 => Self::Cp15McrMrc,
            0x04 => Self::Cp15McrrMrrc,
            0x05 => Self::Cp14McrMrc,
            0x06 => Self::Cp14LdcStc,
            0x07 => Self::FpAsimdAccess,
            0x08 => Self::Vmrs,
            0x09 => Self::PointerAuth,
            0x0A => Self::Ld64b,
            0x0C => Self::Cp14Mrrc,
            0x0D => Self::BranchTarget,
            0x0E => Self::IllegalState,
            0x11 => Self::Svc32,
            0x12 => Self::Hvc32,
            0x13 => Self::Smc32,
            0x15 => Self::Svc64,
            0x16 => Self::Hvc64,
            0x17 => Self::Smc64,
            0x18 => Self::SysReg,
            0x19 => Self::Sve,
            0x1A => Self::Eret,
            0x1B => Self::Tstart,
            0x1C => Self::PacFail,
            0x1D => Self::Sme,
            0x20 => Self::InstrAbortLower,
            0x21 => Self::InstrAbortSame,
            0x22 => Self::PcAlignment,
            0x24 => Self::DataAbortLower,
            0x25 => Self::DataAbortSame,
            0x26 => Self::SpAlignment,
            0x27 => Self::MemoryOperation,
            0x28 => Self::Fp32,
            0x2C => Self::Fp64,
            0x2F => Self::SError,
            0x30 => Self::BreakpointLower,
            0x31 => Self::BreakpointSame,
            0x32 => Self::SoftwareStepLower,
            0x33 => Self::SoftwareStepSame,
            0x34 => Self::WatchpointLower,
            0x35 => Self::WatchpointSame,
            0x38 => Self::Bkpt32,
            0x3A => Self::VectorCatch,
            0x3C => Self::Brk64,
            other => Self::Other(other),
        }
    }

    /// A short description for fault reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown reason (undefined instruction)",
            Self::Wfx => "WFI/WFE",
            Self::Cp15McrMrc => "AArch32 MCR/MRC to CP15",
            Self::Cp15McrrMrrc => "AArch32 MCRR/MRRC to CP15",
            Self::Cp14McrMrc => "AArch32 MCR/MRC to CP14",
            Self::Cp14LdcStc => "AArch32 LDC/STC to CP14",
            Self::FpAsimdAccess => "SVE/SIMD/floating-point access",
            Self::Vmrs => "AArch32 VMRS",
            Self::PointerAuth => "pointer-authentication instruction",
            Self::Ld64b => "LD64B/ST64B",
            Self::Cp14Mrrc => "AArch32 MRRC to CP14",
            Self::BranchTarget => "branch target exception",
            Self::IllegalState => "illegal execution state",
            Self::Svc32 => "SVC32",
            Self::Hvc32 => "HVC32",
            Self::Smc32 => "SMC32",
            Self::Svc64 => "SVC64",
            Self::Hvc64 => "HVC64",
            Self::Smc64 => "SMC64",
            Self::SysReg => "system register access",
            Self::Sve => "SVE access",
            Self::Eret => "ERET",
            Self::Tstart => "TSTART",
            Self::PacFail => "pointer-authentication failure",
            Self::Sme => "SME access",
            Self::InstrAbortLower => "instruction abort from a lower EL",
            Self::InstrAbortSame => "instruction abort from the same EL",
            Self::PcAlignment => "PC alignment fault",
            Self::DataAbortLower => "data abort from a lower EL",
            Self::DataAbortSame => "data abort from the same EL",
            Self::SpAlignment => "SP alignment fault",
            Self::MemoryOperation => "memory copy/set exception",
            Self::Fp32 => "AArch32 floating-point exception",
            Self::Fp64 => "AArch64 floating-point exception",
            Self::SError => "SError",
            Self::BreakpointLower => "breakpoint from a lower EL",
            Self::BreakpointSame => "breakpoint from the same EL",
            Self::SoftwareStepLower => "software step from a lower EL",
            Self::SoftwareStepSame => "software step from the same EL",
            Self::WatchpointLower => "watchpoint from a lower EL",
            Self::WatchpointSame => "watchpoint from the same EL",
            Self::Bkpt32 => "AArch32 BKPT",
            Self::VectorCatch => "AArch32 vector catch",
            Self::Brk64 => "BRK",
            Self::Other(_) => "reserved exception class",
        }
    }
}

/// The syndrome of a data abort, EC 0x24/0x25 (Arm ARM D17.2.37, "ISS encoding
/// for an exception from a Data Abort").
///
/// `access_size_bytes`, `sign_extend`, `register`, `sixty_four` and
/// `acquire_release` are only meaningful when `isv` is set: without a valid
/// instruction syndrome (e.g. load/store pair, writeback addressing) the core
/// cannot emulate the access and treats it as a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAbort {
    /// ISV, bit 24: bits 23:14 hold a valid instruction syndrome.
    pub isv: bool,
    /// From SAS, bits 23:22: 1, 2, 4 or 8 bytes.
    pub access_size_bytes: u8,
    /// SSE, bit 21: a load sign-extends the value.
    pub sign_extend: bool,
    /// SRT, bits 20:16: the transfer register; 31 means XZR/WZR.
    pub register: u8,
    /// SF, bit 15: the register is 64 bits wide (X), not 32 (W).
    pub sixty_four: bool,
    /// AR, bit 14: the access has acquire/release semantics.
    pub acquire_release: bool,
    /// FnV, bit 10 inverted: FAR_EL2 holds the faulting virtual address.
    pub far_valid: bool,
    /// EA, bit 9: an external abort, implementation-defined classification.
    pub external_abort: bool,
    /// CM, bit 8: caused by a cache maintenance or address translation instruction.
    pub cache_maintenance: bool,
    /// S1PTW, bit 7: the fault was on a stage-2 access made by a stage-1 table walk.
    pub s1ptw: bool,
    /// WnR, bit 6: the access was a write.
    pub write: bool,
    /// DFSC, bits 5:0: the fault status code, see [`fault_status_name`].
    pub fault_status: u8,
}

impl DataAbort {
    /// Decodes the ISS of a data-abort syndrome.
    pub fn decode(esr: u64) -> Self {
        Self {
            isv: iss_bit(esr, 24),
            access_size_bytes: 1 << iss_field(esr, 22, 2),
            sign_extend: iss_bit(esr, 21),
            register: iss_field(esr, 16, 5),
            sixty_four: iss_bit(esr, 15),
            acquire_release: iss_bit(esr, 14),
            far_valid: !iss_bit(esr, 10),
            external_abort: iss_bit(esr, 9),
            cache_maintenance: iss_bit(esr, 8),
            s1ptw: iss_bit(esr, 7),
            write: iss_bit(esr, 6),
            fault_status: iss_field(esr, 0, 6),
        }
    }
}

/// Is a data or instruction fault status code (DFSC/IFSC) a translation
/// fault at level 0 to 3 (0b0001LL, Arm ARM D17.2.37)? That is the fault an
/// invalid descriptor raises.
pub fn is_translation_fault(status: u8) -> bool {
    matches!(status & 0x3f, 0b00_0100..=0b00_0111)
}

/// Names a data or instruction fault status code (DFSC/IFSC, ISS bits 5:0; the
/// two share one encoding, Arm ARM D17.2.37).
pub fn fault_status_name(dfsc: u8) -> &'static str {
    match dfsc & 0x3f {
        0b00_0000 => "address size fault, level 0",
        0b00_0001 => "address size fault, level 1",
        0b00_0010 => "address size fault, level 2",
        0b00_0011 => "address size fault, level 3",
        0b00_0100 => "translation fault, level 0",
        0b00_0101 => "translation fault, level 1",
        0b00_0110 => "translation fault, level 2",
        0b00_0111 => "translation fault, level 3",
        0b00_1000 => "access flag fault, level 0",
        0b00_1001 => "access flag fault, level 1",
        0b00_1010 => "access flag fault, level 2",
        0b00_1011 => "access flag fault, level 3",
        0b00_1100 => "permission fault, level 0",
        0b00_1101 => "permission fault, level 1",
        0b00_1110 => "permission fault, level 2",
        0b00_1111 => "permission fault, level 3",
        0b01_0000 => "synchronous external abort",
        0b01_0001 => "synchronous tag check fault",
        0b01_0011 => "synchronous external abort on table walk, level -1",
        0b01_0100 => "synchronous external abort on table walk, level 0",
        0b01_0101 => "synchronous external abort on table walk, level 1",
        0b01_0110 => "synchronous external abort on table walk, level 2",
        0b01_0111 => "synchronous external abort on table walk, level 3",
        0b01_1000 => "synchronous parity or ECC error",
        0b01_1011 => "synchronous parity or ECC error on table walk, level -1",
        0b01_1100 => "synchronous parity or ECC error on table walk, level 0",
        0b01_1101 => "synchronous parity or ECC error on table walk, level 1",
        0b01_1110 => "synchronous parity or ECC error on table walk, level 2",
        0b01_1111 => "synchronous parity or ECC error on table walk, level 3",
        0b10_0001 => "alignment fault",
        0b10_0011 => "granule protection fault on table walk, level -1",
        0b10_0100 => "granule protection fault on table walk, level 0",
        0b10_0101 => "granule protection fault on table walk, level 1",
        0b10_0110 => "granule protection fault on table walk, level 2",
        0b10_0111 => "granule protection fault on table walk, level 3",
        0b10_1000 => "granule protection fault",
        0b10_1001 => "address size fault, level -1",
        0b10_1011 => "translation fault, level -1",
        0b11_0000 => "TLB conflict abort",
        0b11_0001 => "unsupported atomic hardware update fault",
        0b11_0100 => "implementation defined fault (lockdown)",
        0b11_0101 => "implementation defined fault (unsupported exclusive or atomic access)",
        _ => "reserved fault status",
    }
}

/// A trapped MSR/MRS or system instruction, EC 0x18 (Arm ARM D17.2.37, "ISS
/// encoding for an exception from MSR, MRS, or System instruction execution in
/// AArch64 state").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysRegAccess {
    /// Op0, ISS bits 21:20.
    pub op0: u8,
    /// Op1, ISS bits 16:14.
    pub op1: u8,
    /// CRn, ISS bits 13:10.
    pub crn: u8,
    /// CRm, ISS bits 4:1.
    pub crm: u8,
    /// Op2, ISS bits 19:17.
    pub op2: u8,
    /// Rt, ISS bits 9:5: the general-purpose register; 31 means XZR.
    pub register: u8,
    /// Direction, ISS bit 0: 1 for a read (MRS), 0 for a write (MSR).
    pub read: bool,
}

/// The key [`SysRegAccess::encoding`] returns for a register, usable as a
/// constant in `match`: the operands at their positions in the A64 MRS/MSR
/// instruction (bits 20:5), shifted down by 5, that is
/// `op0 << 14 | op1 << 11 | crn << 7 | crm << 3 | op2`. Out-of-range operands
/// are masked to their field widths.
pub const fn sysreg_key(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> u32 {
    ((op0 as u32) & 0b11) << 14
        | ((op1 as u32) & 0b111) << 11
        | ((crn as u32) & 0b1111) << 7
        | ((crm as u32) & 0b1111) << 3
        | ((op2 as u32) & 0b111)
}

impl SysRegAccess {
    /// Decodes the ISS of a system-register trap.
    pub fn decode(esr: u64) -> Self {
        Self {
            op0: iss_field(esr, 20, 2),
            op2: iss_field(esr, 17, 3),
            op1: iss_field(esr, 14, 3),
            crn: iss_field(esr, 10, 4),
            register: iss_field(esr, 5, 5),
            crm: iss_field(esr, 1, 4),
            read: iss_bit(esr, 0),
        }
    }

    /// The register this access names, as a [`sysreg_key`].
    pub fn encoding(&self) -> u32 {
        sysreg_key(self.op0, self.op1, self.crn, self.crm, self.op2)
    }
}

/// The value a load puts in its target register, given the bytes read: kept
/// to the access size, sign-extended when ISS.SSE says so, and cut to 32 bits
/// for a W register (ISS.SF = 0), as the hardware would.
pub fn loaded_register_value(
    value: u64,
    size_bytes: u8,
    sign_extend: bool,
    sixty_four: bool,
) -> u64 {
    let bits = u32::from(size_bytes.clamp(1, 8)) * 8;
    let truncated = if bits == 64 {
        value
    } else {
        value & ((1u64 << bits) - 1)
    };
    let extended = if sign_extend && bits < 64 {
        let shift = 64 - bits;
        (((truncated << shift) as i64) >> shift) as u64
    } else {
        truncated
    };
    if sixty_four {
        extended
    } else {
        extended & 0xffff_ffff
    }
}

/// Bytes to step over the trapped instruction: IL (bit 25) set means a 32-bit
/// instruction, clear a 16-bit T32 one.
pub fn instruction_length(esr: u64) -> u64 {
    if esr & IL_BIT != 0 {
        4
    } else {
        2
    }
}

/// The 16-bit immediate of a trapped HVC, SMC or SVC (ISS bits 15:0).
pub fn hvc_immediate(esr: u64) -> u16 {
    (esr & 0xffff) as u16
}

/// For EC 0x01: whether the trapped instruction was WFE or WFET rather than WFI
/// or WFIT (TI, ISS bits 1:0: 0b00 WFI, 0b01 WFE, 0b10 WFIT, 0b11 WFET).
pub fn wfx_is_wfe(esr: u64) -> bool {
    esr & 0b01 != 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn loads_are_truncated_extended_and_cut_like_hardware() {
        let v = loaded_register_value;
        // LDRB w: zero-extended byte.
        assert_eq!(v(0x1234_56F0, 1, false, false), 0xF0);
        // LDRSB x: sign-extended to 64 bits.
        assert_eq!(v(0xF0, 1, true, true), 0xFFFF_FFFF_FFFF_FFF0);
        // LDRSB w: sign-extended to 32 bits, upper half clear.
        assert_eq!(v(0xF0, 1, true, false), 0xFFFF_FFF0);
        // LDRSH x, LDRSW x.
        assert_eq!(v(0x8000, 2, true, true), 0xFFFF_FFFF_FFFF_8000);
        assert_eq!(v(0x8000_0000, 4, true, true), 0xFFFF_FFFF_8000_0000);
        // LDR w ignores bytes beyond the access; LDR x keeps all.
        assert_eq!(v(0xAAAA_BBBB_CCCC_DDDD, 4, false, false), 0xCCCC_DDDD);
        assert_eq!(
            v(0xAAAA_BBBB_CCCC_DDDD, 8, false, true),
            0xAAAA_BBBB_CCCC_DDDD
        );
        // Positive values are not disturbed by sign extension.
        assert_eq!(v(0x7F, 1, true, true), 0x7F);
    }

    /// Builds a syndrome: EC, IL set, ISS.
    fn esr(ec: u64, iss: u64) -> u64 {
        ec << 26 | IL_BIT | iss
    }

    #[test]
    fn hvc_zero_is_decoded() {
        let esr = 0x5a00_0000;
        assert_eq!(ExceptionClass::from_esr(esr), ExceptionClass::Hvc64);
        assert_eq!(ExceptionClass::from_esr(esr).name(), "HVC64");
        assert_eq!(hvc_immediate(esr), 0);
        assert_eq!(instruction_length(esr), 4);
        assert_eq!(iss(esr), 0);
        assert_eq!(hvc_immediate(0x5a00_1234), 0x1234);
        // SMC #0 from AArch64 and an upper-half ISS2 are ignored.
        assert_eq!(ExceptionClass::from_esr(0x5e00_0000), ExceptionClass::Smc64);
        assert_eq!(
            ExceptionClass::from_esr(0xffff_0000_5a00_0000),
            ExceptionClass::Hvc64
        );
    }

    #[test]
    fn every_class_round_trips_through_its_code() {
        let named: &[(u8, ExceptionClass)] = &[
            (0x00, ExceptionClass::Unknown),
            (0x01, ExceptionClass::Wfx),
            (0x03, ExceptionClass::Cp15McrMrc),
            (0x04, ExceptionClass::Cp15McrrMrrc),
            (0x05, ExceptionClass::Cp14McrMrc),
            (0x06, ExceptionClass::Cp14LdcStc),
            (0x07, ExceptionClass::FpAsimdAccess),
            (0x08, ExceptionClass::Vmrs),
            (0x09, ExceptionClass::PointerAuth),
            (0x0A, ExceptionClass::Ld64b),
            (0x0C, ExceptionClass::Cp14Mrrc),
            (0x0D, ExceptionClass::BranchTarget),
            (0x0E, ExceptionClass::IllegalState),
            (0x11, ExceptionClass::Svc32),
            (0x12, ExceptionClass::Hvc32),
            (0x13, ExceptionClass::Smc32),
            (0x15, ExceptionClass::Svc64),
            (0x16, ExceptionClass::Hvc64),
            (0x17, ExceptionClass::Smc64),
            (0x18, ExceptionClass::SysReg),
            (0x19, ExceptionClass::Sve),
            (0x1A, ExceptionClass::Eret),
            (0x1B, ExceptionClass::Tstart),
            (0x1C, ExceptionClass::PacFail),
            (0x1D, ExceptionClass::Sme),
            (0x20, ExceptionClass::InstrAbortLower),
            (0x21, ExceptionClass::InstrAbortSame),
            (0x22, ExceptionClass::PcAlignment),
            (0x24, ExceptionClass::DataAbortLower),
            (0x25, ExceptionClass::DataAbortSame),
            (0x26, ExceptionClass::SpAlignment),
            (0x27, ExceptionClass::MemoryOperation),
            (0x28, ExceptionClass::Fp32),
            (0x2C, ExceptionClass::Fp64),
            (0x2F, ExceptionClass::SError),
            (0x30, ExceptionClass::BreakpointLower),
            (0x31, ExceptionClass::BreakpointSame),
            (0x32, ExceptionClass::SoftwareStepLower),
            (0x33, ExceptionClass::SoftwareStepSame),
            (0x34, ExceptionClass::WatchpointLower),
            (0x35, ExceptionClass::WatchpointSame),
            (0x38, ExceptionClass::Bkpt32),
            (0x3A, ExceptionClass::VectorCatch),
            (0x3C, ExceptionClass::Brk64),
        ];
        for code in 0..64u8 {
            let class = ExceptionClass::from_esr(esr(u64::from(code), 0x1ff_ffff));
            match named.iter().find(|(c, _)| *c == code) {
                Some((_, expected)) => {
                    assert_eq!(class, *expected, "EC {code:#x}");
                    assert_ne!(class.name(), "reserved exception class");
                }
                None => {
                    assert_eq!(class, ExceptionClass::Other(code));
                    assert_eq!(class.name(), "reserved exception class");
                }
            }
        }
        // Names are distinct, so fault reports never confuse two classes.
        for (i, (_, a)) in named.iter().enumerate() {
            for (_, b) in &named[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
        assert_eq!(
            ExceptionClass::DataAbortLower.name(),
            "data abort from a lower EL"
        );
        assert_eq!(
            ExceptionClass::IllegalState.name(),
            "illegal execution state"
        );
    }

    #[test]
    fn mmio_load_of_a_64_bit_register() {
        // LDR x0, [x1] on an unmapped IPA: EC 0x24, IL, ISV, SAS = 0b11, SRT = 0,
        // SF, read, translation fault level 0.
        let esr = 0x93c0_8004;
        assert_eq!(
            ExceptionClass::from_esr(esr),
            ExceptionClass::DataAbortLower
        );
        let abort = DataAbort::decode(esr);
        assert_eq!(
            abort,
            DataAbort {
                isv: true,
                access_size_bytes: 8,
                sign_extend: false,
                register: 0,
                sixty_four: true,
                acquire_release: false,
                far_valid: true,
                external_abort: false,
                cache_maintenance: false,
                s1ptw: false,
                write: false,
                fault_status: 0x04,
            }
        );
        assert_eq!(
            fault_status_name(abort.fault_status),
            "translation fault, level 0"
        );
    }

    #[test]
    fn mmio_store_of_a_halfword_from_w5() {
        // STRH w5, [x2] faulting at level 3: ISV, SAS = 0b01, SRT = 5, SF = 0, WnR.
        let iss = 1 << 24 | 0b01 << 22 | 5 << 16 | 1 << 6 | 0b00_0111;
        let esr = esr(0x24, iss);
        assert_eq!(esr, 0x9345_0047);
        let abort = DataAbort::decode(esr);
        assert!(abort.isv && abort.write && !abort.sixty_four);
        assert_eq!((abort.access_size_bytes, abort.register), (2, 5));
        assert_eq!(
            fault_status_name(abort.fault_status),
            "translation fault, level 3"
        );
    }

    #[test]
    fn data_abort_flags_are_separate_bits() {
        type Flag = fn(&DataAbort) -> bool;
        let cases: &[(u64, Flag)] = &[
            (1 << 21, |a| a.sign_extend),
            (1 << 15, |a| a.sixty_four),
            (1 << 14, |a| a.acquire_release),
            (1 << 9, |a| a.external_abort),
            (1 << 8, |a| a.cache_maintenance),
            (1 << 7, |a| a.s1ptw),
            (1 << 6, |a| a.write),
        ];
        let none = DataAbort::decode(esr(0x24, 0));
        assert!(!none.isv && none.far_valid);
        for (bit, flag) in cases {
            assert!(!flag(&none), "{bit:#x} clear");
            assert!(flag(&DataAbort::decode(esr(0x24, *bit))), "{bit:#x} set");
        }
        assert!(!DataAbort::decode(esr(0x24, 1 << 10)).far_valid);
        for (sas, bytes) in [(0, 1), (1, 2), (2, 4), (3, 8)] {
            assert_eq!(
                DataAbort::decode(esr(0x24, 1 << 24 | sas << 22)).access_size_bytes,
                bytes
            );
        }
        assert_eq!(DataAbort::decode(esr(0x24, 31 << 16)).register, 31);
        // Without ISV the syndrome still decodes, with `isv` false for the caller to check.
        assert!(!DataAbort::decode(0x9200_0046).isv);
    }

    #[test]
    fn translation_faults_are_told_apart() {
        for status in 0..0x40u8 {
            let named = fault_status_name(status).starts_with("translation fault, level ")
                && !fault_status_name(status).ends_with("-1");
            assert_eq!(is_translation_fault(status), named, "{status:#x}");
        }
        // Bits above the 6-bit code are not part of it, as for the names.
        assert!(is_translation_fault(0x40 | 0b00_0111));
    }

    #[test]
    fn fault_status_names_cover_levels() {
        let expected = [
            (0x00, "address size fault, level 0"),
            (0x06, "translation fault, level 2"),
            (0x0B, "access flag fault, level 3"),
            (0x0D, "permission fault, level 1"),
            (0x10, "synchronous external abort"),
            (0x15, "synchronous external abort on table walk, level 1"),
            (0x21, "alignment fault"),
            (0x2B, "translation fault, level -1"),
            (0x30, "TLB conflict abort"),
            (0x31, "unsupported atomic hardware update fault"),
            (0x02 | 0x40, "address size fault, level 2"),
        ];
        for (code, name) in expected {
            assert_eq!(fault_status_name(code), name, "{code:#x}");
        }
        for reserved in [0x12, 0x1A, 0x20, 0x3F] {
            assert_eq!(
                fault_status_name(reserved),
                "reserved fault status",
                "{reserved:#x}"
            );
        }
    }

    #[test]
    fn trapped_mrs_of_id_aa64mmfr0() {
        // MRS x0, ID_AA64MMFR0_EL1 (op0 3, op1 0, CRn 0, CRm 7, op2 0), trapped by HCR_EL2.TID3.
        let esr = 0x6230_000f;
        assert_eq!(ExceptionClass::from_esr(esr), ExceptionClass::SysReg);
        let access = SysRegAccess::decode(esr);
        assert_eq!(
            access,
            SysRegAccess {
                op0: 3,
                op1: 0,
                crn: 0,
                crm: 7,
                op2: 0,
                register: 0,
                read: true
            }
        );
        const ID_AA64MMFR0_EL1: u32 = sysreg_key(3, 0, 0, 7, 0);
        assert_eq!(access.encoding(), ID_AA64MMFR0_EL1);
    }

    #[test]
    fn trapped_msr_with_every_field_distinct() {
        // MSR S3_5_C11_C6_4, x17: op0 3, op1 5, CRn 11, CRm 6, op2 4, Rt 17, write.
        let iss = 3 << 20 | 4 << 17 | 5 << 14 | 11 << 10 | 17 << 5 | 6 << 1;
        let access = SysRegAccess::decode(esr(0x18, iss));
        assert_eq!(
            access,
            SysRegAccess {
                op0: 3,
                op1: 5,
                crn: 11,
                crm: 6,
                op2: 4,
                register: 17,
                read: false
            }
        );
        // The key places the operands as the MSR instruction does (bits 20:5).
        let msr_instruction: u32 = 0xd51d_b691; // MSR S3_5_C11_C6_4, x17
        assert_eq!(access.encoding(), (msr_instruction >> 5) & 0xffff);
        assert_eq!(sysreg_key(3, 5, 11, 6, 4), access.encoding());
        assert_ne!(sysreg_key(3, 5, 11, 6, 3), access.encoding());
    }

    #[test]
    fn instruction_length_follows_il() {
        assert_eq!(instruction_length(esr(0x16, 0)), 4);
        assert_eq!(instruction_length(0x16 << 26), 2);
    }

    #[test]
    fn wfx_kinds() {
        // TI: 0 WFI, 1 WFE, 2 WFIT, 3 WFET.
        for (ti, wfe) in [(0, false), (1, true), (2, false), (3, true)] {
            let esr = esr(0x01, ti);
            assert_eq!(ExceptionClass::from_esr(esr), ExceptionClass::Wfx);
            assert_eq!(wfx_is_wfe(esr), wfe, "TI {ti}");
        }
        // Real syndromes: 0x0600_0000 is a trapped WFI, 0x0600_0001 a trapped WFE.
        assert!(!wfx_is_wfe(0x0600_0000));
        assert!(wfx_is_wfe(0x0600_0001));
    }
}
