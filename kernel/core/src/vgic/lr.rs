//! List registers of the GIC virtual CPU interface: the encoding of one
//! virtual interrupt in ICH_LR<n>_EL2 (GICv3, IHI 0069H §12.5.10) and
//! GICH_LR<n> (GICv2, IHI 0048B §5.3.8), and the maintenance-control bits
//! of ICH_HCR_EL2 / GICH_HCR that the model asks for.

use super::Version;

/// ICH_HCR_EL2.En / GICH_HCR.En, bit 0: the virtual CPU interface works.
pub const HCR_ENABLE: u64 = 1 << 0;
/// ICH_HCR_EL2.UIE / GICH_HCR.UIE, bit 1: a maintenance interrupt when at
/// most one list register holds an interrupt ("underflow"), so that the
/// core can refill them from the model (IHI 0069H §12.5.7, IHI 0048B §5.3.1).
pub const HCR_UNDERFLOW: u64 = 1 << 1;

/// One virtual interrupt as a list register holds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LrEntry {
    /// The INTID the guest sees.
    pub vintid: u32,
    /// GICv2 SGIs: the CPU that sent it (GICH_LR.CPUID, bits [12:10]).
    pub source: u8,
    /// Pending state.
    pub pending: bool,
    /// Active state.
    pub active: bool,
    /// Linked to the physical interrupt with the same INTID: the guest's
    /// deactivation deactivates it (HW bit).
    pub hw: bool,
    /// Group 1 (else Group 0).
    pub group1: bool,
    /// Priority, 8-bit (GICv2 keeps bits [7:3]).
    pub priority: u8,
    /// Ask for a maintenance interrupt when the guest deactivates it (EOI
    /// bit; only without the HW bit).
    pub eoi_maintenance: bool,
}

/// The pending and active state bits of a list register.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LrState {
    /// Pending.
    pub pending: bool,
    /// Active.
    pub active: bool,
}

impl LrState {
    /// Neither pending nor active: the register is free.
    pub fn is_invalid(&self) -> bool {
        !self.pending && !self.active
    }
}

// ICH_LR<n>_EL2: State [63:62], HW [61], Group [60], Priority [55:48],
// pINTID [44:32] (HW = 1) or EOI [41] (HW = 0), vINTID [31:0].
const V3_STATE_SHIFT: u32 = 62;
const V3_HW: u64 = 1 << 61;
const V3_GROUP1: u64 = 1 << 60;
const V3_PRIORITY_SHIFT: u32 = 48;
const V3_PINTID_SHIFT: u32 = 32;
const V3_PINTID_MASK: u64 = 0x1fff;
const V3_EOI: u64 = 1 << 41;
const V3_VINTID_MASK: u64 = 0xffff_ffff;

// GICH_LR<n>: HW [31], Grp1 [30], State [29:28], Priority [27:23] (the top
// five bits), PhysicalID [19:10] (HW = 1) or EOI [19] and CPUID [12:10]
// (HW = 0), VirtualID [9:0].
const V2_HW: u64 = 1 << 31;
const V2_GROUP1: u64 = 1 << 30;
const V2_STATE_SHIFT: u32 = 28;
const V2_PRIORITY_SHIFT: u32 = 23;
const V2_PINTID_SHIFT: u32 = 10;
const V2_PINTID_MASK: u64 = 0x3ff;
const V2_EOI: u64 = 1 << 19;
const V2_CPUID_SHIFT: u32 = 10;
const V2_CPUID_MASK: u64 = 0x7;
const V2_VINTID_MASK: u64 = 0x3ff;

/// State field: 0b01 pending, 0b10 active, 0b11 both.
const STATE_PENDING: u64 = 0b01;
const STATE_ACTIVE: u64 = 0b10;

fn state_bits(entry: &LrEntry) -> u64 {
    (if entry.pending { STATE_PENDING } else { 0 }) | (if entry.active { STATE_ACTIVE } else { 0 })
}

/// Encodes `entry` for a list register of `version`.
pub fn encode(version: Version, entry: &LrEntry) -> u64 {
    let state = state_bits(entry);
    match version {
        Version::V3 => {
            let mut raw = state << V3_STATE_SHIFT
                | u64::from(entry.priority) << V3_PRIORITY_SHIFT
                | (u64::from(entry.vintid) & V3_VINTID_MASK);
            if entry.group1 {
                raw |= V3_GROUP1;
            }
            if entry.hw {
                raw |= V3_HW | (u64::from(entry.vintid) & V3_PINTID_MASK) << V3_PINTID_SHIFT;
            } else if entry.eoi_maintenance {
                raw |= V3_EOI;
            }
            raw
        }
        Version::V2 => {
            let mut raw = state << V2_STATE_SHIFT
                | u64::from(entry.priority >> 3) << V2_PRIORITY_SHIFT
                | (u64::from(entry.vintid) & V2_VINTID_MASK);
            if entry.group1 {
                raw |= V2_GROUP1;
            }
            if entry.hw {
                raw |= V2_HW | (u64::from(entry.vintid) & V2_PINTID_MASK) << V2_PINTID_SHIFT;
            } else {
                raw |= (u64::from(entry.source) & V2_CPUID_MASK) << V2_CPUID_SHIFT;
                if entry.eoi_maintenance {
                    raw |= V2_EOI;
                }
            }
            raw
        }
    }
}

/// The state bits of a list register value.
pub fn state(version: Version, raw: u64) -> LrState {
    let bits = match version {
        Version::V3 => raw >> V3_STATE_SHIFT,
        Version::V2 => raw >> V2_STATE_SHIFT,
    } & 0b11;
    LrState {
        pending: bits & STATE_PENDING != 0,
        active: bits & STATE_ACTIVE != 0,
    }
}

/// Decodes a list register value; `None` when it holds nothing.
pub fn decode(version: Version, raw: u64) -> Option<LrEntry> {
    let s = state(version, raw);
    if s.is_invalid() {
        return None;
    }
    Some(match version {
        Version::V3 => {
            let hw = raw & V3_HW != 0;
            LrEntry {
                vintid: (raw & V3_VINTID_MASK) as u32,
                source: 0,
                pending: s.pending,
                active: s.active,
                hw,
                group1: raw & V3_GROUP1 != 0,
                priority: (raw >> V3_PRIORITY_SHIFT) as u8,
                eoi_maintenance: !hw && raw & V3_EOI != 0,
            }
        }
        Version::V2 => {
            let hw = raw & V2_HW != 0;
            LrEntry {
                vintid: (raw & V2_VINTID_MASK) as u32,
                source: if hw {
                    0
                } else {
                    ((raw >> V2_CPUID_SHIFT) & V2_CPUID_MASK) as u8
                },
                pending: s.pending,
                active: s.active,
                hw,
                group1: raw & V2_GROUP1 != 0,
                priority: (((raw >> V2_PRIORITY_SHIFT) & 0x1f) as u8) << 3,
                eoi_maintenance: !hw && raw & V2_EOI != 0,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LrEntry {
        LrEntry {
            vintid: 27,
            source: 0,
            pending: true,
            active: false,
            hw: true,
            group1: true,
            priority: 0xa0,
            eoi_maintenance: false,
        }
    }

    #[test]
    fn gicv3_hw_timer_entry_has_the_architected_layout() {
        // State 01, HW, Group 1, priority 0xa0, pINTID 27, vINTID 27.
        let raw = encode(Version::V3, &entry());
        assert_eq!(
            raw,
            1 << 62 | 1 << 61 | 1 << 60 | 0xa0 << 48 | 27 << 32 | 27
        );
        assert_eq!(decode(Version::V3, raw), Some(entry()));
    }

    #[test]
    fn gicv3_software_level_entry_asks_for_eoi_maintenance() {
        let e = LrEntry {
            vintid: 48,
            hw: false,
            eoi_maintenance: true,
            active: true,
            group1: false,
            ..entry()
        };
        let raw = encode(Version::V3, &e);
        assert_eq!(raw, 0b11 << 62 | 1 << 41 | 0xa0 << 48 | 48);
        assert_eq!(decode(Version::V3, raw), Some(e));
        assert_eq!(
            state(Version::V3, raw),
            LrState {
                pending: true,
                active: true
            }
        );
    }

    #[test]
    fn gicv2_sgi_entry_carries_its_source_cpu() {
        let e = LrEntry {
            vintid: 3,
            source: 5,
            hw: false,
            group1: false,
            eoi_maintenance: true,
            priority: 0x80,
            ..entry()
        };
        let raw = encode(Version::V2, &e);
        assert_eq!(raw, 0b01 << 28 | 1 << 19 | (0x80 >> 3) << 23 | 5 << 10 | 3);
        assert_eq!(decode(Version::V2, raw), Some(e));
    }

    #[test]
    fn gicv2_hw_entry_keeps_five_priority_bits() {
        let e = LrEntry {
            vintid: 153,
            priority: 0xa7,
            ..entry()
        };
        let raw = encode(Version::V2, &e);
        assert_eq!(
            raw,
            1 << 31 | 1 << 30 | 0b01 << 28 | (0xa7 >> 3) << 23 | 153 << 10 | 153
        );
        let back = decode(Version::V2, raw);
        assert_eq!(back.map(|b| b.priority), Some(0xa0));
    }

    #[test]
    fn an_invalid_register_decodes_to_nothing() {
        assert_eq!(decode(Version::V3, 0), None);
        assert_eq!(decode(Version::V2, 1 << 19 | 33), None);
        assert!(state(Version::V2, 0).is_invalid());
    }
}
