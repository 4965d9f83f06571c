//! Decoding of software-generated interrupt requests into a set of target
//! vCPUs: a GICv3 guest's write to ICC_SGI1R_EL1 / ICC_SGI0R_EL1 /
//! ICC_ASGI1R_EL1 (trapped to EL2 by HCR_EL2.IMO, IHI 0069H §12.11.16) and a
//! GICv2 guest's write to GICD_SGIR (IHI 0048B §4.3.15).
//!
//! vCPU `i` of a partition has MPIDR Aff0 = `i` and Aff1..Aff3 = 0 (the core
//! sets VMPIDR_EL2 so), which is what the affinity fields are matched with.

use super::VcpuMask;

/// An SGI to make pending on some vCPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SgiRequest {
    /// The SGI, 0..=15.
    pub intid: u32,
    /// Bit `i` set: vCPU `i` is a target.
    pub targets: VcpuMask,
}

/// All vCPUs of a partition with `vcpus` of them.
pub fn all_vcpus(vcpus: usize) -> VcpuMask {
    if vcpus >= VcpuMask::BITS as usize {
        VcpuMask::MAX
    } else {
        (1 << vcpus) - 1
    }
}

// ICC_SGI1R_EL1: TargetList [15:0], Aff1 [23:16], INTID [27:24], Aff2
// [39:32], IRM [40], RS [47:44], Aff3 [55:48].
const TARGET_LIST_MASK: u64 = 0xffff;
const AFF1_SHIFT: u32 = 16;
const INTID_SHIFT: u32 = 24;
const AFF2_SHIFT: u32 = 32;
const IRM: u64 = 1 << 40;
const RS_SHIFT: u32 = 44;
const AFF3_SHIFT: u32 = 48;

/// Decodes a GICv3 SGI register write by vCPU `sender` of a partition with
/// `vcpus` vCPUs. IRM = 1 targets every vCPU but the sender; otherwise the
/// TargetList names Aff0 values `RS * 16 + bit` within cluster
/// Aff3.Aff2.Aff1, which must be 0.0.0 to name any of our vCPUs.
pub fn decode_sgi1r(value: u64, sender: usize, vcpus: usize) -> SgiRequest {
    let intid = ((value >> INTID_SHIFT) & 0xf) as u32;
    let everyone = all_vcpus(vcpus);
    if value & IRM != 0 {
        let me = if sender < VcpuMask::BITS as usize {
            1 << sender
        } else {
            0
        };
        return SgiRequest {
            intid,
            targets: everyone & !me,
        };
    }
    let cluster =
        (value >> AFF1_SHIFT) & 0xff | (value >> AFF2_SHIFT) & 0xff | (value >> AFF3_SHIFT) & 0xff;
    if cluster != 0 {
        return SgiRequest { intid, targets: 0 };
    }
    let first = ((value >> RS_SHIFT) & 0xf) * 16;
    let list = value & TARGET_LIST_MASK;
    let shifted = if first >= u64::from(VcpuMask::BITS) {
        0
    } else {
        (list << first) as VcpuMask
    };
    SgiRequest {
        intid,
        targets: shifted & everyone,
    }
}

// GICD_SGIR: TargetListFilter [25:24], CPUTargetList [23:16], SGIINTID [3:0].
const FILTER_SHIFT: u32 = 24;
const CPU_LIST_SHIFT: u32 = 16;
const FILTER_LIST: u32 = 0b00;
const FILTER_OTHERS: u32 = 0b01;
const FILTER_SELF: u32 = 0b10;

/// Decodes a GICv2 GICD_SGIR write by vCPU `sender`: the filter picks the
/// CPU target list (CPU interface `i` is vCPU `i`), every other CPU, or the
/// sender alone. The reserved filter value sends nothing.
pub fn decode_sgir(value: u32, sender: usize, vcpus: usize) -> SgiRequest {
    let intid = value & 0xf;
    let everyone = all_vcpus(vcpus);
    let me = if sender < VcpuMask::BITS as usize {
        1 << sender
    } else {
        0
    };
    let targets = match (value >> FILTER_SHIFT) & 0b11 {
        FILTER_LIST => ((value >> CPU_LIST_SHIFT) & 0xff) as VcpuMask & everyone,
        FILTER_OTHERS => everyone & !me,
        FILTER_SELF => me & everyone,
        _ => 0,
    };
    SgiRequest { intid, targets }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How Linux 6.1 writes ICC_SGI1R_EL1 (gic_send_sgi in irq-gic-v3.c).
    fn linux_sgi1r(intid: u64, aff3: u64, aff2: u64, aff1: u64, rs: u64, list: u64) -> u64 {
        aff3 << 48 | aff2 << 32 | intid << 24 | aff1 << 16 | rs << 44 | list
    }

    #[test]
    fn target_list_names_vcpus_by_aff0() {
        let r = decode_sgi1r(linux_sgi1r(3, 0, 0, 0, 0, 0b10), 0, 2);
        assert_eq!(
            r,
            SgiRequest {
                intid: 3,
                targets: 0b10
            }
        );
        let r = decode_sgi1r(linux_sgi1r(15, 0, 0, 0, 0, 0b1011), 1, 4);
        assert_eq!(
            r,
            SgiRequest {
                intid: 15,
                targets: 0b1011
            }
        );
    }

    #[test]
    fn targets_outside_the_partition_are_dropped() {
        let r = decode_sgi1r(linux_sgi1r(1, 0, 0, 0, 0, 0xffff), 0, 2);
        assert_eq!(r.targets, 0b11);
        // Another cluster or range selector: none of our vCPUs.
        assert_eq!(decode_sgi1r(linux_sgi1r(1, 0, 0, 1, 0, 1), 0, 2).targets, 0);
        assert_eq!(decode_sgi1r(linux_sgi1r(1, 0, 1, 0, 0, 1), 0, 2).targets, 0);
        assert_eq!(decode_sgi1r(linux_sgi1r(1, 1, 0, 0, 0, 1), 0, 2).targets, 0);
        assert_eq!(decode_sgi1r(linux_sgi1r(1, 0, 0, 0, 1, 1), 0, 8).targets, 0);
        assert_eq!(
            decode_sgi1r(linux_sgi1r(1, 0, 0, 0, 15, 1), 0, 8).targets,
            0
        );
    }

    #[test]
    fn irm_targets_everyone_but_the_sender() {
        let r = decode_sgi1r(1 << 40 | 7 << 24, 1, 4);
        assert_eq!(
            r,
            SgiRequest {
                intid: 7,
                targets: 0b1101
            }
        );
        assert_eq!(decode_sgi1r(1 << 40, 0, 1).targets, 0);
    }

    #[test]
    fn gicd_sgir_filters() {
        // Linux 6.1 gic_ipi_send_mask: map << 16 | irq.
        assert_eq!(
            decode_sgir(0b10 << 16 | 5, 0, 2),
            SgiRequest {
                intid: 5,
                targets: 0b10
            }
        );
        assert_eq!(decode_sgir(1 << 24 | 2, 1, 3).targets, 0b101);
        assert_eq!(decode_sgir(2 << 24 | 2, 1, 3).targets, 0b010);
        assert_eq!(decode_sgir(3 << 24 | 0xff << 16, 1, 3).targets, 0);
        assert_eq!(decode_sgir(0xff << 16, 0, 2).targets, 0b11);
    }
}
