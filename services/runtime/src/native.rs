//! Native mode: the program runs with no hypervisor under it — QEMU `virt`
//! without virtualization, which enters it at EL1 — so that a benchmark can
//! time the very same binary with and without Bulkhead. The launcher asks for
//! it with the boot argument `native` (xtask's native runs append it); a
//! program under Bulkhead never gets it.
//!
//! In native mode the runtime does itself what the core does for a
//! partition: the console writes to the PL011 the device tree names instead
//! of `CONSOLE_WRITE`, PSCI calls (power off, CPU_ON) go over the conduit the
//! tree's `/psci` node names instead of the core's `HVC`, and a fault powers
//! off instead of calling `ABORT`. The GIC needs nothing special: the
//! runtime programs its distributor and redistributors the same way whether
//! they are real (natively) or the core's virtual GIC ([`crate::gic`]).

use crate::devicetree;
use crate::hvc::Conduit;
use core::sync::atomic::{AtomicU8, Ordering};
use kernel_core::cpu_boot::Conduit as TreeConduit;

/// The boot argument that selects native mode.
pub const NATIVE_BOOTARG: &str = "native";

/// Not yet looked up / not native / native.
const UNKNOWN: u8 = 0;
const BULKHEAD: u8 = 1;
const NATIVE: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether the program runs natively (boot argument `native`).
pub fn is_active() -> bool {
    match MODE.load(Ordering::Relaxed) {
        UNKNOWN => {
            let native = devicetree::bootargs().has_flag(NATIVE_BOOTARG);
            MODE.store(if native { NATIVE } else { BULKHEAD }, Ordering::Relaxed);
            native
        }
        mode => mode == NATIVE,
    }
}

/// The instruction PSCI calls use: `HVC` to the core under Bulkhead; natively
/// the `/psci` node's `method` (QEMU `virt` without EL2 or EL3 says `hvc`
/// and answers the call itself; with EL3 firmware it would be `smc`).
pub(crate) fn psci_conduit() -> Conduit {
    if !is_active() {
        return Conduit::Hvc;
    }
    match devicetree::machine().ok().and_then(|machine| machine.psci) {
        Some(TreeConduit::Smc) => Conduit::Smc,
        Some(TreeConduit::Hvc) | None => Conduit::Hvc,
    }
}
