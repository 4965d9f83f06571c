//! This vCPU's GIC CPU interface: enable it, acknowledge an interrupt, end it.
//! The core's virtual GIC needs nothing else from a guest — no distributor or
//! redistributor access.
//!
//! - GICv3 (GIC architecture spec IHI 0069, 12.2): system registers.
//!   ICC_PMR_EL1 = 0xff lets every priority through; ICC_IGRPEN1_EL1 = 1
//!   enables Group 1, the group the core injects in; ICC_IAR1_EL1 acknowledges
//!   and ICC_EOIR1_EL1 ends (priority drop and deactivation: EOImode is 0).
//!   The core has already set ICC_SRE_EL1.SRE, and may trap accesses to it, so
//!   it is left alone.
//! - GICv2 (IHI 0048B, 4.4): the memory-mapped GICC frame the device tree's GIC
//!   node gives as its second `reg`. GICC_PMR = 0xff; GICC_CTLR = 1 enables
//!   Group 0 (the group the core injects in) with FIQEn = 0, so it is signalled
//!   as IRQ; GICC_IAR acknowledges and the same value written to GICC_EOIR
//!   ends the interrupt.

use crate::devicetree;
use core::arch::asm;
use platform::machine::GicFrames;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// The GICv2 CPU interface frame (IHI 0048B, 4.1.3 Table 4-2).
    GiccRegisters {
        (0x000 => control: ReadWrite<u32>),
        (0x004 => priority_mask: ReadWrite<u32>),
        (0x008 => _binary_point),
        (0x00c => acknowledge: ReadOnly<u32>),
        (0x010 => end_of_interrupt: WriteOnly<u32>),
        (0x014 => @END),
    }
}

/// Lowest priority mask: every interrupt priority is above it.
const PRIORITY_MASK_ALL: u32 = 0xff;
/// GICC_CTLR.EnableGrp0.
const GICC_CTLR_ENABLE_GROUP0: u32 = 1;
/// INTIDs 1020..=1023 are special: nothing to acknowledge (IHI 0069, 2.2.1).
const SPECIAL_INTIDS: core::ops::RangeInclusive<u32> = 1020..=1023;
/// GICC_IAR.InterruptID, bits \[9:0\] (bits \[12:10\] name an SGI's source).
const GICV2_INTID_MASK: u32 = 0x3ff;
/// ICC_IAR1_EL1.INTID, bits \[23:0\].
const GICV3_INTID_MASK: u32 = 0xff_ffff;

/// The CPU interface the device tree describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuInterface {
    /// GICv3 system registers.
    SystemRegisters,
    /// GICv2 GICC frame at this IPA.
    MemoryMapped {
        /// IPA of the GICC frame.
        base: usize,
    },
}

/// An interrupt this vCPU acknowledged and must end with [`CpuInterface::eoi`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acknowledged {
    /// The acknowledge register as read: EOI must write it back unchanged.
    raw: u32,
    intid: u32,
}

impl Acknowledged {
    /// The interrupt's INTID.
    pub fn intid(&self) -> u32 {
        self.intid
    }
}

static INTERFACE: spin::Once<Option<CpuInterface>> = spin::Once::new();

/// The CPU interface, if the device tree describes a GIC the runtime knows.
pub fn cpu_interface() -> Option<CpuInterface> {
    *INTERFACE.call_once(|| match devicetree::machine().ok()?.gic.frames {
        GicFrames::V3 { .. } => Some(CpuInterface::SystemRegisters),
        GicFrames::V2 { gicc, .. } => {
            let base = usize::try_from(gicc.base).ok()?;
            base.is_multiple_of(4)
                .then_some(CpuInterface::MemoryMapped { base })
        }
    })
}

/// Enables this vCPU's CPU interface (each vCPU has its own).
pub(crate) fn init_this_cpu() {
    if let Some(interface) = cpu_interface() {
        interface.init();
    }
}

fn gicc(base: usize) -> &'static GiccRegisters {
    // SAFETY: `base` is the GICC frame of the device tree's GIC node, identity
    // mapped as Device memory (below 1 GiB); each vCPU sees its own banked
    // interface there, and all accesses are volatile register accesses.
    unsafe { &*(base as *const GiccRegisters) }
}

impl CpuInterface {
    /// Lets every priority through and enables the group the core injects.
    pub fn init(&self) {
        match *self {
            Self::SystemRegisters => {
                // SAFETY: writes to this vCPU's own GIC CPU interface
                // registers; they change only which interrupts it is offered.
                unsafe {
                    asm!(
                        "msr icc_pmr_el1, {mask}",
                        "msr icc_igrpen1_el1, {enable}",
                        "isb",
                        mask = in(reg) u64::from(PRIORITY_MASK_ALL),
                        enable = in(reg) 1u64,
                        options(nostack, preserves_flags),
                    );
                }
            }
            Self::MemoryMapped { base } => {
                let gicc = gicc(base);
                gicc.priority_mask.set(PRIORITY_MASK_ALL);
                gicc.control.set(GICC_CTLR_ENABLE_GROUP0);
            }
        }
    }

    /// Acknowledges the highest-priority pending interrupt, if any.
    pub fn ack(&self) -> Option<Acknowledged> {
        let (raw, intid) = match *self {
            Self::SystemRegisters => {
                let raw: u64;
                // SAFETY: reading ICC_IAR1_EL1 acknowledges an interrupt of
                // this vCPU; the caller ends it with `eoi`.
                unsafe {
                    asm!("mrs {raw}, icc_iar1_el1", raw = out(reg) raw, options(nostack, preserves_flags));
                }
                let raw = raw as u32;
                (raw, raw & GICV3_INTID_MASK)
            }
            Self::MemoryMapped { base } => {
                let raw = gicc(base).acknowledge.get();
                (raw, raw & GICV2_INTID_MASK)
            }
        };
        (!SPECIAL_INTIDS.contains(&intid)).then_some(Acknowledged { raw, intid })
    }

    /// Ends an interrupt `ack` returned.
    pub fn eoi(&self, interrupt: Acknowledged) {
        match *self {
            // SAFETY: ends an interrupt this vCPU acknowledged; it has no
            // effect on memory.
            Self::SystemRegisters => unsafe {
                asm!(
                    "msr icc_eoir1_el1, {raw}",
                    "isb",
                    raw = in(reg) u64::from(interrupt.raw),
                    options(nostack, preserves_flags),
                );
            },
            Self::MemoryMapped { base } => gicc(base).end_of_interrupt.set(interrupt.raw),
        }
    }
}
