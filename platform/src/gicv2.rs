//! GICv2 / GIC-400 MMIO (Arm IHI 0048B): distributor, CPU interface and the
//! virtual interface control frame (GICH) used for list registers.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// Distributor (GICD_*, §4.3).
    pub DistributorRegs {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => _r0),
        (0x080 => igroupr: [ReadWrite<u32>; 32]),
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        (0x180 => icenabler: [ReadWrite<u32>; 32]),
        (0x200 => _r1),
        (0x300 => isactiver: [ReadWrite<u32>; 32]),
        (0x380 => icactiver: [ReadWrite<u32>; 32]),
        (0x400 => ipriorityr: [ReadWrite<u32>; 255]),
        (0x7fc => _r2),
        (0x800 => itargetsr: [ReadWrite<u32>; 255]),
        (0xbfc => _r3),
        (0xf00 => sgir: WriteOnly<u32>),
        (0xf04 => @END),
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
        let r = self.regs();
        r.icenabler[0].set(u32::MAX);
        let p = u32::from(DEFAULT_PRIORITY);
        for reg in r.ipriorityr.iter().take(8) {
            reg.set(p | p << 8 | p << 16 | p << 24);
        }
        (r.itargetsr[0].get() & 0xff) as u8
    }

    /// Enables interrupt `intid` (SGI/PPI: on this CPU; SPI: targeted at `cpu_mask`).
    pub fn enable(&self, intid: u32, cpu_mask: u8) {
        let r = self.regs();
        let i = intid as usize;
        if intid >= 32 {
            if let (Some(t), Some(p)) = (r.itargetsr.get(i / 4), r.ipriorityr.get(i / 4)) {
                let shift = (intid % 4) * 8;
                t.set((t.get() & !(0xff << shift)) | u32::from(cpu_mask) << shift);
                p.set((p.get() & !(0xff << shift)) | u32::from(DEFAULT_PRIORITY) << shift);
            }
        }
        if let Some(e) = r.isenabler.get(i / 32) {
            e.set(1 << (intid % 32));
        }
    }

    /// Is `intid` active (banked per CPU for SGIs/PPIs)?
    pub fn is_active(&self, intid: u32) -> bool {
        self.regs()
            .isactiver
            .get(intid as usize / 32)
            .is_some_and(|r| r.get() & (1 << (intid % 32)) != 0)
    }

    /// Sets or clears the active state of `intid`.
    pub fn set_active(&self, intid: u32, active: bool) {
        let r = self.regs();
        let bank = if active { &r.isactiver } else { &r.icactiver };
        if let Some(reg) = bank.get(intid as usize / 32) {
            reg.set(1 << (intid % 32));
        }
    }

    /// Sends SGI `sgi` to the CPU interfaces in `target_mask` (GICD_SGIR, §4.3.15).
    pub fn send_sgi(&self, sgi: u32, target_mask: u8) {
        self.regs()
            .sgir
            .set(u32::from(target_mask) << 16 | (sgi & 0xf));
    }
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
