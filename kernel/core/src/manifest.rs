//! The boot manifest: a versioned, checksummed description of every partition,
//! appended to the kernel image together with the partitions' blobs.
//!
//! Layout (all integers little-endian, offsets from the manifest's first byte):
//!
//! ```text
//! header      64 bytes   magic "BULKHEAD", version, lengths, CRC-32, counts
//! partitions  96 bytes each
//! vcpus       16 bytes each
//! regions     32 bytes each
//! strings     names, UTF-8, padded to 8
//! blobs       partition images and device trees, each 4 KiB aligned
//! ```
//!
//! The CRC-32 covers the whole manifest (`total_len` bytes) with the checksum
//! field read as zero. [`Manifest::parse`] checks every length and offset before
//! anything reads through it, so a corrupt or truncated image is refused with a
//! message, never a fault.

use core::fmt;

use crate::crc32;

/// The first eight bytes of every manifest.
pub const MAGIC: [u8; 8] = *b"BULKHEAD";
/// The manifest version this core reads and the tools write.
pub const VERSION: u32 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 64;
/// Size of one partition record.
pub const PARTITION_LEN: usize = 96;
/// Size of one vCPU record.
pub const VCPU_LEN: usize = 16;
/// Size of one memory-region record.
pub const REGION_LEN: usize = 32;
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
/// Longest partition name, in bytes.
pub const MAX_NAME_LEN: usize = 32;

/// Memory the core keeps for itself after the end of the loaded image: boot
/// heap (page tables, partition objects). The config tool lays partitions out
/// clear of `[image start, image end + CORE_RESERVED_BYTES)`.
pub const CORE_RESERVED_BYTES: u64 = 16 << 20;

/// The last 16 bytes of a system image. The image header's `image_size` says
/// where the file ends; if these bytes are not there, the file was cut short.
pub const END_MARKER: [u8; 16] = *b"BULKHEAD-IMG-END";

/// Offset of the `checksum` field in the header.
const CHECKSUM_OFFSET: usize = 24;

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
    /// Every defined bit.
    pub const ALL: u32 = READ | WRITE | EXEC | DEVICE;
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
    ChecksumMismatch { stored: u32, computed: u32 },
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
                "manifest checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the image is corrupt"
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

/// A verified manifest, borrowing the image bytes.
#[derive(Clone, Copy, Debug)]
pub struct Manifest<'a> {
    bytes: &'a [u8],
    board: Board,
    partition_count: usize,
    vcpu_count: usize,
    region_count: usize,
}

const PARTITIONS_OFFSET: usize = HEADER_LEN;

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
        let version = read_u32(bytes, 8);
        if version != VERSION {
            return Err(ManifestError::UnsupportedVersion { found: version });
        }
        let header_len = read_u32(bytes, 12);
        if header_len as usize != HEADER_LEN {
            return Err(ManifestError::BadHeaderLength { found: header_len });
        }
        let total_len = read_u64(bytes, 16);
        let total = usize::try_from(total_len)
            .ok()
            .filter(|&t| t >= HEADER_LEN && t <= bytes.len())
            .ok_or(ManifestError::Truncated {
                expected: total_len,
                available: bytes.len(),
            })?;
        let bytes = &bytes[..total];
        let stored = read_u32(bytes, CHECKSUM_OFFSET);
        let computed = checksum(bytes);
        if stored != computed {
            return Err(ManifestError::ChecksumMismatch { stored, computed });
        }
        let board_raw = read_u32(bytes, 28);
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
        let partition_count = count(32, "partitions", MAX_PARTITIONS)?;
        let vcpu_count = count(36, "vCPUs", MAX_VCPUS)?;
        let region_count = count(40, "memory regions", MAX_REGIONS)?;
        let strings_len = read_u32(bytes, 44) as usize;
        let m = Self {
            bytes,
            board,
            partition_count,
            vcpu_count,
            region_count,
        };
        if m.strings_offset() + strings_len > total {
            return Err(ManifestError::TableOutOfBounds { what: "string" });
        }
        m.check_records(strings_len)?;
        Ok(m)
    }

    fn vcpus_offset(&self) -> usize {
        PARTITIONS_OFFSET + self.partition_count * PARTITION_LEN
    }

    fn regions_offset(&self) -> usize {
        self.vcpus_offset() + self.vcpu_count * VCPU_LEN
    }

    fn strings_offset(&self) -> usize {
        self.regions_offset() + self.region_count * REGION_LEN
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
            for blob_off in [off + 48, off + 72] {
                let start = read_u64(b, blob_off);
                let len = read_u64(b, blob_off + 8);
                match start.checked_add(len) {
                    Some(end) if end <= b.len() as u64 => {}
                    _ => return bad("blob out of bounds"),
                }
            }
            let p = self.partition(index);
            if !self.ipa_in_ram(&p, p.image_ipa, p.image.len) {
                return bad("image does not fit in its RAM");
            }
            if p.dtb.len != 0 && !self.ipa_in_ram(&p, p.dtb_ipa, p.dtb.len) {
                return bad("device tree does not fit in its RAM");
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
            image: BlobRef {
                offset: read_u64(b, off + 48),
                len: read_u64(b, off + 56),
            },
            image_ipa: read_u64(b, off + 64),
            dtb: BlobRef {
                offset: read_u64(b, off + 72),
                len: read_u64(b, off + 80),
            },
            dtb_ipa: read_u64(b, off + 88),
        }
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

/// CRC-32 of a manifest with its checksum field taken as zero.
fn checksum(bytes: &[u8]) -> u32 {
    let state = crc32::update(!0, &bytes[..CHECKSUM_OFFSET]);
    let state = crc32::update(state, &[0; 4]);
    !crc32::update(state, &bytes[CHECKSUM_OFFSET + 4..])
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
        /// Memory regions (RAM and device windows).
        pub regions: Vec<RegionDesc>,
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
    }

    fn align_up(v: usize, a: usize) -> usize {
        v.div_ceil(a) * a
    }

    /// Encodes a manifest; the result starts with [`MAGIC`] and is a multiple
    /// of [`BLOB_ALIGN`] long up to its last blob.
    pub fn encode(board: Board, partitions: &[PartitionSpec]) -> Vec<u8> {
        let vcpu_count: usize = partitions.iter().map(|p| p.vcpus.len()).sum();
        let region_count: usize = partitions.iter().map(|p| p.regions.len()).sum();
        let mut strings = Vec::new();
        let mut name_offsets = Vec::new();
        for p in partitions {
            name_offsets.push(strings.len());
            strings.extend_from_slice(p.name.as_bytes());
        }
        let strings_len = align_up(strings.len(), 8);
        strings.resize(strings_len, 0);
        let tables_end = HEADER_LEN
            + partitions.len() * PARTITION_LEN
            + vcpu_count * VCPU_LEN
            + region_count * REGION_LEN
            + strings_len;

        // Place blobs after the tables, each aligned.
        let mut cursor = align_up(tables_end, BLOB_ALIGN);
        let mut blob_offsets = Vec::new();
        for p in partitions {
            let image_off = cursor;
            cursor = align_up(cursor + p.image.len(), BLOB_ALIGN);
            let dtb_off = cursor;
            cursor = align_up(cursor + p.dtb.len(), BLOB_ALIGN);
            blob_offsets.push((image_off, dtb_off));
        }
        let total = cursor;
        let mut out = alloc::vec![0u8; total];

        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        out[16..24].copy_from_slice(&(total as u64).to_le_bytes());
        out[28..32].copy_from_slice(&(board as u32).to_le_bytes());
        out[32..36].copy_from_slice(&(partitions.len() as u32).to_le_bytes());
        out[36..40].copy_from_slice(&(vcpu_count as u32).to_le_bytes());
        out[40..44].copy_from_slice(&(region_count as u32).to_le_bytes());
        out[44..48].copy_from_slice(&(strings_len as u32).to_le_bytes());

        let vcpus_off = HEADER_LEN + partitions.len() * PARTITION_LEN;
        let regions_off = vcpus_off + vcpu_count * VCPU_LEN;
        let strings_off = regions_off + region_count * REGION_LEN;
        out[strings_off..strings_off + strings_len].copy_from_slice(&strings);

        let mut vcpu_index = 0usize;
        let mut region_index = 0usize;
        for (i, p) in partitions.iter().enumerate() {
            let off = HEADER_LEN + i * PARTITION_LEN;
            let rec = &mut out[off..off + PARTITION_LEN];
            let (image_off, dtb_off) = blob_offsets[i];
            put32(rec, 0, name_offsets[i] as u32);
            put32(rec, 4, p.name.len() as u32);
            rec[8] = p.kind as u8;
            rec[9] = p.restart as u8;
            rec[10..12].copy_from_slice(&p.flags.to_le_bytes());
            put32(rec, 12, p.max_restarts);
            put32(rec, 16, p.restart_window_ms);
            put32(rec, 20, vcpu_index as u32);
            put32(rec, 24, p.vcpus.len() as u32);
            put32(rec, 28, region_index as u32);
            put32(rec, 32, p.regions.len() as u32);
            put64(rec, 40, p.entry_ipa);
            put64(rec, 48, image_off as u64);
            put64(rec, 56, p.image.len() as u64);
            put64(rec, 64, p.image_ipa);
            put64(rec, 72, dtb_off as u64);
            put64(rec, 80, p.dtb.len() as u64);
            put64(rec, 88, p.dtb_ipa);
            out[image_off..image_off + p.image.len()].copy_from_slice(&p.image);
            out[dtb_off..dtb_off + p.dtb.len()].copy_from_slice(&p.dtb);
            for v in &p.vcpus {
                let off = vcpus_off + vcpu_index * VCPU_LEN;
                put32(&mut out[off..], 0, v.cpu);
                out[off + 4] = v.priority;
                vcpu_index += 1;
            }
            for r in &p.regions {
                let off = regions_off + region_index * REGION_LEN;
                put64(&mut out[off..], 0, r.ipa);
                put64(&mut out[off..], 8, r.pa);
                put64(&mut out[off..], 16, r.size);
                put32(&mut out[off..], 24, r.flags);
                region_index += 1;
            }
        }
        let sum = checksum(&out);
        out[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4].copy_from_slice(&sum.to_le_bytes());
        out
    }

    fn put32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put64(b: &mut [u8], off: usize, v: u64) {
        b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    use super::build::{encode, PartitionSpec};
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
            entry_ipa: ipa,
            image: vec![0xAA; 5000],
            image_ipa: ipa,
            dtb: vec![0xD7; 100],
            dtb_ipa: ipa + 0x10_0000,
        }
    }

    fn sample() -> Vec<u8> {
        encode(
            Board::QemuVirtGicV3,
            &[
                spec("alpha", 0x4000_0000, 0x5000_0000),
                spec("beta", 0x4000_0000, 0x5020_0000),
            ],
        )
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
    fn records_are_validated_even_with_a_good_checksum() {
        let mut p = spec("gamma", 0x4000_0000, 0x5000_0000);
        p.entry_ipa = 0x1000;
        let bytes = encode(Board::QemuVirtGicV2, &[p]);
        assert_eq!(
            Manifest::parse(&bytes).unwrap_err(),
            ManifestError::BadPartition {
                index: 0,
                what: "entry point is outside its RAM"
            }
        );
        let mut p = spec("delta", 0x4000_0000, 0x5000_0000);
        p.regions[0].size = 0x1234;
        let bytes = encode(Board::QemuVirtGicV2, &[p]);
        assert!(matches!(
            Manifest::parse(&bytes).unwrap_err(),
            ManifestError::BadRegion { .. }
        ));
        let mut p = spec("epsilon", 0x4000_0000, 0x5000_0000);
        p.vcpus[0].cpu = 99;
        let bytes = encode(Board::Rpi4, &[p]);
        assert!(matches!(
            Manifest::parse(&bytes).unwrap_err(),
            ManifestError::BadVcpu { .. }
        ));
    }
}
