//! GICv3 distributor and redistributor MMIO (Arm IHI 0069H §12.9, §12.10).
//! The CPU interface is system registers and lives in the core's arch code.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;

pub use crate::gic_irqs::InterruptRegs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    /// Distributor (GICD_*). IROUTER is 64-bit (§12.9.22).
    pub DistributorRegs {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => typer: ReadOnly<u32>),
        (0x0008 => iidr: ReadOnly<u32>),
        (0x000c => typer2: ReadOnly<u32>),
        (0x0010 => _r0),
        (0x0080 => irqs: InterruptRegs),
        (0x0d00 => _r3),
        (0x6100 => irouter: [ReadWrite<u64>; 988]),
        (0x7fe0 => _r4),
        (0xffe8 => pidr2: ReadOnly<u32>),
        (0xffec => _r5),
        (0x10000 => @END),
    }
}

register_structs! {
    /// Redistributor control frame (RD_base).
    pub RedistRegs {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => iidr: ReadOnly<u32>),
        (0x0008 => typer: ReadOnly<u64>),
        (0x0010 => _r0),
        (0x0014 => waker: ReadWrite<u32>),
        (0x0018 => _r1),
        (0xffe8 => pidr2: ReadOnly<u32>),
        (0xffec => _r2),
        (0x10000 => @END),
    }
}

register_structs! {
    /// Redistributor SGI/PPI frame (SGI_base = RD_base + 64 KiB).
    pub RedistSgiRegs {
        (0x0000 => _r0),
        (0x0080 => igroupr0: ReadWrite<u32>),
        (0x0084 => _r1),
        (0x0100 => isenabler0: ReadWrite<u32>),
        (0x0104 => _r2),
        (0x0180 => icenabler0: ReadWrite<u32>),
        (0x0184 => _r3),
        (0x0200 => ispendr0: ReadWrite<u32>),
        (0x0204 => _r4),
        (0x0280 => icpendr0: ReadWrite<u32>),
        (0x0284 => _r5),
        (0x0300 => isactiver0: ReadWrite<u32>),
        (0x0304 => _r6),
        (0x0380 => icactiver0: ReadWrite<u32>),
        (0x0384 => _r7),
        (0x0400 => ipriorityr: [ReadWrite<u8>; 32]),
        (0x0420 => _r8),
        (0x0c00 => icfgr: [ReadWrite<u32>; 2]),
        (0x0c08 => @END),
    }
}

/// GICD_CTLR with DS=1 (single security state): EnableGrp0 (0), EnableGrp1 (1), ARE (4).
const GICD_CTLR_ENABLE: u32 = (1 << 4) | (1 << 1) | (1 << 0);
/// GICD_CTLR.RWP: register write pending.
const GICD_CTLR_RWP: u32 = 1 << 31;
/// GICR_WAKER.ProcessorSleep and ChildrenAsleep.
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// Size of one redistributor (RD_base + SGI_base frames, no VLPI frames).
pub const REDIST_STRIDE: usize = 0x2_0000;
/// Priority the core gives every interrupt it enables.
pub const DEFAULT_PRIORITY: u8 = 0xA0;

/// The GICv3 distributor.
#[derive(Debug)]
pub struct Distributor {
    base: usize,
}

impl Distributor {
    /// # Safety
    /// `base` must be the mapped GICD frame; only the boot CPU configures it.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn regs(&self) -> &DistributorRegs {
        // SAFETY: `new`'s contract.
        unsafe { &*(self.base as *const DistributorRegs) }
    }

    /// Enables affinity routing and both groups.
    pub fn init(&self) {
        let r = self.regs();
        r.ctlr.set(GICD_CTLR_ENABLE);
        while r.ctlr.get() & GICD_CTLR_RWP != 0 {
            core::hint::spin_loop();
        }
    }

    /// Routes SPI `intid` to the CPU with `mpidr` (affinity routing, Group 1)
    /// and enables it.
    pub fn enable_spi(&self, intid: u32, mpidr: u64) {
        self.configure_spi(intid, mpidr);
        self.irqs().set_enabled(intid, true);
    }

    /// Puts SPI `intid` in Group 1 with the default priority, routed to the
    /// CPU with `mpidr`, without enabling it.
    pub fn configure_spi(&self, intid: u32, mpidr: u64) {
        let irqs = self.irqs();
        irqs.set_group1(intid, true);
        irqs.set_priority(intid, DEFAULT_PRIORITY);
        self.route(intid, mpidr & 0xff_00ff_ffff);
    }

    /// The per-interrupt registers (SPIs; with affinity routing the SGI and
    /// PPI bits here are RAZ/WI, those live in each redistributor).
    pub fn irqs(&self) -> &InterruptRegs {
        &self.regs().irqs
    }

    /// GICD_TYPER: ITLinesNumber [4:0], IDbits [23:19], ...
    pub fn typer(&self) -> u32 {
        self.regs().typer.get()
    }

    /// GICD_TYPER2.
    pub fn typer2(&self) -> u32 {
        self.regs().typer2.get()
    }

    /// GICD_IIDR.
    pub fn iidr(&self) -> u32 {
        self.regs().iidr.get()
    }

    /// GICD_PIDR2: ArchRev in bits [7:4].
    pub fn pidr2(&self) -> u32 {
        self.regs().pidr2.get()
    }

    /// GICD_CTLR.
    pub fn ctlr(&self) -> u32 {
        self.regs().ctlr.get()
    }

    /// Sets or clears the active state of SPI `intid`.
    pub fn set_active(&self, intid: u32, active: bool) {
        self.irqs().set_active(intid, active);
    }

    /// Writes SPI `intid`'s GICD_IROUTER: Aff3.Aff2.Aff1.Aff0 as in an
    /// MPIDR ([39:32], [23:0]) plus Interrupt_Routing_Mode [31].
    pub fn route(&self, intid: u32, irouter: u64) {
        if let Some(reg) = self.regs().irouter.get((intid as usize).wrapping_sub(32)) {
            reg.set(irouter);
        }
    }

    /// SPI `intid`'s GICD_IROUTER.
    pub fn routing(&self, intid: u32) -> u64 {
        self.regs()
            .irouter
            .get((intid as usize).wrapping_sub(32))
            .map_or(0, |reg| reg.get())
    }
}

/// One CPU's redistributor.
#[derive(Debug)]
pub struct Redistributor {
    base: usize,
}

/// GICR_PIDR2.ArchRev [7:4]: 3 (GICv3) or 4 (GICv4).
const PIDR2_ARCH_MASK: u32 = 0xf0;
const PIDR2_ARCH_GICV3: u32 = 0x30;
const PIDR2_ARCH_GICV4: u32 = 0x40;
/// GICR_TYPER.Last [4]: the final redistributor of the region.
const TYPER_LAST: u64 = 1 << 4;

/// The walk of [`Redistributor::all`].
#[derive(Debug)]
pub struct Redistributors {
    next: Option<usize>,
    end: usize,
}

impl Iterator for Redistributors {
    type Item = Redistributor;

    fn next(&mut self) -> Option<Redistributor> {
        let frame = self.next.take()?;
        if frame.checked_add(REDIST_STRIDE)? > self.end {
            return None;
        }
        let rd = Redistributor { base: frame };
        let arch = rd.pidr2() & PIDR2_ARCH_MASK;
        if arch != PIDR2_ARCH_GICV3 && arch != PIDR2_ARCH_GICV4 {
            return None;
        }
        if rd.typer() & TYPER_LAST == 0 {
            self.next = Some(frame + REDIST_STRIDE);
        }
        Some(rd)
    }
}

impl Redistributor {
    /// Finds the redistributor whose GICR_TYPER affinity matches `mpidr` in
    /// the region `[base, base + size)`.
    ///
    /// # Safety
    /// The region must be the mapped GICR range from the device tree.
    pub unsafe fn find(base: usize, size: usize, mpidr: u64) -> Option<Self> {
        let want = ((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xff_ffff);
        // SAFETY: the caller's contract.
        unsafe { Self::all(base, size) }.find(|rd| rd.typer() >> 32 == want)
    }

    /// Every redistributor in the region `[base, base + size)`, walked as
    /// Linux's `gic_iterate_rdists` does: one RD_base + SGI_base pair after
    /// the other until GICR_TYPER.Last, stopping early at a frame whose
    /// GICR_PIDR2 does not say GICv3 or GICv4.
    ///
    /// # Safety
    /// The region must be the mapped GICR range from the device tree.
    pub unsafe fn all(base: usize, size: usize) -> Redistributors {
        Redistributors {
            next: Some(base),
            end: base.saturating_add(size),
        }
    }
    /// The redistributor at `base`, found earlier with [`Redistributor::find`].
    ///
    /// # Safety
    /// `base` must be a mapped redistributor's RD_base.
    pub const unsafe fn at(base: usize) -> Self {
        Self { base }
    }

    /// Its RD_base.
    pub fn base(&self) -> usize {
        self.base
    }

    fn rd(&self) -> &RedistRegs {
        // SAFETY: `find` located a mapped redistributor at `base`.
        unsafe { &*(self.base as *const RedistRegs) }
    }

    fn sgi(&self) -> &RedistSgiRegs {
        // SAFETY: the SGI frame follows RD_base by 64 KiB in the same mapped stride.
        unsafe { &*((self.base + 0x1_0000) as *const RedistSgiRegs) }
    }

    /// Wakes the redistributor and puts every SGI/PPI in Group 1, disabled.
    pub fn init(&self) {
        let rd = self.rd();
        rd.waker.set(rd.waker.get() & !WAKER_PROCESSOR_SLEEP);
        while rd.waker.get() & WAKER_CHILDREN_ASLEEP != 0 {
            core::hint::spin_loop();
        }
        let sgi = self.sgi();
        sgi.icenabler0.set(u32::MAX);
        sgi.igroupr0.set(u32::MAX);
        for reg in &sgi.ipriorityr {
            reg.set(DEFAULT_PRIORITY);
        }
    }

    /// GICR_TYPER: Affinity_Value [63:32], Processor_Number [23:8], Last [4].
    pub fn typer(&self) -> u64 {
        self.rd().typer.get()
    }

    /// GICR_WAKER: ProcessorSleep [1], ChildrenAsleep [2].
    pub fn waker(&self) -> u32 {
        self.rd().waker.get()
    }

    /// GICR_PIDR2: ArchRev in bits [7:4].
    pub fn pidr2(&self) -> u32 {
        self.rd().pidr2.get()
    }

    /// GICR_CTLR.
    pub fn ctlr(&self) -> u32 {
        self.rd().ctlr.get()
    }

    /// Enables SGI/PPI `intid` (< 32).
    pub fn enable(&self, intid: u32) {
        self.sgi().isenabler0.set(1 << (intid % 32));
    }

    /// Disables SGI/PPI `intid`.
    pub fn disable(&self, intid: u32) {
        self.sgi().icenabler0.set(1 << (intid % 32));
    }

    /// Is SGI/PPI `intid` enabled?
    pub fn is_enabled(&self, intid: u32) -> bool {
        self.sgi().isenabler0.get() & (1 << (intid % 32)) != 0
    }

    /// Makes SGI/PPI `intid` pending or clears its pending state.
    pub fn set_pending(&self, intid: u32, pending: bool) {
        let sgi = self.sgi();
        let reg = if pending {
            &sgi.ispendr0
        } else {
            &sgi.icpendr0
        };
        reg.set(1 << (intid % 32));
    }

    /// Is SGI/PPI `intid` pending?
    pub fn is_pending(&self, intid: u32) -> bool {
        self.sgi().ispendr0.get() & (1 << (intid % 32)) != 0
    }

    /// Sets SGI/PPI `intid`'s priority (a byte write).
    pub fn set_priority(&self, intid: u32, priority: u8) {
        if let Some(reg) = self.sgi().ipriorityr.get(intid as usize) {
            reg.set(priority);
        }
    }

    /// SGI/PPI `intid`'s priority.
    pub fn priority(&self, intid: u32) -> u8 {
        self.sgi()
            .ipriorityr
            .get(intid as usize)
            .map_or(0, |reg| reg.get())
    }

    /// GICR_ICFGR0 (SGIs) and GICR_ICFGR1 (PPIs).
    pub fn config(&self, index: usize) -> u32 {
        self.sgi().icfgr.get(index).map_or(0, |reg| reg.get())
    }

    /// Writes GICR_ICFGR1 (PPIs; ICFGR0 is read-only).
    pub fn set_ppi_config(&self, value: u32) {
        if let Some(reg) = self.sgi().icfgr.get(1) {
            reg.set(value);
        }
    }

    /// Is SGI/PPI `intid` active?
    pub fn is_active(&self, intid: u32) -> bool {
        self.sgi().isactiver0.get() & (1 << (intid % 32)) != 0
    }

    /// Sets or clears the active state of SGI/PPI `intid`.
    pub fn set_active(&self, intid: u32, active: bool) {
        if active {
            self.sgi().isactiver0.set(1 << (intid % 32));
        } else {
            self.sgi().icactiver0.set(1 << (intid % 32));
        }
    }
}
