//! Exceptions the core makes a guest take, as if its own EL1 had taken them
//! (Arm ARM D1.10 "Exception entry"): today the Undefined Instruction
//! exception for instructions a partition may not use.

use aarch64_cpu::registers::*;

use crate::partition::Vcpu;

/// ESR_ELx.EC = 0b000000 (Unknown reason: an UNDEFINED instruction), IL = 1
/// (a 32-bit instruction), Arm ARM D17.2.37.
const ESR_UNDEFINED: u64 = 1 << 25;

/// SPSR.M values (Arm ARM C5.2.18): EL1t, EL1h (anything else is EL0).
const MODE_EL1T: u64 = 0b0100;
const MODE_EL1H: u64 = 0b0101;

/// PSTATE.{D,A,I,F}: all masked on exception entry.
const DAIF: u64 = 0b1111 << 6;
/// PSTATE.PAN (bit 22) and PSTATE.SSBS (bit 12).
const PSTATE_PAN: u64 = 1 << 22;
const PSTATE_SSBS: u64 = 1 << 12;
/// SCTLR_EL1.SPAN (bit 23): 0 = set PAN on exception entry to EL1.
const SCTLR_SPAN: u64 = 1 << 23;
/// SCTLR_EL1.DSSBS (bit 44): the PSTATE.SSBS value on exception entry.
const SCTLR_DSSBS: u64 = 1 << 44;

/// Vector offsets from VBAR_EL1 of a synchronous exception (Arm ARM D1.10.2):
/// from EL1 using SP_EL0, from EL1 using SP_EL1, from EL0 in AArch64.
const VECTOR_CURRENT_SP0: u64 = 0x000;
const VECTOR_CURRENT_SPX: u64 = 0x200;
const VECTOR_LOWER_A64: u64 = 0x400;

/// Makes the loaded vCPU `v` take an Undefined Instruction exception at the
/// instruction it trapped on. Its EL1 system registers are live in the
/// hardware (it is loaded), so they are written directly.
pub fn inject_undefined(v: &Vcpu) {
    let regs = &mut v.ctx().regs;
    let old = regs.spsr;
    let vector = match old & 0b1111 {
        MODE_EL1H => VECTOR_CURRENT_SPX,
        MODE_EL1T => VECTOR_CURRENT_SP0,
        _ => VECTOR_LOWER_A64,
    };
    ESR_EL1.set(ESR_UNDEFINED);
    ELR_EL1.set(regs.elr);
    SPSR_EL1.set(old);
    let sctlr = SCTLR_EL1.get();
    let mut new = MODE_EL1H | DAIF;
    // PAN is set on entry when SCTLR_EL1.SPAN is 0 and PAN exists, else kept.
    let pan_implemented = ID_AA64MMFR1_EL1.get() >> 20 & 0xf != 0;
    if pan_implemented && (sctlr & SCTLR_SPAN == 0 || old & PSTATE_PAN != 0) {
        new |= PSTATE_PAN;
    }
    let ssbs_implemented = ID_AA64PFR1_EL1.get() >> 4 & 0xf != 0;
    if ssbs_implemented && sctlr & SCTLR_DSSBS != 0 {
        new |= PSTATE_SSBS;
    }
    regs.spsr = new;
    regs.elr = VBAR_EL1.get() + vector;
}
