//! The GICv2 distributor map a partition sees (GICD, IHI 0048B §4.3): no
//! Security Extensions, banked SGI/PPI registers (the accessing vCPU's),
//! 1-of-N targeting by GICD_ITARGETSR, SGIs through GICD_SGIR with a source
//! per pending instance. The CPU interface is the hardware's GICV frame.
//!
//! Linux 6.1's irq-gic.c reads GICD_TYPER and ITARGETSR0..7 (its CPU
//! mask); writes CTLR, ITARGETSR (words at init, bytes when setting an
//! affinity), ICFGR, IPRIORITYR (words, and bytes), IS/IC-ENABLER, ICACTIVER,
//! IS/IC-PENDR and SGIR; each of those is emulated below, the rest RAZ/WI.

use super::gicv3::IIDR;
use super::registers::{
    BitReg, BIT_REGS_END, BIT_REGS_START, CTLR_ENABLE_GRP0, CTLR_ENABLE_GRP1, ICFGR, IPRIORITYR,
};
use super::{Physical, Vgic, PRIVATE_INTIDS};

const GICD_CTLR: u64 = 0x000;
const GICD_TYPER: u64 = 0x004;
const GICD_IIDR: u64 = 0x008;
const GICD_ITARGETSR: u64 = 0x800;
const GICD_ITARGETSR_END: u64 = 0xc00;
const GICD_SGIR: u64 = 0xf00;
const GICD_CPENDSGIR: u64 = 0xf10;
const GICD_SPENDSGIR: u64 = 0xf20;
const GICD_SPENDSGIR_END: u64 = 0xf30;
/// ICPIDR2: ArchRev [7:4] = 2 (GICv2).
const ICPIDR2: u64 = 0xfe8;
const ICPIDR2_GICV2: u32 = 0x2b;

impl Vgic<'_> {
    fn gicd_v2_typer(&self) -> u32 {
        // ITLinesNumber [4:0], CPUNumber [7:5]; SecurityExtn [10] = 0.
        let lines = (self.lines / 32).saturating_sub(1) & 0x1f;
        let cpus = (self.vcpus.saturating_sub(1) as u32 & 0x7) << 5;
        lines | cpus
    }

    /// A load from the GICv2 distributor by vCPU `accessor`.
    pub(super) fn gicd_v2_read(&mut self, accessor: usize, offset: u64, size: u8) -> u64 {
        match (offset, size) {
            (GICD_CTLR, 4) => {
                let mut ctlr = 0;
                if self.enable_group0 {
                    ctlr |= CTLR_ENABLE_GRP0;
                }
                if self.enable_group1 {
                    ctlr |= CTLR_ENABLE_GRP1;
                }
                u64::from(ctlr)
            }
            (GICD_TYPER, 4) => u64::from(self.gicd_v2_typer()),
            (GICD_IIDR, 4) => u64::from(IIDR),
            (BIT_REGS_START..BIT_REGS_END, 4) => match BitReg::at(offset) {
                Some((reg, first)) => u64::from(self.read_bits(accessor, reg, first)),
                None => 0,
            },
            (IPRIORITYR..GICD_ITARGETSR, 1 | 4) => {
                self.read_priorities(accessor, (offset - IPRIORITYR) as u32, size)
            }
            (GICD_ITARGETSR..GICD_ITARGETSR_END, 1 | 4) => {
                self.read_targets(accessor, (offset - GICD_ITARGETSR) as u32, size)
            }
            (ICFGR..0xd00, 4) => {
                u64::from(self.read_config(accessor, ((offset - ICFGR) / 4 * 16) as u32))
            }
            (GICD_CPENDSGIR..GICD_SPENDSGIR_END, 1 | 4) => {
                let first = ((offset - GICD_CPENDSGIR) % 0x10) as u32;
                let mut value = 0u64;
                for byte in 0..u32::from(size) {
                    if let Some(irq) = self.irq(accessor, first + byte) {
                        value |= u64::from(irq.sources) << (8 * byte);
                    }
                }
                value
            }
            (ICPIDR2, 4) => u64::from(ICPIDR2_GICV2),
            _ => 0,
        }
    }

    /// A store to the GICv2 distributor by vCPU `accessor`.
    pub(super) fn gicd_v2_write(
        &mut self,
        accessor: usize,
        offset: u64,
        size: u8,
        value: u64,
        phys: &mut impl Physical,
    ) {
        match (offset, size) {
            (GICD_CTLR, 4) => self.set_group_enables(
                value as u32 & CTLR_ENABLE_GRP0 != 0,
                value as u32 & CTLR_ENABLE_GRP1 != 0,
            ),
            (BIT_REGS_START..BIT_REGS_END, 4) => {
                if let Some((reg, first)) = BitReg::at(offset) {
                    self.write_bits(accessor, reg, first, value as u32, phys);
                }
            }
            (IPRIORITYR..GICD_ITARGETSR, 1 | 4) => {
                self.write_priorities(accessor, (offset - IPRIORITYR) as u32, size, value)
            }
            (GICD_ITARGETSR..GICD_ITARGETSR_END, 1 | 4) => {
                self.write_targets((offset - GICD_ITARGETSR) as u32, size, value, phys)
            }
            (ICFGR..0xd00, 4) => self.write_config(
                accessor,
                ((offset - ICFGR) / 4 * 16) as u32,
                value as u32,
                phys,
            ),
            (GICD_SGIR, 4) => {
                self.send_sgi_v2(accessor, value as u32);
            }
            (GICD_CPENDSGIR..GICD_SPENDSGIR_END, 1 | 4) => {
                let set = offset >= GICD_SPENDSGIR;
                let first = ((offset - GICD_CPENDSGIR) % 0x10) as u32;
                for byte in 0..u32::from(size) {
                    let bits = (value >> (8 * byte)) as u8;
                    let intid = first + byte;
                    if bits == 0 {
                        continue;
                    }
                    if let Some(irq) = self.irq_mut(accessor, intid) {
                        if set {
                            irq.sources |= bits;
                        } else {
                            irq.sources &= !bits;
                        }
                        if irq.in_lr {
                            irq.pending_written = true;
                            if !set {
                                irq.lr_pending = false;
                            }
                        }
                        self.touched(accessor, intid);
                    }
                }
            }
            _ => {}
        }
    }

    /// GICD_ITARGETSR bytes from INTID `first`: an SGI's or PPI's byte reads
    /// as the accessing CPU's own interface (IHI 0048B §4.3.12).
    fn read_targets(&self, accessor: usize, first: u32, size: u8) -> u64 {
        let mut value = 0u64;
        for byte in 0..u32::from(size) {
            let intid = first + byte;
            let mask = if intid < PRIVATE_INTIDS {
                1u8.checked_shl(accessor as u32).unwrap_or(0)
            } else {
                self.irq(accessor, intid).map_or(0, |irq| irq.targets)
            };
            value |= u64::from(mask) << (8 * byte);
        }
        value
    }

    /// Writes GICD_ITARGETSR bytes from INTID `first`: SPIs only (the banked
    /// SGI/PPI bytes are read-only).
    fn write_targets(&mut self, first: u32, size: u8, value: u64, phys: &mut impl Physical) {
        for byte in 0..u32::from(size) {
            let intid = first + byte;
            if intid < PRIVATE_INTIDS {
                continue;
            }
            let targets = (value >> (8 * byte)) as u8;
            let Some(irq) = self.irq_mut(0, intid) else {
                continue;
            };
            if irq.targets != targets {
                irq.targets = targets;
                self.rerouted(intid, phys);
            }
        }
    }
}
