//! Calls from the core to the platform firmware over SMC: PSCI CPU_ON to start
//! secondary CPUs and SYSTEM_OFF to power the machine down (Arm DEN0022).
//! A machine without PSCI (the Raspberry Pi) powers off through its PM
//! watchdog instead.

use kernel_core::cpu_boot::Conduit;
use platform::bcm2835_pm::{AfterReset, PowerManagement};
use spin::Once;

/// How [`system_off`] powers the machine down, as the device tree says.
#[derive(Clone, Copy)]
enum PowerOff {
    /// PSCI SYSTEM_OFF through SMC.
    Psci,
    /// A watchdog reset into the firmware's halt partition, the PM block at
    /// this (EL2-mapped) address.
    PmWatchdog(usize),
}

static POWER_OFF: Once<Option<PowerOff>> = Once::new();

/// An SMCCC call with up to three arguments through `$insn #0`; returns x0.
macro_rules! smccc_call {
    ($insn:literal, $fid:expr, $a1:expr, $a2:expr, $a3:expr) => {{
        let mut x0 = u64::from($fid);
        // SAFETY: a call to the firmware's SMCCC services (PSCI) with SMCCC
        // arguments; per SMCCC 1.1 x0-x17 may be clobbered, as declared.
        unsafe {
            core::arch::asm!(
                concat!($insn, " #0"),
                inout("x0") x0,
                inout("x1") $a1 => _, inout("x2") $a2 => _, inout("x3") $a3 => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
                out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
                out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack),
            );
        }
        x0 as i64
    }};
}

/// Makes an SMCCC call through `SMC #0` (EL3 firmware or QEMU's PSCI).
pub fn smc(fid: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    smccc_call!("smc", fid, a1, a2, a3)
}

/// Makes an SMCCC call through `HVC #0`. Only meaningful when the core was
/// wrongly entered at EL1, where the firmware's PSCI sits behind HVC.
pub fn hvc(fid: u32) -> i64 {
    smccc_call!("hvc", fid, 0u64, 0u64, 0u64)
}

/// Records how this machine powers off, from the device tree: PSCI's SMC
/// conduit when there is one, else the PM watchdog at `pm_watchdog`, else
/// nothing (the CPU only halts). Only the first call counts.
pub fn set_power_off(psci: Option<Conduit>, pm_watchdog: Option<u64>) {
    POWER_OFF.call_once(|| match (psci, pm_watchdog) {
        // An HVC conduit would trap to the core itself.
        (Some(Conduit::Smc), _) => Some(PowerOff::Psci),
        (_, Some(base)) => Some(PowerOff::PmWatchdog(base as usize)),
        _ => None,
    });
}

/// Powers the machine off as [`set_power_off`] recorded; parks the CPU if
/// that returns (or before it was called: SMC without firmware behind it
/// would fault).
pub fn system_off() -> ! {
    match POWER_OFF.get().copied().flatten() {
        Some(PowerOff::Psci) => {
            smc(abi::psci::SYSTEM_OFF, 0, 0, 0);
        }
        Some(PowerOff::PmWatchdog(base)) => {
            // SAFETY: `base` is the PM block from the device tree, mapped as
            // device memory in the EL2 map (boot.rs); the core drives its
            // reset registers only here, on the way down.
            let pm = unsafe { PowerManagement::new(base) };
            pm.reset(AfterReset::Halt);
        }
        None => {}
    }
    halt()
}

/// Stops this CPU for good: interrupts masked, waiting for events forever.
pub fn halt() -> ! {
    loop {
        // SAFETY: masking interrupts and waiting has no memory effects.
        unsafe { core::arch::asm!("msr daifset, #0xf", "wfe", options(nostack)) };
    }
}
