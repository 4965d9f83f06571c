//! Builds the boot manifest: places every image and device tree, lays out
//! physical memory around the real size of the loaded image, and encodes the
//! result with `kernel_core::manifest::build::encode`.
//!
//! Each partition's regions are, in order: its RAM (config order), the GICv2
//! CPU interface (GICv2 only), its passthrough windows, then its shared
//! mappings (in the order of the `[[shared]]` tables). Endpoints and
//! notifications keep their config order as manifest indices; a capability
//! on a partition names it by its config index.

use kernel_core::manifest::build::{encode, PartitionSpec, SystemSpec};
use kernel_core::manifest::{
    region_flags, Board, CapDesc, DeviceDesc, EndpointDesc, InterruptDesc, Manifest,
    NotificationDesc, RegionDesc, END_MARKER, NO_INDEX,
};
use platform::board::{BoardSpec, QEMU_VIRT, RPI4};

use crate::boot_blobs;
use crate::diagnostics::ConfigError;
use crate::guest_map::{GICC_IPA, GICC_SIZE};
use crate::layout::{lay_out, MemoryLayout};
use crate::system::{Partition, System};

/// A manifest index from a config index (validation keeps every table far
/// below `u32::MAX` entries).
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(NO_INDEX)
}

/// The manifest's board number for a board running a GIC version.
pub fn manifest_board(board: &BoardSpec, gic_version: u8) -> Option<Board> {
    match gic_version {
        3 if board.name == QEMU_VIRT.name => Some(Board::QemuVirtGicV3),
        2 if board.name == QEMU_VIRT.name => Some(Board::QemuVirtGicV2),
        2 if board.name == RPI4.name => Some(Board::Rpi4),
        _ => None,
    }
}

/// Lays out physical memory, generates each partition's device tree and
/// encodes the manifest.
///
/// `images[i]` is partition `i`'s image. `kernel_footprint` is how many bytes
/// the kernel occupies from `board.kernel_load` (its padded flat binary); the
/// manifest is appended right after it, followed by the 16-byte end marker.
pub fn build_manifest(
    system: &System,
    images: &[Vec<u8>],
    kernel_footprint: u64,
) -> Result<Vec<u8>, ConfigError> {
    let fail = |line: Option<usize>, message: String| ConfigError::new(&system.path, line, message);
    if images.len() != system.partitions.len() {
        return Err(fail(
            None,
            format!(
                "{} images were given for {} partitions",
                images.len(),
                system.partitions.len()
            ),
        ));
    }
    let board = manifest_board(system.board, system.gic).ok_or_else(|| {
        fail(
            None,
            format!(
                "board \"{}\" with GIC version {} has no manifest board number",
                system.board.name, system.gic
            ),
        )
    })?;

    let mut specs = Vec::with_capacity(images.len());
    for (partition_index, (partition, image)) in system.partitions.iter().zip(images).enumerate() {
        let spec = partition_spec(system, partition_index, partition, image)
            .map_err(|message| fail(Some(partition.line), message))?;
        specs.push(spec);
    }

    // The manifest's length does not depend on the PAs (they are fixed-size
    // fields), so encode once to learn where the loaded image ends, lay memory
    // out clear of it, then encode for real.
    let mut spec = SystemSpec {
        board,
        partitions: specs,
        endpoints: system
            .endpoints
            .iter()
            .map(|e| EndpointDesc {
                server: index(e.server),
            })
            .collect(),
        notifications: system
            .notifications
            .iter()
            .map(|n| NotificationDesc {
                irq: n.irq.unwrap_or(0),
                virq_partition: n.virq.map_or(NO_INDEX, |v| index(v.partition)),
                virq: n.virq.map_or(0, |v| v.intid),
            })
            .collect(),
        supervisor: system.supervisor().map(index),
        fault_notification: system.fault_notification().map(index),
    };
    let manifest_len = encode(&spec).len() as u64;
    let image_end = system
        .board
        .kernel_load
        .saturating_add(kernel_footprint)
        .saturating_add(manifest_len)
        .saturating_add(END_MARKER.len() as u64);
    let layout = lay_out(
        system.board,
        system.ram_size,
        &system.partitions,
        &system.shared,
        image_end,
    )
    .map_err(|error| fail(None, error.to_string()))?;
    for (partition_index, partition) in spec.partitions.iter_mut().enumerate() {
        partition.regions = region_descs(system, partition_index, Some(&layout))
            .map_err(|message| fail(None, message))?;
    }
    let manifest = encode(&spec);

    // Run the core's own checks now, so an inconsistency is a build error
    // rather than a refusal at boot.
    if let Err(error) = Manifest::parse(&manifest) {
        return Err(fail(
            None,
            format!("the encoded manifest is refused by the core's checks: {error}"),
        ));
    }
    if manifest.len() as u64 != manifest_len {
        return Err(fail(
            None,
            format!(
                "the manifest changed length from {manifest_len} to {} bytes when its addresses were filled in",
                manifest.len()
            ),
        ));
    }
    Ok(manifest)
}

/// A partition's regions. Without a layout the PAs are placeholders (each
/// RAM region's IPA, 0 for shared memory): the manifest's length does not
/// depend on them.
fn region_descs(
    system: &System,
    partition_index: usize,
    layout: Option<&MemoryLayout>,
) -> Result<Vec<RegionDesc>, String> {
    let partition = system
        .partitions
        .get(partition_index)
        .ok_or_else(|| format!("partition {partition_index} does not exist"))?;
    let who = format!("partition \"{}\"", partition.name);
    let ram_pas = layout.and_then(|l| l.region_pas.get(partition_index));
    let mut regions: Vec<RegionDesc> = partition
        .memory
        .iter()
        .enumerate()
        .map(|(r, region)| RegionDesc {
            ipa: region.ipa,
            pa: ram_pas
                .and_then(|pas| pas.get(r).copied())
                .unwrap_or(region.ipa),
            size: region.size,
            flags: region.perms.region_flags(),
        })
        .collect();
    let device_rw = region_flags::DEVICE | region_flags::READ | region_flags::WRITE;
    if system.gic == 2 {
        // A GICv2 guest programs its CPU interface through MMIO: map the
        // board's virtual CPU interface (GICV) where the guest's device tree
        // puts GICC (GICv2 spec 5.5 "GIC virtual CPU interface").
        let gicv = system.board.gicv.ok_or_else(|| {
            format!(
                "{who}: board \"{}\" has no GICv2 virtual CPU interface to map",
                system.board.name
            )
        })?;
        regions.push(RegionDesc {
            ipa: GICC_IPA,
            pa: gicv,
            size: GICC_SIZE,
            // The GIC's own interface masters no DMA: the partition's RAM
            // may still be scrubbed on first touch.
            flags: device_rw | region_flags::NO_DMA,
        });
    }
    regions.extend(partition.passthrough.iter().map(|p| RegionDesc {
        ipa: p.ipa,
        pa: p.pa,
        size: p.size,
        flags: device_rw | p.kind.dma_flag(),
    }));
    for (s, shared) in system.shared.iter().enumerate() {
        let pa = layout
            .and_then(|l| l.shared_pas.get(s).copied())
            .unwrap_or(0);
        for mapping in shared
            .mappings
            .iter()
            .filter(|m| m.partition == partition_index)
        {
            regions.push(RegionDesc {
                ipa: mapping.ipa,
                pa,
                size: shared.size,
                flags: region_flags::SHARED | mapping.perms.region_flags(),
            });
        }
    }
    Ok(regions)
}

/// A partition's manifest record, with placeholder PAs (see [`region_descs`]).
fn partition_spec(
    system: &System,
    partition_index: usize,
    partition: &Partition,
    image: &[u8],
) -> Result<PartitionSpec, String> {
    let who = format!("partition \"{}\"", partition.name);
    if image.is_empty() {
        return Err(format!("{who}: its image is empty"));
    }
    let initrd = match &partition.initrd {
        Some(path) => std::fs::read(path)
            .map_err(|error| format!("{who}: cannot read initrd {}: {error}", path.display()))?,
        None => Vec::new(),
    };
    let initrd_len = partition.initrd.as_ref().map(|_| initrd.len() as u64);
    let blobs = boot_blobs::prepare(partition, system.gic, image, image.len() as u64, initrd_len)
        .map_err(|error| format!("{who}: {error}"))?;
    Ok(PartitionSpec {
        name: partition.name.clone(),
        kind: partition.kind,
        restart: partition.restart,
        flags: if partition.pmu {
            kernel_core::manifest::partition_flags::PMU
        } else {
            0
        },
        max_restarts: partition.max_restarts,
        restart_window_ms: partition.restart_window_ms,
        vcpus: partition.vcpus.clone(),
        regions: region_descs(system, partition_index, None)?,
        caps: partition
            .caps
            .iter()
            .map(|cap| CapDesc {
                slot: cap.slot,
                kind: cap.object.kind(),
                rights: cap.rights,
                object: index(cap.object.index()),
                badge: cap.badge,
            })
            .collect(),
        devices: partition
            .devices
            .iter()
            .map(|device| DeviceDesc {
                ipa: device.ipa,
                size: device.size,
                endpoint: index(device.endpoint),
                virq: device.irq.unwrap_or(0),
                badge: device.badge,
            })
            .collect(),
        entry_ipa: blobs.image.image_ipa,
        image: image.to_vec(),
        image_ipa: blobs.image.image_ipa,
        dtb: blobs.dtb,
        dtb_ipa: blobs.dtb_ipa,
        initrd,
        initrd_ipa: blobs.initrd_ipa.unwrap_or(0),
        interrupts: partition
            .passthrough
            .iter()
            .filter_map(|p| p.irq)
            .map(|intid| InterruptDesc { intid })
            .collect(),
    })
}
