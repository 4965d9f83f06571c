//! The boot manifest: a versioned, checksummed description of every partition,
//! appended to the kernel image together with the partitions' blobs.
//!
//! Layout (all integers little-endian, offsets from the manifest's first byte):
//!
//! ```text
//! header          96 bytes   magic "BULKHEAD", version, lengths, XXH64, counts
//! partitions     144 bytes each
//! vcpus           16 bytes each
//! regions         32 bytes each
//! endpoints       16 bytes each
//! notifications   16 bytes each
//! capabilities    24 bytes each
//! devices         32 bytes each (emulated device windows)
//! interrupts       8 bytes each (physical interrupts passed through)
//! strings         names, UTF-8, padded to 8
//! blobs       partition images, device trees and initrds, each 4 KiB
//!             aligned; identical blobs are stored once
//! ```
//!
//! The checksum is XXH64 with seed 0 ([`crate::xxh64`]) of the whole manifest
//! (`total_len` bytes) with the checksum field read as zero. [`Manifest::parse`] checks every length and offset before
//! anything reads through it, so a corrupt or truncated image is refused with a
//! message, never a fault.

use core::fmt;

pub use abi::ipc::ObjectKind;

use crate::xxh64::Xxh64;

/// The first eight bytes of every manifest.
pub const MAGIC: [u8; 8] = *b"BULKHEAD";
/// The manifest version this core reads and the tools write.
pub const VERSION: u32 = 4;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 96;
/// Size of one partition record.
pub const PARTITION_LEN: usize = 144;
/// Size of one vCPU record.
pub const VCPU_LEN: usize = 16;
/// Size of one memory-region record.
pub const REGION_LEN: usize = 32;
/// Size of one endpoint record.
pub const ENDPOINT_LEN: usize = 16;
/// Size of one notification record.
pub const NOTIFICATION_LEN: usize = 16;
/// Size of one capability record.
pub const CAP_LEN: usize = 24;
/// Size of one emulated-device record.
pub const DEVICE_LEN: usize = 32;
/// Size of one passed-through interrupt record.
pub const INTERRUPT_LEN: usize = 8;
/// "None" in an index field.
pub const NO_INDEX: u32 = u32::MAX;
/// Alignment of blobs inside the manifest and of the manifest in the image.
pub const BLOB_ALIGN: usize = 4096;

/// Most partitions a manifest may declare.
pub const MAX_PARTITIONS: usize = 16;
/// Most vCPUs across all partitions.
pub const MAX_VCPUS: usize = 64;
/// Most vCPUs of one partition.
pub const MAX_VCPUS_PER_PARTITION: usize = 8;
/// Most memory regions across all partitions.
pub const MAX_REGIONS: usize = 128;
/// Most endpoints.
pub const MAX_ENDPOINTS: usize = 64;
/// Most notifications.
pub const MAX_NOTIFICATIONS: usize = 64;
/// Most capabilities across all partitions.
pub const MAX_CAPS: usize = 512;
/// Capability slots per partition (slot numbers are below this).
pub const MAX_CAP_SLOTS: usize = 64;
/// Most emulated device windows across all partitions.
pub const MAX_DEVICES: usize = 64;
/// Most physical interrupts passed through, across all partitions.
pub const MAX_PASSTHROUGH_IRQS: usize = 64;
/// First SPI INTID: only SPIs can be passed through (SGIs and PPIs are per CPU).
pub const FIRST_SPI: u32 = 32;
/// Interrupt IDs a binding may name are below this (GIC SPIs end at 1019).
pub const MAX_INTID: u32 = 1020;

/// Longest partition name, in bytes.
pub const MAX_NAME_LEN: usize = 32;

/// Memory the core keeps for itself after the end of the loaded image: boot
/// heap (page tables, partition objects). The config tool lays partitions out
/// clear of `[image start, image end + CORE_RESERVED_BYTES)`.
pub const CORE_RESERVED_BYTES: u64 = 16 << 20;

/// The last 16 bytes of a system image. The image header's `image_size` says
/// where the file ends; if these bytes are not there, the file was cut short.
pub const END_MARKER: [u8; 16] = *b"BULKHEAD-IMG-END";

/// Byte offsets of the header's fields. Version 4 widened the checksum to 64
/// bits, moving everything after it by four bytes; 80..96 are zero.
mod header {
    /// u32: [`super::VERSION`].
    pub const VERSION: usize = 8;
    /// u32: [`super::HEADER_LEN`].
    pub const HEADER_LEN: usize = 12;
    /// u64: bytes in the manifest, blobs included.
    pub const TOTAL_LEN: usize = 16;
    /// u64: XXH64 of the manifest with this field read as zero.
    pub const CHECKSUM: usize = 24;
    /// u32: [`super::Board`].
    pub const BOARD: usize = 32;
    /// u32 counts of the tables' records.
    pub const PARTITIONS: usize = 36;
    pub const VCPUS: usize = 40;
    pub const REGIONS: usize = 44;
    /// u32: bytes in the string table.
    pub const STRINGS_LEN: usize = 48;
    pub const ENDPOINTS: usize = 52;
    pub const NOTIFICATIONS: usize = 56;
    pub const CAPS: usize = 60;
    pub const DEVICES: usize = 64;
    /// u32 partition index, or [`super::NO_INDEX`].
    pub const SUPERVISOR: usize = 68;
    /// u32 notification index, or [`super::NO_INDEX`].
    pub const FAULT_NOTIFICATION: usize = 72;
    pub const INTERRUPTS: usize = 76;
}

/// Which board the image was built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Board {
    /// QEMU `virt` with GICv3.
    QemuVirtGicV3 = 0,
    /// QEMU `virt` with GICv2.
    QemuVirtGicV2 = 1,
    /// Raspberry Pi 4 (BCM2711, GIC-400).
    Rpi4 = 2,
}

impl Board {
    fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => Self::QemuVirtGicV3,
            1 => Self::QemuVirtGicV2,
            2 => Self::Rpi4,
            _ => return None,
        })
    }

    /// The GIC architecture version the image's partitions were built for.
    pub fn gic_version(self) -> u8 {
        match self {
            Self::QemuVirtGicV3 => 3,
            Self::QemuVirtGicV2 | Self::Rpi4 => 2,
        }
    }
}

/// Guest or service partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PartitionKind {
    /// Runs an OS or bare-metal program; holds no capabilities by default.
    Guest = 0,
    /// A service partition linked with the Bulkhead runtime.
    Service = 1,
}

/// What happens when a partition faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RestartPolicy {
    /// Stay stopped.
    Never = 0,
    /// Restart after a fault, at most `max_restarts` times in `window_ms`.
    OnCrash = 1,
    /// Restart after a fault and after it powers itself off.
    Always = 2,
}

/// Region access rights and type, as bits of [`RegionDesc::flags`].
pub mod region_flags {
    /// Readable.
    pub const READ: u32 = 1 << 0;
    /// Writable.
    pub const WRITE: u32 = 1 << 1;
    /// Executable.
    pub const EXEC: u32 = 1 << 2;
    /// Device memory (passed-through MMIO), not RAM.
    pub const DEVICE: u32 = 1 << 3;
    /// Memory shared with other partitions (same physical frames); kept, not
    /// zeroed, when one of them restarts.
    pub const SHARED: u32 = 1 << 4;
    /// With [`DEVICE`]: the window's device masters no DMA (a PL011 UART,
    /// the GICv2 virtual CPU interface), so it cannot write the partition's RAM behind
    /// stage 2 and the RAM may be scrubbed on first touch
    /// (`kernel_core::scrub::timing`).
    pub const NO_DMA: u32 = 1 << 5;
    /// Every defined bit.
    pub const ALL: u32 = READ | WRITE | EXEC | DEVICE | SHARED | NO_DMA;
}

/// Partition flags, as bits of [`PartitionDesc::flags`].
pub mod partition_flags {
    /// The partition may use the PMU (performance counters) directly.
    pub const PMU: u16 = 1 << 0;
    /// Every defined bit.
    pub const ALL: u16 = PMU;
}

/// One vCPU: its home physical CPU (index in the board's CPU list) and priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuDesc {
    /// Logical index of the physical CPU this vCPU always runs on.
    pub cpu: u32,
    /// Scheduling priority; higher runs first.
    pub priority: u8,
}

/// One memory region of a partition: `size` bytes at `ipa` backed by `pa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionDesc {
    /// Intermediate physical address seen by the partition.
    pub ipa: u64,
    /// Physical address of the backing memory.
    pub pa: u64,
    /// Length in bytes, a multiple of 4 KiB.
    pub size: u64,
    /// [`region_flags`] bits.
    pub flags: u32,
}

impl RegionDesc {
    /// True if this region is RAM (not a device window).
    pub fn is_ram(&self) -> bool {
        self.flags & region_flags::DEVICE == 0
    }
}

/// An endpoint: calls on it run its server partition's context on the
/// caller's CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointDesc {
    /// Index of the partition that serves it.
    pub server: u32,
}

/// A notification word and what it is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationDesc {
    /// Physical interrupt that signals it (bit 0), or 0 for none. The
    /// holder re-enables it with `IRQ_ACK`.
    pub irq: u32,
    /// Partition whose virtual interrupt a signal raises, or [`NO_INDEX`].
    pub virq_partition: u32,
    /// That virtual interrupt's INTID.
    pub virq: u32,
}

/// One capability: slot `slot` of its partition names object `object` of
/// kind `kind`, with `rights` and `badge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapDesc {
    /// Slot number in the holder's table (below [`MAX_CAP_SLOTS`]).
    pub slot: u16,
    /// Kind of object.
    pub kind: ObjectKind,
    /// `abi::ipc::rights` bits.
    pub rights: u32,
    /// Index of the object in its table (endpoints, notifications, partitions).
    pub object: u32,
    /// What the server sees as the caller's identity.
    pub badge: u64,
}

/// An emulated device window: a stage-2 abort in it becomes a message on
/// `endpoint` with `badge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceDesc {
    /// Window base (IPA), 4 KiB aligned.
    pub ipa: u64,
    /// Window size, a multiple of 4 KiB.
    pub size: u64,
    /// Endpoint of the service behind it.
    pub endpoint: u32,
    /// The device's interrupt in the guest (INTID), or 0.
    pub virq: u32,
    /// Badge the service sees on accesses.
    pub badge: u64,
}

/// A physical SPI passed through to a partition: the core injects it into
/// the partition's vGIC as the same INTID, linked to the physical interrupt
/// (the HW bit) so the guest's EOI deactivates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptDesc {
    /// The SPI's INTID, physical and virtual.
    pub intid: u32,
}

/// A blob inside the manifest: offset from the manifest start and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BlobRef {
    /// Offset from the first byte of the manifest.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// One partition, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionDesc<'a> {
    /// Its name, as printed in console prefixes and reports.
    pub name: &'a str,
    /// Guest or service.
    pub kind: PartitionKind,
    /// Fault policy.
    pub restart: RestartPolicy,
    /// [`partition_flags`] bits.
    pub flags: u16,
    /// With `OnCrash`: most restarts inside the window.
    pub max_restarts: u32,
    /// With `OnCrash`: the window in milliseconds.
    pub restart_window_ms: u32,
    /// Index of its first vCPU in the manifest's vCPU table.
    pub first_vcpu: u32,
    /// Number of vCPUs.
    pub vcpu_count: u32,
    /// Index of its first region in the manifest's region table.
    pub first_region: u32,
    /// Number of regions.
    pub region_count: u32,
    /// Where vCPU 0 starts.
    pub entry_ipa: u64,
    /// The program or kernel image.
    pub image: BlobRef,
    /// Where the image is copied.
    pub image_ipa: u64,
    /// The guest's device tree (may be empty).
    pub dtb: BlobRef,
    /// Where the device tree is copied; passed in x0 at entry.
    pub dtb_ipa: u64,
    /// The initial RAM disk (may be empty); the device tree's `/chosen`
    /// names where it lies.
    pub initrd: BlobRef,
    /// Where the initrd is copied.
    pub initrd_ipa: u64,
    /// Index of its first passed-through interrupt.
    pub first_interrupt: u32,
    /// Number of passed-through interrupts.
    pub interrupt_count: u32,
    /// Index of its first capability in the manifest's capability table.
    pub first_cap: u32,
    /// Number of capabilities.
    pub cap_count: u32,
    /// Index of its first emulated device.
    pub first_device: u32,
    /// Number of emulated devices.
    pub device_count: u32,
}

/// Why a manifest was refused. Each reads as a sentence in the boot log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Fewer bytes than a header.
    TooShort { len: usize },
    /// The magic bytes are wrong: no manifest was appended, or it is damaged.
    BadMagic,
    /// A version this core does not read.
    UnsupportedVersion { found: u32 },
    /// The header's own length field is wrong.
    BadHeaderLength { found: u32 },
    /// The manifest claims more bytes than the image holds.
    Truncated { expected: u64, available: usize },
    /// The stored checksum does not match the contents.
    ChecksumMismatch { stored: u64, computed: u64 },
    /// Unknown board number.
    UnknownBoard { found: u32 },
    /// A count exceeds what the core supports.
    TooMany {
        what: &'static str,
        count: u32,
        max: usize,
    },
    /// A table does not fit inside the manifest.
    TableOutOfBounds { what: &'static str },
    /// A partition record is malformed.
    BadPartition { index: usize, what: &'static str },
    /// A region record is malformed.
    BadRegion { index: usize, what: &'static str },
    /// A vCPU record is malformed.
    BadVcpu { index: usize, what: &'static str },
    /// An object (endpoint, notification, capability, device) record is malformed.
    BadObject {
        what: &'static str,
        index: usize,
        why: &'static str,
    },
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { len } => write!(
                f,
                "image truncated: only {len} bytes follow the kernel, too few for a manifest header"
            ),
            Self::BadMagic => write!(
                f,
                "no manifest: the bytes after the kernel do not start with \"BULKHEAD\" (build the image with `cargo xtask build`)"
            ),
            Self::UnsupportedVersion { found } => write!(
                f,
                "manifest version {found} is not supported (this core reads version {VERSION})"
            ),
            Self::BadHeaderLength { found } => {
                write!(f, "manifest header length is {found}, expected {HEADER_LEN}")
            }
            Self::Truncated { expected, available } => write!(
                f,
                "image truncated: manifest says {expected} bytes but only {available} were loaded"
            ),
            Self::ChecksumMismatch { stored, computed } => write!(
                f,
                "manifest checksum mismatch (stored {stored:#018x}, computed {computed:#018x}): the image is corrupt"
            ),
            Self::UnknownBoard { found } => write!(f, "manifest names unknown board {found}"),
            Self::TooMany { what, count, max } => {
                write!(f, "manifest has {count} {what}, this core supports at most {max}")
            }
            Self::TableOutOfBounds { what } => {
                write!(f, "manifest {what} table lies outside the manifest")
            }
            Self::BadPartition { index, what } => write!(f, "manifest partition {index}: {what}"),
            Self::BadRegion { index, what } => write!(f, "manifest region {index}: {what}"),
            Self::BadVcpu { index, what } => write!(f, "manifest vCPU {index}: {what}"),
            Self::BadObject { what, index, why } => write!(f, "manifest {what} {index}: {why}"),
        }
    }
}

fn read_u16(b: &[u8], off: usize) -> u16 {
    let mut v = [0u8; 2];
    if let Some(s) = b.get(off..off + 2) {
        v.copy_from_slice(s);
    }
    u16::from_le_bytes(v)
}

fn read_u32(b: &[u8], off: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        v.copy_from_slice(s);
    }
    u32::from_le_bytes(v)
}

fn read_u64(b: &[u8], off: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        v.copy_from_slice(s);
    }
    u64::from_le_bytes(v)
}

/// A blob reference: offset then length, both u64.
fn read_blob(b: &[u8], off: usize) -> BlobRef {
    BlobRef {
        offset: read_u64(b, off),
        len: read_u64(b, off + 8),
    }
}

/// A verified manifest, borrowing the image bytes.
#[derive(Clone, Copy, Debug)]
pub struct Manifest<'a> {
    bytes: &'a [u8],
    board: Board,
    partition_count: usize,
    vcpu_count: usize,
    region_count: usize,
    endpoint_count: usize,
    notification_count: usize,
    cap_count: usize,
    device_count: usize,
    interrupt_count: usize,
    supervisor: Option<u32>,
    fault_notification: Option<u32>,
}

const PARTITIONS_OFFSET: usize = HEADER_LEN;

fn optional_index(v: u32) -> Option<u32> {
    (v != NO_INDEX).then_some(v)
}

impl<'a> Manifest<'a> {
    /// Verifies and decodes a manifest at the start of `bytes` (which may run
    /// past its end). Every record is checked here, so the accessors cannot
    /// fail afterwards.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ManifestError> {
        if bytes.len() < HEADER_LEN {
            return Err(ManifestError::TooShort { len: bytes.len() });
        }
        if bytes[..8] != MAGIC {
            return Err(ManifestError::BadMagic);
        }
        let version = read_u32(bytes, header::VERSION);
        if version != VERSION {
            return Err(ManifestError::UnsupportedVersion { found: version });
        }
        let header_len = read_u32(bytes, header::HEADER_LEN);
        if header_len as usize != HEADER_LEN {
            return Err(ManifestError::BadHeaderLength { found: header_len });
        }
        let total_len = read_u64(bytes, header::TOTAL_LEN);
        let total = usize::try_from(total_len)
            .ok()
            .filter(|&t| t >= HEADER_LEN && t <= bytes.len())
            .ok_or(ManifestError::Truncated {
                expected: total_len,
                available: bytes.len(),
            })?;
        let bytes = &bytes[..total];
        let stored = read_u64(bytes, header::CHECKSUM);
        let computed = checksum(bytes);
        if stored != computed {
            return Err(ManifestError::ChecksumMismatch { stored, computed });
        }
        let board_raw = read_u32(bytes, header::BOARD);
        let board =
            Board::from_u32(board_raw).ok_or(ManifestError::UnknownBoard { found: board_raw })?;
        let count = |off: usize, what: &'static str, max: usize| {
            let c = read_u32(bytes, off);
            if c as usize > max {
                Err(ManifestError::TooMany {
                    what,
                    count: c,
                    max,
                })
            } else {
                Ok(c as usize)
            }
        };
        let partition_count = count(header::PARTITIONS, "partitions", MAX_PARTITIONS)?;
        let vcpu_count = count(header::VCPUS, "vCPUs", MAX_VCPUS)?;
        let region_count = count(header::REGIONS, "memory regions", MAX_REGIONS)?;
        let strings_len = read_u32(bytes, header::STRINGS_LEN) as usize;
        let endpoint_count = count(header::ENDPOINTS, "endpoints", MAX_ENDPOINTS)?;
        let notification_count = count(header::NOTIFICATIONS, "notifications", MAX_NOTIFICATIONS)?;
        let cap_count = count(header::CAPS, "capabilities", MAX_CAPS)?;
        let device_count = count(header::DEVICES, "emulated devices", MAX_DEVICES)?;
        let interrupt_count = count(
            header::INTERRUPTS,
            "passed-through interrupts",
            MAX_PASSTHROUGH_IRQS,
        )?;
        let m = Self {
            bytes,
            board,
            partition_count,
            vcpu_count,
            region_count,
            endpoint_count,
            notification_count,
            cap_count,
            device_count,
            interrupt_count,
            supervisor: optional_index(read_u32(bytes, header::SUPERVISOR)),
            fault_notification: optional_index(read_u32(bytes, header::FAULT_NOTIFICATION)),
        };
        if m.strings_offset() + strings_len > total {
            return Err(ManifestError::TableOutOfBounds { what: "string" });
        }
        m.check_objects()?;
        m.check_records(strings_len)?;
        Ok(m)
    }

    fn vcpus_offset(&self) -> usize {
        PARTITIONS_OFFSET + self.partition_count * PARTITION_LEN
    }

    fn regions_offset(&self) -> usize {
        self.vcpus_offset() + self.vcpu_count * VCPU_LEN
    }

    fn endpoints_offset(&self) -> usize {
        self.regions_offset() + self.region_count * REGION_LEN
    }

    fn notifications_offset(&self) -> usize {
        self.endpoints_offset() + self.endpoint_count * ENDPOINT_LEN
    }

    fn caps_offset(&self) -> usize {
        self.notifications_offset() + self.notification_count * NOTIFICATION_LEN
    }

    fn devices_offset(&self) -> usize {
        self.caps_offset() + self.cap_count * CAP_LEN
    }

    fn interrupts_offset(&self) -> usize {
        self.devices_offset() + self.device_count * DEVICE_LEN
    }

    fn strings_offset(&self) -> usize {
        self.interrupts_offset() + self.interrupt_count * INTERRUPT_LEN
    }

    fn check_objects(&self) -> Result<(), ManifestError> {
        let parts = self.partition_count as u32;
        if self.supervisor.is_some_and(|s| s >= parts) {
            return Err(ManifestError::BadObject {
                what: "header",
                index: 0,
                why: "supervisor is not a partition",
            });
        }
        if self
            .fault_notification
            .is_some_and(|n| n as usize >= self.notification_count)
        {
            return Err(ManifestError::BadObject {
                what: "header",
                index: 0,
                why: "fault notification does not exist",
            });
        }
        for index in 0..self.endpoint_count {
            if self.endpoint(index).server >= parts {
                return Err(ManifestError::BadObject {
                    what: "endpoint",
                    index,
                    why: "server is not a partition",
                });
            }
        }
        for index in 0..self.notification_count {
            let n = self.notification(index);
            let bad = |why| {
                Err(ManifestError::BadObject {
                    what: "notification",
                    index,
                    why,
                })
            };
            if n.irq >= MAX_INTID || (n.irq != 0 && n.irq < 16) {
                return bad("bound interrupt is not a PPI or SPI");
            }
            if n.virq_partition != NO_INDEX && (n.virq_partition >= parts || n.virq >= MAX_INTID) {
                return bad("virtual interrupt target is out of range");
            }
        }
        for index in 0..self.cap_count {
            let bad = |why| {
                Err(ManifestError::BadObject {
                    what: "capability",
                    index,
                    why,
                })
            };
            let off = self.caps_offset() + index * CAP_LEN;
            let Some(kind) = ObjectKind::from_u8(self.bytes[off + 2]) else {
                return bad("unknown object kind");
            };
            let c = self.cap(index);
            if usize::from(c.slot) >= MAX_CAP_SLOTS {
                return bad("slot out of range");
            }
            if c.rights & !kind.valid_rights() != 0 || c.rights == 0 {
                return bad("rights do not fit the object");
            }
            let objects = match kind {
                ObjectKind::Endpoint => self.endpoint_count,
                ObjectKind::Notification => self.notification_count,
                ObjectKind::Partition => self.partition_count,
            };
            if c.object as usize >= objects {
                return bad("names an object that does not exist");
            }
        }
        for index in 0..self.device_count {
            let d = self.device(index);
            let bad = |why| {
                Err(ManifestError::BadObject {
                    what: "device",
                    index,
                    why,
                })
            };
            if d.size == 0
                || !(d.ipa | d.size).is_multiple_of(4096)
                || d.ipa.checked_add(d.size).is_none()
            {
                return bad("window not 4 KiB aligned or empty");
            }
            if d.endpoint as usize >= self.endpoint_count {
                return bad("endpoint does not exist");
            }
            if d.virq >= MAX_INTID {
                return bad("interrupt out of range");
            }
        }
        for index in 0..self.interrupt_count {
            let intid = self.interrupt(index).intid;
            if !(FIRST_SPI..MAX_INTID).contains(&intid) {
                return Err(ManifestError::BadObject {
                    what: "passed-through interrupt",
                    index,
                    why: "not an SPI",
                });
            }
            if (0..index).any(|other| self.interrupt(other).intid == intid) {
                return Err(ManifestError::BadObject {
                    what: "passed-through interrupt",
                    index,
                    why: "passed through twice",
                });
            }
        }
        Ok(())
    }

    fn check_records(&self, strings_len: usize) -> Result<(), ManifestError> {
        for index in 0..self.vcpu_count {
            let off = self.vcpus_offset() + index * VCPU_LEN;
            if read_u32(self.bytes, off) as usize >= crate::MAX_CPUS {
                return Err(ManifestError::BadVcpu {
                    index,
                    what: "home CPU out of range",
                });
            }
        }
        for index in 0..self.region_count {
            let r = self.region(index);
            let bad = |what| Err(ManifestError::BadRegion { index, what });
            if r.flags & !region_flags::ALL != 0 {
                return bad("unknown flag bits");
            }
            if r.flags & region_flags::NO_DMA != 0 && r.is_ram() {
                return bad("NO_DMA on RAM");
            }
            if r.size == 0 || !(r.ipa | r.pa | r.size).is_multiple_of(4096) {
                return bad("not 4 KiB aligned or empty");
            }
            if r.ipa.checked_add(r.size).is_none() || r.pa.checked_add(r.size).is_none() {
                return bad("wraps the address space");
            }
        }
        let strings = self.strings_offset();
        for index in 0..self.partition_count {
            let off = PARTITIONS_OFFSET + index * PARTITION_LEN;
            let b = self.bytes;
            let bad = |what| Err(ManifestError::BadPartition { index, what });
            let name_off = read_u32(b, off) as usize;
            let name_len = read_u32(b, off + 4) as usize;
            if name_len == 0 || name_len > MAX_NAME_LEN || name_off + name_len > strings_len {
                return bad("name out of bounds");
            }
            if core::str::from_utf8(&b[strings + name_off..strings + name_off + name_len]).is_err()
            {
                return bad("name is not UTF-8");
            }
            if b[off + 8] > 1 {
                return bad("unknown kind");
            }
            if b[off + 9] > 2 {
                return bad("unknown restart policy");
            }
            if read_u16(b, off + 10) & !partition_flags::ALL != 0 {
                return bad("unknown flag bits");
            }
            let first_vcpu = read_u32(b, off + 20) as usize;
            let vcpus = read_u32(b, off + 24) as usize;
            if vcpus == 0 || vcpus > MAX_VCPUS_PER_PARTITION || first_vcpu + vcpus > self.vcpu_count
            {
                return bad("vCPU range out of bounds");
            }
            let first_region = read_u32(b, off + 28) as usize;
            let regions = read_u32(b, off + 32) as usize;
            if regions == 0 || first_region + regions > self.region_count {
                return bad("region range out of bounds");
            }
            for blob_off in [off + 48, off + 72, off + 112] {
                let start = read_u64(b, blob_off);
                let len = read_u64(b, blob_off + 8);
                match start.checked_add(len) {
                    Some(end) if end <= b.len() as u64 => {}
                    _ => return bad("blob out of bounds"),
                }
            }
            let p = self.partition(index);
            if p.first_cap as usize + p.cap_count as usize > self.cap_count {
                return bad("capability range out of bounds");
            }
            let mut slots = 0u64;
            for c in self.caps_of(&p) {
                if slots & (1 << c.slot) != 0 {
                    return bad("two capabilities in one slot");
                }
                slots |= 1 << c.slot;
            }
            if p.first_device as usize + p.device_count as usize > self.device_count {
                return bad("device range out of bounds");
            }
            if p.first_interrupt as usize + p.interrupt_count as usize > self.interrupt_count {
                return bad("interrupt range out of bounds");
            }
            if !self.ipa_in_ram(&p, p.image_ipa, p.image.len) {
                return bad("image does not fit in its RAM");
            }
            if p.dtb.len != 0 && !self.ipa_in_ram(&p, p.dtb_ipa, p.dtb.len) {
                return bad("device tree does not fit in its RAM");
            }
            if p.initrd.len != 0 && !self.ipa_in_ram(&p, p.initrd_ipa, p.initrd.len) {
                return bad("initrd does not fit in its RAM");
            }
            if !self.ipa_in_ram(&p, p.entry_ipa, 4) {
                return bad("entry point is outside its RAM");
            }
        }
        Ok(())
    }

    fn ipa_in_ram(&self, p: &PartitionDesc<'_>, ipa: u64, len: u64) -> bool {
        self.regions_of(p).any(|r| {
            r.is_ram()
                && ipa >= r.ipa
                && ipa
                    .checked_add(len)
                    .is_some_and(|end| end <= r.ipa + r.size)
        })
    }

    /// The board the image was built for.
    pub fn board(&self) -> Board {
        self.board
    }

    /// Total manifest length, blobs included.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a parsed manifest has at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> usize {
        self.partition_count
    }

    /// Number of vCPUs across all partitions.
    pub fn vcpu_count(&self) -> usize {
        self.vcpu_count
    }

    /// Number of regions across all partitions.
    pub fn region_count(&self) -> usize {
        self.region_count
    }

    /// Partition `index`; `index` must be below [`Self::partition_count`].
    pub fn partition(&self, index: usize) -> PartitionDesc<'a> {
        let b = self.bytes;
        let off =
            PARTITIONS_OFFSET + index.min(self.partition_count.saturating_sub(1)) * PARTITION_LEN;
        let strings = self.strings_offset();
        let name_off = strings + read_u32(b, off) as usize;
        let name_len = read_u32(b, off + 4) as usize;
        let name = b
            .get(name_off..name_off + name_len)
            .and_then(|s| core::str::from_utf8(s).ok())
            .unwrap_or("?");
        PartitionDesc {
            name,
            kind: if b[off + 8] == 1 {
                PartitionKind::Service
            } else {
                PartitionKind::Guest
            },
            restart: match b[off + 9] {
                1 => RestartPolicy::OnCrash,
                2 => RestartPolicy::Always,
                _ => RestartPolicy::Never,
            },
            flags: read_u16(b, off + 10),
            max_restarts: read_u32(b, off + 12),
            restart_window_ms: read_u32(b, off + 16),
            first_vcpu: read_u32(b, off + 20),
            vcpu_count: read_u32(b, off + 24),
            first_region: read_u32(b, off + 28),
            region_count: read_u32(b, off + 32),
            entry_ipa: read_u64(b, off + 40),
            image: read_blob(b, off + 48),
            image_ipa: read_u64(b, off + 64),
            dtb: read_blob(b, off + 72),
            dtb_ipa: read_u64(b, off + 88),
            first_cap: read_u32(b, off + 96),
            cap_count: read_u32(b, off + 100),
            first_device: read_u32(b, off + 104),
            device_count: read_u32(b, off + 108),
            initrd: read_blob(b, off + 112),
            initrd_ipa: read_u64(b, off + 128),
            first_interrupt: read_u32(b, off + 136),
            interrupt_count: read_u32(b, off + 140),
        }
    }

    /// The partition that supervises the others (the vmm), if any.
    pub fn supervisor(&self) -> Option<u32> {
        self.supervisor
    }

    /// The notification the core signals when a partition faults, if any.
    pub fn fault_notification(&self) -> Option<u32> {
        self.fault_notification
    }

    /// Number of endpoints.
    pub fn endpoint_count(&self) -> usize {
        self.endpoint_count
    }

    /// Number of notifications.
    pub fn notification_count(&self) -> usize {
        self.notification_count
    }

    /// Endpoint `index`.
    pub fn endpoint(&self, index: usize) -> EndpointDesc {
        let off = self.endpoints_offset()
            + index.min(self.endpoint_count.saturating_sub(1)) * ENDPOINT_LEN;
        EndpointDesc {
            server: read_u32(self.bytes, off),
        }
    }

    /// Notification `index`.
    pub fn notification(&self, index: usize) -> NotificationDesc {
        let off = self.notifications_offset()
            + index.min(self.notification_count.saturating_sub(1)) * NOTIFICATION_LEN;
        NotificationDesc {
            irq: read_u32(self.bytes, off),
            virq_partition: read_u32(self.bytes, off + 4),
            virq: read_u32(self.bytes, off + 8),
        }
    }

    /// Capability record `index` of the whole table.
    pub fn cap(&self, index: usize) -> CapDesc {
        let off = self.caps_offset() + index.min(self.cap_count.saturating_sub(1)) * CAP_LEN;
        let b = self.bytes;
        CapDesc {
            slot: read_u16(b, off),
            kind: b
                .get(off + 2)
                .and_then(|&k| ObjectKind::from_u8(k))
                .unwrap_or(ObjectKind::Endpoint),
            rights: read_u32(b, off + 4),
            object: read_u32(b, off + 8),
            badge: read_u64(b, off + 16),
        }
    }

    /// Emulated device record `index` of the whole table.
    pub fn device(&self, index: usize) -> DeviceDesc {
        let off =
            self.devices_offset() + index.min(self.device_count.saturating_sub(1)) * DEVICE_LEN;
        let b = self.bytes;
        DeviceDesc {
            ipa: read_u64(b, off),
            size: read_u64(b, off + 8),
            endpoint: read_u32(b, off + 16),
            virq: read_u32(b, off + 20),
            badge: read_u64(b, off + 24),
        }
    }

    /// Passed-through interrupt record `index` of the whole table.
    pub fn interrupt(&self, index: usize) -> InterruptDesc {
        let off = self.interrupts_offset()
            + index.min(self.interrupt_count.saturating_sub(1)) * INTERRUPT_LEN;
        InterruptDesc {
            intid: read_u32(self.bytes, off),
        }
    }

    /// The physical interrupts passed through to a partition.
    pub fn interrupts_of(&self, p: &PartitionDesc<'_>) -> impl Iterator<Item = InterruptDesc> + '_ {
        let first = p.first_interrupt as usize;
        (first..first + p.interrupt_count as usize).map(|i| self.interrupt(i))
    }

    /// The capabilities of a partition.
    pub fn caps_of(&self, p: &PartitionDesc<'_>) -> impl Iterator<Item = CapDesc> + '_ {
        let first = p.first_cap as usize;
        (first..first + p.cap_count as usize).map(|i| self.cap(i))
    }

    /// The emulated devices of a partition.
    pub fn devices_of(&self, p: &PartitionDesc<'_>) -> impl Iterator<Item = DeviceDesc> + '_ {
        let first = p.first_device as usize;
        (first..first + p.device_count as usize).map(|i| self.device(i))
    }

    /// All partitions in manifest order.
    pub fn partitions(&self) -> impl Iterator<Item = PartitionDesc<'a>> + '_ {
        (0..self.partition_count).map(|i| self.partition(i))
    }

    /// vCPU record `index` of the whole table.
    pub fn vcpu(&self, index: usize) -> VcpuDesc {
        let off = self.vcpus_offset() + index.min(self.vcpu_count.saturating_sub(1)) * VCPU_LEN;
        VcpuDesc {
            cpu: read_u32(self.bytes, off),
            priority: self.bytes.get(off + 4).copied().unwrap_or(0),
        }
    }

    /// Region record `index` of the whole table.
    pub fn region(&self, index: usize) -> RegionDesc {
        let off =
            self.regions_offset() + index.min(self.region_count.saturating_sub(1)) * REGION_LEN;
        let b = self.bytes;
        RegionDesc {
            ipa: read_u64(b, off),
            pa: read_u64(b, off + 8),
            size: read_u64(b, off + 16),
            flags: read_u32(b, off + 24),
        }
    }

    /// The vCPUs of a partition.
    pub fn vcpus_of(&self, p: &PartitionDesc<'_>) -> impl Iterator<Item = VcpuDesc> + '_ {
        let first = p.first_vcpu as usize;
        (first..first + p.vcpu_count as usize).map(|i| self.vcpu(i))
    }

    /// The regions of a partition.
    pub fn regions_of(&self, p: &PartitionDesc<'_>) -> impl Iterator<Item = RegionDesc> + '_ {
        let first = p.first_region as usize;
        (first..first + p.region_count as usize).map(|i| self.region(i))
    }

    /// The bytes of a blob (bounds were checked by [`Self::parse`]).
    pub fn blob(&self, blob: BlobRef) -> &'a [u8] {
        let start = usize::try_from(blob.offset).unwrap_or(usize::MAX);
        let len = usize::try_from(blob.len).unwrap_or(0);
        self.bytes
            .get(start..start.saturating_add(len))
            .unwrap_or(&[])
    }
}

/// XXH64 (seed 0) of a manifest with its checksum field read as zero. The
/// field ends a stripe, so everything after it is read as aligned lanes
/// straight from the image (the manifest is page aligned).
fn checksum(bytes: &[u8]) -> u64 {
    let field_end = header::CHECKSUM + 8;
    let mut hasher = Xxh64::new(0);
    hasher.update(bytes.get(..header::CHECKSUM).unwrap_or(&[]));
    hasher.update(&[0; 8]);
    hasher.update(bytes.get(field_end..).unwrap_or(&[]));
    hasher.finish()
}

/// Builds manifests on the host (the config tool and tests).
#[cfg(any(feature = "alloc", test))]
pub mod build {
    use alloc::string::String;
    use alloc::vec::Vec;

    use super::*;

    /// A partition to encode, with its blobs.
    #[derive(Clone, Debug)]
    pub struct PartitionSpec {
        /// Name.
        pub name: String,
        /// Guest or service.
        pub kind: PartitionKind,
        /// Fault policy.
        pub restart: RestartPolicy,
        /// [`partition_flags`] bits.
        pub flags: u16,
        /// With `OnCrash`: most restarts inside the window.
        pub max_restarts: u32,
        /// With `OnCrash`: the window in milliseconds.
        pub restart_window_ms: u32,
        /// vCPUs.
        pub vcpus: Vec<VcpuDesc>,
        /// Memory regions (RAM, shared memory and device windows).
        pub regions: Vec<RegionDesc>,
        /// Capabilities it holds.
        pub caps: Vec<CapDesc>,
        /// Emulated device windows.
        pub devices: Vec<DeviceDesc>,
        /// Entry point of vCPU 0.
        pub entry_ipa: u64,
        /// The image bytes.
        pub image: Vec<u8>,
        /// Where the image goes.
        pub image_ipa: u64,
        /// The device tree bytes (may be empty).
        pub dtb: Vec<u8>,
        /// Where the device tree goes.
        pub dtb_ipa: u64,
        /// The initrd bytes (may be empty).
        pub initrd: Vec<u8>,
        /// Where the initrd goes.
        pub initrd_ipa: u64,
        /// Physical SPIs passed through.
        pub interrupts: Vec<InterruptDesc>,
    }

    /// A whole system to encode.
    #[derive(Clone, Debug)]
    pub struct SystemSpec {
        /// The board.
        pub board: Board,
        /// Partitions in start order.
        pub partitions: Vec<PartitionSpec>,
        /// Endpoints.
        pub endpoints: Vec<EndpointDesc>,
        /// Notifications.
        pub notifications: Vec<NotificationDesc>,
        /// The supervising partition (vmm), if any.
        pub supervisor: Option<u32>,
        /// The notification signalled on every partition fault, if any.
        pub fault_notification: Option<u32>,
    }

    fn align_up(v: usize, a: usize) -> usize {
        v.div_ceil(a) * a
    }

    fn put16(b: &mut [u8], off: usize, v: u16) {
        b[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn put32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put64(b: &mut [u8], off: usize, v: u64) {
        b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Encodes a manifest; the result starts with [`MAGIC`] and is a multiple
    /// of [`BLOB_ALIGN`] long up to its last blob.
    pub fn encode(system: &SystemSpec) -> Vec<u8> {
        let partitions = &system.partitions;
        let vcpu_count: usize = partitions.iter().map(|p| p.vcpus.len()).sum();
        let region_count: usize = partitions.iter().map(|p| p.regions.len()).sum();
        let cap_count: usize = partitions.iter().map(|p| p.caps.len()).sum();
        let device_count: usize = partitions.iter().map(|p| p.devices.len()).sum();
        let interrupt_count: usize = partitions.iter().map(|p| p.interrupts.len()).sum();
        let mut strings = Vec::new();
        let mut name_offsets = Vec::new();
        for p in partitions {
            name_offsets.push(strings.len());
            strings.extend_from_slice(p.name.as_bytes());
        }
        let strings_len = align_up(strings.len(), 8);
        strings.resize(strings_len, 0);

        let vcpus_off = HEADER_LEN + partitions.len() * PARTITION_LEN;
        let regions_off = vcpus_off + vcpu_count * VCPU_LEN;
        let endpoints_off = regions_off + region_count * REGION_LEN;
        let notifications_off = endpoints_off + system.endpoints.len() * ENDPOINT_LEN;
        let caps_off = notifications_off + system.notifications.len() * NOTIFICATION_LEN;
        let devices_off = caps_off + cap_count * CAP_LEN;
        let interrupts_off = devices_off + device_count * DEVICE_LEN;
        let strings_off = interrupts_off + interrupt_count * INTERRUPT_LEN;
        let tables_end = strings_off + strings_len;

        // Place blobs after the tables, each aligned; a blob equal to one
        // already placed (two guests booting the same kernel) is stored once.
        let mut placed: Vec<(usize, &[u8])> = Vec::new();
        let mut cursor = align_up(tables_end, BLOB_ALIGN);
        let mut blob_offsets = Vec::new();
        for p in partitions {
            let mut offsets = [0usize; 3];
            for (slot, blob) in offsets.iter_mut().zip([&p.image, &p.dtb, &p.initrd]) {
                *slot = match placed
                    .iter()
                    .find(|(_, b)| !blob.is_empty() && *b == &blob[..])
                {
                    Some(&(off, _)) => off,
                    None => {
                        let off = cursor;
                        cursor = align_up(cursor + blob.len(), BLOB_ALIGN);
                        placed.push((off, blob));
                        off
                    }
                };
            }
            blob_offsets.push(offsets);
        }
        let total = cursor;
        let mut out = alloc::vec![0u8; total];
        for &(off, blob) in &placed {
            out[off..off + blob.len()].copy_from_slice(blob);
        }

        out[..8].copy_from_slice(&MAGIC);
        put32(&mut out, header::VERSION, VERSION);
        put32(&mut out, header::HEADER_LEN, HEADER_LEN as u32);
        put64(&mut out, header::TOTAL_LEN, total as u64);
        put32(&mut out, header::BOARD, system.board as u32);
        put32(&mut out, header::PARTITIONS, partitions.len() as u32);
        put32(&mut out, header::VCPUS, vcpu_count as u32);
        put32(&mut out, header::REGIONS, region_count as u32);
        put32(&mut out, header::STRINGS_LEN, strings_len as u32);
        put32(&mut out, header::ENDPOINTS, system.endpoints.len() as u32);
        put32(
            &mut out,
            header::NOTIFICATIONS,
            system.notifications.len() as u32,
        );
        put32(&mut out, header::CAPS, cap_count as u32);
        put32(&mut out, header::DEVICES, device_count as u32);
        put32(
            &mut out,
            header::SUPERVISOR,
            system.supervisor.unwrap_or(NO_INDEX),
        );
        put32(
            &mut out,
            header::FAULT_NOTIFICATION,
            system.fault_notification.unwrap_or(NO_INDEX),
        );
        put32(&mut out, header::INTERRUPTS, interrupt_count as u32);
        out[strings_off..strings_off + strings_len].copy_from_slice(&strings);

        for (i, e) in system.endpoints.iter().enumerate() {
            put32(&mut out, endpoints_off + i * ENDPOINT_LEN, e.server);
        }
        for (i, n) in system.notifications.iter().enumerate() {
            let off = notifications_off + i * NOTIFICATION_LEN;
            put32(&mut out, off, n.irq);
            put32(&mut out, off + 4, n.virq_partition);
            put32(&mut out, off + 8, n.virq);
        }

        let (mut vcpu_index, mut region_index, mut cap_index, mut device_index) = (0, 0, 0, 0);
        let mut interrupt_index = 0;
        for (i, p) in partitions.iter().enumerate() {
            let off = HEADER_LEN + i * PARTITION_LEN;
            let [image_off, dtb_off, initrd_off] = blob_offsets[i];
            put32(&mut out, off, name_offsets[i] as u32);
            put32(&mut out, off + 4, p.name.len() as u32);
            out[off + 8] = p.kind as u8;
            out[off + 9] = p.restart as u8;
            put16(&mut out, off + 10, p.flags);
            put32(&mut out, off + 12, p.max_restarts);
            put32(&mut out, off + 16, p.restart_window_ms);
            put32(&mut out, off + 20, vcpu_index as u32);
            put32(&mut out, off + 24, p.vcpus.len() as u32);
            put32(&mut out, off + 28, region_index as u32);
            put32(&mut out, off + 32, p.regions.len() as u32);
            put64(&mut out, off + 40, p.entry_ipa);
            put64(&mut out, off + 48, image_off as u64);
            put64(&mut out, off + 56, p.image.len() as u64);
            put64(&mut out, off + 64, p.image_ipa);
            put64(&mut out, off + 72, dtb_off as u64);
            put64(&mut out, off + 80, p.dtb.len() as u64);
            put64(&mut out, off + 88, p.dtb_ipa);
            put32(&mut out, off + 96, cap_index as u32);
            put32(&mut out, off + 100, p.caps.len() as u32);
            put32(&mut out, off + 104, device_index as u32);
            put32(&mut out, off + 108, p.devices.len() as u32);
            put64(&mut out, off + 112, initrd_off as u64);
            put64(&mut out, off + 120, p.initrd.len() as u64);
            put64(&mut out, off + 128, p.initrd_ipa);
            put32(&mut out, off + 136, interrupt_index as u32);
            put32(&mut out, off + 140, p.interrupts.len() as u32);
            for irq in &p.interrupts {
                put32(
                    &mut out,
                    interrupts_off + interrupt_index * INTERRUPT_LEN,
                    irq.intid,
                );
                interrupt_index += 1;
            }
            for v in &p.vcpus {
                let off = vcpus_off + vcpu_index * VCPU_LEN;
                put32(&mut out, off, v.cpu);
                out[off + 4] = v.priority;
                vcpu_index += 1;
            }
            for r in &p.regions {
                let off = regions_off + region_index * REGION_LEN;
                put64(&mut out, off, r.ipa);
                put64(&mut out, off + 8, r.pa);
                put64(&mut out, off + 16, r.size);
                put32(&mut out, off + 24, r.flags);
                region_index += 1;
            }
            for c in &p.caps {
                let off = caps_off + cap_index * CAP_LEN;
                put16(&mut out, off, c.slot);
                out[off + 2] = c.kind as u8;
                put32(&mut out, off + 4, c.rights);
                put32(&mut out, off + 8, c.object);
                put64(&mut out, off + 16, c.badge);
                cap_index += 1;
            }
            for d in &p.devices {
                let off = devices_off + device_index * DEVICE_LEN;
                put64(&mut out, off, d.ipa);
                put64(&mut out, off + 8, d.size);
                put32(&mut out, off + 16, d.endpoint);
                put32(&mut out, off + 20, d.virq);
                put64(&mut out, off + 24, d.badge);
                device_index += 1;
            }
        }
        let sum = checksum(&out);
        put64(&mut out, header::CHECKSUM, sum);
        out
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    use super::build::{encode, PartitionSpec, SystemSpec};
    use super::*;

    fn spec(name: &str, ipa: u64, pa: u64) -> PartitionSpec {
        PartitionSpec {
            name: name.to_string(),
            kind: PartitionKind::Guest,
            restart: RestartPolicy::OnCrash,
            flags: partition_flags::PMU,
            max_restarts: 3,
            restart_window_ms: 1000,
            vcpus: vec![
                VcpuDesc {
                    cpu: 1,
                    priority: 5,
                },
                VcpuDesc {
                    cpu: 2,
                    priority: 6,
                },
            ],
            regions: vec![RegionDesc {
                ipa,
                pa,
                size: 0x20_0000,
                flags: region_flags::READ | region_flags::WRITE | region_flags::EXEC,
            }],
            caps: vec![],
            devices: vec![],
            entry_ipa: ipa,
            image: vec![0xAA; 5000],
            image_ipa: ipa,
            dtb: vec![0xD7; 100],
            dtb_ipa: ipa + 0x10_0000,
            initrd: vec![],
            initrd_ipa: 0,
            interrupts: vec![],
        }
    }

    fn system(board: Board, partitions: Vec<PartitionSpec>) -> SystemSpec {
        SystemSpec {
            board,
            partitions,
            endpoints: vec![],
            notifications: vec![],
            supervisor: None,
            fault_notification: None,
        }
    }

    fn one(board: Board, p: PartitionSpec) -> Vec<u8> {
        encode(&system(board, vec![p]))
    }

    /// alpha serves endpoint 0 and holds a notification bound to IRQ 33;
    /// beta calls the endpoint with badge 7 and has an emulated device.
    fn sample_system() -> SystemSpec {
        let mut alpha = spec("alpha", 0x4000_0000, 0x5000_0000);
        alpha.caps = vec![
            CapDesc {
                slot: 0,
                kind: ObjectKind::Endpoint,
                rights: abi::ipc::rights::RECV,
                object: 0,
                badge: 0,
            },
            CapDesc {
                slot: 5,
                kind: ObjectKind::Notification,
                rights: abi::ipc::rights::WAIT,
                object: 0,
                badge: 0,
            },
            CapDesc {
                slot: 6,
                kind: ObjectKind::Partition,
                rights: abi::ipc::rights::STATUS,
                object: 1,
                badge: 0,
            },
        ];
        let mut beta = spec("beta", 0x4000_0000, 0x5020_0000);
        beta.caps = vec![CapDesc {
            slot: 1,
            kind: ObjectKind::Endpoint,
            rights: abi::ipc::rights::CALL,
            object: 0,
            badge: 7,
        }];
        beta.devices = vec![DeviceDesc {
            ipa: 0x0900_0000,
            size: 0x1000,
            endpoint: 0,
            virq: 33,
            badge: 0x100,
        }];
        SystemSpec {
            endpoints: vec![EndpointDesc { server: 0 }],
            notifications: vec![NotificationDesc {
                irq: 33,
                virq_partition: NO_INDEX,
                virq: 0,
            }],
            supervisor: Some(0),
            fault_notification: Some(0),
            ..system(Board::QemuVirtGicV3, vec![alpha, beta])
        }
    }

    fn sample() -> Vec<u8> {
        encode(&sample_system())
    }

    #[test]
    fn objects_round_trip() {
        let bytes = sample();
        let m = Manifest::parse(&bytes).unwrap();
        assert_eq!(m.supervisor(), Some(0));
        assert_eq!(m.fault_notification(), Some(0));
        assert_eq!(m.endpoint(0), EndpointDesc { server: 0 });
        assert_eq!(m.notification(0).irq, 33);
        let alpha = m.partition(0);
        let caps: Vec<_> = m.caps_of(&alpha).collect();
        assert_eq!(caps.len(), 3);
        assert_eq!(caps[2].kind, ObjectKind::Partition);
        let beta = m.partition(1);
        assert_eq!(m.caps_of(&beta).next().map(|c| c.badge), Some(7));
        assert_eq!(m.devices_of(&beta).next().map(|d| d.virq), Some(33));
    }

    #[test]
    fn bad_objects_are_refused() {
        let mut s = sample_system();
        s.partitions[1].caps[0].rights = abi::ipc::rights::SIGNAL;
        assert!(matches!(
            Manifest::parse(&encode(&s)),
            Err(ManifestError::BadObject {
                why: "rights do not fit the object",
                ..
            })
        ));
        let mut s = sample_system();
        s.partitions[1].caps[0].object = 9;
        assert!(matches!(
            Manifest::parse(&encode(&s)),
            Err(ManifestError::BadObject { .. })
        ));
        let mut s = sample_system();
        s.partitions[0].caps[1].slot = 0;
        assert!(matches!(
            Manifest::parse(&encode(&s)),
            Err(ManifestError::BadPartition {
                what: "two capabilities in one slot",
                ..
            })
        ));
        let mut s = sample_system();
        s.partitions[0].caps[1].slot = 64;
        assert!(matches!(
            Manifest::parse(&encode(&s)),
            Err(ManifestError::BadObject {
                why: "slot out of range",
                ..
            })
        ));
        let mut s = sample_system();
        s.endpoints[0].server = 5;
        assert!(matches!(
            Manifest::parse(&encode(&s)),
            Err(ManifestError::BadObject { .. })
        ));
        let mut s = sample_system();
        s.notifications[0].irq = 3;
        assert!(matches!(
            Manifest::parse(&encode(&s)),
            Err(ManifestError::BadObject { .. })
        ));
        let mut s = sample_system();
        s.partitions[1].devices[0].size = 0x10;
        assert!(matches!(
            Manifest::parse(&encode(&s)),
            Err(ManifestError::BadObject { .. })
        ));
        let mut s = sample_system();
        s.supervisor = Some(3);
        assert!(matches!(
            Manifest::parse(&encode(&s)),
            Err(ManifestError::BadObject { .. })
        ));
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let m = Manifest::parse(&bytes).unwrap();
        assert_eq!(m.board(), Board::QemuVirtGicV3);
        assert_eq!(m.partition_count(), 2);
        let names: Vec<_> = m.partitions().map(|p| p.name).collect();
        assert_eq!(names, ["alpha", "beta"]);
        let beta = m.partition(1);
        assert_eq!(beta.restart, RestartPolicy::OnCrash);
        assert_eq!(beta.max_restarts, 3);
        assert_eq!(beta.flags, partition_flags::PMU);
        assert_eq!(m.blob(beta.image), &[0xAA; 5000][..]);
        assert_eq!(m.blob(beta.dtb), &[0xD7; 100][..]);
        assert_eq!(beta.image.offset as usize % BLOB_ALIGN, 0);
        let vcpus: Vec<_> = m.vcpus_of(&beta).collect();
        assert_eq!(
            vcpus,
            [
                VcpuDesc {
                    cpu: 1,
                    priority: 5
                },
                VcpuDesc {
                    cpu: 2,
                    priority: 6
                }
            ]
        );
        let regions: Vec<_> = m.regions_of(&beta).collect();
        assert_eq!(regions[0].pa, 0x5020_0000);
    }

    #[test]
    fn initrds_and_interrupts_round_trip_and_equal_blobs_are_stored_once() {
        let mut s = sample_system();
        for p in &mut s.partitions {
            p.image = vec![0x4C; 9000];
            p.initrd = vec![0x1D; 3000];
            p.initrd_ipa = p.image_ipa + 0x8_0000;
        }
        s.partitions[1].interrupts = vec![InterruptDesc { intid: 93 }, InterruptDesc { intid: 40 }];
        let bytes = encode(&s);
        let m = Manifest::parse(&bytes).unwrap();
        let (alpha, beta) = (m.partition(0), m.partition(1));
        assert_eq!(m.blob(beta.initrd), &[0x1D; 3000][..]);
        assert_eq!(beta.initrd_ipa, beta.image_ipa + 0x8_0000);
        assert_eq!(alpha.image, beta.image);
        assert_eq!(alpha.initrd, beta.initrd);
        let intids: Vec<_> = m.interrupts_of(&beta).map(|i| i.intid).collect();
        assert_eq!(intids, [93, 40]);
        assert_eq!(m.interrupts_of(&alpha).count(), 0);
        // One copy of the kernel and one of the initrd: less than two of each.
        assert!(bytes.len() < 2 * 9000 + 3000 + 4 * BLOB_ALIGN + 4096);
    }

    #[test]
    fn bad_passed_through_interrupts_are_refused() {
        for (intids, why) in [
            (vec![27], "not an SPI"),
            (vec![1020], "not an SPI"),
            (vec![40, 40], "passed through twice"),
        ] {
            let mut s = sample_system();
            s.partitions[0].interrupts = intids
                .into_iter()
                .map(|intid| InterruptDesc { intid })
                .collect();
            assert!(
                matches!(
                    Manifest::parse(&encode(&s)),
                    Err(ManifestError::BadObject { why: w, .. }) if w == why
                ),
                "{why}"
            );
        }
        let mut s = sample_system();
        s.partitions[0].initrd = vec![1; 64];
        s.partitions[0].initrd_ipa = 0x7000_0000;
        assert!(matches!(
            Manifest::parse(&encode(&s)),
            Err(ManifestError::BadPartition {
                what: "initrd does not fit in its RAM",
                ..
            })
        ));
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        let mut bytes = sample();
        bytes.extend_from_slice(&[0x55; 77]);
        assert!(Manifest::parse(&bytes).is_ok());
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let bytes = sample();
        // Header, tables and a sample of blob bytes.
        for i in (0..512).chain([4096, 4097, 9000, bytes.len() - 1]) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(Manifest::parse(&bad).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let bytes = sample();
        assert_eq!(
            Manifest::parse(&bytes[..10]).unwrap_err(),
            ManifestError::TooShort { len: 10 }
        );
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(Manifest::parse(&bad).unwrap_err(), ManifestError::BadMagic);
        let mut bad = bytes.clone();
        bad[8] = 9;
        assert_eq!(
            Manifest::parse(&bad).unwrap_err(),
            ManifestError::UnsupportedVersion { found: 9 }
        );
        let err = Manifest::parse(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(matches!(err, ManifestError::Truncated { .. }));
        assert!(err.to_string().contains("image truncated"));
        let mut bad = bytes.clone();
        bad[100] ^= 1;
        let err = Manifest::parse(&bad).unwrap_err();
        assert!(matches!(err, ManifestError::ChecksumMismatch { .. }));
        assert!(err.to_string().contains("the image is corrupt"));
    }

    #[test]
    fn checksum_is_xxh64_of_the_manifest_with_the_field_zeroed() {
        let bytes = sample();
        let mut zeroed = bytes.clone();
        zeroed[24..32].fill(0);
        let stored = u64::from_le_bytes(bytes[24..32].try_into().unwrap());
        assert_eq!(stored, crate::xxh64::xxh64(&zeroed, 0));
        assert_ne!(stored, 0);
    }

    #[test]
    fn a_checksum_mismatch_names_both_sums() {
        let err = ManifestError::ChecksumMismatch {
            stored: 0x0123_4567_89AB_CDEF,
            computed: 1,
        };
        assert_eq!(
            err.to_string(),
            "manifest checksum mismatch (stored 0x0123456789abcdef, computed 0x0000000000000001): the image is corrupt"
        );
    }

    #[test]
    fn records_are_validated_even_with_a_good_checksum() {
        let mut p = spec("gamma", 0x4000_0000, 0x5000_0000);
        p.entry_ipa = 0x1000;
        let bytes = one(Board::QemuVirtGicV2, p);
        assert_eq!(
            Manifest::parse(&bytes).unwrap_err(),
            ManifestError::BadPartition {
                index: 0,
                what: "entry point is outside its RAM"
            }
        );
        let mut p = spec("delta", 0x4000_0000, 0x5000_0000);
        p.regions[0].size = 0x1234;
        let bytes = one(Board::QemuVirtGicV2, p);
        assert!(matches!(
            Manifest::parse(&bytes).unwrap_err(),
            ManifestError::BadRegion { .. }
        ));
        let mut p = spec("zeta", 0x4000_0000, 0x5000_0000);
        p.regions[0].flags |= region_flags::NO_DMA;
        let bytes = one(Board::QemuVirtGicV2, p);
        assert_eq!(
            Manifest::parse(&bytes).unwrap_err(),
            ManifestError::BadRegion {
                index: 0,
                what: "NO_DMA on RAM"
            }
        );
        let mut p = spec("epsilon", 0x4000_0000, 0x5000_0000);
        p.vcpus[0].cpu = 99;
        let bytes = one(Board::Rpi4, p);
        assert!(matches!(
            Manifest::parse(&bytes).unwrap_err(),
            ManifestError::BadVcpu { .. }
        ));
    }
}
