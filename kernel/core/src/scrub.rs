//! Policy for scrubbing partition RAM: which RAM the core zeroes before a
//! partition (re)starts, whether it does so at load or on first touch, the
//! scrub unit, and what a stage-2 fault on not-yet-scrubbed RAM means.
//!
//! A partition's private RAM must never show it another run's (or another
//! partition's) data. Zeroing all of it at every load costs a write to every
//! page, which under an emulator that backs guest RAM lazily (QEMU) is also a
//! host page fault per page, for memory the guest may never use. So, as KVM
//! and Xen's populate-on-demand do, the core parks private RAM at stage 2
//! (`pagetable::LeafState::Parked`: invalid, address kept) and scrubs a
//! leaf when the partition first touches it: the translation fault lands in
//! the core, which zeroes the leaf, makes it valid and lets the access retry.

use core::ops::Range;

use crate::manifest::{region_flags, RegionDesc};
use crate::pagetable::{LeafSize, LeafState, MapOptions, Mapping};

/// The largest stage-2 leaf for private RAM, and so the scrub unit: a first
/// touch zeroes one leaf. 2 MiB keeps the number of faults low (128 for a
/// 256 MiB guest) while a 1 GiB partition does not become one 1 GiB leaf
/// that its first access would have to zero whole.
pub const SCRUB_UNIT: LeafSize = LeafSize::Block2M;

/// How private RAM is mapped at stage 2 when a partition is built: leaves of
/// at most [`SCRUB_UNIT`], parked until the core scrubs them.
pub const PRIVATE_RAM_MAPPING: MapOptions = MapOptions {
    largest_leaf: SCRUB_UNIT,
    state: LeafState::Parked,
};

/// Is `region` the partition's own RAM, which the core scrubs? Shared
/// regions are not: they hold what the partitions sharing them exchange, and
/// one partition restarting must not wipe them.
pub fn is_private_ram(region: &RegionDesc) -> bool {
    region.is_ram() && region.flags & region_flags::SHARED == 0
}

/// When a partition's private RAM is scrubbed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScrubTiming {
    /// Leaf by leaf, when the partition first touches it (stage-2 fault).
    OnFirstTouch,
    /// All of it, every time the partition is loaded.
    AtLoad,
}

/// The scrub timing for a partition with `regions`. `gic_cpu_interface` is
/// the physical address of the GIC virtual CPU interface frame the core maps
/// into GICv2 guests, if any.
///
/// A passed-through device may be a bus master, and DMA does not go through
/// stage 2 (there is no SMMU in front of it): it could write RAM before the
/// partition's first CPU access there, and the scrub on that access would
/// then destroy what the device wrote. A partition with any passthrough
/// window other than the GIC's own CPU interface (which masters nothing) is
/// scrubbed whole at load.
pub fn timing<'a>(
    regions: impl IntoIterator<Item = &'a RegionDesc>,
    gic_cpu_interface: Option<u64>,
) -> ScrubTiming {
    let may_dma = |r: &RegionDesc| !r.is_ram() && Some(r.pa) != gic_cpu_interface;
    if regions.into_iter().any(may_dma) {
        ScrubTiming::AtLoad
    } else {
        ScrubTiming::OnFirstTouch
    }
}

/// What a stage-2 abort on an address of the partition's private RAM means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstTouch {
    /// The first touch of a parked leaf: scrub it, make it valid, retry the
    /// access.
    Scrub(Mapping),
    /// The leaf is valid already: another vCPU scrubbed it between this
    /// access's fault and the core's look: retry the access.
    Retry,
    /// Not a first touch: the abort is the partition's fault, as ever.
    NotScrubbing,
}

/// Decides a stage-2 abort at an address of the partition's private RAM,
/// given its fault status code (DFSC/IFSC) and the stage-2 leaf there (see
/// `pagetable::PageTable::leaf`). Only a translation fault can be a first
/// touch: a parked leaf is an invalid descriptor. A permission fault, an
/// external abort or anything else stays the partition's fault.
pub fn first_touch(fault_status: u8, leaf: Option<Mapping>) -> FirstTouch {
    if !crate::esr::is_translation_fault(fault_status) {
        return FirstTouch::NotScrubbing;
    }
    match leaf {
        Some(leaf) if leaf.parked => FirstTouch::Scrub(leaf),
        Some(_) => FirstTouch::Retry,
        None => FirstTouch::NotScrubbing,
    }
}

/// Calls `visit` with each part of `unit` that no range in `filled` covers,
/// in ascending order: what the core zeroes in a leaf that boot blobs
/// (image, device tree, initrd) fill in part, so it writes each byte once.
/// `filled` may be unsorted, overlap, stick out of the unit or be empty.
pub fn unfilled(unit: Range<u64>, filled: &[Range<u64>], mut visit: impl FnMut(Range<u64>)) {
    let mut cursor = unit.start;
    while cursor < unit.end {
        // The filled range reaching past the cursor that starts first.
        let next = filled
            .iter()
            .filter(|f| f.start < f.end && f.end > cursor && f.start < unit.end)
            .min_by_key(|f| f.start);
        let Some(next) = next else {
            visit(cursor..unit.end);
            return;
        };
        if next.start > cursor {
            visit(cursor..next.start);
        }
        cursor = next.end;
    }
}

#[cfg(test)]
// Expected gap lists are arrays of ranges, one long at times.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use crate::pagetable::Attrs;
    use alloc::vec::Vec;

    const MIB2: u64 = 2 << 20;

    fn region(pa: u64, flags: u32) -> RegionDesc {
        RegionDesc {
            ipa: pa,
            pa,
            size: 0x1000,
            flags,
        }
    }

    const RAM: u32 = region_flags::READ | region_flags::WRITE | region_flags::EXEC;
    const DEVICE: u32 = region_flags::DEVICE | region_flags::READ | region_flags::WRITE;

    #[test]
    fn the_scrub_unit_is_a_2_mib_leaf() {
        assert_eq!(SCRUB_UNIT.bytes(), MIB2);
    }

    #[test]
    fn only_private_ram_is_scrubbed() {
        assert!(is_private_ram(&region(0x4000_0000, RAM)));
        assert!(!is_private_ram(&region(
            0x4000_0000,
            RAM | region_flags::SHARED
        )));
        assert!(!is_private_ram(&region(0x0900_0000, DEVICE)));
    }

    #[test]
    fn passthrough_devices_make_the_scrub_eager() {
        let ram = region(0x4000_0000, RAM);
        let shared = region(0x5000_0000, RAM | region_flags::SHARED);
        let uart = region(0x0900_0000, DEVICE);
        let gicv = region(0x0804_0000, DEVICE);
        assert_eq!(timing([&ram, &shared], None), ScrubTiming::OnFirstTouch);
        assert_eq!(timing([&ram, &uart], None), ScrubTiming::AtLoad);
        // The GICv2 virtual CPU interface is no bus master.
        assert_eq!(
            timing([&ram, &gicv], Some(0x0804_0000)),
            ScrubTiming::OnFirstTouch
        );
        assert_eq!(
            timing([&ram, &gicv, &uart], Some(0x0804_0000)),
            ScrubTiming::AtLoad
        );
        assert_eq!(timing([&ram, &gicv], None), ScrubTiming::AtLoad);
    }

    fn leaf(parked: bool) -> Mapping {
        Mapping {
            va: 0x4020_0000,
            pa: 0x8020_0000,
            size: MIB2,
            level: 2,
            attrs: Attrs::RWX,
            parked,
        }
    }

    #[test]
    fn only_a_translation_fault_on_a_parked_leaf_is_a_first_touch() {
        for level in 0..4u8 {
            let translation = 0b00_0100 | level;
            assert_eq!(
                first_touch(translation, Some(leaf(true))),
                FirstTouch::Scrub(leaf(true))
            );
            assert_eq!(
                first_touch(translation, Some(leaf(false))),
                FirstTouch::Retry
            );
            assert_eq!(first_touch(translation, None), FirstTouch::NotScrubbing);
        }
        // Permission, access flag, address size faults and external aborts
        // are the partition's, parked leaf or not.
        for status in [0b00_1111, 0b00_1010, 0b00_0010, 0b01_0000, 0b10_0001] {
            assert_eq!(
                first_touch(status, Some(leaf(true))),
                FirstTouch::NotScrubbing,
                "{status:#x}"
            );
        }
    }

    fn gaps(unit: Range<u64>, filled: &[Range<u64>]) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        unfilled(unit, filled, |gap| out.push(gap));
        out
    }

    #[test]
    fn an_empty_unit_is_zeroed_whole() {
        assert_eq!(gaps(0..MIB2, &[]), [0..MIB2]);
        assert_eq!(gaps(0..MIB2, &[5..5, MIB2..MIB2 + 9]), [0..MIB2]);
    }

    #[test]
    fn the_blobs_are_left_out() {
        // The image from the unit's start, the device tree in the middle.
        assert_eq!(
            gaps(0..100, &[60..70, 0..10]),
            [10..60, 70..100],
            "unsorted"
        );
        // A blob running in from before and out past the unit.
        assert_eq!(gaps(100..200, &[50..120, 180..400]), [120..180]);
        // Overlapping and adjacent blobs.
        assert_eq!(gaps(0..100, &[10..40, 20..30, 40..50]), [0..10, 50..100]);
        // Filled whole.
        assert_eq!(gaps(0..100, &[0..100]), []);
        assert_eq!(gaps(100..200, &[0..1000]), []);
        // Blobs wholly outside.
        assert_eq!(gaps(100..200, &[0..100, 200..300]), [100..200]);
    }

    #[test]
    fn the_gaps_and_the_blobs_tile_the_unit() {
        let filled = [3..17, 40..41, 15..30, 90..140];
        let unit = 0..100;
        let gaps = gaps(unit.clone(), &filled);
        for byte in unit {
            let in_gap = gaps.iter().filter(|g| g.contains(&byte)).count();
            let in_blob = filled.iter().any(|f| f.contains(&byte));
            assert_eq!(in_gap, usize::from(!in_blob), "byte {byte}");
        }
    }
}
