//! Access to the system registers that `aarch64-cpu` does not define (GIC CPU
//! interface, EL2 physical timer compare value, PMU control), by name.

/// Reads a system register by its assembler name (or `S<op0>_<op1>_C<n>_C<m>_<op2>`).
macro_rules! read_sysreg {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: reading a system register has no memory effects; the name is
        // a literal checked by the assembler.
        unsafe { core::arch::asm!(concat!("mrs {}, ", $name), out(reg) value, options(nomem, nostack, preserves_flags)) };
        value
    }};
}

/// Writes a system register by its assembler name.
macro_rules! write_sysreg {
    ($name:literal, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: the callers write EL2-owned configuration registers whose
        // effects they document at the call site; no Rust memory is affected.
        unsafe { core::arch::asm!(concat!("msr ", $name, ", {}"), in(reg) value, options(nostack, preserves_flags)) };
    }};
}

pub(crate) use read_sysreg;
pub(crate) use write_sysreg;

/// Instruction synchronization barrier.
#[inline(always)]
pub fn isb() {
    // SAFETY: a barrier has no memory effects beyond ordering.
    unsafe { core::arch::asm!("isb", options(nostack, preserves_flags)) };
}

/// Data synchronization barrier, inner shareable.
#[inline(always)]
pub fn dsb_ish() {
    // SAFETY: a barrier has no memory effects beyond ordering.
    unsafe { core::arch::asm!("dsb ish", options(nostack, preserves_flags)) };
}

/// Data synchronization barrier for stores, inner shareable: what makes a
/// translation table store visible to every CPU's table walks.
#[inline(always)]
pub fn dsb_ishst() {
    // SAFETY: a barrier has no memory effects beyond ordering.
    unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
}

/// Data synchronization barrier, full system.
#[inline(always)]
pub fn dsb_sy() {
    // SAFETY: a barrier has no memory effects beyond ordering.
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
}
