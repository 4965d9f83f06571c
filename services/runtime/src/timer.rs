//! Time from the EL1 virtual timer (Arm ARM DDI 0487, D12 "The Generic
//! Timer"): CNTVCT_EL0 counts at CNTFRQ_EL0; CNTV_CVAL_EL0/CNTV_CTL_EL0 raise
//! the virtual timer PPI (INTID 27, which the core delivers) when the count
//! reaches the compare value. Sleeping arms the timer and waits in WFI, which the core
//! turns into blocking the vCPU until the deadline, so it costs no CPU time.

use crate::entry::MAX_VCPUS;
use crate::{gic, irq, smp};
use aarch64_cpu::asm::{barrier, wfi};
use aarch64_cpu::registers::{
    Readable, Writeable, CNTFRQ_EL0, CNTVCT_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0,
};
use core::sync::atomic::{AtomicBool, Ordering};

/// The virtual timer's interrupt when the device tree does not say: PPI 11,
/// INTID 27 (Arm BSA; the core's contract with partitions).
const DEFAULT_VIRTUAL_TIMER_INTID: u32 = 27;

/// The virtual timer's INTID, from the device tree's timer node.
pub fn interrupt_id() -> u32 {
    crate::devicetree::machine().map_or(DEFAULT_VIRTUAL_TIMER_INTID, |machine| {
        machine.timer.el1_virt
    })
}

/// Set by the interrupt handler when this vCPU's timer fired.
static FIRED: [AtomicBool; MAX_VCPUS] = [const { AtomicBool::new(false) }; MAX_VCPUS];

const MILLIS_PER_SECOND: u128 = 1000;

/// The virtual count now.
pub fn now() -> u64 {
    // The ISB keeps the read from being performed early (Arm ARM D12.2.2).
    barrier::isb(barrier::SY);
    CNTVCT_EL0.get()
}

/// Counts per second.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// Counts in `ms` milliseconds (saturating).
pub fn ticks_from_ms(ms: u64) -> u64 {
    let ticks = u128::from(ms) * u128::from(frequency()) / MILLIS_PER_SECOND;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// Milliseconds in `ticks` counts (0 if the frequency is unknown).
pub fn ms_from_ticks(ticks: u64) -> u64 {
    let frequency = u128::from(frequency());
    if frequency == 0 {
        return 0;
    }
    u64::try_from(u128::from(ticks) * MILLIS_PER_SECOND / frequency).unwrap_or(u64::MAX)
}

/// Sleeps at least `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    sleep_until(now().saturating_add(ticks_from_ms(ms)));
}

/// Sleeps until the virtual count reaches `deadline`.
pub fn sleep_until(deadline: u64) {
    let fired = FIRED.get(smp::current_vcpu());
    let (Some(fired), Some(_)) = (fired, gic::cpu_interface()) else {
        // No way to take the interrupt: poll the counter.
        while now() < deadline {
            core::hint::spin_loop();
        }
        return;
    };
    irq::without_interrupts(|| {
        while now() < deadline {
            fired.store(false, Ordering::Relaxed);
            arm_at(deadline);
            // WFI wakes on a pending interrupt even while it is masked (Arm ARM
            // D1.6.2), so checking first and then waiting cannot miss it.
            while !fired.load(Ordering::Relaxed) && now() < deadline {
                wfi();
                irq::take_pending();
            }
        }
        disarm();
    });
}

/// Arms this vCPU's virtual timer: its interrupt is raised once the virtual
/// count reaches `deadline`, and stays raised until the timer is re-armed
/// later or disarmed. [`sleep_until`] uses it; so does a program that runs
/// its own periodic tick from an interrupt handler ([`crate::irq`]).
pub fn arm_at(deadline: u64) {
    CNTV_CVAL_EL0.set(deadline);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    // The new compare value takes effect at the context synchronisation (Arm
    // ARM D12.1.2): an already passed deadline fires right away.
    barrier::isb(barrier::SY);
}

/// Switches this vCPU's virtual timer off, lowering its interrupt.
pub fn disarm() {
    CNTV_CTL_EL0.set(0);
}

/// The runtime's handling of the virtual timer interrupt: the timer is level-triggered, so it is
/// switched off before the interrupt is ended, and the sleeper is told.
pub(crate) fn on_interrupt() {
    disarm();
    if let Some(fired) = FIRED.get(smp::current_vcpu()) {
        fired.store(true, Ordering::Relaxed);
    }
}
