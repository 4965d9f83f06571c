//! The validated system: what a configuration declares once every check has
//! passed. Nothing here can hold a value the checks would have refused.

use std::path::PathBuf;

use abi::ipc::ObjectKind;
use kernel_core::manifest::region_flags;
pub use kernel_core::manifest::{PartitionKind, RestartPolicy, VcpuDesc};
use platform::board::BoardSpec;
use serde::Deserialize;

/// A whole system: the board, its partitions and the objects between them.
#[derive(Clone, Debug, PartialEq)]
pub struct System {
    /// The configuration file, as the caller named it (used in messages and to
    /// resolve relative image paths).
    pub path: PathBuf,
    /// The board the system runs on.
    pub board: &'static BoardSpec,
    /// Physical CPUs (`1..=board.max_cpus`).
    pub cpus: u32,
    /// RAM size in bytes, from `board.ram_base`.
    pub ram_size: u64,
    /// GIC architecture version (one of `board.gic_versions`).
    pub gic: u8,
    /// The partitions, in config order (which is also manifest and layout order).
    pub partitions: Vec<Partition>,
    /// Endpoints, in config order (their manifest indices).
    pub endpoints: Vec<Endpoint>,
    /// Notifications, in config order (their manifest indices).
    pub notifications: Vec<Notification>,
    /// Shared memory regions, in config order (also their layout order).
    pub shared: Vec<SharedRegion>,
    /// The `[test]` section, used only by `cargo xtask test`.
    pub test: Option<TestSpec>,
}

impl System {
    /// Index of the supervisor partition (`supervisor = true`), if any.
    pub fn supervisor(&self) -> Option<usize> {
        self.partitions.iter().position(|p| p.supervisor)
    }

    /// Index of the fault-report notification (`faults = true`), if any.
    pub fn fault_notification(&self) -> Option<usize> {
        self.notifications.iter().position(|n| n.faults)
    }
}

/// One partition.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// Its name: 1..=32 characters from `[a-z0-9_-]`, unique in the system.
    pub name: String,
    /// Guest or service.
    pub kind: PartitionKind,
    /// Where its image comes from.
    pub source: ImageSource,
    /// An initial RAM disk file, resolved against the config file's
    /// directory; loaded after the image and named in `/chosen`.
    pub initrd: Option<PathBuf>,
    /// `/chosen/bootargs` of its device tree.
    pub bootargs: Option<String>,
    /// What happens when it faults.
    pub restart: RestartPolicy,
    /// With `OnCrash`: most restarts inside the window (1..=1000); 0 otherwise.
    pub max_restarts: u32,
    /// With `OnCrash`: the window in milliseconds; 0 otherwise.
    pub restart_window_ms: u32,
    /// May use the PMU directly.
    pub pmu: bool,
    /// Its vCPUs (1..=8), vCPU `i` being `vcpus[i]`.
    pub vcpus: Vec<VcpuDesc>,
    /// Its RAM regions, non-overlapping; the first holds the image and device tree.
    pub memory: Vec<Region>,
    /// Receives fault reports and starts the other partitions (at most one).
    pub supervisor: bool,
    /// The capabilities it holds, in config order; slots are unique.
    pub caps: Vec<Capability>,
    /// Emulated device windows in its address space.
    pub devices: Vec<EmulatedDevice>,
    /// Physical MMIO mapped into its address space.
    pub passthrough: Vec<Passthrough>,
    /// Line of its `[[partition]]` header, for messages about it after loading.
    pub line: usize,
}

impl Partition {
    /// The physical CPUs its vCPUs run on, in vCPU order (a CPU may repeat).
    pub fn cpus(&self) -> impl Iterator<Item = u32> + '_ {
        self.vcpus.iter().map(|vcpu| vcpu.cpu)
    }

    /// True if one of its vCPUs has CPU `cpu` as its home.
    pub fn runs_on(&self, cpu: u32) -> bool {
        self.cpus().any(|c| c == cpu)
    }
}

/// A capability a partition holds: slot `slot` names `object` with `rights`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// Slot in the holder's table, below `kernel_core::manifest::MAX_CAP_SLOTS`.
    pub slot: u16,
    /// The object it names.
    pub object: CapObject,
    /// `abi::ipc::rights` bits, non-empty and valid for the object's kind.
    pub rights: u32,
    /// What the server sees as the caller's identity (0 unless the config
    /// gives one; only capabilities with the call right carry one).
    pub badge: u64,
    /// Line of its `[[partition.cap]]` header.
    pub line: usize,
}

impl Capability {
    /// True if it carries every right in `rights`.
    pub fn has(&self, rights: u32) -> bool {
        self.rights & rights == rights
    }
}

/// The object a capability names, by its index in the system's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapObject {
    /// `System::endpoints[i]`.
    Endpoint(usize),
    /// `System::notifications[i]`.
    Notification(usize),
    /// `System::partitions[i]`.
    Partition(usize),
}

impl CapObject {
    /// The manifest's kind of object.
    pub fn kind(self) -> ObjectKind {
        match self {
            Self::Endpoint(_) => ObjectKind::Endpoint,
            Self::Notification(_) => ObjectKind::Notification,
            Self::Partition(_) => ObjectKind::Partition,
        }
    }

    /// Index of the object in its table.
    pub fn index(self) -> usize {
        match self {
            Self::Endpoint(i) | Self::Notification(i) | Self::Partition(i) => i,
        }
    }
}

/// What a device window is, which decides how the device tree describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// An Arm PL011 UART: gets a `pl011@<ipa>` node and `/chosen/stdout-path`.
    Pl011,
    /// Anything else: not described in the device tree.
    #[default]
    Generic,
}

impl DeviceKind {
    /// The name written in configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pl011 => "pl011",
            Self::Generic => "generic",
        }
    }

    /// The manifest region flag a passed-through device of this kind adds:
    /// [`region_flags::NO_DMA`] for a kind known to master no DMA (a PL011
    /// UART), so the core may scrub the partition's RAM on first touch;
    /// none for anything else, which might.
    pub fn dma_flag(self) -> u32 {
        match self {
            Self::Pl011 => region_flags::NO_DMA,
            Self::Generic => 0,
        }
    }
}

/// An emulated device window: a guest access to it becomes a message to the
/// service behind `endpoint`, carrying `badge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmulatedDevice {
    /// What it is.
    pub kind: DeviceKind,
    /// Window base (IPA), 4 KiB aligned.
    pub ipa: u64,
    /// Window size, a non-zero multiple of 4 KiB.
    pub size: u64,
    /// Its interrupt as a guest INTID (a PPI or SPI), if it has one.
    pub irq: Option<u32>,
    /// `System::endpoints` index of the service that emulates it.
    pub endpoint: usize,
    /// Badge the service sees on every access.
    pub badge: u64,
    /// Line of its `[[partition.device]]` header.
    pub line: usize,
}

impl EmulatedDevice {
    /// Badges the tool gives devices without one start with this bit. A
    /// config's badges are TOML integers, never above `i64::MAX`, so an
    /// assigned badge can never equal one written in the config.
    pub const ASSIGNED_BADGE_BIT: u64 = 1 << 63;

    /// The badge the tool assigns device `device` (its index among the
    /// partition's devices) of partition `partition` (its config index):
    /// `1 << 63 | partition << 16 | device`. Unique across the system.
    pub fn assigned_badge(partition: usize, device: usize) -> u64 {
        Self::ASSIGNED_BADGE_BIT | (partition as u64) << 16 | device as u64
    }

    /// First IPA past the window (validation keeps this from overflowing).
    pub fn end(&self) -> u64 {
        self.ipa.saturating_add(self.size)
    }
}

/// Physical MMIO mapped into a partition: `size` bytes at `pa`, seen at `ipa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passthrough {
    /// What it is (a `pl011` gets a device-tree node, with `irq` as its
    /// interrupt when it has one).
    pub kind: DeviceKind,
    /// Physical base, 4 KiB aligned, outside the board's RAM.
    pub pa: u64,
    /// Where the partition sees it, 4 KiB aligned.
    pub ipa: u64,
    /// Length, a non-zero multiple of 4 KiB.
    pub size: u64,
    /// The device's physical SPI, injected into the partition as the same
    /// INTID (linked to the physical interrupt, so the guest's EOI
    /// deactivates it).
    pub irq: Option<u32>,
    /// Line of its `[[partition.passthrough]]` header.
    pub line: usize,
}

/// A synchronous endpoint, served by one service partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Its name, unique among endpoints, notifications and shared regions.
    pub name: String,
    /// `System::partitions` index of the service that serves it.
    pub server: usize,
    /// Line of its `[[endpoint]]` header.
    pub line: usize,
}

/// A notification word and what it is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Its name, unique among endpoints, notifications and shared regions.
    pub name: String,
    /// Physical SPI that sets bit 0 when it fires (owned by this notification alone).
    pub irq: Option<u32>,
    /// The guest interrupt a signal raises.
    pub virq: Option<VirtualIrq>,
    /// The core signals it when a partition faults (at most one; the
    /// supervisor waits on it).
    pub faults: bool,
    /// Line of its `[[notification]]` header.
    pub line: usize,
}

/// A virtual interrupt of one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualIrq {
    /// `System::partitions` index.
    pub partition: usize,
    /// The INTID the partition sees (a PPI or SPI).
    pub intid: u32,
}

/// Memory shared between partitions: one physical allocation, mapped into each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedRegion {
    /// Its name, unique among endpoints, notifications and shared regions.
    pub name: String,
    /// Length, a non-zero multiple of 4 KiB.
    pub size: u64,
    /// Where it appears, at most once per partition.
    pub mappings: Vec<SharedMapping>,
    /// Line of its `[[shared]]` header.
    pub line: usize,
}

/// One partition's view of a shared region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedMapping {
    /// `System::partitions` index.
    pub partition: usize,
    /// Where the partition sees it, 4 KiB aligned.
    pub ipa: u64,
    /// `r` or `rw` (never executable).
    pub perms: Perms,
    /// Line of its `[[shared.map]]` header.
    pub line: usize,
}

/// Where a partition's image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// A bare-metal program built from this workspace: a cargo package name.
    Program(String),
    /// A raw image file, resolved against the config file's directory.
    File(PathBuf),
}

/// One RAM region of a partition, as the partition sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Intermediate physical address, 4 KiB aligned.
    pub ipa: u64,
    /// Length in bytes, a non-zero multiple of 4 KiB.
    pub size: u64,
    /// Access rights.
    pub perms: Perms,
}

impl Region {
    /// First IPA past the region (validation keeps this from overflowing).
    pub fn end(&self) -> u64 {
        self.ipa.saturating_add(self.size)
    }

    /// True if the two regions share at least one byte.
    pub fn overlaps(&self, other: &Region) -> bool {
        spans_overlap(self.ipa, self.size, other.ipa, other.size)
    }
}

/// True if `[a, a + a_size)` and `[b, b + b_size)` share at least one byte.
pub fn spans_overlap(a: u64, a_size: u64, b: u64, b_size: u64) -> bool {
    a < b.saturating_add(b_size) && b < a.saturating_add(a_size)
}

/// Access rights of a region, written `"rwx"`, `"rw"`, `"r"`, … in configs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Perms {
    /// Read, write and execute: the default of a partition's first region.
    pub const RWX: Perms = Perms {
        read: true,
        write: true,
        exec: true,
    };
    /// Read and write: the default of every further region.
    pub const RW: Perms = Perms {
        read: true,
        write: true,
        exec: false,
    };

    /// Parses `r`, `w` and `x`, each at most once, in that order; `r` is
    /// required because stage 2 cannot usefully map memory a partition cannot read.
    pub fn parse(text: &str) -> Option<Perms> {
        let rest = text.strip_prefix('r')?;
        let (write, rest) = match rest.strip_prefix('w') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let (exec, rest) = match rest.strip_prefix('x') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        rest.is_empty().then_some(Perms {
            read: true,
            write,
            exec,
        })
    }

    /// The manifest's [`region_flags`] bits for these rights.
    pub fn region_flags(self) -> u32 {
        let mut flags = 0;
        if self.read {
            flags |= region_flags::READ;
        }
        if self.write {
            flags |= region_flags::WRITE;
        }
        if self.exec {
            flags |= region_flags::EXEC;
        }
        flags
    }
}

/// The `[test]` section: how `cargo xtask test` runs and judges a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestSpec {
    /// Seconds before QEMU is stopped (1..=1800).
    pub timeout_s: u64,
    /// Substrings that must appear in the serial transcript, each after the
    /// previous one's match.
    pub expect: Vec<String>,
    /// Substrings that must appear anywhere.
    pub contains: Vec<String>,
    /// Substrings that must not appear.
    pub forbid: Vec<String>,
    /// Damage done to the image before booting it, to test the core's refusal.
    pub corrupt: Option<Corruption>,
    /// How the run is expected to end.
    pub ends: Ending,
    /// Whether the machine has EL2 (default). Without it, QEMU enters the
    /// image at EL1, which the core must refuse with a message.
    pub el2: bool,
    /// Run the scenario once on each of these GIC versions, in order, in
    /// place of `[board] gic` (empty: once, on the board's).
    pub gic_versions: Vec<u8>,
}

/// A way of damaging a built image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Corruption {
    /// Flip a byte inside the manifest, so its checksum no longer matches.
    Checksum,
    /// Cut the image short.
    Truncate,
    /// Damage the manifest's magic bytes.
    Magic,
}

/// How a test scenario ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ending {
    /// QEMU exits by itself (the system powers off).
    #[default]
    Poweroff,
    /// The system is still running at the timeout; the transcript is checked then.
    Timeout,
    /// The run is stopped as soon as every `expect` and `contains` string has
    /// appeared (a system that keeps running, such as Linux guests with a
    /// shell); the transcript is checked then.
    Matched,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_parse_in_order() {
        assert_eq!(Perms::parse("rwx"), Some(Perms::RWX));
        assert_eq!(Perms::parse("rw"), Some(Perms::RW));
        assert_eq!(
            Perms::parse("rx").map(|p| (p.write, p.exec)),
            Some((false, true))
        );
        assert_eq!(
            Perms::parse("r").map(Perms::region_flags),
            Some(region_flags::READ)
        );
        for bad in ["", "w", "wx", "xrw", "rwxx", "rr", "RW", "rw "] {
            assert_eq!(Perms::parse(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn perms_become_region_flags() {
        assert_eq!(
            Perms::RWX.region_flags(),
            region_flags::READ | region_flags::WRITE | region_flags::EXEC
        );
        assert_eq!(
            Perms::RW.region_flags(),
            region_flags::READ | region_flags::WRITE
        );
    }

    #[test]
    fn regions_overlap_only_when_they_share_bytes() {
        let a = Region {
            ipa: 0x4000_0000,
            size: 0x1000,
            perms: Perms::RW,
        };
        let b = Region {
            ipa: 0x4000_1000,
            ..a
        };
        let c = Region { size: 0x2000, ..a };
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&c) && c.overlaps(&b));
    }
}
