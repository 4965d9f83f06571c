//! The parts of a vCPU's state that live in EL1 system registers, FP/SIMD
//! registers and the EL1 virtual timer, saved and restored when the core
//! switches vCPUs on a CPU. General registers are handled by the vectors.

use aarch64_cpu::registers::*;

use super::sysreg::{read_sysreg, write_sysreg};

/// EL1 system-register state of a vCPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct El1State {
    sctlr: u64,
    actlr: u64,
    cpacr: u64,
    ttbr0: u64,
    ttbr1: u64,
    tcr: u64,
    esr: u64,
    afsr0: u64,
    afsr1: u64,
    far: u64,
    mair: u64,
    amair: u64,
    vbar: u64,
    contextidr: u64,
    tpidr_el0: u64,
    tpidrro_el0: u64,
    tpidr_el1: u64,
    cntkctl: u64,
    sp_el0: u64,
    sp_el1: u64,
    elr_el1: u64,
    spsr_el1: u64,
    par: u64,
    csselr: u64,
    mdscr: u64,
    /// The virtual timer's control and compare value (CNTV_CTL/CVAL_EL0).
    pub cntv_ctl: u64,
    /// Compare value, in counter ticks (CNTVOFF_EL2 is 0 for every vCPU).
    pub cntv_cval: u64,
    /// MPIDR the vCPU reads (VMPIDR_EL2).
    pub vmpidr: u64,
    /// ICC_SRE_EL1 for GICv3 guests (system-register interface enabled).
    pub icc_sre: u64,
}

/// SCTLR_EL1 at reset: RES1 bits (29:28, 23:22, 20, 11), MMU and caches off.
pub const SCTLR_EL1_RESET: u64 = 0x30D0_0800;

impl El1State {
    /// State of a vCPU coming out of reset with the given MPIDR.
    pub fn reset(vmpidr: u64, gic_v3: bool) -> Self {
        Self {
            sctlr: SCTLR_EL1_RESET,
            vmpidr,
            // SRE | DFB | DIB: the guest uses the system-register interface.
            icc_sre: if gic_v3 { 0x7 } else { 0 },
            ..Self::default()
        }
    }

    /// Saves the running vCPU's EL1 state from the hardware.
    pub fn save(&mut self, gic_v3: bool) {
        self.sctlr = SCTLR_EL1.get();
        self.actlr = ACTLR_EL1.get();
        self.cpacr = CPACR_EL1.get();
        self.ttbr0 = TTBR0_EL1.get();
        self.ttbr1 = TTBR1_EL1.get();
        self.tcr = TCR_EL1.get();
        self.esr = ESR_EL1.get();
        self.afsr0 = AFSR0_EL1.get();
        self.afsr1 = AFSR1_EL1.get();
        self.far = FAR_EL1.get();
        self.mair = MAIR_EL1.get();
        self.amair = AMAIR_EL1.get();
        self.vbar = VBAR_EL1.get();
        self.contextidr = CONTEXTIDR_EL1.get();
        self.tpidr_el0 = TPIDR_EL0.get();
        self.tpidrro_el0 = TPIDRRO_EL0.get();
        self.tpidr_el1 = TPIDR_EL1.get();
        self.cntkctl = CNTKCTL_EL1.get();
        self.sp_el0 = SP_EL0.get();
        self.sp_el1 = SP_EL1.get();
        self.elr_el1 = ELR_EL1.get();
        self.spsr_el1 = SPSR_EL1.get();
        self.par = PAR_EL1.get();
        self.csselr = CSSELR_EL1.get();
        self.mdscr = MDSCR_EL1.get();
        self.cntv_ctl = CNTV_CTL_EL0.get();
        self.cntv_cval = CNTV_CVAL_EL0.get();
        // Stop the timer so it cannot fire for the next vCPU on this CPU.
        CNTV_CTL_EL0.set(0);
        if gic_v3 {
            self.icc_sre = read_sysreg!("icc_sre_el1");
        }
    }

    /// Loads this state into the hardware before the vCPU runs.
    pub fn restore(&self, gic_v3: bool) {
        SCTLR_EL1.set(self.sctlr);
        ACTLR_EL1.set(self.actlr);
        CPACR_EL1.set(self.cpacr);
        TTBR0_EL1.set(self.ttbr0);
        TTBR1_EL1.set(self.ttbr1);
        TCR_EL1.set(self.tcr);
        ESR_EL1.set(self.esr);
        AFSR0_EL1.set(self.afsr0);
        AFSR1_EL1.set(self.afsr1);
        FAR_EL1.set(self.far);
        MAIR_EL1.set(self.mair);
        AMAIR_EL1.set(self.amair);
        VBAR_EL1.set(self.vbar);
        CONTEXTIDR_EL1.set(self.contextidr);
        TPIDR_EL0.set(self.tpidr_el0);
        TPIDRRO_EL0.set(self.tpidrro_el0);
        TPIDR_EL1.set(self.tpidr_el1);
        CNTKCTL_EL1.set(self.cntkctl);
        SP_EL0.set(self.sp_el0);
        SP_EL1.set(self.sp_el1);
        ELR_EL1.set(self.elr_el1);
        SPSR_EL1.set(self.spsr_el1);
        PAR_EL1.set(self.par);
        CSSELR_EL1.set(self.csselr);
        MDSCR_EL1.set(self.mdscr);
        VMPIDR_EL2.set(self.vmpidr);
        CNTV_CVAL_EL0.set(self.cntv_cval);
        CNTV_CTL_EL0.set(self.cntv_ctl);
        if gic_v3 {
            write_sysreg!("icc_sre_el1", self.icc_sre);
        }
    }
}

/// FP/SIMD registers of a vCPU: q0..q31, FPCR, FPSR.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct FpState {
    q: [u128; 32],
    fpcr: u64,
    fpsr: u64,
}

impl FpState {
    /// Saves the hardware FP/SIMD registers here.
    pub fn save(&mut self) {
        let p = self as *mut Self;
        // SAFETY: `p` points to 528 writable bytes of `self`, 16-byte aligned;
        // the asm writes exactly the q registers, FPCR and FPSR there.
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "stp q0, q1, [{p}, #0]", "stp q2, q3, [{p}, #32]", "stp q4, q5, [{p}, #64]",
                "stp q6, q7, [{p}, #96]", "stp q8, q9, [{p}, #128]", "stp q10, q11, [{p}, #160]",
                "stp q12, q13, [{p}, #192]", "stp q14, q15, [{p}, #224]", "stp q16, q17, [{p}, #256]",
                "stp q18, q19, [{p}, #288]", "stp q20, q21, [{p}, #320]", "stp q22, q23, [{p}, #352]",
                "stp q24, q25, [{p}, #384]", "stp q26, q27, [{p}, #416]", "stp q28, q29, [{p}, #448]",
                "stp q30, q31, [{p}, #480]",
                "mrs {t}, fpcr", "str {t}, [{p}, #512]",
                "mrs {t}, fpsr", "str {t}, [{p}, #520]",
                p = in(reg) p,
                t = out(reg) _,
                options(nostack),
            );
        }
    }

    /// Loads these FP/SIMD registers into the hardware.
    pub fn restore(&self) {
        let p = self as *const Self;
        // `p` points to 528 readable bytes of `self`, 16-byte aligned.
        // The q registers are the guest's from here on; the core does not rely
        // on their values across this call (Rust treats them as caller-saved
        // and this function clobbers them by contract before returning to the
        // trap path, which only restores general registers).
        // SAFETY: sound for the reasons just given.
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "ldp q0, q1, [{p}, #0]", "ldp q2, q3, [{p}, #32]", "ldp q4, q5, [{p}, #64]",
                "ldp q6, q7, [{p}, #96]", "ldp q8, q9, [{p}, #128]", "ldp q10, q11, [{p}, #160]",
                "ldp q12, q13, [{p}, #192]", "ldp q14, q15, [{p}, #224]", "ldp q16, q17, [{p}, #256]",
                "ldp q18, q19, [{p}, #288]", "ldp q20, q21, [{p}, #320]", "ldp q22, q23, [{p}, #352]",
                "ldp q24, q25, [{p}, #384]", "ldp q26, q27, [{p}, #416]", "ldp q28, q29, [{p}, #448]",
                "ldp q30, q31, [{p}, #480]",
                "ldr {t}, [{p}, #512]", "msr fpcr, {t}",
                "ldr {t}, [{p}, #520]", "msr fpsr, {t}",
                p = in(reg) p,
                t = out(reg) _,
                options(nostack),
            );
        }
    }
}
