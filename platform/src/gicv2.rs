//! GICv2 / GIC-400 MMIO (Arm IHI 0048B): distributor, CPU interface and the
//! virtual interface control frame (GICH) used for list registers.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;

pub use crate::gic_irqs::InterruptRegs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// Distributor (GICD_*, §4.3).
    pub DistributorRegs {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => iidr: ReadOnly<u32>),
        (0x00c => _r0),
        (0x080 => irqs: InterruptRegs),
        (0xd00 => _r4),
        (0xf00 => sgir: WriteOnly<u32>),
        (0xf04 => _r5),
        (0xf10 => cpendsgir: [ReadWrite<u8>; 16]),
        (0xf20 => spendsgir: [ReadWrite<u8>; 16]),
        (0xf30 => _r6),
        (0xfe8 => icpidr2: ReadOnly<u32>),
        (0xfec => _r7),
        (0x1000 => @END),
    }
}

register_structs! {
    /// CPU interface (GICC_*, §4.4).
    pub CpuRegs {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => pmr: ReadWrite<u32>),
        (0x0008 => bpr: ReadWrite<u32>),
        (0x000c => iar: ReadOnly<u32>),
        (0x0010 => eoir: WriteOnly<u32>),
        (0x0014 => _r0),
        (0x1000 => dir: WriteOnly<u32>),
        (0x1004 => @END),
    }
}

register_structs! {
    /// Virtual interface control (GICH_*, §5.3).
    pub HypRegs {
        (0x000 => hcr: ReadWrite<u32>),
        (0x004 => vtr: ReadOnly<u32>),
        (0x008 => vmcr: ReadWrite<u32>),
        (0x00c => _r0),
        (0x010 => misr: ReadOnly<u32>),
        (0x014 => _r1),
        (0x030 => elrsr0: ReadOnly<u32>),
        (0x034 => _r3),
        (0x0f0 => apr: ReadWrite<u32>),
        (0x0f4 => _r2),
        (0x100 => lr: [ReadWrite<u32>; 64]),
        (0x200 => @END),
    }
}

/// Priority the core gives every interrupt it enables.
pub const DEFAULT_PRIORITY: u8 = 0xA0;

/// The GICv2 distributor.
#[derive(Debug)]
pub struct Distributor {
    base: usize,
}

impl Distributor {
    /// # Safety
    /// `base` must be the mapped GICD frame.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &DistributorRegs {
        // SAFETY: `new`'s contract.
        unsafe { &*(self.base as *const DistributorRegs) }
    }

    /// Enables forwarding of both groups (bit 0; bit 1 without security extensions).
    pub fn init(&self) {
        self.regs().ctlr.set(0b11);
    }

    /// Per-CPU part: gives SGIs/PPIs the default priority, all disabled.
    /// Returns this CPU's interface mask (GICD_ITARGETSR0 reads it, §4.3.12).
    pub fn init_cpu(&self) -> u8 {
        let irqs = self.irqs();
        irqs.disable_all(0);
        for intid in 0..32 {
            irqs.set_priority(intid, DEFAULT_PRIORITY);
        }
        self.cpu_mask()
    }

    /// The per-interrupt registers.
    pub fn irqs(&self) -> &InterruptRegs {
        &self.regs().irqs
    }

    /// This CPU's interface mask: the byte GICD_ITARGETSR0..7 read as
    /// (banked, §4.3.12).
    pub fn cpu_mask(&self) -> u8 {
        self.irqs().targets(0)
    }

    /// Enables interrupt `intid` (SGI/PPI: on this CPU; SPI: targeted at `cpu_mask`).
    pub fn enable(&self, intid: u32, cpu_mask: u8) {
        let irqs = self.irqs();
        if intid >= 32 {
            irqs.set_targets(intid, cpu_mask);
            irqs.set_priority(intid, DEFAULT_PRIORITY);
        }
        irqs.set_enabled(intid, true);
    }

    /// GICD_TYPER: ITLinesNumber [4:0], CPUNumber [7:5], SecurityExtn [10].
    pub fn typer(&self) -> u32 {
        self.regs().typer.get()
    }

    /// GICD_IIDR.
    pub fn iidr(&self) -> u32 {
        self.regs().iidr.get()
    }

    /// ICPIDR2: ArchRev in bits [7:4].
    pub fn pidr2(&self) -> u32 {
        self.regs().icpidr2.get()
    }

    /// GICD_CTLR.
    pub fn ctlr(&self) -> u32 {
        self.regs().ctlr.get()
    }

    /// Writes GICD_CTLR.
    pub fn set_ctlr(&self, value: u32) {
        self.regs().ctlr.set(value);
    }

    /// The source CPUs SGI `sgi` is pending from on this CPU (SPENDSGIR).
    pub fn sgi_sources(&self, sgi: u32) -> u8 {
        self.regs()
            .spendsgir
            .get(sgi as usize)
            .map_or(0, |reg| reg.get())
    }

    /// Clears SGI `sgi`'s pending state from the sources in `mask` (CPENDSGIR).
    pub fn clear_sgi_sources(&self, sgi: u32, mask: u8) {
        if let Some(reg) = self.regs().cpendsgir.get(sgi as usize) {
            reg.set(mask);
        }
    }

    /// Is `intid` active (banked per CPU for SGIs/PPIs)?
    pub fn is_active(&self, intid: u32) -> bool {
        self.irqs().is_active(intid)
    }

    /// Sets or clears the active state of `intid`.
    pub fn set_active(&self, intid: u32, active: bool) {
        self.irqs().set_active(intid, active);
    }

    /// Sends SGI `sgi` to the CPU interfaces in `target_mask` (GICD_SGIR, §4.3.15).
    pub fn send_sgi(&self, sgi: u32, target_mask: u8) {
        self.send_sgi_to(sgi, SgiTargets::List(target_mask));
    }

    /// Sends SGI `sgi` as GICD_SGIR.TargetListFilter says.
    pub fn send_sgi_to(&self, sgi: u32, targets: SgiTargets) {
        let (filter, list) = match targets {
            SgiTargets::List(mask) => (0b00, mask),
            SgiTargets::Others => (0b01, 0),
            SgiTargets::ThisCpu => (0b10, 0),
        };
        self.regs()
            .sgir
            .set(filter << 24 | u32::from(list) << 16 | (sgi & 0xf));
    }
}

/// GICD_SGIR.TargetListFilter (§4.3.15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgiTargets {
    /// The CPU interfaces in the mask.
    List(u8),
    /// Every CPU interface but the sender's.
    Others,
    /// The sender's own.
    ThisCpu,
}

/// A GICv2 CPU interface (banked per CPU at the same address).
#[derive(Debug)]
pub struct CpuInterface {
    base: usize,
}

impl CpuInterface {
    /// # Safety
    /// `base` must be the mapped GICC frame (8 KiB, for GICC_DIR).
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &CpuRegs {
        // SAFETY: `new`'s contract.
        unsafe { &*(self.base as *const CpuRegs) }
    }

    /// Enables the interface with EOImode = 1: writing EOIR only drops the
    /// priority; deactivation is separate (GICC_DIR, or a guest's EOI for
    /// interrupts injected with the HW bit).
    pub fn init(&self) {
        let r = self.regs();
        r.pmr.set(0xff);
        r.bpr.set(0);
        r.ctlr.set(1 | 1 << 9);
    }

    /// Acknowledges the highest-priority pending interrupt; `None` if spurious.
    pub fn ack(&self) -> Option<u32> {
        let iar = self.regs().iar.get();
        let id = iar & 0x3ff;
        (id < 1020).then_some(iar)
    }

    /// Drops the running priority of an acknowledged interrupt (IAR value).
    pub fn priority_drop(&self, iar: u32) {
        self.regs().eoir.set(iar);
    }

    /// Deactivates an interrupt (IAR value).
    pub fn deactivate(&self, iar: u32) {
        self.regs().dir.set(iar);
    }
}

/// The virtual interface control frame of this CPU.
#[derive(Debug)]
pub struct HypInterface {
    base: usize,
}

impl HypInterface {
    /// # Safety
    /// `base` must be the mapped GICH frame.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &HypRegs {
        // SAFETY: `new`'s contract.
        unsafe { &*(self.base as *const HypRegs) }
    }

    /// Number of list registers (GICH_VTR.ListRegs + 1).
    pub fn list_registers(&self) -> usize {
        ((self.regs().vtr.get() & 0x3f) + 1) as usize
    }

    /// GICH_HCR.
    pub fn set_hcr(&self, v: u32) {
        self.regs().hcr.set(v);
    }

    /// GICH_ELRSR0: bit n set when list register n is empty (§5.3.10).
    pub fn empty_lrs(&self) -> u32 {
        self.regs().elrsr0.get()
    }

    /// GICH_MISR: which maintenance interrupt conditions hold (§5.3.4).
    pub fn misr(&self) -> u32 {
        self.regs().misr.get()
    }

    /// GICH_VMCR.
    pub fn vmcr(&self) -> u32 {
        self.regs().vmcr.get()
    }

    /// Sets GICH_VMCR.
    pub fn set_vmcr(&self, v: u32) {
        self.regs().vmcr.set(v);
    }

    /// GICH_APR.
    pub fn apr(&self) -> u32 {
        self.regs().apr.get()
    }

    /// Sets GICH_APR.
    pub fn set_apr(&self, v: u32) {
        self.regs().apr.set(v);
    }

    /// List register `n`.
    pub fn lr(&self, n: usize) -> u32 {
        self.regs().lr.get(n).map_or(0, |r| r.get())
    }

    /// Sets list register `n`.
    pub fn set_lr(&self, n: usize, v: u32) {
        if let Some(r) = self.regs().lr.get(n) {
            r.set(v);
        }
    }
}
