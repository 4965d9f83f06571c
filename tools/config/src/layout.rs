//! Physical memory layout: which host RAM backs each partition region.
//!
//! The loaded system image sits at `board.kernel_load`; the core keeps
//! [`CORE_RESERVED_BYTES`] after it for its boot heap. Everything from the end of
//! that reserve (rounded up to 2 MiB) to the end of RAM is partition memory,
//! handed out top-down in config order. Each region's PA is congruent to its
//! IPA modulo 2 MiB, so stage 2 can map every 2 MiB-aligned stretch of the
//! region with a block descriptor (Arm ARM D8.3 "Translation table descriptor
//! formats": a level-2 block maps 2 MiB with 4 KiB granules); in particular a
//! region with a 2 MiB-aligned IPA gets a 2 MiB-aligned PA.
//!
//! Shared regions come after all partition memory, each one physical
//! allocation mapped into several partitions at possibly different IPAs. A
//! shared region of at least 2 MiB whose mappings all have the same IPA
//! modulo 2 MiB is placed congruent to them, so every mapping can use blocks;
//! any other is only 4 KiB aligned, which costs no padding.

use std::fmt;

use kernel_core::manifest::CORE_RESERVED_BYTES;
use platform::board::BoardSpec;

use crate::system::{Partition, SharedRegion};
use crate::units::{mib_rounded_down, mib_rounded_up, KIB, MIB};

/// Size of a level-2 stage-2 block with 4 KiB granules.
pub const BLOCK_SIZE: u64 = 2 * MIB;

/// Stage-2 page size: the alignment of a shared region that cannot use blocks.
const PAGE_SIZE: u64 = 4 * KIB;

/// The physical address backing each region of each partition, and each
/// shared region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryLayout {
    /// First byte partitions may use: the end of the core's reserve.
    pub core_end: u64,
    /// `region_pas[p][r]` backs region `r` of partition `p`.
    pub region_pas: Vec<Vec<u64>>,
    /// `shared_pas[s]` backs shared region `s`.
    pub shared_pas: Vec<u64>,
}

/// The partitions' memory does not fit between the core and the end of RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutError {
    /// Bytes the top-down layout needs, alignment padding included.
    pub needed: u64,
    /// Bytes free between the core's end and the end of RAM.
    pub free: u64,
    /// The core's end.
    pub core_end: u64,
    /// The end of RAM.
    pub ram_end: u64,
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the partitions' memory does not fit: it needs {} MiB (alignment included), but only {} MiB of RAM are free above the core ({:#x}..{:#x})",
            mib_rounded_up(self.needed),
            mib_rounded_down(self.free),
            self.core_end,
            self.ram_end
        )
    }
}

/// First address partitions may use when the loaded image ends at `image_end`:
/// past the core's reserve, rounded up to a block, and above the firmware's
/// low memory.
pub fn core_end(board: &BoardSpec, image_end: u64) -> u64 {
    let reserve_end = image_end.saturating_add(CORE_RESERVED_BYTES);
    let rounded = reserve_end.div_ceil(BLOCK_SIZE).saturating_mul(BLOCK_SIZE);
    rounded.max(board.ram_base.saturating_add(board.firmware_reserved))
}

/// The residue modulo [`BLOCK_SIZE`] a shared region's PA must have so that
/// every mapping can use blocks; `None` when blocks cannot help (smaller than
/// a block, or mappings that disagree).
fn shared_block_residue(region: &SharedRegion) -> Option<u64> {
    if region.size < BLOCK_SIZE {
        return None;
    }
    let mut residues = region.mappings.iter().map(|m| m.ipa % BLOCK_SIZE);
    let first = residues.next()?;
    residues.all(|r| r == first).then_some(first)
}

/// Lays out every region of every partition, top-down from the end of RAM
/// (`board.ram_base + ram_size`), in config order, then every shared region.
pub fn lay_out(
    board: &BoardSpec,
    ram_size: u64,
    partitions: &[Partition],
    shared: &[SharedRegion],
    image_end: u64,
) -> Result<MemoryLayout, LayoutError> {
    let ram_end = board.ram_base.saturating_add(ram_size);
    let core_end = core_end(board, image_end);
    // Signed arithmetic lets an oversubscribed layout run below zero, so the
    // error can say how much it would have needed.
    let block = i128::from(BLOCK_SIZE);
    let mut top = i128::from(ram_end);
    let mut region_pas = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let mut pas = Vec::with_capacity(partition.memory.len());
        for region in &partition.memory {
            let highest = top - i128::from(region.size);
            // The largest PA at or below `highest` that is congruent to the IPA.
            let pa = highest - (highest - i128::from(region.ipa)).rem_euclid(block);
            pas.push(pa);
            top = pa;
        }
        region_pas.push(pas);
    }
    let mut shared_pas = Vec::with_capacity(shared.len());
    for region in shared {
        let highest = top - i128::from(region.size);
        let pa = match shared_block_residue(region) {
            Some(residue) => highest - (highest - i128::from(residue)).rem_euclid(block),
            None => highest - highest.rem_euclid(i128::from(PAGE_SIZE)),
        };
        shared_pas.push(pa);
        top = pa;
    }
    if top < i128::from(core_end) {
        let needed = i128::from(ram_end) - top;
        return Err(LayoutError {
            needed: u64::try_from(needed).unwrap_or(u64::MAX),
            free: ram_end.saturating_sub(core_end),
            core_end,
            ram_end,
        });
    }
    // Every PA is now in [core_end, ram_end), so the conversions cannot fail.
    let to_u64 = |pa: i128| u64::try_from(pa).unwrap_or(0);
    let region_pas = region_pas
        .into_iter()
        .map(|pas| pas.into_iter().map(to_u64).collect())
        .collect();
    Ok(MemoryLayout {
        core_end,
        region_pas,
        shared_pas: shared_pas.into_iter().map(to_u64).collect(),
    })
}

#[cfg(test)]
mod tests {
    use kernel_core::manifest::{PartitionKind, RestartPolicy, VcpuDesc};
    use platform::board::{QEMU_VIRT, RPI4};

    use super::*;
    use crate::system::{ImageSource, Perms, Region, SharedMapping};

    fn partition(regions: &[(u64, u64)]) -> Partition {
        Partition {
            name: "p".into(),
            kind: PartitionKind::Guest,
            source: ImageSource::Program("testguest".into()),
            initrd: None,
            bootargs: None,
            restart: RestartPolicy::Never,
            max_restarts: 0,
            restart_window_ms: 0,
            pmu: false,
            vcpus: vec![VcpuDesc {
                cpu: 0,
                priority: 10,
            }],
            memory: regions
                .iter()
                .map(|&(ipa, size)| Region {
                    ipa,
                    size,
                    perms: Perms::RWX,
                })
                .collect(),
            supervisor: false,
            caps: vec![],
            devices: vec![],
            passthrough: vec![],
            line: 1,
        }
    }

    fn shared(size: u64, ipas: &[u64]) -> SharedRegion {
        SharedRegion {
            name: "s".into(),
            size,
            mappings: ipas
                .iter()
                .enumerate()
                .map(|(partition, &ipa)| SharedMapping {
                    partition,
                    ipa,
                    perms: Perms::RW,
                    line: 1,
                })
                .collect(),
            line: 1,
        }
    }

    #[test]
    fn core_end_covers_the_reserve_and_rounds_to_a_block() {
        let end = core_end(&QEMU_VIRT, 0x4008_0000 + 0x12345);
        assert_eq!(end % BLOCK_SIZE, 0);
        assert!(end >= 0x4008_0000 + 0x12345 + CORE_RESERVED_BYTES);
        assert!(end - BLOCK_SIZE < 0x4008_0000 + 0x12345 + CORE_RESERVED_BYTES);
        // The firmware's low memory is never handed out, however small the image.
        let pi = RPI4;
        let tiny = BoardSpec {
            firmware_reserved: 64 * MIB,
            ..pi
        };
        assert_eq!(core_end(&tiny, 0), 64 * MIB);
    }

    #[test]
    fn regions_are_placed_top_down_in_config_order() {
        let parts = [
            partition(&[(0x4000_0000, 16 * MIB)]),
            partition(&[(0x4000_0000, 16 * MIB), (0x8000_0000, 4 * MIB)]),
        ];
        let layout = lay_out(&QEMU_VIRT, 1 << 30, &parts, &[], 0x4010_0000).unwrap();
        let ram_end = 0x8000_0000;
        assert_eq!(layout.region_pas[0], [ram_end - 16 * MIB]);
        assert_eq!(
            layout.region_pas[1],
            [ram_end - 32 * MIB, ram_end - 36 * MIB]
        );
    }

    #[test]
    fn pas_are_congruent_to_ipas_modulo_2mib() {
        let parts = [partition(&[
            (0x4000_0000, 0x1000),
            (0x5012_3000, 0x5000),
            (0x6000_0000, 6 * MIB),
            (0x7030_0000, 3 * MIB),
        ])];
        let layout = lay_out(&QEMU_VIRT, 1 << 30, &parts, &[], 0x4010_0000).unwrap();
        let mut previous_start = 0x8000_0000;
        for (region, &pa) in parts[0].memory.iter().zip(&layout.region_pas[0]) {
            assert_eq!(pa % BLOCK_SIZE, region.ipa % BLOCK_SIZE, "{pa:#x}");
            assert!(pa + region.size <= previous_start, "overlap at {pa:#x}");
            assert!(pa >= layout.core_end);
            previous_start = pa;
        }
        // A 2 MiB-aligned IPA gets a 2 MiB-aligned PA.
        assert_eq!(layout.region_pas[0][2] % BLOCK_SIZE, 0);
    }

    #[test]
    fn a_layout_that_does_not_fit_says_what_it_needs() {
        // 1 GiB of RAM, image ends at 0x4010_0000 so the core ends at 0x4120_0000:
        // 1006 MiB are free.
        let parts = [
            partition(&[(0x4000_0000, 512 * MIB)]),
            partition(&[(0x4000_0000, 512 * MIB)]),
        ];
        let err = lay_out(&QEMU_VIRT, 1 << 30, &parts, &[], 0x4010_0000).unwrap_err();
        assert_eq!(err.needed, 1024 * MIB);
        assert_eq!(err.free, 1006 * MIB);
        assert_eq!(
            err.to_string(),
            "the partitions' memory does not fit: it needs 1024 MiB (alignment included), but only 1006 MiB of RAM are free above the core (0x41200000..0x80000000)"
        );
        // Exactly the free amount fits.
        let parts = [partition(&[(0x4000_0000, 1006 * MIB)])];
        let layout = lay_out(&QEMU_VIRT, 1 << 30, &parts, &[], 0x4010_0000).unwrap();
        assert_eq!(layout.region_pas[0], [0x4120_0000]);
    }

    #[test]
    fn alignment_padding_counts_towards_the_need() {
        // A 4 KiB region at an IPA 4 KiB above a block boundary, then a
        // 2 MiB-aligned region: the second must skip to the next block below.
        let parts = [partition(&[(0x4000_1000, 0x1000), (0x5000_0000, 2 * MIB)])];
        let layout = lay_out(&QEMU_VIRT, 1 << 30, &parts, &[], 0x4010_0000).unwrap();
        assert_eq!(layout.region_pas[0], [0x7fe0_1000, 0x7fc0_0000]);
    }

    #[test]
    fn shared_regions_follow_partition_memory() {
        let parts = [partition(&[(0x4000_0000, 16 * MIB)])];
        let regions = [
            // Small: 4 KiB aligned only, right below the partition.
            shared(0x3000, &[0x5000_0000, 0x6000_1000]),
            // Large, mappings agree modulo 2 MiB: congruent to them.
            shared(4 * MIB, &[0x7010_0000, 0x8010_0000]),
            // Large, mappings disagree: 4 KiB aligned, no padding.
            shared(2 * MIB, &[0x7000_0000, 0x8000_1000]),
        ];
        let layout = lay_out(&QEMU_VIRT, 1 << 30, &parts, &regions, 0x4010_0000).unwrap();
        let partition_pa = layout.region_pas[0][0];
        assert_eq!(partition_pa, 0x8000_0000 - 16 * MIB);
        assert_eq!(layout.shared_pas[0], partition_pa - 0x3000);
        assert_eq!(layout.shared_pas[1] % BLOCK_SIZE, 0x10_0000);
        assert!(layout.shared_pas[1] + 4 * MIB <= layout.shared_pas[0]);
        assert_eq!(layout.shared_pas[2], layout.shared_pas[1] - 2 * MIB);
        for pa in &layout.shared_pas {
            assert_eq!(pa % PAGE_SIZE, 0);
            assert!(*pa >= layout.core_end);
        }
    }

    #[test]
    fn shared_regions_count_towards_the_need() {
        let parts = [partition(&[(0x4000_0000, 1000 * MIB)])];
        let regions = [shared(8 * MIB, &[0x5000_0000])];
        let err = lay_out(&QEMU_VIRT, 1 << 30, &parts, &regions, 0x4010_0000).unwrap_err();
        assert_eq!(err.needed, 1008 * MIB);
    }
}
