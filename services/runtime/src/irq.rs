//! Interrupt masking and dispatch. Programs start with interrupts masked (the
//! boot contract); the runtime unmasks them only while it waits in
//! [`crate::timer`], unless the program calls [`enable`]. An interrupt is
//! acknowledged at the GIC, handled by the runtime if it is its own (the
//! virtual timer), passed to the handler set with [`set_handler`], and ended.

use crate::{console, gic, hvc, timer};
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ReadWriteable, Readable, Writeable, DAIF};
use spin::Mutex;

/// A program's interrupt handler; gets the INTID. Runs with interrupts
/// masked, on the interrupted stack.
pub type Handler = fn(u32);

static HANDLER: Mutex<Option<Handler>> = Mutex::new(None);

/// Sets the handler every interrupt is passed to (after the runtime's own
/// handling of the virtual timer).
pub fn set_handler(handler: Handler) {
    // Masked, so an interrupt on this vCPU cannot find the lock held.
    without_interrupts(|| *HANDLER.lock() = Some(handler));
}

/// Unmasks IRQ and FIQ on this vCPU.
pub fn enable() {
    DAIF.modify(DAIF::I::Unmasked + DAIF::F::Unmasked);
}

/// Masks IRQ and FIQ on this vCPU.
pub fn disable() {
    DAIF.modify(DAIF::I::Masked + DAIF::F::Masked);
}

/// Runs `f` with IRQ and FIQ masked, then restores the previous mask.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let saved = DAIF.get();
    disable();
    let result = f();
    DAIF.set(saved);
    result
}

/// Opens a window in which a pending interrupt is taken, then masks again.
/// Called with interrupts masked, after a WFI returned.
pub(crate) fn take_pending() {
    enable();
    // The unmask takes effect at the context synchronisation (Arm ARM D1.3.6),
    // so a pending interrupt is taken here at the latest.
    barrier::isb(barrier::SY);
    disable();
}

/// Handles every pending interrupt; called by the IRQ and FIQ vectors.
pub(crate) fn dispatch() {
    let Some(interface) = gic::cpu_interface() else {
        // Nothing can acknowledge it, so it would be taken again forever.
        console::emergency_print(format_args!(
            "interrupt taken, but the device tree names no GIC\n"
        ));
        hvc::abort_exception(0, 0, 0)
    };
    while let Some(interrupt) = interface.ack() {
        let intid = interrupt.intid();
        if intid == timer::interrupt_id() {
            timer::on_interrupt();
        }
        let handler = *HANDLER.lock();
        if let Some(handler) = handler {
            handler(intid);
        }
        interface.eoi(interrupt);
    }
}
