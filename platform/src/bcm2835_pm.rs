//! The BCM2835-family power-management watchdog (`brcm,bcm2835-pm-wdt`, on
//! the Raspberry Pi 4 at 0xFE10_0000): how a machine without PSCI powers off
//! or resets.
//!
//! Broadcom does not document this block; the layout and the halt convention
//! are the ones Linux's `drivers/watchdog/bcm2835_wdt.c` and the Raspberry Pi
//! firmware agree on, and QEMU's `bcm2835_powermgt` models: every write
//! carries the password 0x5A in bits 31:24; a full reset is requested by
//! setting PM_RSTC.WRCFG to 0b10 with a short PM_WDOG count; the "partition"
//! field of PM_RSTS (every other bit of 11:0) tells the firmware which boot
//! partition comes next, and partition 63 (0x555) means "halt" — the
//! firmware stays stopped instead of booting again, and QEMU exits.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    /// The reset and watchdog registers of the PM block.
    pub PmRegisters {
        (0x00 => _reserved),
        (0x1c => rstc: ReadWrite<u32>),
        (0x20 => rsts: ReadWrite<u32>),
        (0x24 => wdog: ReadWrite<u32>),
        (0x28 => @END),
    }
}

/// Bits 31:24 of every write: without it the block ignores the write.
const PASSWORD: u32 = 0x5a00_0000;
/// PM_RSTC.WRCFG (bits 5:4): what happens when the watchdog expires.
const RSTC_WRCFG_MASK: u32 = 0x30;
/// WRCFG = 0b10: a full reset.
const RSTC_WRCFG_FULL_RESET: u32 = 0x20;
/// PM_RSTS partition bits (0, 2, 4, 6, 8, 10): the boot partition number,
/// spread over every other bit.
const RSTS_PARTITION_MASK: u32 = 0x555;
/// Partition 63, all partition bits set: the firmware halts instead of booting.
const RSTS_PARTITION_HALT: u32 = 0x555;
/// Watchdog ticks (about 16 µs each) before the reset: expire almost at once.
const WDOG_SHORT_TIMEOUT: u32 = 10;

/// What the next boot does after the watchdog reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterReset {
    /// Boot again from the default partition.
    Boot,
    /// Stay halted (the firmware's partition 63); QEMU exits.
    Halt,
}

/// The PM block's reset registers, at a fixed MMIO address.
#[derive(Debug)]
pub struct PowerManagement {
    base: usize,
}

impl PowerManagement {
    /// # Safety
    /// `base` must be the address of the PM register block, mapped as device
    /// memory, and no one else may drive its reset registers.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &PmRegisters {
        // SAFETY: `new`'s contract: `base` is the mapped PM register block.
        unsafe { &*(self.base as *const PmRegisters) }
    }

    /// Resets the whole SoC through the watchdog; `after` says whether the
    /// firmware boots again or halts. Returns once the reset is requested;
    /// the caller waits for it to take effect.
    pub fn reset(&self, after: AfterReset) {
        let r = self.regs();
        let partition = match after {
            AfterReset::Boot => 0,
            AfterReset::Halt => RSTS_PARTITION_HALT,
        };
        let rsts = r.rsts.get() & !(RSTS_PARTITION_MASK | 0xff00_0000);
        r.rsts.set(PASSWORD | rsts | partition);
        r.wdog.set(PASSWORD | WDOG_SHORT_TIMEOUT);
        let rstc = r.rstc.get() & !(RSTC_WRCFG_MASK | 0xff00_0000);
        r.rstc.set(PASSWORD | rstc | RSTC_WRCFG_FULL_RESET);
    }
}
