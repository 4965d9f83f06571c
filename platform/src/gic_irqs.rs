//! The per-interrupt registers GICv2 and GICv3 distributors share, at the
//! same offsets from GICD + 0x080 (IHI 0048B §4.3, IHI 0069H §12.9): the
//! group, enable, pending and active bitmaps, the byte-per-interrupt
//! priorities and CPU targets (GICv2; RES0 under GICv3 affinity routing),
//! and the two-bit trigger configuration.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    /// GICD_IGROUPR<n> .. GICD_ICFGR<n>, offsets relative to GICD + 0x080.
    /// IPRIORITYR and ITARGETSR are byte-accessible, so they are declared
    /// per byte.
    pub InterruptRegs {
        (0x000 => igroupr: [ReadWrite<u32>; 32]),
        (0x080 => isenabler: [ReadWrite<u32>; 32]),
        (0x100 => icenabler: [ReadWrite<u32>; 32]),
        (0x180 => ispendr: [ReadWrite<u32>; 32]),
        (0x200 => icpendr: [ReadWrite<u32>; 32]),
        (0x280 => isactiver: [ReadWrite<u32>; 32]),
        (0x300 => icactiver: [ReadWrite<u32>; 32]),
        (0x380 => ipriorityr: [ReadWrite<u8>; 1020]),
        (0x77c => _reserved0),
        (0x780 => itargetsr: [ReadWrite<u8>; 1020]),
        (0xb7c => _reserved1),
        (0xb80 => icfgr: [ReadWrite<u32>; 64]),
        (0xc80 => @END),
    }
}

/// Where the block starts in a distributor frame.
pub const OFFSET_IN_GICD: usize = 0x080;

/// Register `intid / 32` of a bitmap family and the interrupt's bit in it.
fn bit(family: &[ReadWrite<u32>; 32], intid: u32) -> Option<(&ReadWrite<u32>, u32)> {
    family
        .get(intid as usize / 32)
        .map(|reg| (reg, 1 << (intid % 32)))
}

fn is_set(family: &[ReadWrite<u32>; 32], intid: u32) -> bool {
    bit(family, intid).is_some_and(|(reg, mask)| reg.get() & mask != 0)
}

/// Writes `intid`'s bit to the set or the clear register of a family.
fn write_one(set: &[ReadWrite<u32>; 32], clear: &[ReadWrite<u32>; 32], intid: u32, on: bool) {
    if let Some((reg, mask)) = bit(if on { set } else { clear }, intid) {
        reg.set(mask);
    }
}

impl InterruptRegs {
    /// Enables or disables `intid` (ISENABLER / ICENABLER).
    pub fn set_enabled(&self, intid: u32, enabled: bool) {
        write_one(&self.isenabler, &self.icenabler, intid, enabled);
    }

    /// Is `intid` enabled?
    pub fn is_enabled(&self, intid: u32) -> bool {
        is_set(&self.isenabler, intid)
    }

    /// Makes `intid` pending or clears its pending state (ISPENDR /
    /// ICPENDR; GICv2 SGIs ignore both).
    pub fn set_pending(&self, intid: u32, pending: bool) {
        write_one(&self.ispendr, &self.icpendr, intid, pending);
    }

    /// Is `intid` pending?
    pub fn is_pending(&self, intid: u32) -> bool {
        is_set(&self.ispendr, intid)
    }

    /// Sets or clears `intid`'s active state (ISACTIVER / ICACTIVER).
    pub fn set_active(&self, intid: u32, active: bool) {
        write_one(&self.isactiver, &self.icactiver, intid, active);
    }

    /// Is `intid` active?
    pub fn is_active(&self, intid: u32) -> bool {
        is_set(&self.isactiver, intid)
    }

    /// Puts `intid` in Group 1 or Group 0 (IGROUPR).
    pub fn set_group1(&self, intid: u32, group1: bool) {
        if let Some((reg, mask)) = bit(&self.igroupr, intid) {
            let value = reg.get();
            reg.set(if group1 { value | mask } else { value & !mask });
        }
    }

    /// Is `intid` in Group 1?
    pub fn is_group1(&self, intid: u32) -> bool {
        is_set(&self.igroupr, intid)
    }

    /// Sets `intid`'s priority (a byte write of IPRIORITYR).
    pub fn set_priority(&self, intid: u32, priority: u8) {
        if let Some(reg) = self.ipriorityr.get(intid as usize) {
            reg.set(priority);
        }
    }

    /// `intid`'s priority as the distributor keeps it (unimplemented low
    /// bits read as zero).
    pub fn priority(&self, intid: u32) -> u8 {
        self.ipriorityr
            .get(intid as usize)
            .map_or(0, |reg| reg.get())
    }

    /// Sets a GICv2 SPI's CPU targets (a byte write of ITARGETSR).
    pub fn set_targets(&self, intid: u32, cpu_mask: u8) {
        if let Some(reg) = self.itargetsr.get(intid as usize) {
            reg.set(cpu_mask);
        }
    }

    /// A GICv2 interrupt's CPU targets (SGIs and PPIs: this CPU's own).
    pub fn targets(&self, intid: u32) -> u8 {
        self.itargetsr
            .get(intid as usize)
            .map_or(0, |reg| reg.get())
    }

    /// Makes `intid` edge-triggered or level-sensitive (ICFGR
    /// Int_config[1]).
    pub fn set_edge(&self, intid: u32, edge: bool) {
        if let Some(reg) = self.icfgr.get(intid as usize / 16) {
            let mask = 2 << (2 * (intid % 16));
            let value = reg.get();
            reg.set(if edge { value | mask } else { value & !mask });
        }
    }

    /// Is `intid` edge-triggered?
    pub fn is_edge(&self, intid: u32) -> bool {
        self.icfgr
            .get(intid as usize / 16)
            .is_some_and(|reg| reg.get() & (2 << (2 * (intid % 16))) != 0)
    }

    /// Disables and deactivates every interrupt of register `index` of the
    /// bitmaps (32 interrupts from INTID `32 * index`).
    pub fn disable_all(&self, index: usize) {
        if let (Some(clear_enable), Some(clear_active)) =
            (self.icenabler.get(index), self.icactiver.get(index))
        {
            clear_enable.set(u32::MAX);
            clear_active.set(u32::MAX);
        }
    }
}
