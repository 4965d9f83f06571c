//! The generic timer as the core uses it: the system counter for time, the EL2
//! physical timer (CNTHP, PPI 26) for time slices and WFI wake-ups, and the EL1
//! timer controls it sets for guests.

use aarch64_cpu::registers::*;

use crate::arch::sysreg::write_sysreg;

/// Current system counter value.
pub fn now() -> u64 {
    CNTPCT_EL0.get()
}

/// Counter frequency in Hz.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// Milliseconds since the counter started.
pub fn now_ms() -> u64 {
    now() / (frequency() / 1000).max(1)
}

/// Counter ticks in `ms` milliseconds.
pub fn ms_to_ticks(ms: u64) -> u64 {
    frequency().saturating_mul(ms) / 1000
}

/// Per-CPU setup: guests get the virtual timer with no offset, may read the
/// physical counter but not use the physical timer (CNTHCTL_EL2.EL1PCTEN = 1,
/// EL1PCEN = 0); the EL2 timer starts disarmed.
pub fn init_cpu() {
    CNTHCTL_EL2.set(1);
    CNTVOFF_EL2.set(0);
    CNTHP_CTL_EL2.set(0);
}

/// Arms the EL2 timer to fire at counter value `deadline`, or disarms it.
pub fn arm(deadline: Option<u64>) {
    match deadline {
        Some(t) => {
            write_sysreg!("cnthp_cval_el2", t);
            CNTHP_CTL_EL2.set(1); // ENABLE, not masked
        }
        None => CNTHP_CTL_EL2.set(0),
    }
}
