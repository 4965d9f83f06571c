//! The first Rust code on each vCPU: records what the boot contract hands
//! over, brings up this vCPU's GIC CPU interface, and calls the program.

use crate::{devicetree, gic, psci, smp};

extern "Rust" {
    /// The program's `main`, defined by [`crate::entry!`].
    fn __bulkhead_main(device_tree: usize) -> !;
}

/// vCPU 0, called by `_start` on stack 0 with the MMU on and `.bss` zeroed.
pub(crate) extern "C" fn primary_start(device_tree: usize) -> ! {
    devicetree::record(device_tree);
    gic::init_this_cpu();
    // SAFETY: `entry!` defines `__bulkhead_main` with exactly this signature
    // (a program without it fails to link), and it is called once, here.
    unsafe { __bulkhead_main(device_tree) }
}

/// A vCPU started by [`smp::start_vcpu`], on its own stack with the MMU on.
pub(crate) extern "C" fn secondary_start(vcpu: usize) -> ! {
    gic::init_this_cpu();
    match smp::registered_main(vcpu) {
        Some(main) => main(vcpu),
        // Started by something other than `start_vcpu`: nothing to run.
        None => {
            let _ = psci::cpu_off();
            psci::park()
        }
    }
}
