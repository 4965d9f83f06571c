//! The panic handler: report where and why on the console, then `ABORT` with
//! reason `ABORT_PANIC`, so the core reports the fault and applies the
//! partition's restart policy.

use crate::entry::MAX_VCPUS;
use crate::{console, hvc, smp};
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

/// Set while a vCPU reports its panic: a panic inside the report aborts at once.
static PANICKING: [AtomicBool; MAX_VCPUS] = [const { AtomicBool::new(false) }; MAX_VCPUS];

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    crate::irq::disable();
    let first = PANICKING
        .get(smp::current_vcpu())
        .is_some_and(|flag| !flag.swap(true, Ordering::Relaxed));
    if first {
        match info.location() {
            Some(location) => console::emergency_print(format_args!(
                "panicked at {location}: {}\n",
                info.message()
            )),
            None => console::emergency_print(format_args!("panicked: {}\n", info.message())),
        }
    }
    hvc::abort_panic()
}
