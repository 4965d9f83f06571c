//! `build_manifest` end to end: the manifest it encodes passes the core's own
//! parser and says what the config said; the physical layout is top-down,
//! congruent and clear of the core; each guest's device tree, parsed back with
//! the `fdt` crate, describes its memory, vCPUs, PSCI, timer and GIC.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use bulkhead_config::guest_map::{GICC_IPA, GICC_SIZE, GICD_IPA, GICR_IPA};
use bulkhead_config::{build_manifest, parse_str, System};
use kernel_core::manifest::{
    partition_flags, region_flags, Board, Manifest, PartitionDesc, RegionDesc, RestartPolicy,
    CORE_RESERVED_BYTES, END_MARKER,
};

const MIB: u64 = 1 << 20;
const KERNEL_FOOTPRINT: u64 = 0x4_0000;

fn system(text: &str) -> System {
    parse_str(Path::new("inline.toml"), text).unwrap_or_else(|error| panic!("{error}"))
}

fn default_system() -> System {
    bulkhead_config::load(Path::new("tests/fixtures/two-guests.toml")).unwrap()
}

/// A bare-metal image: no arm64 Image header.
fn program_image(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// An image with an arm64 Linux Image header.
fn linux_image(text_offset: u64, image_size: u64, len: usize) -> Vec<u8> {
    let mut image = program_image(len);
    image[8..16].copy_from_slice(&text_offset.to_le_bytes());
    image[16..24].copy_from_slice(&image_size.to_le_bytes());
    image[56..60].copy_from_slice(b"ARM\x64");
    image
}

fn two_vcpu_system(board: &str, gic: u8) -> System {
    system(&format!(
        r#"
[board]
name = "{board}"
gic = {gic}

[[partition]]
name = "smp"
kind = "guest"
program = "testguest"
bootargs = "scenario=smp"
restart = "on-crash"
max_restarts = 5
restart_window = "10s"
pmu = true
  [[partition.vcpu]]
  cpu = 0
  priority = 20
  [[partition.vcpu]]
  cpu = 1
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "16MiB"
  [[partition.memory]]
  ipa = 0x6000_0000
  size = "64KiB"
"#
    ))
}

/// The big-endian u32 cells of a property.
fn cells(node: fdt::node::FdtNode<'_, '_>, name: &str) -> Vec<u32> {
    let property = node
        .property(name)
        .unwrap_or_else(|| panic!("{} has no {name}", node.name));
    property
        .value
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect()
}

/// A property's cells read as pairs forming u64s (two address/size cells).
fn cells_u64(node: fdt::node::FdtNode<'_, '_>, name: &str) -> Vec<u64> {
    cells(node, name)
        .chunks(2)
        .map(|pair| (u64::from(pair[0]) << 32) | u64::from(pair[1]))
        .collect()
}

fn strings(node: fdt::node::FdtNode<'_, '_>, name: &str) -> Vec<String> {
    node.property(name)
        .unwrap_or_else(|| panic!("{} has no {name}", node.name))
        .value
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

fn ram_regions(m: &Manifest<'_>, p: &PartitionDesc<'_>) -> Vec<RegionDesc> {
    m.regions_of(p).filter(RegionDesc::is_ram).collect()
}

#[test]
fn the_default_system_round_trips_through_the_core_parser() {
    let system = default_system();
    let images = vec![program_image(5000), program_image(9000)];
    let bytes = build_manifest(&system, &images, KERNEL_FOOTPRINT).unwrap();
    let manifest = Manifest::parse(&bytes).unwrap();
    assert_eq!(manifest.board(), Board::QemuVirtGicV3);
    assert_eq!(manifest.partition_count(), 2);
    for ((desc, partition), image) in manifest.partitions().zip(&system.partitions).zip(&images) {
        assert_eq!(desc.name, partition.name);
        assert_eq!(desc.restart, RestartPolicy::Never);
        assert_eq!(desc.flags, 0);
        assert_eq!(manifest.blob(desc.image), &image[..]);
        assert_eq!(desc.image_ipa, 0x4000_0000);
        assert_eq!(desc.entry_ipa, 0x4000_0000);
        let dtb = manifest.blob(desc.dtb);
        assert!(!dtb.is_empty());
        // The device tree sits page aligned at the top of the 16 MiB region.
        assert_eq!(desc.dtb_ipa % 4096, 0);
        assert_eq!(
            desc.dtb_ipa,
            0x4100_0000 - (dtb.len() as u64).div_ceil(4096) * 4096
        );
        let vcpus: Vec<_> = manifest.vcpus_of(&desc).collect();
        assert_eq!(vcpus, partition.vcpus);
        // GICv3 needs no device region.
        assert_eq!(manifest.regions_of(&desc).count(), 1);
    }
    // Building is deterministic.
    assert_eq!(
        bytes,
        build_manifest(&system, &images, KERNEL_FOOTPRINT).unwrap()
    );
}

#[test]
fn memory_is_laid_out_top_down_clear_of_the_core() {
    let system = default_system();
    let bytes = build_manifest(
        &system,
        &[program_image(100), program_image(100)],
        KERNEL_FOOTPRINT,
    )
    .unwrap();
    let manifest = Manifest::parse(&bytes).unwrap();
    let ram_end = system.board.ram_base + system.ram_size;
    let image_end =
        system.board.kernel_load + KERNEL_FOOTPRINT + bytes.len() as u64 + END_MARKER.len() as u64;
    let core_end = (image_end + CORE_RESERVED_BYTES).div_ceil(2 * MIB) * 2 * MIB;

    let regions: Vec<RegionDesc> = manifest
        .partitions()
        .flat_map(|p| ram_regions(&manifest, &p))
        .collect();
    // Config order, from the top of RAM down.
    assert_eq!(regions[0].pa, ram_end - 16 * MIB);
    assert_eq!(regions[1].pa, ram_end - 32 * MIB);
    for region in &regions {
        assert_eq!(region.pa % (2 * MIB), region.ipa % (2 * MIB));
        assert!(region.pa >= core_end && region.pa + region.size <= ram_end);
    }
}

#[test]
fn small_and_unaligned_regions_stay_congruent() {
    let system = two_vcpu_system("qemu-virt", 3);
    let bytes = build_manifest(&system, &[program_image(4096)], KERNEL_FOOTPRINT).unwrap();
    let manifest = Manifest::parse(&bytes).unwrap();
    let p = manifest.partition(0);
    let regions = ram_regions(&manifest, &p);
    assert_eq!(regions.len(), 2);
    assert_eq!(regions[1].size, 64 * 1024);
    assert_eq!(regions[1].pa % (2 * MIB), 0);
    assert!(regions[1].pa + regions[1].size <= regions[0].pa);
    assert_eq!(
        regions[0].flags,
        region_flags::READ | region_flags::WRITE | region_flags::EXEC
    );
    assert_eq!(regions[1].flags, region_flags::READ | region_flags::WRITE);
    assert_eq!(p.restart, RestartPolicy::OnCrash);
    assert_eq!((p.max_restarts, p.restart_window_ms), (5, 10_000));
    assert_eq!(p.flags, partition_flags::PMU);
}

#[test]
fn gicv3_device_trees_describe_the_partition() {
    let system = two_vcpu_system("qemu-virt", 3);
    let bytes = build_manifest(&system, &[program_image(4096)], KERNEL_FOOTPRINT).unwrap();
    let manifest = Manifest::parse(&bytes).unwrap();
    let dtb = manifest.blob(manifest.partition(0).dtb);
    let tree = fdt::Fdt::new(dtb).unwrap();

    let root = tree.find_node("/").unwrap();
    assert_eq!(strings(root, "compatible"), ["linux,dummy-virt"]);
    assert_eq!(cells(root, "#address-cells"), [2]);
    assert_eq!(cells(root, "#size-cells"), [2]);
    assert_eq!(tree.chosen().bootargs(), Some("scenario=smp"));

    let memory = tree.find_node("/memory@40000000").unwrap();
    assert_eq!(strings(memory, "device_type"), ["memory"]);
    assert_eq!(cells_u64(memory, "reg"), [0x4000_0000, 16 * MIB]);
    let second = tree.find_node("/memory@60000000").unwrap();
    assert_eq!(cells_u64(second, "reg"), [0x6000_0000, 64 * 1024]);

    let cpus = tree.find_node("/cpus").unwrap();
    assert_eq!(cells(cpus, "#address-cells"), [1]);
    assert_eq!(cells(cpus, "#size-cells"), [0]);
    let cpu_nodes: Vec<_> = cpus.children().collect();
    assert_eq!(cpu_nodes.len(), 2);
    for (index, cpu) in cpu_nodes.into_iter().enumerate() {
        assert_eq!(cpu.name, format!("cpu@{index}"));
        assert_eq!(cells(cpu, "reg"), [index as u32]);
        assert_eq!(strings(cpu, "device_type"), ["cpu"]);
        assert_eq!(strings(cpu, "compatible"), ["arm,armv8"]);
        assert_eq!(strings(cpu, "enable-method"), ["psci"]);
    }

    let psci = tree.find_node("/psci").unwrap();
    assert_eq!(
        strings(psci, "compatible"),
        ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]
    );
    assert_eq!(strings(psci, "method"), ["hvc"]);
    assert_eq!(cells(psci, "cpu_on"), [abi::psci::CPU_ON_64]);

    let timer = tree.find_node("/timer").unwrap();
    assert_eq!(strings(timer, "compatible"), ["arm,armv8-timer"]);
    assert_eq!(
        cells(timer, "interrupts"),
        [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]
    );
    assert!(timer.property("always-on").is_some());

    let gic = tree.find_node("/intc@8000000").unwrap();
    assert_eq!(strings(gic, "compatible"), ["arm,gic-v3"]);
    assert_eq!(
        cells_u64(gic, "reg"),
        [GICD_IPA, 0x1_0000, GICR_IPA, 2 * 0x2_0000]
    );
    assert_eq!(cells(gic, "#interrupt-cells"), [3]);
    assert_eq!(cells(gic, "#address-cells"), [0]);
    assert!(gic.property("interrupt-controller").is_some());
    // The root's interrupt-parent is the GIC.
    assert_eq!(cells(root, "interrupt-parent"), cells(gic, "phandle"));
}

#[test]
fn gicv2_partitions_get_their_cpu_interface_mapped() {
    for (board, expected_board) in [("qemu-virt", Board::QemuVirtGicV2), ("rpi4", Board::Rpi4)] {
        let system = two_vcpu_system(board, 2);
        let bytes = build_manifest(&system, &[program_image(4096)], KERNEL_FOOTPRINT).unwrap();
        let manifest = Manifest::parse(&bytes).unwrap();
        assert_eq!(manifest.board(), expected_board);
        let p = manifest.partition(0);
        let devices: Vec<RegionDesc> = manifest.regions_of(&p).filter(|r| !r.is_ram()).collect();
        assert_eq!(
            devices,
            [RegionDesc {
                ipa: GICC_IPA,
                pa: system.board.gicv.unwrap(),
                size: GICC_SIZE,
                flags: region_flags::DEVICE
                    | region_flags::READ
                    | region_flags::WRITE
                    | region_flags::NO_DMA,
            }]
        );

        let tree = fdt::Fdt::new(manifest.blob(p.dtb)).unwrap();
        let gic = tree.find_node("/intc@8000000").unwrap();
        assert_eq!(strings(gic, "compatible"), ["arm,cortex-a15-gic"]);
        assert_eq!(
            cells_u64(gic, "reg"),
            [GICD_IPA, 0x1000, GICC_IPA, GICC_SIZE]
        );
        // GICv2 PPI flags carry the mask of CPUs (two vCPUs: 0b11) in bits [15:8].
        let timer = tree.find_node("/timer").unwrap();
        assert_eq!(cells(timer, "interrupts")[2], 0x304);
    }
}

#[test]
fn linux_images_load_at_their_text_offset() {
    let system = two_vcpu_system("qemu-virt", 3);
    let image = linux_image(0x8_0000, 3 * MIB, 64 * 1024);
    let bytes = build_manifest(&system, &[image], KERNEL_FOOTPRINT).unwrap();
    let manifest = Manifest::parse(&bytes).unwrap();
    let p = manifest.partition(0);
    assert_eq!(p.image_ipa, 0x4008_0000);
    assert_eq!(p.entry_ipa, 0x4008_0000);
}

#[test]
fn an_oversized_program_is_reported_at_its_partition() {
    let system = default_system();
    let error = build_manifest(
        &system,
        &[program_image(100), program_image(17 << 20)],
        KERNEL_FOOTPRINT,
    )
    .unwrap_err();
    let ticker_line = system.partitions[1].line;
    assert_eq!(
        error.to_string(),
        format!(
            "tests/fixtures/two-guests.toml:{ticker_line}: partition \"ticker\": the image is oversized: it needs 17 MiB from 0x40000000, but the first memory region 0x40000000..0x41000000 holds only 16 MiB from there"
        )
    );
}

#[test]
fn a_kernel_too_large_for_the_memory_is_reported_with_sizes() {
    let system = default_system();
    // 1 GiB of RAM, 2 × 16 MiB of partitions: a 1000 MiB kernel leaves too little.
    let error = build_manifest(
        &system,
        &[program_image(100), program_image(100)],
        1000 * MIB,
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("tests/fixtures/two-guests.toml: the partitions' memory does not fit: it needs 32 MiB (alignment included), but only "),
        "{text}"
    );
    assert!(
        text.contains("MiB of RAM are free above the core"),
        "{text}"
    );
}

#[test]
fn the_number_of_images_must_match_the_partitions() {
    let system = default_system();
    let error = build_manifest(&system, &[program_image(100)], KERNEL_FOOTPRINT).unwrap_err();
    assert_eq!(
        error.to_string(),
        "tests/fixtures/two-guests.toml: 1 images were given for 2 partitions"
    );
    let error = build_manifest(&system, &[vec![], program_image(1)], KERNEL_FOOTPRINT).unwrap_err();
    assert!(error
        .to_string()
        .contains("partition \"hello\": its image is empty"));
}

#[test]
fn initrds_load_after_the_kernel_and_passthrough_irqs_reach_the_manifest() {
    let dir = std::env::temp_dir().join(format!("bulkhead-initrd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let initrd: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.join("initrd.cpio.gz"), &initrd).unwrap();
    std::fs::write(dir.join("Image"), linux_image(0, 0x30_0000, 8192)).unwrap();
    let text = r#"
[board]
name = "qemu-virt"

[[partition]]
name = "linux"
kind = "guest"
image = "Image"
initrd = "initrd.cpio.gz"
bootargs = "console=ttyAMA0"
restart = "never"
  [[partition.vcpu]]
  cpu = 0
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "64MiB"
  [[partition.passthrough]]
  kind = "pl011"
  pa = 0x0900_0000
  ipa = 0x0900_0000
  size = "4KiB"
  irq = 33
"#;
    let path = dir.join("linux.toml");
    std::fs::write(&path, text).unwrap();
    let system = bulkhead_config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let image = std::fs::read(dir.join("Image")).unwrap();
    let bytes = build_manifest(&system, &[image], KERNEL_FOOTPRINT).unwrap();
    let manifest = Manifest::parse(&bytes).unwrap();
    let p = manifest.partition(0);
    // The kernel's image_size (3 MiB) ends at 0x4030_0000; the initrd follows.
    assert_eq!(p.initrd_ipa, 0x4030_0000);
    assert_eq!(manifest.blob(p.initrd), &initrd[..]);
    let intids: Vec<u32> = manifest.interrupts_of(&p).map(|i| i.intid).collect();
    assert_eq!(intids, [33]);

    let tree = fdt::Fdt::new(manifest.blob(p.dtb)).unwrap();
    let chosen = tree.find_node("/chosen").unwrap();
    assert_eq!(cells_u64(chosen, "linux,initrd-start"), [0x4030_0000]);
    assert_eq!(
        cells_u64(chosen, "linux,initrd-end"),
        [0x4030_0000 + initrd.len() as u64]
    );
    assert!(p.dtb_ipa >= 0x4030_0000 + initrd.len() as u64);
    // The passed-through PL011 gets its SPI in the tree (SPI 1 = INTID 33).
    let uart = tree.find_node("/pl011@9000000").unwrap();
    assert_eq!(cells(uart, "interrupts"), [0, 1, 4]);
    std::fs::remove_dir_all(&dir).unwrap();
}
