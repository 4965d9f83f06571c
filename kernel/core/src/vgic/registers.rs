//! The per-interrupt register families both distributor maps share, at the
//! same offsets in a GICv3 GICD, a GICv3 GICR SGI_base frame and a GICv2
//! GICD (IHI 0069H §12.9, IHI 0048B §4.3): one bit per interrupt (IGROUPR,
//! ISENABLER/ICENABLER, ISPENDR/ICPENDR, ISACTIVER/ICACTIVER), one byte per
//! interrupt (IPRIORITYR) and two bits per interrupt (ICFGR).
//!
//! `bank` names the vCPU whose SGIs and PPIs a register reaches: the
//! accessing vCPU in a GICv2 GICD, the frame's vCPU in a GICv3 GICR.

use super::{Physical, Version, Vgic, PRIORITY_MASK, PRIVATE_INTIDS};

/// A one-bit-per-interrupt register family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BitReg {
    /// IGROUPR: 1 = Group 1.
    Group,
    /// ISENABLER: read enabled, write 1 enables.
    SetEnable,
    /// ICENABLER: read enabled, write 1 disables.
    ClearEnable,
    /// ISPENDR: read pending, write 1 makes pending.
    SetPending,
    /// ICPENDR: read pending, write 1 clears the pending state.
    ClearPending,
    /// ISACTIVER: read active, write 1 activates.
    SetActive,
    /// ICACTIVER: read active, write 1 deactivates.
    ClearActive,
}

/// GICD_CTLR.EnableGrp0 [0] and EnableGrp1 [1]: the same bits in a GICv2
/// distributor without Security Extensions and a GICv3 one with DS = 1.
pub(super) const CTLR_ENABLE_GRP0: u32 = 1 << 0;
pub(super) const CTLR_ENABLE_GRP1: u32 = 1 << 1;

/// First offset of the bit-per-interrupt registers (IGROUPR<0>).
pub(super) const BIT_REGS_START: u64 = 0x080;
/// End of the bit-per-interrupt registers (after ICACTIVER<31>).
pub(super) const BIT_REGS_END: u64 = 0x400;
/// IPRIORITYR<0>.
pub(super) const IPRIORITYR: u64 = 0x400;
/// ICFGR<0>.
pub(super) const ICFGR: u64 = 0xc00;

impl BitReg {
    /// The register family at `offset` (within 0x080..0x400) and the first
    /// INTID the 32-bit register there covers.
    pub(super) fn at(offset: u64) -> Option<(BitReg, u32)> {
        if !(BIT_REGS_START..BIT_REGS_END).contains(&offset) {
            return None;
        }
        let family = (offset - BIT_REGS_START) / 0x80;
        let reg = match family {
            0 => BitReg::Group,
            1 => BitReg::SetEnable,
            2 => BitReg::ClearEnable,
            3 => BitReg::SetPending,
            4 => BitReg::ClearPending,
            5 => BitReg::SetActive,
            _ => BitReg::ClearActive,
        };
        let first = ((offset - BIT_REGS_START) % 0x80) / 4 * 32;
        Some((reg, first as u32))
    }
}

impl Vgic<'_> {
    /// Is INTID `intid` a GICv2 SGI, whose pending state is per source?
    pub(super) fn is_multi_source(&self, intid: u32) -> bool {
        self.version == Version::V2 && intid < 16
    }

    /// Reads the 32-bit register of family `reg` covering INTIDs
    /// `first..first + 32`. Unimplemented INTIDs read as zero.
    ///
    /// The pending and active state of an interrupt a running vCPU's list
    /// register holds is as of that vCPU's last sync (the accessing vCPU's
    /// own were folded just before); that vCPU is kicked, so that a guest
    /// polling the state (Linux's `synchronize_irq`) sees it change.
    pub(super) fn read_bits(&mut self, bank: usize, reg: BitReg, first: u32) -> u32 {
        let state = matches!(
            reg,
            BitReg::SetPending | BitReg::ClearPending | BitReg::SetActive | BitReg::ClearActive
        );
        let mut value = 0;
        for bit in 0..32 {
            let Some(irq) = self.irq(bank, first + bit) else {
                continue;
            };
            let set = match reg {
                BitReg::Group => irq.group1,
                BitReg::SetEnable | BitReg::ClearEnable => irq.enabled,
                BitReg::SetPending | BitReg::ClearPending => irq.pending_visible(),
                BitReg::SetActive | BitReg::ClearActive => irq.active,
            };
            if state && irq.in_lr {
                let owner = usize::from(irq.owner);
                self.kick(owner);
            }
            if set {
                value |= 1 << bit;
            }
        }
        value
    }

    /// Writes `value` to the register of family `reg` covering INTIDs
    /// `first..first + 32`. Unimplemented INTIDs ignore it.
    pub(super) fn write_bits(
        &mut self,
        bank: usize,
        reg: BitReg,
        first: u32,
        value: u32,
        phys: &mut impl Physical,
    ) {
        for bit in 0..32 {
            let set = value & (1 << bit) != 0;
            if !set && reg != BitReg::Group {
                continue;
            }
            let intid = first + bit;
            let multi = self.is_multi_source(intid);
            let Some(irq) = self.irq_mut(bank, intid) else {
                continue;
            };
            let is_spi = intid >= PRIVATE_INTIDS;
            match reg {
                BitReg::Group => irq.group1 = set,
                BitReg::SetEnable | BitReg::ClearEnable => {
                    let enable = reg == BitReg::SetEnable;
                    if irq.enabled != enable {
                        irq.enabled = enable;
                        if irq.hw && is_spi {
                            phys.set_enabled(intid, enable);
                        }
                    }
                }
                // GICv2 SGIs: ISPENDR/ICPENDR bits are read-only; their
                // pending state is set per source (SPENDSGIR, SGIR).
                BitReg::SetPending | BitReg::ClearPending if multi => continue,
                BitReg::SetPending => {
                    irq.latch = true;
                    if irq.in_lr {
                        irq.pending_written = true;
                    }
                }
                BitReg::ClearPending => {
                    // A level line that is still high keeps it pending.
                    irq.latch = false;
                    if irq.in_lr {
                        irq.pending_written = true;
                        irq.lr_pending = false;
                    }
                }
                BitReg::SetActive | BitReg::ClearActive => {
                    irq.active = reg == BitReg::SetActive;
                    if irq.in_lr {
                        irq.active_written = true;
                    }
                }
            }
            self.touched(bank, intid);
        }
    }

    /// Reads `size` bytes (1 or 4) of IPRIORITYR starting at INTID `first`.
    pub(super) fn read_priorities(&self, bank: usize, first: u32, size: u8) -> u64 {
        let mut value = 0u64;
        for byte in 0..u32::from(size.min(4)) {
            if let Some(irq) = self.irq(bank, first + byte) {
                value |= u64::from(irq.priority) << (8 * byte);
            }
        }
        value
    }

    /// Writes `size` bytes (1 or 4) of IPRIORITYR starting at INTID `first`;
    /// only the implemented priority bits stick.
    pub(super) fn write_priorities(&mut self, bank: usize, first: u32, size: u8, value: u64) {
        for byte in 0..u32::from(size.min(4)) {
            let intid = first + byte;
            let priority = (value >> (8 * byte)) as u8 & PRIORITY_MASK;
            if let Some(irq) = self.irq_mut(bank, intid) {
                if irq.priority != priority {
                    irq.priority = priority;
                    self.touched(bank, intid);
                }
            }
        }
    }

    /// Reads the ICFGR register covering INTIDs `first..first + 16`:
    /// Int_config[1] (bit 2n + 1) set for edge-triggered; bit 2n is RES0.
    pub(super) fn read_config(&self, bank: usize, first: u32) -> u32 {
        let mut value = 0;
        for n in 0..16 {
            if self.irq(bank, first + n).is_some_and(|irq| irq.edge) {
                value |= 2 << (2 * n);
            }
        }
        value
    }

    /// Writes the ICFGR register covering INTIDs `first..first + 16`. SGIs
    /// are always edge-triggered (read-only); PPIs and SPIs take the value.
    pub(super) fn write_config(
        &mut self,
        bank: usize,
        first: u32,
        value: u32,
        phys: &mut impl Physical,
    ) {
        for n in 0..16 {
            let intid = first + n;
            if intid < 16 {
                continue;
            }
            let edge = value & (2 << (2 * n)) != 0;
            let Some(irq) = self.irq_mut(bank, intid) else {
                continue;
            };
            if irq.edge == edge {
                continue;
            }
            irq.edge = edge;
            if irq.hw && intid >= PRIVATE_INTIDS {
                phys.set_edge(intid, edge);
            }
            self.touched(bank, intid);
        }
    }
}
