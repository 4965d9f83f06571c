//! The parts of a vCPU's state that live in EL1 system registers, FP/SIMD
//! registers and the EL1 virtual timer, saved and restored when the core
//! switches vCPUs on a CPU. General registers are handled by the vectors.

use aarch64_cpu::registers::*;

use super::sysreg::{read_sysreg, write_sysreg};

/// EL1 system-register state of a vCPU, in the order the switch code stores
/// it: two registers per `stp`/`ldp`, offsets fixed by `repr(C)` (checked
/// below).
///
/// MDSCR_EL1 is not part of it: MDCR_EL2.TDA traps every partition's access
/// to it (debug registers read as zero, `sysreg_trap`), so the hardware copy
/// keeps the value [`init_cpu`] gives it and needs no switching.
#[repr(C)]
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
    /// The virtual timer's control (CNTV_CTL_EL0).
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

/// Per-CPU setup of the EL1 registers no vCPU switch touches: MDSCR_EL1 is
/// zero (no debug events) for every partition.
pub fn init_cpu() {
    MDSCR_EL1.set(0);
}

// The stores below save the running vCPU's registers into the state at `$p`,
// the loads put them back; `cntv_ctl` comes last on save and is cleared so
// that the timer stops with its owner, and the compare value is loaded before
// the control on restore, so a stale deadline never fires for the new owner.
macro_rules! el1_save_asm {
    () => {
        concat!(
            "mrs {a}, sctlr_el1\n mrs {b}, actlr_el1\n stp {a}, {b}, [{p}, #0]\n",
            "mrs {a}, cpacr_el1\n mrs {b}, ttbr0_el1\n stp {a}, {b}, [{p}, #16]\n",
            "mrs {a}, ttbr1_el1\n mrs {b}, tcr_el1\n stp {a}, {b}, [{p}, #32]\n",
            "mrs {a}, esr_el1\n mrs {b}, afsr0_el1\n stp {a}, {b}, [{p}, #48]\n",
            "mrs {a}, afsr1_el1\n mrs {b}, far_el1\n stp {a}, {b}, [{p}, #64]\n",
            "mrs {a}, mair_el1\n mrs {b}, amair_el1\n stp {a}, {b}, [{p}, #80]\n",
            "mrs {a}, vbar_el1\n mrs {b}, contextidr_el1\n stp {a}, {b}, [{p}, #96]\n",
            "mrs {a}, tpidr_el0\n mrs {b}, tpidrro_el0\n stp {a}, {b}, [{p}, #112]\n",
            "mrs {a}, tpidr_el1\n mrs {b}, cntkctl_el1\n stp {a}, {b}, [{p}, #128]\n",
            "mrs {a}, sp_el0\n mrs {b}, sp_el1\n stp {a}, {b}, [{p}, #144]\n",
            "mrs {a}, elr_el1\n mrs {b}, spsr_el1\n stp {a}, {b}, [{p}, #160]\n",
            "mrs {a}, par_el1\n mrs {b}, csselr_el1\n stp {a}, {b}, [{p}, #176]\n",
            "mrs {a}, cntv_ctl_el0\n mrs {b}, cntv_cval_el0\n stp {a}, {b}, [{p}, #192]\n",
            "msr cntv_ctl_el0, xzr\n",
        )
    };
}

macro_rules! el1_restore_asm {
    () => {
        concat!(
            "ldp {a}, {b}, [{n}, #0]\n msr sctlr_el1, {a}\n msr actlr_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #16]\n msr cpacr_el1, {a}\n msr ttbr0_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #32]\n msr ttbr1_el1, {a}\n msr tcr_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #48]\n msr esr_el1, {a}\n msr afsr0_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #64]\n msr afsr1_el1, {a}\n msr far_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #80]\n msr mair_el1, {a}\n msr amair_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #96]\n msr vbar_el1, {a}\n msr contextidr_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #112]\n msr tpidr_el0, {a}\n msr tpidrro_el0, {b}\n",
            "ldp {a}, {b}, [{n}, #128]\n msr tpidr_el1, {a}\n msr cntkctl_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #144]\n msr sp_el0, {a}\n msr sp_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #160]\n msr elr_el1, {a}\n msr spsr_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #176]\n msr par_el1, {a}\n msr csselr_el1, {b}\n",
            "ldp {a}, {b}, [{n}, #192]\n msr cntv_cval_el0, {b}\n msr cntv_ctl_el0, {a}\n",
            "ldr {a}, [{n}, #208]\n msr vmpidr_el2, {a}\n",
        )
    };
}

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

    /// Saves the running vCPU's EL1 state from the hardware and stops its
    /// virtual timer, so it cannot fire for whatever runs next on this CPU.
    pub fn save(&mut self, gic_v3: bool) {
        let p = self as *mut Self;
        // SAFETY: `p` points to this whole `El1State` (224 bytes, 8-aligned,
        // `repr(C)` offsets as used); the asm only reads EL1 registers,
        // writes them into it and stops the EL1 virtual timer.
        unsafe {
            core::arch::asm!(
                el1_save_asm!(),
                p = in(reg) p,
                a = out(reg) _,
                b = out(reg) _,
                options(nostack, preserves_flags),
            );
        }
        if gic_v3 {
            self.icc_sre = read_sysreg!("icc_sre_el1");
        }
    }

    /// Loads this state into the hardware before the vCPU runs.
    pub fn restore(&self, gic_v3: bool) {
        let n = self as *const Self;
        // SAFETY: `n` points to this whole `El1State`; the asm only reads it
        // and writes the EL1 registers (and VMPIDR_EL2) of the vCPU about to
        // run, which no core code depends on.
        unsafe {
            core::arch::asm!(
                el1_restore_asm!(),
                n = in(reg) n,
                a = out(reg) _,
                b = out(reg) _,
                options(nostack, preserves_flags, readonly),
            );
        }
        if gic_v3 {
            write_sysreg!("icc_sre_el1", self.icc_sre);
        }
    }

    /// Saves the running vCPU's state into `self` and loads `next`'s in one
    /// pass, for a switch between two vCPUs.
    pub fn switch(&mut self, next: &El1State, gic_v3: bool) {
        let p = self as *mut Self;
        let n = next as *const Self;
        // SAFETY: as for `save` and `restore`: `p` and `n` point to two whole
        // `El1State`s (distinct vCPUs), only the EL1 registers, VMPIDR_EL2
        // and the virtual timer change.
        unsafe {
            core::arch::asm!(
                el1_save_asm!(),
                el1_restore_asm!(),
                p = in(reg) p,
                n = in(reg) n,
                a = out(reg) _,
                b = out(reg) _,
                options(nostack, preserves_flags),
            );
        }
        if gic_v3 {
            self.icc_sre = read_sysreg!("icc_sre_el1");
            write_sysreg!("icc_sre_el1", next.icc_sre);
        }
    }
}

const _: () = assert!(core::mem::offset_of!(El1State, cntv_ctl) == 192);
const _: () = assert!(core::mem::offset_of!(El1State, vmpidr) == 208);
const _: () = assert!(core::mem::size_of::<El1State>() == 224);

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
