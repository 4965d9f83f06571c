//! Policy for scrubbing partition RAM: which RAM the core zeroes before a
//! partition (re)starts, whether it does so at load or on first touch, the
//! scrub group, and what a stage-2 fault on not-yet-scrubbed RAM means.
//!
//! A partition's private RAM must never show it another run's (or another
//! partition's) data. Zeroing all of it at every load costs a write to every
//! page, which under an emulator that backs guest RAM lazily (QEMU) is also a
//! host page fault per page, for memory the guest may never use. So, as KVM
//! and Xen's populate-on-demand do, the core parks private RAM at stage 2
//! (`pagetable::LeafState::Parked`: invalid, address kept), in 4 KiB pages,
//! and scrubs a group of pages when the partition first touches one of
//! them: the translation fault lands in the core, which zeroes the group,
//! makes its pages valid and lets the access retry.

use core::ops::Range;

use crate::manifest::{region_flags, RegionDesc};
use crate::pagetable::{LeafSize, LeafState, MapOptions, Mapping, PAGE_SIZE};

/// How private RAM is mapped at stage 2 when a partition is built: 4 KiB
/// pages, parked until the core scrubs them.
///
/// Pages, not the 2 MiB blocks alignment would allow: QEMU's TCG records
/// each TLB entry with the larger of the stage-1 and stage-2 page sizes
/// (target/arm/ptw.c, `get_phys_addr_twostage`), and once it holds large
/// pages a guest's TLBI by VA in that range flushes the whole TLB of the
/// translation regime (accel/tcg/cputlb.c, `tlb_flush_page_locked`). Linux
/// issues one per patched instruction (ftrace alone patches some 44,000 call
/// sites at boot): with 2 MiB blocks that phase took 0.40-0.49 s, with pages
/// 0.25-0.27 s (0.23 s natively). On hardware a TLB entry has the smaller
/// of the two stages' sizes anyway, so a guest with 4 KiB stage-1 pages
/// (Linux) gains little from stage-2 blocks beyond a shorter stage-2 walk;
/// KVM maps stage 2 with pages commonly too.
pub const PRIVATE_RAM_MAPPING: MapOptions = MapOptions {
    largest_leaf: LeafSize::Page,
    state: LeafState::Parked,
};

/// Bytes scrubbed on a first touch: the aligned group of pages holding the
/// touched address (clipped to its region, see [`group`]). A power of two
/// from one page to one level-3 table (2 MiB), so a group's descriptors are
/// consecutive entries of one table and activating it is one pass over
/// them.
///
/// 64 KiB, measured against 2 MiB and 4 KiB on the Linux benchmark
/// (configs/bench/linux-boot.toml). Linux touches its RAM densely, so it
/// has the core zero about the same 26-28 MiB at any group size, in 13
/// faults with 2 MiB groups, about 440 with 64 KiB and 7,000 with 4 KiB;
/// the boot's wall clock did not tell them apart (medians of 8-10
/// alternating boots on a shared machine, each within the run-to-run
/// spread). What decides is the cost of one fault: zeroing and cleaning a
/// group holds the partition's stage-2 lock and stalls the vCPU, about
/// 5-8 ms for 2 MiB under QEMU (the guest's first write to a fresh 2 MiB
/// waits that long, and so does every other vCPU of the partition that
/// first-touches meanwhile), 0.1-0.2 ms for 64 KiB; at 4 KiB the fixed part
/// (trap, table walk, lock) is as large as the zeroing, sixteen times as
/// often. Sixteen pages is also the span a stage-2 Contiguous hint covers
/// with a 4 KiB granule (Arm ARM, "The Contiguous bit").
pub const SCRUB_GROUP: u64 = 64 << 10;

const _: () = assert!(
    SCRUB_GROUP.is_power_of_two()
        && SCRUB_GROUP >= PAGE_SIZE
        && SCRUB_GROUP <= LeafSize::Block2M.bytes()
);

/// Is `region` the partition's own RAM, which the core scrubs? Shared
/// regions are not: they hold what the partitions sharing them exchange, and
/// one partition restarting must not wipe them.
pub fn is_private_ram(region: &RegionDesc) -> bool {
    region.is_ram() && region.flags & region_flags::SHARED == 0
}

/// When a partition's private RAM is scrubbed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScrubTiming {
    /// Group by group, when the partition first touches it (stage-2 fault).
    OnFirstTouch,
    /// All of it, every time the partition is loaded.
    AtLoad,
}

/// The scrub timing for a partition with `regions`.
///
/// A passed-through device may be a bus master, and DMA does not go through
/// stage 2 (there is no SMMU in front of it): it could write RAM before the
/// partition's first CPU access there, and the scrub on that access would
/// then destroy what the device wrote. A partition with any device window
/// not marked `region_flags::NO_DMA` (which the config tool sets on the
/// GICv2 virtual CPU interface it maps into GICv2 guests and on kinds known
/// to master nothing, a PL011) is scrubbed whole at load.
pub fn timing<'a>(regions: impl IntoIterator<Item = &'a RegionDesc>) -> ScrubTiming {
    let may_dma = |r: &RegionDesc| !r.is_ram() && r.flags & region_flags::NO_DMA == 0;
    if regions.into_iter().any(may_dma) {
        ScrubTiming::AtLoad
    } else {
        ScrubTiming::OnFirstTouch
    }
}

/// What a stage-2 abort on an address of the partition's private RAM means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirstTouch {
    /// The first touch of a parked page: scrub the parked pages of this
    /// range of IPAs (its [`group`]), make them valid, retry the access.
    Scrub(Range<u64>),
    /// The leaf is valid already: another vCPU scrubbed it between this
    /// access's fault and the core's look: retry the access.
    Retry,
    /// Not a first touch: the abort is the partition's fault, as ever.
    NotScrubbing,
}

/// Decides a stage-2 abort at `ipa`, an address of the private RAM region
/// `region` (its IPAs), given the fault status code (DFSC/IFSC) and the
/// stage-2 leaf there (see `pagetable::PageTable::leaf`). Only a
/// translation fault can be a first touch: a parked leaf is an invalid
/// descriptor. A permission fault, an external abort or anything else stays
/// the partition's fault.
pub fn first_touch(
    fault_status: u8,
    ipa: u64,
    region: Range<u64>,
    leaf: Option<Mapping>,
) -> FirstTouch {
    if !crate::esr::is_translation_fault(fault_status) {
        return FirstTouch::NotScrubbing;
    }
    match leaf {
        Some(leaf) if leaf.parked => FirstTouch::Scrub(group(ipa..ipa.saturating_add(1), region)),
        Some(_) => FirstTouch::Retry,
        None => FirstTouch::NotScrubbing,
    }
}

/// The scrub groups `range` overlaps, as one range of IPAs: `range` widened
/// to [`SCRUB_GROUP`] boundaries, then clipped to `region` (a private RAM
/// region need not start or end on a group boundary, and a scrub never
/// reaches past its region). What a first touch scrubs (the group of one
/// address).
pub fn group(range: Range<u64>, region: Range<u64>) -> Range<u64> {
    group_of_size(range, region, SCRUB_GROUP)
}

/// [`group`] for groups of `group_bytes` (a power of two).
fn group_of_size(range: Range<u64>, region: Range<u64>, group_bytes: u64) -> Range<u64> {
    let start = range.start & !(group_bytes - 1);
    let end = range
        .end
        .checked_next_multiple_of(group_bytes)
        .unwrap_or(u64::MAX);
    start.max(region.start)..end.min(region.end)
}

/// Where the bytes of part of a partition's private RAM come from when the
/// core fills it for a run of the partition: at the first touch of its
/// group, or at load for [`ScrubTiming::AtLoad`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// No boot blob lies there: zeroes (a scrub).
    Zero,
    /// Boot blob `index` (of the list given to [`fill`]) lies there: its
    /// bytes from `offset` on.
    Blob {
        /// Which blob.
        index: usize,
        /// Offset in the blob of the part's first byte.
        offset: u64,
    },
}

/// Calls `visit` with consecutive parts of `unit` (IPAs) that tile it, in
/// ascending order, each with where its bytes come from: the boot blobs
/// (image, device tree, initrd) at the IPA ranges `blobs`, zero elsewhere.
/// Where blobs overlap, the later one in the list lies on top, as if they
/// had been copied in in that order. `blobs` may be unsorted, stick out of
/// the unit or be empty; `unit` need not be aligned to anything.
///
/// What the partition sees in its RAM when it starts, byte for byte, no
/// matter when each part is written: so the core can copy the blobs in at
/// load, or group by group on the first touch of each, from the pristine
/// blobs it keeps (a restart then costs no copy).
pub fn fill(unit: Range<u64>, blobs: &[Range<u64>], mut visit: impl FnMut(Range<u64>, Source)) {
    let mut cursor = unit.start;
    while cursor < unit.end {
        // The topmost blob holding the cursor, if any.
        let top = blobs
            .iter()
            .enumerate()
            .rev()
            .find(|(_, blob)| blob.contains(&cursor));
        // The part ends where that blob ends, or where a blob above it
        // (any blob, over zeroes) begins, whichever is first.
        let (above, top_end, source) = match top {
            Some((index, blob)) => (
                index + 1,
                blob.end,
                Source::Blob {
                    index,
                    offset: cursor - blob.start,
                },
            ),
            None => (0, unit.end, Source::Zero),
        };
        let end = blobs
            .iter()
            .skip(above)
            .filter(|blob| !blob.is_empty() && blob.start > cursor)
            .map(|blob| blob.start)
            .fold(top_end.min(unit.end), u64::min);
        visit(cursor..end, source);
        cursor = end;
    }
}

#[cfg(test)]
// Blob lists are arrays of ranges, one long at times.
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
    fn private_ram_is_mapped_with_parked_pages() {
        assert_eq!(PRIVATE_RAM_MAPPING.largest_leaf, LeafSize::Page);
        assert_eq!(PRIVATE_RAM_MAPPING.state, LeafState::Parked);
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
        let gicv = region(0x0804_0000, DEVICE | region_flags::NO_DMA);
        let unmarked_gicv = region(0x0804_0000, DEVICE);
        assert_eq!(timing([&ram, &shared]), ScrubTiming::OnFirstTouch);
        assert_eq!(timing([&ram, &uart]), ScrubTiming::AtLoad);
        // The GICv2 virtual CPU interface is no bus master (the config tool
        // marks it so).
        assert_eq!(timing([&ram, &gicv]), ScrubTiming::OnFirstTouch);
        assert_eq!(timing([&ram, &gicv, &uart]), ScrubTiming::AtLoad);
        assert_eq!(timing([&ram, &unmarked_gicv]), ScrubTiming::AtLoad);
    }

    #[test]
    fn devices_known_to_master_no_dma_keep_the_scrub_lazy() {
        let ram = region(0x4000_0000, RAM);
        let pl011 = region(0x0900_0000, DEVICE | region_flags::NO_DMA);
        let other = region(0x0a00_0000, DEVICE);
        assert_eq!(timing([&ram, &pl011]), ScrubTiming::OnFirstTouch);
        assert_eq!(timing([&ram, &pl011, &other]), ScrubTiming::AtLoad);
    }

    /// A private RAM region of 32 MiB.
    const REGION: Range<u64> = 0x4000_0000..0x4200_0000;

    fn page(parked: bool) -> Mapping {
        Mapping {
            va: 0x4020_1000,
            pa: 0x8020_1000,
            size: 4096,
            level: 3,
            attrs: Attrs::RWX,
            parked,
        }
    }

    #[test]
    fn only_a_translation_fault_on_a_parked_page_is_a_first_touch() {
        let ipa = 0x4020_1234;
        let decide = |status, leaf| first_touch(status, ipa, REGION, leaf);
        for level in 0..4u8 {
            let translation = 0b00_0100 | level;
            assert_eq!(
                decide(translation, Some(page(true))),
                FirstTouch::Scrub(group(ipa..ipa + 1, REGION))
            );
            assert_eq!(decide(translation, Some(page(false))), FirstTouch::Retry);
            assert_eq!(decide(translation, None), FirstTouch::NotScrubbing);
        }
        // Permission, access flag, address size faults and external aborts
        // are the partition's, parked page or not.
        for status in [0b00_1111, 0b00_1010, 0b00_0010, 0b01_0000, 0b10_0001] {
            assert_eq!(
                decide(status, Some(page(true))),
                FirstTouch::NotScrubbing,
                "{status:#x}"
            );
        }
    }

    #[test]
    fn a_first_touch_scrubs_the_aligned_group_holding_the_address() {
        let ipa = 0x4020_1234;
        let FirstTouch::Scrub(scrubbed) = first_touch(0b00_0111, ipa, REGION, Some(page(true)))
        else {
            panic!("a translation fault on a parked page is a first touch");
        };
        assert!(scrubbed.contains(&ipa));
        assert_eq!(scrubbed.end - scrubbed.start, SCRUB_GROUP);
        assert_eq!(scrubbed.start % SCRUB_GROUP, 0);
        // The group for each size the core can be built with.
        let one = |size| group_of_size(ipa..ipa + 1, REGION, size);
        assert_eq!(one(4 << 10), 0x4020_1000..0x4020_2000);
        assert_eq!(one(64 << 10), 0x4020_0000..0x4021_0000);
        assert_eq!(one(MIB2), 0x4020_0000..0x4040_0000);
    }

    #[test]
    fn groups_stay_inside_their_region() {
        // A region that starts and ends off the group boundaries.
        let region = 0x4000_3000..0x4001_5000;
        let sized = |range, size| group_of_size(range, region.clone(), size);
        assert_eq!(
            sized(0x4000_4000..0x4000_4001, 64 << 10),
            0x4000_3000..0x4001_0000
        );
        assert_eq!(
            sized(0x4001_4ff8..0x4001_5000, 64 << 10),
            0x4001_0000..0x4001_5000
        );
        assert_eq!(sized(0x4000_4000..0x4000_4001, MIB2), region);
        // At the top of the address space the end does not wrap.
        let top = u64::MAX - 0xfff..u64::MAX;
        assert_eq!(
            group_of_size(top.clone(), 0..u64::MAX, 64 << 10),
            u64::MAX - 0xffff..u64::MAX
        );
        // Every group holds its address, lies in the region and is no
        // larger than a group.
        let mut ipa = region.start;
        while ipa < region.end {
            for size in [4 << 10, 16 << 10, 64 << 10, MIB2] {
                let g = sized(ipa..ipa + 1, size);
                assert!(g.contains(&ipa), "{ipa:#x} {size:#x}");
                assert!(region.start <= g.start && g.end <= region.end);
                assert!(g.end - g.start <= size);
                assert!(g.start == region.start || g.start % size == 0);
                assert!(g.end == region.end || g.end % size == 0);
            }
            ipa += 0x800;
        }
    }

    #[test]
    fn a_blob_widens_to_the_groups_it_overlaps() {
        // Linux's image from the region's start, its device tree in the
        // middle of a group, an initrd running past the region's end.
        let region = 0x4000_0000..0x5000_0000;
        let sized = |range, size| group_of_size(range, region.clone(), size);
        assert_eq!(
            sized(0x4000_0000..0x4210_0001, 64 << 10),
            0x4000_0000..0x4211_0000
        );
        assert_eq!(
            sized(0x4000_0000..0x4210_0001, MIB2),
            0x4000_0000..0x4220_0000
        );
        assert_eq!(
            sized(0x4801_2345..0x4801_3000, 64 << 10),
            0x4801_0000..0x4802_0000
        );
        assert_eq!(
            sized(0x4fff_0000..0x5000_1000, MIB2),
            0x4fe0_0000..0x5000_0000
        );
        // A blob ending on a boundary takes no extra group.
        assert_eq!(
            sized(0x4001_0000..0x4002_0000, 64 << 10),
            0x4001_0000..0x4002_0000
        );
    }

    /// The parts [`fill`] visits in `unit`.
    fn parts(unit: Range<u64>, blobs: &[Range<u64>]) -> Vec<(Range<u64>, Source)> {
        let mut out = Vec::new();
        fill(unit, blobs, |part, source| out.push((part, source)));
        out
    }

    fn blob(index: usize, offset: u64) -> Source {
        Source::Blob { index, offset }
    }

    /// The source of the byte at `ipa`, worked out byte by byte: the last
    /// blob holding it, or zero.
    fn source_of(ipa: u64, blobs: &[Range<u64>]) -> Source {
        blobs
            .iter()
            .enumerate()
            .rev()
            .find(|(_, b)| b.contains(&ipa))
            .map_or(Source::Zero, |(index, b)| blob(index, ipa - b.start))
    }

    /// Checks that the parts tile `unit` in order, each byte from where
    /// [`source_of`] says, and that no two neighbours could be one part.
    fn check_tiling(unit: Range<u64>, blobs: &[Range<u64>]) {
        let parts = parts(unit.clone(), blobs);
        let mut cursor = unit.start;
        for (i, (part, source)) in parts.iter().enumerate() {
            assert_eq!(part.start, cursor, "{unit:?} {blobs:?}: gap or overlap");
            assert!(part.start < part.end, "{unit:?} {blobs:?}: empty part");
            for ipa in part.clone() {
                let expected = match *source {
                    Source::Zero => Source::Zero,
                    Source::Blob { index, offset } => blob(index, offset + (ipa - part.start)),
                };
                assert_eq!(
                    source_of(ipa, blobs),
                    expected,
                    "{unit:?} {blobs:?} at {ipa}"
                );
            }
            if let Some((next, next_source)) = parts.get(i + 1) {
                let continues = match (*source, *next_source) {
                    (Source::Zero, Source::Zero) => true,
                    (
                        Source::Blob { index, offset },
                        Source::Blob {
                            index: n,
                            offset: o,
                        },
                    ) => index == n && offset + (part.end - part.start) == o,
                    _ => false,
                };
                assert!(
                    !continues,
                    "{unit:?} {blobs:?}: {part:?} and {next:?} are one part"
                );
            }
            cursor = part.end;
        }
        assert_eq!(
            cursor,
            unit.end.max(unit.start),
            "{unit:?} {blobs:?}: short"
        );
    }

    const G: u64 = SCRUB_GROUP;

    #[test]
    fn a_group_without_blobs_is_zero() {
        assert_eq!(parts(0..G, &[]), [(0..G, Source::Zero)]);
        // Blobs elsewhere, and empty blobs inside it, change nothing.
        let elsewhere = [G..2 * G, 5 * G..9 * G, 100..100, G / 2..G / 2];
        assert_eq!(parts(0..G, &elsewhere), [(0..G, Source::Zero)]);
        // An empty unit has no parts.
        assert_eq!(parts(G..G, &[0..2 * G]), []);
    }

    #[test]
    fn a_group_inside_a_blob_comes_from_it_whole() {
        // The image, from the region's start over many groups.
        let image = 0x4000_0000..0x4210_0200;
        let group = 0x4020_0000..0x4020_0000 + G;
        assert_eq!(
            parts(group.clone(), core::slice::from_ref(&image)),
            [(group, blob(0, 0x20_0000))]
        );
        // Its first group.
        assert_eq!(
            parts(0x4000_0000..0x4000_0000 + G, &[image]),
            [(0x4000_0000..0x4000_0000 + G, blob(0, 0))]
        );
    }

    #[test]
    fn a_group_straddling_a_blob_start_or_end_is_zero_around_it() {
        let group = 0x4800_0000..0x4800_0000 + G;
        // A blob starting inside the group and running past it.
        assert_eq!(
            parts(group.clone(), &[0x4800_1234..0x4900_0000]),
            [
                (0x4800_0000..0x4800_1234, Source::Zero),
                (0x4800_1234..group.end, blob(0, 0)),
            ]
        );
        // A blob (not group-aligned) ending inside the group.
        assert_eq!(
            parts(group.clone(), &[0x47ff_0003..0x4800_0777]),
            [
                (0x4800_0000..0x4800_0777, blob(0, 0x4800_0000 - 0x47ff_0003)),
                (0x4800_0777..group.end, Source::Zero),
            ]
        );
        // A blob ending exactly at the group's start or end boundary.
        assert_eq!(
            parts(group.clone(), &[0x47ff_0000..0x4800_0000]),
            [(group.clone(), Source::Zero)]
        );
        assert_eq!(
            parts(group.clone(), &[0x47ff_8000..group.end]),
            [(group.clone(), blob(0, 0x8000))]
        );
        // A blob starting exactly at the next group.
        assert_eq!(
            parts(group.clone(), &[group.end..group.end + 10]),
            [(group, Source::Zero)]
        );
    }

    #[test]
    fn two_blobs_in_one_group_are_both_there() {
        // The device tree and an initrd right after it, in the order the
        // partition passes them (image, device tree, initrd).
        let group = 0x4800_0000..0x4800_0000 + G;
        let blobs = [
            0x4000_0000..0x4210_0000,
            0x4800_0100..0x4800_2100,
            0x4800_3000..0x4880_0000,
        ];
        assert_eq!(
            parts(group.clone(), &blobs),
            [
                (0x4800_0000..0x4800_0100, Source::Zero),
                (0x4800_0100..0x4800_2100, blob(1, 0)),
                (0x4800_2100..0x4800_3000, Source::Zero),
                (0x4800_3000..group.end, blob(2, 0)),
            ]
        );
        // Back to back, listed in reverse.
        let blobs = [0x4800_2100..0x4800_4000, 0x4800_0100..0x4800_2100];
        assert_eq!(
            parts(group.clone(), &blobs),
            [
                (0x4800_0000..0x4800_0100, Source::Zero),
                (0x4800_0100..0x4800_2100, blob(1, 0)),
                (0x4800_2100..0x4800_4000, blob(0, 0)),
                (0x4800_4000..group.end, Source::Zero),
            ]
        );
    }

    #[test]
    fn a_later_blob_lies_on_top_of_an_earlier_one() {
        // As copying them in list order would leave them.
        assert_eq!(
            parts(0..100, &[0..100, 10..20]),
            [
                (0..10, blob(0, 0)),
                (10..20, blob(1, 0)),
                (20..100, blob(0, 20))
            ]
        );
        assert_eq!(parts(0..100, &[10..20, 0..100]), [(0..100, blob(1, 0))]);
        assert_eq!(
            parts(0..100, &[5..50, 30..70, 60..90]),
            [
                (0..5, Source::Zero),
                (5..30, blob(0, 0)),
                (30..60, blob(1, 0)),
                (60..90, blob(2, 0)),
                (90..100, Source::Zero),
            ]
        );
    }

    #[test]
    fn the_parts_tile_every_unit_as_copying_in_order_would() {
        // Every unit and every layout of up to three blobs (empty ones too)
        // over a small span, against the byte-by-byte answer.
        let bounds = [0u64, 3, 8, 13, 16, 21, 32];
        let ranges: Vec<Range<u64>> = bounds
            .iter()
            .flat_map(|&a| bounds.iter().filter(move |&&b| b >= a).map(move |&b| a..b))
            .collect();
        for unit in [0..32, 8..16, 5..27, 16..17] {
            check_tiling(unit.clone(), &[]);
            for a in &ranges {
                check_tiling(unit.clone(), core::slice::from_ref(a));
                for b in &ranges {
                    check_tiling(unit.clone(), &[a.clone(), b.clone()]);
                    for c in ranges.iter().step_by(3) {
                        check_tiling(unit.clone(), &[a.clone(), b.clone(), c.clone()]);
                    }
                }
            }
        }
    }

    #[test]
    fn the_top_of_the_address_space_does_not_wrap() {
        let top = u64::MAX - G..u64::MAX;
        assert_eq!(
            parts(top.clone(), &[u64::MAX - 4..u64::MAX]),
            [
                (top.start..u64::MAX - 4, Source::Zero),
                (u64::MAX - 4..u64::MAX, blob(0, 0)),
            ]
        );
    }
}
