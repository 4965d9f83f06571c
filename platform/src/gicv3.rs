//! GICv3 distributor and redistributor MMIO (Arm IHI 0069H §12.9, §12.10).
//! The CPU interface is system registers and lives in the core's arch code.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    /// Distributor (GICD_*).
    pub DistributorRegs {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => typer: ReadOnly<u32>),
        (0x0008 => _r0),
        (0x0080 => igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => _r1),
        (0x0300 => isactiver: [ReadWrite<u32>; 32]),
        (0x0380 => icactiver: [ReadWrite<u32>; 32]),
        (0x0400 => ipriorityr: [ReadWrite<u32>; 255]),
        (0x07fc => _r2),
        (0x6100 => irouter: [ReadWrite<u64>; 988]),
        (0x7fe0 => _r3),
        (0x8000 => @END),
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
        (0x0018 => @END),
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
        (0x0300 => isactiver0: ReadWrite<u32>),
        (0x0304 => _r4),
        (0x0380 => icactiver0: ReadWrite<u32>),
        (0x0384 => _r5),
        (0x0400 => ipriorityr: [ReadWrite<u32>; 8]),
        (0x0420 => @END),
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
        let r = self.regs();
        let (Some(group), Some(route), Some(prio), Some(enable)) = (
            r.igroupr.get(intid as usize / 32),
            r.irouter.get((intid as usize).wrapping_sub(32)),
            r.ipriorityr.get(intid as usize / 4),
            r.isenabler.get(intid as usize / 32),
        ) else {
            return;
        };
        group.set(group.get() | 1 << (intid % 32));
        let shift = (intid % 4) * 8;
        prio.set((prio.get() & !(0xff << shift)) | u32::from(DEFAULT_PRIORITY) << shift);
        route.set(mpidr & 0xff_00ff_ffff);
        enable.set(1 << (intid % 32));
    }
}

impl Distributor {
    /// Sets or clears the active state of SPI `intid`.
    pub fn set_active(&self, intid: u32, active: bool) {
        let r = self.regs();
        let bank = if active { &r.isactiver } else { &r.icactiver };
        if let Some(reg) = bank.get(intid as usize / 32) {
            reg.set(1 << (intid % 32));
        }
    }
}

/// One CPU's redistributor.
#[derive(Debug)]
pub struct Redistributor {
    base: usize,
}

impl Redistributor {
    /// Finds the redistributor whose GICR_TYPER affinity matches `mpidr` in
    /// the region `[base, base + size)`.
    ///
    /// # Safety
    /// The region must be the mapped GICR range from the device tree.
    pub unsafe fn find(base: usize, size: usize, mpidr: u64) -> Option<Self> {
        let want = ((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xff_ffff);
        let mut frame = base;
        while frame + REDIST_STRIDE <= base + size {
            // SAFETY: `frame` lies inside the mapped GICR region (caller).
            let regs = unsafe { &*(frame as *const RedistRegs) };
            let typer = regs.typer.get();
            if typer >> 32 == want {
                return Some(Self { base: frame });
            }
            if typer & (1 << 4) != 0 {
                break; // GICR_TYPER.Last
            }
            frame += REDIST_STRIDE;
        }
        None
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
        let p = u32::from(DEFAULT_PRIORITY);
        for reg in &sgi.ipriorityr {
            reg.set(p | p << 8 | p << 16 | p << 24);
        }
    }

    /// Enables SGI/PPI `intid` (< 32).
    pub fn enable(&self, intid: u32) {
        self.sgi().isenabler0.set(1 << (intid % 32));
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
