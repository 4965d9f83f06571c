//! The parts of a vCPU's state that live in EL1 system registers, FP/SIMD
//! registers and the EL1 virtual timer, saved and restored when the core
//! switches vCPUs on a CPU. General registers are handled by the vectors.

use aarch64_cpu::registers::*;

use super::sysreg::{read_sysreg, write_sysreg};

/// EL1 system-register state of a vCPU, in the order the switch code stores
/// it: two registers per `stp`/`ldp`, offsets fixed by `repr(C)` (checked
/// below against the offsets the assembly uses).
///
/// Left out, because no partition can change them:
/// - MDSCR_EL1: MDCR_EL2.TDA traps every partition's access to it (debug
///   registers read as zero, `sysreg_trap`), so the hardware copy keeps the
///   value [`init_cpu`] gives it.
/// - ACTLR_EL1: HCR_EL2.TACR traps every access; reads return this CPU's own
///   value and writes are ignored, as under KVM (`sysreg_trap`).
///
/// Switched only on CPUs where they hold state ([`Extras`]): AMAIR_EL1,
/// AFSR0_EL1 and AFSR1_EL1 (IMPLEMENTATION DEFINED, RAZ/WI on QEMU) and
/// ICC_SRE_EL1 (fixed unless EL1 can both reach and change it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct El1State {
    sctlr: u64,
    cpacr: u64,
    ttbr0: u64,
    ttbr1: u64,
    tcr: u64,
    esr: u64,
    far: u64,
    mair: u64,
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
    amair: u64,
    afsr0: u64,
    afsr1: u64,
    /// ICC_SRE_EL1 for GICv3 guests (system-register interface enabled).
    pub icc_sre: u64,
}

/// SCTLR_EL1 at reset: RES1 bits (29:28, 23:22, 20, 11), MMU and caches off.
pub const SCTLR_EL1_RESET: u64 = 0x30D0_0800;

/// ICC_SRE_EL1 as every GICv3 guest sees it: SRE | DFB | DIB (the
/// system-register interface, no legacy bypass; GIC IHI 0069H §12.2.20).
pub const ICC_SRE_EL1_GUEST: u64 = 0x7;

/// EL1 registers that only some CPUs need switched, as [`init_cpu`] found
/// them on this CPU. vCPUs never leave their home CPU, so the answer of the
/// CPU that switches them is the one that counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extras(u8);

impl Extras {
    /// Neither.
    pub const NONE: Self = Self(0);
    /// AMAIR_EL1, AFSR0_EL1 and AFSR1_EL1 keep what EL1 writes.
    pub const AUXILIARY: Self = Self(1);
    /// EL1 can change ICC_SRE_EL1 (ICC_SRE_EL2.Enable cannot trap it and
    /// it is not fixed).
    pub const GIC_SRE: Self = Self(2);

    /// Both sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Does `self` include all of `other`?
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Nothing beyond the registers every CPU switches.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// As a byte, for per-CPU storage.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// From [`Extras::bits`].
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & (Self::AUXILIARY.0 | Self::GIC_SRE.0))
    }
}

/// Per-CPU setup of the EL1 registers no vCPU switch touches, and which of
/// the optional ones this CPU must switch: MDSCR_EL1 is zero (no debug
/// events) for every partition; AMAIR_EL1, AFSR0_EL1 and AFSR1_EL1 are
/// switched only if they keep a written value (a register that reads as
/// zero after a write of ones holds nothing that could pass between
/// partitions; Arm ARM D23.2.8, D23.2.5: IMPLEMENTATION DEFINED, RES0 when
/// not implemented); `gic_sre_switched` says what `gic::init_cpu` found
/// for ICC_SRE_EL1.
pub fn init_cpu(gic_sre_switched: bool) -> Extras {
    MDSCR_EL1.set(0);
    let mut found = 0;
    macro_rules! keeps_writes {
        ($name:literal) => {{
            write_sysreg!($name, u64::MAX);
            found |= read_sysreg!($name);
            write_sysreg!($name, 0);
        }};
    }
    keeps_writes!("amair_el1");
    keeps_writes!("afsr0_el1");
    keeps_writes!("afsr1_el1");
    let mut extras = Extras::NONE;
    if found != 0 {
        extras = extras.union(Extras::AUXILIARY);
    }
    if gic_sre_switched {
        extras = extras.union(Extras::GIC_SRE);
    }
    extras
}

/// The EL1 switch as assembly text, with register names as literals so
/// that the same text serves `asm!` here and the IPC fast path
/// (`ipc_fast.rs`):
///
/// - `el1_asm!(save, p, a, b)` stores the running vCPU's EL1 registers at
///   `[p]` (`a`, `b` scratch) and stops its virtual timer, which comes last
///   and is cleared so that it cannot fire for whatever runs next;
/// - `el1_asm!(restore, n, a, b)` loads those at `[n]` and VMPIDR_EL2; the
///   compare value goes in before the control, so a stale deadline never
///   fires for the new owner; TCR_EL1 only if it differs (this clobbers
///   the condition flags).
///
/// The registers go two per `stp`/`ldp`, at their offsets in [`El1State`]
/// (checked below); the timer and VMPIDR_EL2 follow, each handled apart.
#[rustfmt::skip]
macro_rules! el1_asm {
    (save, $p:literal, $a:literal, $b:literal) => {
        concat!(
            el1_asm!(@pairs save, $p, $a, $b),
            el1_asm!(@save, $p, $a, $b, "cntv_ctl_el0", "cntv_cval_el0", "160"),
            "msr cntv_ctl_el0, xzr\n",
        )
    };
    (restore, $n:literal, $a:literal, $b:literal) => {
        concat!(
            el1_asm!(@pairs restore, $n, $a, $b),
            "ldp ", $a, ", ", $b, ", [", $n, ", #160]\n",
            "msr cntv_cval_el0, ", $b, "\n", "msr cntv_ctl_el0, ", $a, "\n",
            "ldr ", $a, ", [", $n, ", #176]\n", "msr vmpidr_el2, ", $a, "\n",
        )
    };
    (@pairs $op:ident, $r:literal, $a:literal, $b:literal) => {
        concat!(
            el1_asm!(@$op, $r, $a, $b, "sctlr_el1", "cpacr_el1", "0"),
            el1_asm!(@$op, $r, $a, $b, "ttbr0_el1", "ttbr1_el1", "16"),
            el1_asm!(@tcr $op, $r, $a, $b),
            el1_asm!(@$op, $r, $a, $b, "far_el1", "mair_el1", "48"),
            el1_asm!(@$op, $r, $a, $b, "vbar_el1", "contextidr_el1", "64"),
            el1_asm!(@$op, $r, $a, $b, "tpidr_el0", "tpidrro_el0", "80"),
            el1_asm!(@$op, $r, $a, $b, "tpidr_el1", "cntkctl_el1", "96"),
            el1_asm!(@$op, $r, $a, $b, "sp_el0", "sp_el1", "112"),
            el1_asm!(@$op, $r, $a, $b, "elr_el1", "spsr_el1", "128"),
            el1_asm!(@$op, $r, $a, $b, "par_el1", "csselr_el1", "144"),
        )
    };
    (@tcr save, $p:literal, $a:literal, $b:literal) => {
        el1_asm!(@save, $p, $a, $b, "tcr_el1", "esr_el1", "32")
    };
    // TCR_EL1 is written only if it changes: on hardware writing the same
    // value does nothing, but QEMU's TCG flushes the guest's whole TLB on
    // every TCR_EL1 write (its TLB is not ASID-tagged), and a vCPU that
    // resumes after waiting in WFI has its own registers restored.
    (@tcr restore, $n:literal, $a:literal, $b:literal) => {
        concat!(
            "ldp ", $a, ", ", $b, ", [", $n, ", #32]\n",
            "msr esr_el1, ", $b, "\n",
            "mrs ", $b, ", tcr_el1\n",
            "cmp ", $a, ", ", $b, "\n",
            "b.eq 9f\n",
            "msr tcr_el1, ", $a, "\n",
            "9:\n",
        )
    };
    (@save, $p:literal, $a:literal, $b:literal, $r1:literal, $r2:literal, $off:literal) => {
        concat!(
            "mrs ", $a, ", ", $r1, "\n", "mrs ", $b, ", ", $r2, "\n",
            "stp ", $a, ", ", $b, ", [", $p, ", #", $off, "]\n",
        )
    };
    (@restore, $n:literal, $a:literal, $b:literal, $r1:literal, $r2:literal, $off:literal) => {
        concat!(
            "ldp ", $a, ", ", $b, ", [", $n, ", #", $off, "]\n",
            "msr ", $r1, ", ", $a, "\n", "msr ", $r2, ", ", $b, "\n",
        )
    };
}

impl El1State {
    /// State of a vCPU coming out of reset with the given MPIDR.
    pub fn reset(vmpidr: u64, gic_v3: bool) -> Self {
        Self {
            sctlr: SCTLR_EL1_RESET,
            vmpidr,
            icc_sre: if gic_v3 { ICC_SRE_EL1_GUEST } else { 0 },
            ..Self::default()
        }
    }

    /// Saves the running vCPU's EL1 state from the hardware and stops its
    /// virtual timer, so it cannot fire for whatever runs next on this CPU.
    pub fn save(&mut self, extras: Extras) {
        let p = self as *mut Self;
        // SAFETY: `p` points to this whole `El1State` (`repr(C)`, offsets as
        // used, checked below); the asm only reads EL1 registers, writes
        // them into it and stops the EL1 virtual timer.
        unsafe {
            core::arch::asm!(
                el1_asm!(save, "x8", "x10", "x11"),
                in("x8") p,
                out("x10") _,
                out("x11") _,
                options(nostack, preserves_flags),
            );
        }
        if !extras.is_empty() {
            self.save_extras(extras);
        }
    }

    /// Loads this state into the hardware before the vCPU runs.
    pub fn restore(&self, extras: Extras) {
        let n = self as *const Self;
        // SAFETY: `n` points to this whole `El1State`; the asm only reads it
        // and writes the EL1 registers (and VMPIDR_EL2) of the vCPU about to
        // run, which no core code depends on.
        unsafe {
            core::arch::asm!(
                el1_asm!(restore, "x9", "x10", "x11"),
                in("x9") n,
                out("x10") _,
                out("x11") _,
                options(nostack, readonly),
            );
        }
        if !extras.is_empty() {
            self.restore_extras(extras);
        }
    }

    /// Saves the running vCPU's state into `self` and loads `next`'s in one
    /// pass, for a switch between two vCPUs.
    pub fn switch(&mut self, next: &El1State, extras: Extras) {
        let p = self as *mut Self;
        let n = next as *const Self;
        // SAFETY: as for `save` and `restore`: `p` and `n` point to two whole
        // `El1State`s (distinct vCPUs), only the EL1 registers, VMPIDR_EL2
        // and the virtual timer change.
        unsafe {
            core::arch::asm!(
                el1_asm!(save, "x8", "x10", "x11"),
                el1_asm!(restore, "x9", "x10", "x11"),
                in("x8") p,
                in("x9") n,
                out("x10") _,
                out("x11") _,
                options(nostack),
            );
        }
        if !extras.is_empty() {
            self.save_extras(extras);
            next.restore_extras(extras);
        }
    }

    #[inline(never)]
    fn save_extras(&mut self, extras: Extras) {
        if extras.contains(Extras::AUXILIARY) {
            self.amair = read_sysreg!("amair_el1");
            self.afsr0 = read_sysreg!("afsr0_el1");
            self.afsr1 = read_sysreg!("afsr1_el1");
        }
        if extras.contains(Extras::GIC_SRE) {
            self.icc_sre = read_sysreg!("icc_sre_el1");
        }
    }

    #[inline(never)]
    fn restore_extras(&self, extras: Extras) {
        if extras.contains(Extras::AUXILIARY) {
            write_sysreg!("amair_el1", self.amair);
            write_sysreg!("afsr0_el1", self.afsr0);
            write_sysreg!("afsr1_el1", self.afsr1);
        }
        if extras.contains(Extras::GIC_SRE) {
            write_sysreg!("icc_sre_el1", self.icc_sre);
        }
    }
}

// The offsets the save and restore text uses.
const _: () = assert!(core::mem::offset_of!(El1State, cpacr) == 8);
const _: () = assert!(core::mem::offset_of!(El1State, csselr) == 152);
const _: () = assert!(core::mem::offset_of!(El1State, cntv_ctl) == 160);
const _: () = assert!(core::mem::offset_of!(El1State, cntv_cval) == 168);
const _: () = assert!(core::mem::offset_of!(El1State, vmpidr) == 176);

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
