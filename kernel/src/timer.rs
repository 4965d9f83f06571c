//! The generic timer as the core uses it: the system counter for time, the EL2
//! physical timer (CNTHP, PPI 26) for time slices and WFI wake-ups, and the EL1
//! timer controls it sets for guests.

use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::registers::*;
use kernel_core::MAX_CPUS;

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
/// EL1PCEN = 0); the EL2 timer starts disarmed (as [`ARMED`] says).
pub fn init_cpu() {
    CNTHCTL_EL2.set(1);
    CNTVOFF_EL2.set(0);
    CNTHP_CTL_EL2.set(0);
}

/// What each CPU's EL2 timer is armed for ([`DISARMED`]: nothing).
static ARMED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(DISARMED) }; MAX_CPUS];
/// [`ARMED`] for a disarmed timer. A deadline of exactly this value is
/// written every time instead of remembered.
const DISARMED: u64 = u64::MAX;

/// Arms the EL2 timer to fire at counter value `deadline`, or disarms it.
/// The scheduler asks for the same deadline after most decisions; writing
/// it again would change nothing on hardware, but QEMU's TCG recomputes
/// its timers on every CNTHP write and wakes its main loop when the
/// earliest one moves, so an unchanged deadline is not written. The IRQ
/// handler disarms through here before anything re-arms, so a timer that
/// fired is never taken for one still waiting.
pub fn arm(deadline: Option<u64>) {
    let wanted = deadline.unwrap_or(DISARMED);
    if let Some(armed) = ARMED.get(crate::cpu::this_index()) {
        if armed.swap(wanted, Ordering::Relaxed) == wanted && deadline != Some(DISARMED) {
            return;
        }
    }
    match deadline {
        Some(t) => {
            write_sysreg!("cnthp_cval_el2", t);
            CNTHP_CTL_EL2.set(1); // ENABLE, not masked
        }
        None => CNTHP_CTL_EL2.set(0),
    }
}
