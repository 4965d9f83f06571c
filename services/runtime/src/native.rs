//! Native mode: the program runs with no hypervisor under it — QEMU `virt`
//! without virtualization, which enters it at EL1 — so that a benchmark can
//! time the very same binary with and without Bulkhead. The launcher asks for
//! it with the boot argument `native` (xtask's native runs append it); a
//! program under Bulkhead never gets it.
//!
//! In native mode the runtime does itself what the core does for a
//! partition: the console writes to the PL011 the device tree names instead
//! of `CONSOLE_WRITE`, PSCI calls (power off, CPU_ON) go over the conduit the
//! tree's `/psci` node names instead of the core's `HVC`, a fault powers off
//! instead of calling `ABORT`, and the GIC's distributor and redistributor
//! are set up so that the EL1 virtual timer's PPI reaches the CPU (under
//! Bulkhead the core's vGIC injects it).

use crate::hvc::Conduit;
use crate::{devicetree, smp, timer};
use aarch64_cpu::asm::barrier;
use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};
use kernel_core::cpu_boot::Conduit as TreeConduit;
use platform::machine::GicFrames;
use platform::{gicv2, gicv3};

/// The boot argument that selects native mode.
pub const NATIVE_BOOTARG: &str = "native";

/// ICC_SRE_EL1.SRE (GIC IHI 0069H, 12.2.19): use the system register
/// interface. Set by EL2/EL3 firmware for a guest; natively the program sets
/// it (QEMU's GICv3 has it RAO/WI, real hardware may not).
const ICC_SRE_EL1_SRE: u64 = 1;

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

/// Natively, sets up the interrupt controller for this CPU so the virtual
/// timer's PPI is delivered: on the primary CPU also the distributor. Does
/// nothing under Bulkhead, whose core owns the physical GIC.
pub(crate) fn init_interrupt_controller(primary: bool) {
    if !is_active() {
        return;
    }
    let Ok(machine) = devicetree::machine() else {
        return;
    };
    let timer_ppi = timer::interrupt_id();
    match machine.gic.frames {
        GicFrames::V3 { gicd, gicr } => {
            let (Ok(gicd), Ok(gicr_base), Ok(gicr_size)) = (
                usize::try_from(gicd.base),
                usize::try_from(gicr.base),
                usize::try_from(gicr.size),
            ) else {
                return;
            };
            // SAFETY: natively the program owns the whole machine; ICC_SRE_EL1
            // only selects this CPU's GIC interface, and the runtime uses the
            // system register interface exclusively.
            unsafe {
                asm!(
                    "mrs {sre}, icc_sre_el1",
                    "orr {sre}, {sre}, {enable}",
                    "msr icc_sre_el1, {sre}",
                    sre = out(reg) _,
                    enable = const ICC_SRE_EL1_SRE,
                    options(nostack, preserves_flags),
                );
            }
            barrier::isb(barrier::SY);
            if primary {
                // SAFETY: the GICD frame the device tree names, identity
                // mapped as Device memory (below 1 GiB); natively nothing else
                // drives it, and only the primary CPU configures it.
                unsafe { gicv3::Distributor::new(gicd) }.init();
            }
            // SAFETY: the GICR region the device tree names, identity mapped
            // as Device memory; natively nothing else drives it.
            let found = unsafe { gicv3::Redistributor::find(gicr_base, gicr_size, smp::mpidr()) };
            if let Some(redistributor) = found {
                redistributor.init();
                redistributor.enable(timer_ppi);
            }
        }
        GicFrames::V2 { gicd, .. } => {
            let Ok(gicd) = usize::try_from(gicd.base) else {
                return;
            };
            // SAFETY: the GICD frame the device tree names, identity mapped as
            // Device memory; natively nothing else drives it. Its SGI/PPI
            // registers are banked per CPU, so each CPU sets up its own.
            let distributor = unsafe { gicv2::Distributor::new(gicd) };
            if primary {
                distributor.init();
            }
            let this_cpu = distributor.init_cpu();
            distributor.enable(timer_ppi, this_cpu);
        }
    }
}
