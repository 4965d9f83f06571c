//! The GICv3 register maps a partition sees: the distributor (GICD, IHI
//! 0069H §12.9) and each vCPU's redistributor (GICR RD_base and SGI_base
//! frames, §12.10). Single Security state (GICD_CTLR.DS = 1), affinity
//! routing always on (ARE RAO/WI), no LPIs, no ITS, no message-based SPIs,
//! no extended INTID ranges.
//!
//! Linux 6.1's irq-gic-v3.c reads GICD_PIDR2, TYPER, IIDR, TYPER2 and CTLR
//! (RWP, DS); writes CTLR, IGROUPR, ICFGR, IPRIORITYR (words, then bytes),
//! IS/IC-ENABLER, ICACTIVER, IS/IC-PENDR and IROUTER (64-bit); walks the
//! redistributors by GICR_PIDR2 and GICR_TYPER (64-bit; Affinity, Last,
//! VLPIS, PPInum), reads GICR_CTLR, sets and polls GICR_WAKER, and programs
//! the SGI_base registers of its own redistributor. Each of those is
//! emulated below; everything else is RAZ/WI.

use super::registers::{
    BitReg, BIT_REGS_END, BIT_REGS_START, CTLR_ENABLE_GRP0, CTLR_ENABLE_GRP1, ICFGR, IPRIORITYR,
};
use super::{Physical, Vgic, PRIVATE_INTIDS};

/// GICD_IIDR / GICR_IIDR: ProductID 0x42 ("B"), Variant 0, Revision 1,
/// Implementer 0x43B (Arm's JEP106 code, as KVM and QEMU report). Chosen to
/// match none of the IIDR quirks in Linux's GIC drivers.
pub(super) const IIDR: u32 = 0x4200_143b;
/// GICD_PIDR2 / GICR_PIDR2: ArchRev [7:4] = 3 (GICv3), JEP106 bits as QEMU.
const PIDR2_GICV3: u32 = 0x3b;
/// Offset of PIDR2 in a GICD or GICR RD_base frame.
const PIDR2: u64 = 0xffe8;

// GICD_CTLR (DS = 1): ARE [4], DS [6], RWP [31] (always 0), and the
// enables the GICv2 map shares.
const CTLR_ARE: u32 = 1 << 4;
const CTLR_DS: u32 = 1 << 6;

/// GICD_TYPER.IDbits [23:19]: INTIDs are 10 bits wide (no LPIs).
const TYPER_ID_BITS: u32 = (10 - 1) << 19;

const GICD_CTLR: u64 = 0x0000;
const GICD_TYPER: u64 = 0x0004;
const GICD_IIDR: u64 = 0x0008;
/// GICD_IROUTER<n>, 64 bits each, n = INTID.
const GICD_IROUTER: u64 = 0x6000;
const GICD_IROUTER_END: u64 = 0x7fe0;
/// IROUTER: Aff2.Aff1.Aff0 [23:0] and Interrupt_Routing_Mode [31]; Aff3
/// [39:32] is RAZ/WI (GICD_TYPER.A3V = 0).
const IROUTER_AFF_MASK: u64 = 0xff_ffff;
const IROUTER_IRM: u64 = 1 << 31;

const GICR_CTLR: u64 = 0x0000;
const GICR_IIDR: u64 = 0x0004;
const GICR_TYPER: u64 = 0x0008;
const GICR_TYPER_HIGH: u64 = 0x000c;
const GICR_WAKER: u64 = 0x0014;
/// GICR_WAKER: ProcessorSleep [1], ChildrenAsleep [2].
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// GICR_TYPER.Last [4].
const GICR_TYPER_LAST: u64 = 1 << 4;
/// GICR_TYPER.Processor_Number [23:8].
const GICR_TYPER_PROCESSOR_SHIFT: u32 = 8;
/// GICR_TYPER.Affinity_Value [63:32].
const GICR_TYPER_AFFINITY_SHIFT: u32 = 32;
/// The SGI_base frame follows RD_base by 64 KiB.
const SGI_BASE: u64 = 0x1_0000;

/// Reads `size` bytes at `offset` of a 64-bit register whose value is
/// `value`: the whole of it, or either 32-bit half.
fn read_u64_part(value: u64, offset_in_reg: u64, size: u8) -> u64 {
    match (size, offset_in_reg) {
        (8, 0) => value,
        (4, 0) => value & 0xffff_ffff,
        (4, 4) => value >> 32,
        _ => 0,
    }
}

impl Vgic<'_> {
    fn gicd_v3_ctlr(&self) -> u32 {
        let mut ctlr = CTLR_ARE | CTLR_DS;
        if self.enable_group0 {
            ctlr |= CTLR_ENABLE_GRP0;
        }
        if self.enable_group1 {
            ctlr |= CTLR_ENABLE_GRP1;
        }
        ctlr
    }

    fn gicd_v3_typer(&self) -> u32 {
        // ITLinesNumber [4:0]; CPUNumber, SecurityExtn, MBIS, LPIS, DVIS,
        // A3V, No1N (1-of-N is supported), RSS, ESPI all 0.
        (self.lines / 32).saturating_sub(1) & 0x1f | TYPER_ID_BITS
    }

    /// A load from the GICv3 distributor frame.
    pub(super) fn gicd_v3_read(&mut self, offset: u64, size: u8) -> u64 {
        match (offset, size) {
            (GICD_CTLR, 4) => u64::from(self.gicd_v3_ctlr()),
            (GICD_TYPER, 4) => u64::from(self.gicd_v3_typer()),
            (GICD_IIDR, 4) => u64::from(IIDR),
            (BIT_REGS_START..BIT_REGS_END, 4) => match BitReg::at(offset) {
                // With affinity routing, SGIs and PPIs live in the GICR.
                Some((reg, first)) if first >= PRIVATE_INTIDS => {
                    u64::from(self.read_bits(0, reg, first))
                }
                _ => 0,
            },
            (IPRIORITYR..0x800, 1 | 4) => {
                let first = (offset - IPRIORITYR) as u32;
                if first < PRIVATE_INTIDS {
                    0
                } else {
                    self.read_priorities(0, first, size)
                }
            }
            (ICFGR..0xd00, 4) => {
                let first = ((offset - ICFGR) / 4 * 16) as u32;
                if first < PRIVATE_INTIDS {
                    0
                } else {
                    u64::from(self.read_config(0, first))
                }
            }
            (GICD_IROUTER..GICD_IROUTER_END, 4 | 8) => {
                let intid = ((offset - GICD_IROUTER) / 8) as u32;
                match self.irq(0, intid).filter(|_| intid >= PRIVATE_INTIDS) {
                    Some(irq) => {
                        let value =
                            u64::from(irq.route) | if irq.any_vcpu { IROUTER_IRM } else { 0 };
                        read_u64_part(value, offset % 8, size)
                    }
                    None => 0,
                }
            }
            (PIDR2, 4) => u64::from(PIDR2_GICV3),
            _ => 0,
        }
    }

    /// A store to the GICv3 distributor frame.
    pub(super) fn gicd_v3_write(
        &mut self,
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
                    if first >= PRIVATE_INTIDS {
                        self.write_bits(0, reg, first, value as u32, phys);
                    }
                }
            }
            (IPRIORITYR..0x800, 1 | 4) => {
                let first = (offset - IPRIORITYR) as u32;
                if first >= PRIVATE_INTIDS {
                    self.write_priorities(0, first, size, value);
                }
            }
            (ICFGR..0xd00, 4) => {
                let first = ((offset - ICFGR) / 4 * 16) as u32;
                if first >= PRIVATE_INTIDS {
                    self.write_config(0, first, value as u32, phys);
                }
            }
            (GICD_IROUTER..GICD_IROUTER_END, 4 | 8) => {
                let intid = ((offset - GICD_IROUTER) / 8) as u32;
                if intid < PRIVATE_INTIDS || !offset.is_multiple_of(8) {
                    // The upper half is Aff3: RAZ/WI.
                    return;
                }
                let Some(irq) = self.irq_mut(0, intid) else {
                    return;
                };
                irq.route = (value & IROUTER_AFF_MASK) as u32;
                irq.any_vcpu = value & IROUTER_IRM != 0;
                self.rerouted(intid, phys);
            }
            _ => {}
        }
    }

    fn gicr_typer(&self, vcpu: usize) -> u64 {
        // Affinity_Value = the vCPU's MPIDR affinity (Aff0 = index);
        // Processor_Number = index; Last on the final frame; PLPIS, VLPIS,
        // DirectLPI, DPGS, PPInum (16 PPIs) all 0.
        let mut typer = (vcpu as u64) << GICR_TYPER_AFFINITY_SHIFT
            | (vcpu as u64) << GICR_TYPER_PROCESSOR_SHIFT;
        if vcpu + 1 == self.vcpus {
            typer |= GICR_TYPER_LAST;
        }
        typer
    }

    /// A load from vCPU `vcpu`'s redistributor (RD_base + SGI_base frames).
    pub(super) fn gicr_read(&mut self, vcpu: usize, offset: u64, size: u8) -> u64 {
        if vcpu >= self.vcpus {
            return 0;
        }
        if offset >= SGI_BASE {
            return self.gicr_sgi_read(vcpu, offset - SGI_BASE, size);
        }
        match (offset, size) {
            // EnableLPIs, RWP, UWP: 0 (no LPIs, writes take effect at once).
            (GICR_CTLR, 4) => 0,
            (GICR_IIDR, 4) => u64::from(IIDR),
            // 64-bit, or either 32-bit half.
            (GICR_TYPER, 4 | 8) | (GICR_TYPER_HIGH, 4) => {
                read_u64_part(self.gicr_typer(vcpu), offset - GICR_TYPER, size)
            }
            (GICR_WAKER, 4) => {
                let asleep = self.cpus.get(vcpu).is_some_and(|c| c.asleep);
                if asleep {
                    u64::from(WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP)
                } else {
                    0
                }
            }
            (PIDR2, 4) => u64::from(PIDR2_GICV3),
            _ => 0,
        }
    }

    /// A store to vCPU `vcpu`'s redistributor.
    pub(super) fn gicr_write(
        &mut self,
        vcpu: usize,
        offset: u64,
        size: u8,
        value: u64,
        phys: &mut impl Physical,
    ) {
        if vcpu >= self.vcpus {
            return;
        }
        if offset >= SGI_BASE {
            self.gicr_sgi_write(vcpu, offset - SGI_BASE, size, value, phys);
            return;
        }
        if (offset, size) == (GICR_WAKER, 4) {
            // ChildrenAsleep follows ProcessorSleep at once: nothing of the
            // redistributor needs to quiesce.
            let asleep = value as u32 & WAKER_PROCESSOR_SLEEP != 0;
            if let Some(cpu) = self.cpus.get_mut(vcpu) {
                if cpu.asleep != asleep {
                    cpu.asleep = asleep;
                    self.retarget_all();
                }
            }
        }
    }

    fn gicr_sgi_read(&mut self, vcpu: usize, offset: u64, size: u8) -> u64 {
        match (offset, size) {
            (BIT_REGS_START..BIT_REGS_END, 4) => match BitReg::at(offset) {
                Some((reg, 0)) => u64::from(self.read_bits(vcpu, reg, 0)),
                _ => 0,
            },
            (IPRIORITYR..0x420, 1 | 4) => {
                self.read_priorities(vcpu, (offset - IPRIORITYR) as u32, size)
            }
            (ICFGR | 0xc04, 4) => {
                u64::from(self.read_config(vcpu, ((offset - ICFGR) / 4 * 16) as u32))
            }
            _ => 0,
        }
    }

    fn gicr_sgi_write(
        &mut self,
        vcpu: usize,
        offset: u64,
        size: u8,
        value: u64,
        phys: &mut impl Physical,
    ) {
        match (offset, size) {
            (BIT_REGS_START..BIT_REGS_END, 4) => {
                if let Some((reg, 0)) = BitReg::at(offset) {
                    self.write_bits(vcpu, reg, 0, value as u32, phys);
                }
            }
            (IPRIORITYR..0x420, 1 | 4) => {
                self.write_priorities(vcpu, (offset - IPRIORITYR) as u32, size, value)
            }
            (ICFGR | 0xc04, 4) => {
                self.write_config(vcpu, ((offset - ICFGR) / 4 * 16) as u32, value as u32, phys)
            }
            _ => {}
        }
    }
}
