//! The Bulkhead system configuration compiler: reads a system's TOML file,
//! checks it, lays out physical memory, generates each partition's device tree
//! and encodes the boot manifest the core reads.
//!
//! # Use
//!
//! [`load`] (or [`parse_str`]) returns a checked [`System`] or a [`ConfigError`]
//! whose every line reads `file:line: sentence`. Once the caller has built each
//! partition's image, [`build_manifest`] turns the system into manifest bytes.
//!
//! # Schema
//!
//! Every table refuses unknown fields. Sizes are integers (bytes) or strings
//! such as `"4096"`, `"512KiB"`, `"16MiB"`, `"1GiB"`; durations are strings
//! such as `"500ms"`, `"10s"`, `"2m"`. `configs/qemu-virt.toml` is the
//! annotated example: services, capabilities, emulated devices and
//! supervision; `configs/test/` holds smaller systems.
//!
//! - `[board]`: `name` (a board of `platform::board::BOARDS`), `cpus` (default
//!   the board's), `memory` (a multiple of 1 MiB, default the board's), `gic`
//!   (default the highest version the board has).
//! - `[[partition]]`: `name` (1..=32 of `[a-z0-9_-]`, unique), `kind`
//!   (`"guest"` | `"service"`), exactly one of `program` (a cargo package of
//!   this workspace) and `image` (a file, relative to the config's directory),
//!   `initrd` (optional file, relative to the config's directory: loaded
//!   right after the image and named in the device tree's `/chosen`),
//!   `bootargs` (optional), `restart` (`"never"` | `"on-crash"` | `"always"`;
//!   `on-crash` needs `max_restarts` 1..=1000 and `restart_window`, which no
//!   other policy takes), `pmu` (optional, default false).
//!   - `[[partition.vcpu]]` (1..=8): `cpu` (a physical CPU index below
//!     `[board] cpus`; vCPUs may share a CPU), `priority` (0..=255, default 10).
//!   - `[[partition.memory]]` (at least one): `ipa` (4 KiB aligned), `size`
//!     (a non-zero multiple of 4 KiB), `perms` (`"r"`, `"rw"`, `"rx"`, `"rwx"`;
//!     default `"rwx"` for the first region, which must be executable because
//!     the image runs there, and `"rw"` for the others). Regions of a partition
//!     may not overlap each other, the guest's GIC window
//!     0x0800_0000..0x0900_0000 ([`guest_map::GIC_WINDOW`]), or reach past
//!     1 TiB.
//!   - `supervisor` (optional, default false): this service receives fault
//!     reports and starts the others; at most one partition.
//!   - `[[partition.cap]]`: `slot` (0..=63, unique in the partition), exactly
//!     one of `endpoint`, `notification`, `partition` (a declared name),
//!     `rights` (non-empty; endpoint: `"call"`, `"recv"`; notification:
//!     `"signal"`, `"wait"`; partition: `"control"`, `"status"`), `badge`
//!     (optional, 0 or more, default 0; only with `"call"`).
//!   - `[[partition.device]]`: an emulated device window. `kind` (`"pl011"`
//!     adds a PL011 node to the device tree; `"generic"`), `ipa`, `size` (as
//!     memory), `irq` (optional guest INTID, 16..=1019 but not the timer's
//!     26, 27, 29, 30; unique among the partition's devices), `endpoint` (the
//!     service behind it), `badge` (optional; default
//!     [`EmulatedDevice::assigned_badge`] = `1 << 63 | partition index << 16 |
//!     device index`, which no config badge can equal). The devices behind
//!     one endpoint have distinct badges.
//!   - `[[partition.passthrough]]`: physical MMIO mapped into the partition.
//!     `pa`, `ipa` (4 KiB aligned), `size`, `kind` (optional, `"generic"` by
//!     default; `"pl011"` describes it in the device tree), `irq` (optional
//!     physical SPI 32..=1019: injected into the partition as the same INTID
//!     with the GIC's HW bit; owned once in the system, counting
//!     notifications' `irq`, and not also one of the partition's emulated
//!     device or doorbell interrupts). The physical window may not touch the
//!     board's RAM or its GICv2 virtual CPU interface, and is passed through
//!     once in the system.
//! - `[[endpoint]]`: `name`, `server` (a service partition).
//! - `[[notification]]`: `name`, `irq` (optional physical SPI, 32..=1019,
//!   owned by one notification), `virq = { partition, irq }` (optional: the
//!   guest interrupt a signal raises), `faults` (optional: the one
//!   notification the core signals on a fault; it needs a supervisor that
//!   holds it with `"wait"`, nobody else may hold it, and it is bound to no
//!   interrupt).
//! - `[[shared]]`: `name`, `size`, and `[[shared.map]]` tables (at least one):
//!   `partition`, `ipa`, `perms` (`"r"` or `"rw"`), at most one per partition.
//! - Endpoints, notifications and shared regions share one namespace (names
//!   as for partitions); partitions have their own.
//! - Inside each partition, memory, device windows, passthrough windows and
//!   shared mappings do not overlap, and none reaches into the GIC window.
//! - IPC rules: a call (or an access to an emulated device) runs the
//!   endpoint's server on the caller's CPU (in the server's first vCPU homed
//!   there), so the server has a vCPU on every CPU of every partition that
//!   holds a `"call"` capability on the endpoint or has a device behind it,
//!   and never calls itself. Only the
//!   server holds `"recv"` on its endpoint, and it must hold it. With a
//!   supervisor, the core starts only the supervisor, so it must hold
//!   `"control"` on every other partition.
//! - `[test]` (optional, read by `cargo xtask test`): `timeout` (seconds,
//!   1..=1800, default 60), `expect` (ordered substrings), `contains`
//!   (unordered substrings), `forbid`, `corrupt` (`"checksum"` | `"truncate"` |
//!   `"magic"`), `ends` (`"poweroff"`, the default, or `"timeout"`).
//!
//! # Physical layout
//!
//! - The loaded system image occupies `[kernel_load, kernel_load +
//!   kernel_footprint + manifest length + 16)` (the 16 bytes are
//!   `kernel_core::manifest::END_MARKER`). The core keeps
//!   `kernel_core::manifest::CORE_RESERVED_BYTES` after it; the end of that
//!   reserve, rounded up to 2 MiB and never below `ram_base +
//!   firmware_reserved`, is where partition memory may start.
//! - Partition RAM is handed out top-down from the end of RAM (`ram_base +
//!   memory`), partition by partition and region by region in config order.
//!   Each region's PA is congruent to its IPA modulo 2 MiB, so stage 2 can use
//!   2 MiB blocks; a region with a 2 MiB-aligned IPA gets a 2 MiB-aligned PA.
//!   If the regions do not fit, the error says how many MiB they need
//!   (alignment included) and how many are free. [`load`] runs this check with
//!   an empty kernel; [`build_manifest`] repeats it with the real sizes.
//! - The manifest's length does not depend on PAs, so [`build_manifest`]
//!   encodes once with placeholder PAs to learn it, lays memory out, then
//!   encodes for real.
//!
//! # Partition address space
//!
//! - Image: with an arm64 Linux `Image` header (magic `"ARM\x64"` at offset 56,
//!   `text_offset` at 8) the image loads at first-region base + `text_offset`
//!   (the base must then be 2 MiB aligned, as the arm64 boot protocol asks);
//!   otherwise at the first region's base. The entry point is the load address.
//!   The image (with an Image header's `image_size`, which counts BSS) must fit
//!   in the first region.
//! - Device tree: at the top of the first region, page aligned, and not
//!   overlapping the image. It describes `linux,dummy-virt` with every RAM
//!   region, one PSCI-enabled CPU per vCPU, PSCI over HVC, the architected
//!   timer, the GIC at QEMU `virt`'s addresses ([`guest_map`]) and
//!   `/chosen/bootargs`.
//! - GICv2: each partition gets a device region mapping the guest's GICC
//!   (0x0801_0000, 8 KiB) to the board's GICV frame. GICv3 guests use system
//!   registers, so nothing is mapped.
//! - Emulated PL011s (`kind = "pl011"` devices, then passthrough windows)
//!   get `pl011@<ipa>` nodes (`arm,pl011`, `arm,primecell`, an SPI or PPI
//!   specifier when the device has an interrupt, both clocks from a 24 MHz
//!   `fixed-clock` node `apb-pclk`); the first is `/chosen/stdout-path`.
//! - Service partitions get boot arguments naming their capability slots
//!   after their own (see [`service_args`]).
//! - Manifest board: `qemu-virt` with GICv3 or GICv2, or `rpi4`.
//!
//! # Manifest objects
//!
//! Endpoints and notifications are numbered in config order; a capability on
//! a partition names its config index. A partition's regions are its RAM,
//! the GICv2 CPU interface, passthrough windows (`DEVICE | READ | WRITE`) and
//! shared mappings (`SHARED | READ [| WRITE]`), in that order. Shared regions
//! are laid out after all partition RAM, each one physical allocation,
//! 4 KiB aligned (2 MiB congruent to its mappings when they agree and it is
//! at least 2 MiB). The supervisor and the fault notification are stored by
//! index.
#![forbid(unsafe_code)]
// Tests state their expectations with unwrap; library code never does.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod boot_blobs;
mod devicetree;
mod diagnostics;
pub mod guest_map;
mod layout;
mod manifest;
mod placement;
mod schema;
pub mod service_args;
mod system;
pub mod units;
mod validate;

use std::path::Path;

pub use devicetree::guest_device_tree;
pub use diagnostics::{ConfigError, Diagnostic};
pub use layout::{lay_out, LayoutError, MemoryLayout, BLOCK_SIZE};
pub use manifest::{build_manifest, manifest_board};
pub use placement::{ImagePlacement, PlacementError};
pub use system::{
    spans_overlap, CapObject, Capability, Corruption, DeviceKind, EmulatedDevice, Ending, Endpoint,
    ImageSource, Notification, Partition, PartitionKind, Passthrough, Perms, Region, RestartPolicy,
    SharedMapping, SharedRegion, System, TestSpec, VcpuDesc, VirtualIrq,
};

/// Reads, parses and checks a configuration file. Image files must exist and
/// fit; programs are checked by [`build_manifest`] once built.
pub fn load(path: &Path) -> Result<System, ConfigError> {
    parse_str(path, &read_config(path)?)
}

/// The text of a configuration file.
fn read_config(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| {
        ConfigError::new(
            path,
            None,
            format!("cannot read the configuration: {error}"),
        )
    })
}

/// Parses and checks a configuration held in memory. `path_for_messages`
/// names it in messages, and relative image paths resolve against its
/// directory (whose files are still checked).
pub fn parse_str(path_for_messages: &Path, text: &str) -> Result<System, ConfigError> {
    validate::check(path_for_messages, text, None)
}

/// As [`load`], with `[board] gic` replaced by `gic`: one variant of a
/// scenario whose `[test] gic_versions` lists several.
pub fn load_with_gic(path: &Path, gic: u8) -> Result<System, ConfigError> {
    validate::check(path, &read_config(path)?, Some(gic))
}
