//! This vCPU's interrupt controller, set up the way an operating system sets
//! up a GIC: the distributor and this vCPU's redistributor (GICv3) or banked
//! distributor registers (GICv2), then the CPU interface. Under Bulkhead the
//! distributor and redistributors are the core's virtual GIC, which delivers
//! only interrupts the program enabled there, exactly as hardware would.
//!
//! - GICv3 (GIC architecture spec IHI 0069, 12.2): GICD_CTLR enables affinity
//!   routing and both groups; this vCPU's redistributor (found by walking
//!   GICR_TYPER as Linux does) is woken and its SGIs/PPIs put in Group 1.
//!   The CPU interface is system registers: ICC_PMR_EL1 = 0xff lets every
//!   priority through; ICC_IGRPEN1_EL1 = 1 enables Group 1; ICC_IAR1_EL1
//!   acknowledges and ICC_EOIR1_EL1 ends (priority drop and deactivation:
//!   EOImode is 0). SGIs go out through ICC_SGI1R_EL1. The core has already
//!   set ICC_SRE_EL1.SRE, and may trap accesses to it, so it is left alone.
//! - GICv2 (IHI 0048B, 4.3 and 4.4): GICD_CTLR enables both groups; every
//!   interrupt stays in Group 0, which the CPU interface signals as IRQ with
//!   GICC_CTLR = 1 (EnableGrp0, FIQEn = 0). The CPU interface is the
//!   memory-mapped GICC frame the device tree's GIC node gives as its second
//!   `reg`: GICC_PMR = 0xff; GICC_IAR acknowledges and the same value
//!   written to GICC_EOIR ends the interrupt. SGIs go out through GICD_SGIR.

use crate::{devicetree, smp, timer};
use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};
use platform::machine::GicFrames;
use platform::{gicv2, gicv3};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

pub use platform::gic_irqs::InterruptRegs;
pub use platform::gicv2::SgiTargets as GicV2SgiTargets;

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
/// SGIs and PPIs, private to each vCPU.
const PRIVATE_INTIDS: u32 = 32;

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

    /// GICv2 SGIs: the CPU interface (vCPU) that sent it (GICC_IAR.CPUID).
    pub fn source(&self) -> u32 {
        (self.raw >> 10) & 0x7
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

/// The distributor the device tree describes.
#[derive(Debug)]
pub enum Distributor {
    /// A GICv2 GICD.
    V2(gicv2::Distributor),
    /// A GICv3 GICD with the redistributor region `[base, base + size)`.
    V3 {
        /// The distributor.
        gicd: gicv3::Distributor,
        /// First redistributor.
        gicr_base: usize,
        /// Size of the redistributor region.
        gicr_size: usize,
    },
}

static DISTRIBUTOR: spin::Once<Option<Distributor>> = spin::Once::new();

/// The distributor, if the device tree describes a GIC the runtime knows.
pub fn distributor() -> Option<&'static Distributor> {
    DISTRIBUTOR
        .call_once(|| {
            let frames = devicetree::machine().ok()?.gic.frames;
            match frames {
                GicFrames::V2 { gicd, .. } => {
                    let base = usize::try_from(gicd.base).ok()?;
                    // SAFETY: the GICD frame of the device tree's GIC node,
                    // identity mapped as Device memory (below 1 GiB); all
                    // accesses are volatile register accesses.
                    Some(Distributor::V2(unsafe { gicv2::Distributor::new(base) }))
                }
                GicFrames::V3 { gicd, gicr } => {
                    let base = usize::try_from(gicd.base).ok()?;
                    // SAFETY: as above.
                    let gicd = unsafe { gicv3::Distributor::new(base) };
                    Some(Distributor::V3 {
                        gicd,
                        gicr_base: usize::try_from(gicr.base).ok()?,
                        gicr_size: usize::try_from(gicr.size).ok()?,
                    })
                }
            }
        })
        .as_ref()
}

impl Distributor {
    /// The per-interrupt registers (IGROUPR .. ICFGR), the same in both
    /// versions; under GICv3 those of SGIs and PPIs are in each
    /// redistributor instead.
    pub fn irqs(&self) -> &InterruptRegs {
        match self {
            Self::V2(gicd) => gicd.irqs(),
            Self::V3 { gicd, .. } => gicd.irqs(),
        }
    }

    /// Every redistributor (GICv3), in the order the region lays them out;
    /// nothing for GICv2.
    pub fn redistributors(&self) -> impl Iterator<Item = gicv3::Redistributor> {
        let (base, size) = match *self {
            Self::V3 {
                gicr_base,
                gicr_size,
                ..
            } => (gicr_base, gicr_size),
            Self::V2(_) => (0, 0),
        };
        // SAFETY: the redistributor region of the device tree's GIC node,
        // identity mapped as Device memory; an empty region for GICv2.
        unsafe { gicv3::Redistributor::all(base, size) }
    }
}

/// Each vCPU's redistributor (RD_base), once `init_this_cpu` found it.
static REDISTRIBUTORS: [AtomicUsize; crate::entry::MAX_VCPUS] =
    [const { AtomicUsize::new(0) }; crate::entry::MAX_VCPUS];

/// This vCPU's redistributor (GICv3), found at its start.
pub fn this_redistributor() -> Option<gicv3::Redistributor> {
    let base = REDISTRIBUTORS
        .get(smp::current_vcpu())?
        .load(Ordering::Acquire);
    // SAFETY: `base` was found by walking the device tree's redistributor
    // region in `init_this_cpu`.
    (base != 0).then(|| unsafe { gicv3::Redistributor::at(base) })
}

/// Sets up the distributor and this vCPU's part of the GIC, enables the
/// virtual timer's PPI, then the CPU interface (each vCPU has its own).
pub(crate) fn init_this_cpu() {
    match distributor() {
        Some(Distributor::V3 { gicd, .. }) => {
            gicd.init();
            let me = smp::mpidr();
            let want = ((me >> 32) & 0xff) << 24 | (me & 0xff_ffff);
            let found = distributor()
                .into_iter()
                .flat_map(Distributor::redistributors)
                .find(|rd| rd.typer() >> 32 == want);
            if let (Some(rd), Some(slot)) = (found, REDISTRIBUTORS.get(smp::current_vcpu())) {
                rd.init();
                slot.store(rd.base(), Ordering::Release);
            }
        }
        Some(Distributor::V2(gicd)) => {
            gicd.init();
            gicd.init_cpu();
        }
        None => {}
    }
    enable_interrupt(timer::interrupt_id());
    if let Some(interface) = cpu_interface() {
        interface.init();
    }
}

/// Enables interrupt `intid` for this vCPU: an SGI or PPI in its own
/// redistributor (GICv3) or banked distributor registers (GICv2); an SPI
/// routed to this vCPU, with the default priority.
pub fn enable_interrupt(intid: u32) {
    match distributor() {
        Some(Distributor::V3 { gicd, .. }) => {
            if intid < PRIVATE_INTIDS {
                if let Some(rd) = this_redistributor() {
                    rd.enable(intid);
                }
            } else {
                gicd.enable_spi(intid, smp::mpidr());
            }
        }
        Some(Distributor::V2(gicd)) => gicd.enable(intid, gicd.cpu_mask()),
        None => {}
    }
}

/// Where an SGI goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgiTarget {
    /// The vCPUs in the mask (bit `i` = vCPU `i`).
    Vcpus(u8),
    /// Every vCPU but this one.
    Others,
    /// This vCPU.
    This,
}

/// ICC_SGI1R_EL1 (IHI 0069, 12.11.16): INTID [27:24], IRM [40],
/// TargetList [15:0] of Aff0 values in cluster Aff3.Aff2.Aff1 = 0.0.0 (the
/// core's vCPUs are numbered by Aff0).
const SGI1R_INTID_SHIFT: u32 = 24;
const SGI1R_IRM: u64 = 1 << 40;

/// The ICC_SGI1R_EL1 value that sends SGI `intid` (0..=15) to `target`.
pub(crate) fn sgi1r_value(intid: u32, target: SgiTarget) -> u64 {
    let targets = match target {
        SgiTarget::Vcpus(mask) => u64::from(mask),
        SgiTarget::Others => SGI1R_IRM,
        SgiTarget::This => 1 << (smp::current_vcpu() & 0xf),
    };
    u64::from(intid & 0xf) << SGI1R_INTID_SHIFT | targets
}

/// Sends SGI `intid` (0..=15).
pub fn send_sgi(intid: u32, target: SgiTarget) {
    match distributor() {
        Some(Distributor::V3 { .. }) => {
            let value = sgi1r_value(intid, target);
            // SAFETY: writing ICC_SGI1R_EL1 only generates an SGI; the DSB
            // makes earlier stores visible to the targets first (as Linux's
            // gic_ipi_send_mask does), the ISB issues it.
            unsafe {
                asm!(
                    "dsb ishst",
                    "msr icc_sgi1r_el1, {value}",
                    "isb",
                    value = in(reg) value,
                    options(nostack, preserves_flags),
                );
            }
        }
        Some(Distributor::V2(gicd)) => {
            let targets = match target {
                SgiTarget::Vcpus(mask) => GicV2SgiTargets::List(mask),
                SgiTarget::Others => GicV2SgiTargets::Others,
                SgiTarget::This => GicV2SgiTargets::ThisCpu,
            };
            gicd.send_sgi_to(intid, targets);
        }
        None => {}
    }
}

fn gicc(base: usize) -> &'static GiccRegisters {
    // SAFETY: `base` is the GICC frame of the device tree's GIC node, identity
    // mapped as Device memory (below 1 GiB); each vCPU sees its own banked
    // interface there, and all accesses are volatile register accesses.
    unsafe { &*(base as *const GiccRegisters) }
}

impl CpuInterface {
    /// Lets every priority through and enables the group the program uses.
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
