//! One page-table builder for both regimes the core programs: its own EL2 stage-1
//! map and each partition's stage-2 map (VMSAv8-64, 4 KiB granule, 48-bit output
//! addresses).
//!
//! The builder never touches memory itself: tables are reached through
//! [`TableMemory`], which the kernel implements over its boot allocator and the
//! host tests over a fake. That keeps every decision here testable on the host.
//!
//! Format (Arm ARM D8.3 "Translation table descriptor formats"):
//!
//! - Each table is 4 KiB: 512 descriptors of 8 bytes. Level n resolves address
//!   bits `[12 + 9 * (3 - n) + 8 : 12 + 9 * (3 - n)]`; level 0 is bits 47:39,
//!   level 3 is bits 20:12.
//! - Bit 0 is valid. At levels 0-2, bit 1 set means "table descriptor", clear
//!   means "block descriptor" (1 GiB at level 1, 2 MiB at level 2; level 0 has no
//!   blocks with a 4 KiB granule). At level 3, bits 1:0 must be 0b11 (page).
//! - Output address: bits 47:12 (47:21 for 2 MiB blocks, 47:30 for 1 GiB).
//!
//! A leaf may also be *parked*: an invalid descriptor (bit 0 clear, so the
//! hardware ignores every other bit, Arm ARM D8.3) that keeps the output
//! address and attributes of its mapping, marked with a software bit. The
//! range stays claimed, no walk translates it, and
//! [`PageTable::activate_parked`] makes it valid with one store. The core
//! parks partition RAM that it scrubs on first touch (`crate::scrub`).
//!
//! Ordering: the builder only stores descriptors. Before the tables are used,
//! or after changing live ones, the caller issues `DSB ISHST` and the matching
//! TLB invalidation. Replacing a live block by a table (what [`PageTable::unmap`]
//! does to carve a hole out of a block) needs break-before-make
//! (Arm ARM, "Using break-before-make when updating translation table
//! entries"); the kernel only unmaps parts of blocks in tables that are not yet
//! live, or invalidates the TLB for the whole block afterwards.

use core::fmt;
use core::ops::Range;

/// Size of a translation granule and of one table.
pub const PAGE_SIZE: u64 = 4096;
/// Descriptors per table.
const ENTRIES: usize = 512;
/// Deepest level: 4 KiB pages.
const LAST_LEVEL: u8 = 3;
/// Highest output address bit this descriptor format carries (no FEAT_LPA2).
const OUTPUT_ADDRESS_BITS: u8 = 48;
/// Smallest and largest input address sizes this builder accepts. 25 bits is
/// the smallest a 4 KiB-granule regime supports without FEAT_TTST (T0SZ = 39),
/// 48 the largest without FEAT_LPA2.
const MIN_VA_BITS: u8 = 25;
const MAX_VA_BITS: u8 = 48;

/// Descriptor bit 0: the entry is valid (Arm ARM D8.3).
const DESC_VALID: u64 = 1 << 0;
/// Descriptor bit 1: table (levels 0-2) or page (level 3).
const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
/// Bits 1:0 of a table or page descriptor.
const DESC_TYPE_TABLE_OR_PAGE: u64 = DESC_VALID | DESC_TABLE_OR_PAGE;
/// Bits 1:0 of a block descriptor.
const DESC_TYPE_BLOCK: u64 = DESC_VALID;
/// Output / next-table address bits 47:12.
const DESC_ADDRESS_MASK: u64 = ((1 << OUTPUT_ADDRESS_BITS) - 1) & !(PAGE_SIZE - 1);
/// Bit 55 marks a parked leaf. Bits 58:55 of block and page descriptors are
/// reserved for software use, and every bit but bit 0 of an invalid
/// descriptor is ignored by the hardware (Arm ARM D8.3), so the mark is never
/// seen by a table walk. Only invalid descriptors carry it:
/// [`PageTable::activate_parked`] clears it as it sets the valid bit.
const DESC_SW_PARKED: u64 = 1 << 55;

/// Access flag, lower attribute bit 10. Set in every leaf so the first access
/// does not take an Access flag fault (the core does not track accesses).
const ATTR_AF: u64 = 1 << 10;
/// Shareability, bits 9:8: 0b11 = Inner Shareable (Arm ARM D8.3,
/// "Shareability"). Device memory is always treated as Outer Shareable, so the
/// field is left 0 there.
const ATTR_SH_INNER: u64 = 0b11 << 8;
/// Execute-never, upper attribute bit 54. The EL2 regime (HCR_EL2.E2H = 0) has
/// a single XN bit; at stage 2 bit 54 is XN[1] and bit 53 (XN[0], FEAT_XNX) is
/// left 0, which makes the mapping non-executable at EL1 and EL0 alike.
const ATTR_XN: u64 = 1 << 54;

/// Stage 1: AttrIndx, bits 4:2, an index into MAIR_EL2.
const S1_ATTR_INDX_SHIFT: u32 = 2;
const S1_ATTR_INDX_MASK: u64 = 0b111 << S1_ATTR_INDX_SHIFT;
/// MAIR_EL2 index used for Normal memory.
const MAIR_INDEX_NORMAL: u64 = 0;
/// MAIR_EL2 index used for Device-nGnRE memory.
const MAIR_INDEX_DEVICE: u64 = 1;
/// Stage 1: AP[2], bit 7: read-only when set.
const S1_AP_READ_ONLY: u64 = 1 << 7;
/// Stage 1: AP[1], bit 6. In a regime with one privilege level (EL2 with
/// HCR_EL2.E2H = 0) AP[1] is RES1 (Arm ARM, "Stage 1 data access
/// permissions for a translation regime that supports one privilege level");
/// Linux's nVHE hypervisor tables set it as well.
const S1_AP1_RES1: u64 = 1 << 6;

/// Stage 2: MemAttr, bits 5:2 (Arm ARM, "Stage 2 memory type and
/// Cacheability attributes when FEAT_S2FWB is disabled").
const S2_MEMATTR_SHIFT: u32 = 2;
const S2_MEMATTR_MASK: u64 = 0b1111 << S2_MEMATTR_SHIFT;
/// MemAttr 0b1111: Normal, Outer Write-Back, Inner Write-Back.
const S2_MEMATTR_NORMAL_WB: u64 = 0b1111;
/// MemAttr 0b0001: Device-nGnRE.
const S2_MEMATTR_DEVICE_NGNRE: u64 = 0b0001;
/// Stage 2: S2AP[0], bit 6: reads allowed.
const S2AP_READ: u64 = 1 << 6;
/// Stage 2: S2AP[1], bit 7: writes allowed.
const S2AP_WRITE: u64 = 1 << 7;

/// MAIR_EL2 value matching the AttrIndx this builder writes for [`Regime::El2Stage1`]
/// (Arm ARM, MAIR_EL2): Attr0 = 0xFF, Normal memory, Inner and Outer
/// Write-Back Non-transient, Read- and Write-Allocate; Attr1 = 0x04,
/// Device-nGnRE.
pub const MAIR_EL2: u64 = 0xFF << (8 * MAIR_INDEX_NORMAL) | 0x04 << (8 * MAIR_INDEX_DEVICE);

/// Where the builder gets and reaches table memory.
pub trait TableMemory {
    /// Allocates one zeroed, 4 KiB-aligned 4 KiB table; returns its physical address.
    fn alloc_table(&mut self) -> Option<u64>;
    /// Reads descriptor `index` (0..512) of the table at `table_pa`.
    fn read(&self, table_pa: u64, index: usize) -> u64;
    /// Writes descriptor `index` (0..512) of the table at `table_pa`.
    fn write(&mut self, table_pa: u64, index: usize, descriptor: u64);
}

/// Which translation regime the tables are for; it decides the attribute encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regime {
    /// The EL2 stage-1 regime (TTBR0_EL2, HCR_EL2.E2H = 0): one privilege level.
    El2Stage1,
    /// A partition's stage-2 regime (VTTBR_EL2).
    Stage2,
}

/// Memory type of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Normal memory, Inner and Outer Write-Back, Inner Shareable.
    Normal,
    /// Device-nGnRE (MMIO).
    Device,
}

/// Access rights and memory type of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs {
    /// Loads allowed.
    pub read: bool,
    /// Stores allowed.
    pub write: bool,
    /// Instruction fetches allowed.
    pub exec: bool,
    /// Memory type.
    pub mem: MemType,
}

impl Attrs {
    /// Normal memory, read/write, not executable.
    pub const RW: Self = Self {
        read: true,
        write: true,
        exec: false,
        mem: MemType::Normal,
    };
    /// Normal memory, read-only, not executable.
    pub const RO: Self = Self {
        read: true,
        write: false,
        exec: false,
        mem: MemType::Normal,
    };
    /// Normal memory, read-only, executable.
    pub const RX: Self = Self {
        read: true,
        write: false,
        exec: true,
        mem: MemType::Normal,
    };
    /// Normal memory, read/write, executable (guest RAM at stage 2).
    pub const RWX: Self = Self {
        read: true,
        write: true,
        exec: true,
        mem: MemType::Normal,
    };
    /// Device memory, read/write, never executable.
    pub const DEVICE: Self = Self {
        read: true,
        write: true,
        exec: false,
        mem: MemType::Device,
    };
}

/// Why a page-table operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An address or size is not a multiple of 4 KiB.
    Misaligned,
    /// The range does not fit the input address space, or the output address
    /// does not fit 48 bits.
    OutOfRange,
    /// Part of the range is already mapped; `va` is the first mapped address.
    AlreadyMapped {
        /// First input address of the range that is already mapped.
        va: u64,
    },
    /// [`TableMemory::alloc_table`] had no table left.
    OutOfMemory,
    /// The input address size is outside 25..=48 bits.
    UnsupportedVaBits {
        /// The size asked for.
        va_bits: u8,
    },
    /// The regime cannot express these attributes.
    UnsupportedAttrs {
        /// The attributes asked for.
        attrs: Attrs,
    },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Misaligned => {
                write!(f, "the address or size is not a multiple of the 4 KiB page size")
            }
            Self::OutOfRange => write!(
                f,
                "the range does not fit the table's input address space or 48-bit physical addresses"
            ),
            Self::AlreadyMapped { va } => {
                write!(f, "the range overlaps an existing mapping at {va:#x}")
            }
            Self::OutOfMemory => write!(f, "there is no memory left for another page table"),
            Self::UnsupportedVaBits { va_bits } => write!(
                f,
                "an input address size of {va_bits} bits is not supported (must be {MIN_VA_BITS} to {MAX_VA_BITS})"
            ),
            Self::UnsupportedAttrs { attrs } => write!(
                f,
                "the attributes {attrs:?} cannot be expressed (EL2 stage-1 mappings are always readable; device memory is never executable)"
            ),
        }
    }
}

/// Largest leaf [`PageTable::map_with`] may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeafSize {
    /// 4 KiB pages only (level 3).
    Page,
    /// Pages and 2 MiB blocks (level 2).
    Block2M,
    /// Pages, 2 MiB and 1 GiB blocks (level 1).
    Block1G,
}

impl LeafSize {
    /// The shallowest level whose descriptors may be leaves of this size.
    const fn level(self) -> u8 {
        match self {
            Self::Page => LAST_LEVEL,
            Self::Block2M => 2,
            Self::Block1G => 1,
        }
    }

    /// Bytes one leaf of this size maps.
    pub const fn bytes(self) -> u64 {
        level_size(self.level())
    }
}

/// Whether the leaves [`PageTable::map_with`] writes translate at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafState {
    /// Valid descriptors: walks translate them.
    Valid,
    /// Parked descriptors (see the module documentation): invalid until
    /// [`PageTable::activate_parked`].
    Parked,
}

/// How [`PageTable::map_with`] lays a range out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapOptions {
    /// The largest leaf to use where alignment allows.
    pub largest_leaf: LeafSize,
    /// Valid or parked leaves.
    pub state: LeafState,
}

impl MapOptions {
    /// What [`PageTable::map`] does: the largest blocks alignment allows, valid.
    pub const DEFAULT: Self = Self {
        largest_leaf: LeafSize::Block1G,
        state: LeafState::Valid,
    };
}

/// One leaf mapping found by [`PageTable::mappings`] or [`PageTable::leaf`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First input address.
    pub va: u64,
    /// First output address.
    pub pa: u64,
    /// Bytes mapped by this descriptor: 1 GiB, 2 MiB or 4 KiB.
    pub size: u64,
    /// Translation level of the descriptor (1, 2 or 3).
    pub level: u8,
    /// Access rights and memory type.
    pub attrs: Attrs,
    /// Parked: an invalid descriptor that keeps this mapping for later.
    pub parked: bool,
}

/// A translation table tree: its root and the shape of the address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTable {
    root: u64,
    regime: Regime,
    va_bits: u8,
    start_level: u8,
}

/// Address bits below the field a level resolves.
const fn level_shift(level: u8) -> u32 {
    12 + 9 * (LAST_LEVEL - level) as u32
}

/// Bytes covered by one descriptor at `level`.
const fn level_size(level: u8) -> u64 {
    1 << level_shift(level)
}

/// Descriptor index of `va` in a table at `level`.
const fn level_index(va: u64, level: u8) -> usize {
    ((va >> level_shift(level)) as usize) & (ENTRIES - 1)
}

/// First address of the next `level`-sized slot after the one holding `va`.
const fn next_slot(va: u64, level: u8) -> u64 {
    (va | (level_size(level) - 1)).saturating_add(1)
}

/// Whether a level may hold a block or page descriptor (no level-0 blocks with
/// a 4 KiB granule, Arm ARM D8.3).
const fn level_allows_leaf(level: u8) -> bool {
    level >= 1
}

/// The initial lookup level for an input address size. For a 4 KiB granule the
/// EL2 stage-1 regime starts at level 0 for T0SZ 16..=24, level 1 for 25..=33 and
/// level 2 for 34..=39 (Arm ARM, "Selecting the initial lookup level", and the T0SZ
/// and SL0 constraints in TCR_EL2 and VTCR_EL2);
/// stage 2 uses the same levels so that no concatenated root tables are needed
/// (VTCR_EL2.SL0 then says which).
const fn start_level_for(va_bits: u8) -> u8 {
    if va_bits > 39 {
        0
    } else if va_bits > 30 {
        1
    } else {
        2
    }
}

impl PageTable {
    /// Allocates an empty root table for an input address space of `va_bits`
    /// bits (25..=48). The walk starts at level 0 for more than 39 bits, level 1
    /// for 31..=39 bits and level 2 for 25..=30 bits, as the architecture
    /// requires for a 4 KiB granule without concatenated tables.
    pub fn new(mem: &mut impl TableMemory, regime: Regime, va_bits: u8) -> Result<Self, MapError> {
        if !(MIN_VA_BITS..=MAX_VA_BITS).contains(&va_bits) {
            return Err(MapError::UnsupportedVaBits { va_bits });
        }
        let root = mem.alloc_table().ok_or(MapError::OutOfMemory)?;
        Ok(Self {
            root,
            regime,
            va_bits,
            start_level: start_level_for(va_bits),
        })
    }

    /// Physical address of the root table, for TTBR0_EL2 or VTTBR_EL2.BADDR.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// The initial lookup level (0, 1 or 2).
    pub fn start_level(&self) -> u8 {
        self.start_level
    }

    /// Input address size in bits.
    pub fn va_bits(&self) -> u8 {
        self.va_bits
    }

    /// The regime the descriptors are encoded for.
    pub fn regime(&self) -> Regime {
        self.regime
    }

    /// Maps `[va, va + size)` to `[pa, pa + size)`. All three must be 4 KiB
    /// aligned. Uses 1 GiB blocks (level 1) and 2 MiB blocks (level 2) wherever
    /// `va`, `pa` and the remaining size allow, 4 KiB pages otherwise. Refuses to
    /// overwrite any existing mapping, valid or parked; on any error nothing
    /// new stays mapped (tables allocated on the way may remain, empty).
    pub fn map(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        pa: u64,
        size: u64,
        attrs: Attrs,
    ) -> Result<(), MapError> {
        self.map_with(mem, va, pa, size, attrs, MapOptions::DEFAULT)
    }

    /// [`PageTable::map`] with leaves no larger than `options.largest_leaf`,
    /// written valid or parked as `options.state` says.
    pub fn map_with(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        pa: u64,
        size: u64,
        attrs: Attrs,
        options: MapOptions,
    ) -> Result<(), MapError> {
        let end = self.check_range(va, size)?;
        check_aligned(pa)?;
        let pa_end = pa.checked_add(size).ok_or(MapError::OutOfRange)?;
        if pa_end > 1 << OUTPUT_ADDRESS_BITS {
            return Err(MapError::OutOfRange);
        }
        let leaf_bits = leaf_attribute_bits(self.regime, attrs)?;
        if let Some(mapped) = self.first_mapped(mem, va, end) {
            return Err(MapError::AlreadyMapped { va: mapped });
        }

        let mut cursor = va;
        while cursor < end {
            let out = pa + (cursor - va);
            match self.map_one(mem, cursor, out, end - cursor, leaf_bits, options) {
                Ok(mapped) => cursor += mapped,
                Err(error) => {
                    // Roll back: everything in [va, cursor) was mapped by this
                    // call with leaves wholly inside the range, so unmapping it
                    // never needs to split a block and cannot fail.
                    let _ = self.unmap(mem, va, cursor - va);
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Removes every mapping in `[va, va + size)` (4 KiB aligned), valid or
    /// parked. A block that straddles a boundary of the range is split into a
    /// next-level table that keeps the rest of the block mapped, so guard pages
    /// can be carved out of a block-mapped range. Parts of the range that were
    /// not mapped are fine.
    pub fn unmap(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        size: u64,
    ) -> Result<(), MapError> {
        self.rewrite_leaves(mem, va, size, |_| 0)
    }

    /// Parks every valid leaf in `[va, va + size)` (4 KiB aligned): each stays
    /// claimed with its output address and attributes but stops translating
    /// (see the module documentation); leaves already parked stay so. A block
    /// straddling a boundary of the range is split as [`PageTable::unmap`]
    /// does. After parking live entries the caller must invalidate the TLB
    /// entries that may hold them.
    pub fn park(&mut self, mem: &mut impl TableMemory, va: u64, size: u64) -> Result<(), MapError> {
        self.rewrite_leaves(mem, va, size, park_descriptor)
    }

    /// The leaf, valid or parked, whose range holds `va`.
    pub fn leaf(&self, mem: &impl TableMemory, va: u64) -> Option<Mapping> {
        if va >> self.va_bits != 0 {
            return None;
        }
        let (_, _, descriptor, level) = self.find_present_leaf(mem, va)?;
        leaf_mapping(self.regime, va, descriptor, level)
    }

    /// Makes every parked leaf overlapping `range` valid, reading each table
    /// on the way once; returns the bytes the leaves it activated map. Leaves
    /// that are valid already, and input addresses nothing maps, are left
    /// alone, so a second call (a vCPU that raced the first) changes nothing.
    ///
    /// Parked leaves that follow each other in one table with consecutive
    /// output addresses and the same attributes form a run: `prepare` is
    /// called with each run as one parked [`Mapping`] before any of its
    /// descriptors is stored valid, so the caller can fill the memory first
    /// (the core zeroes it). Every leaf overlapping the range is activated
    /// whole; the range need not be aligned.
    ///
    /// No TLB maintenance is needed for this: a TLB never holds an entry
    /// that would take a Translation fault (Arm ARM D8.14, break-before-make
    /// applies only to replacing a valid entry); a `DSB ISHST` after the
    /// stores makes them visible to table walks.
    pub fn activate_parked(
        &mut self,
        mem: &mut impl TableMemory,
        range: Range<u64>,
        mut prepare: impl FnMut(&Mapping),
    ) -> u64 {
        let mut run: Option<ParkedRun> = None;
        let mut activated = 0;
        self.walk_leaves(mem, range, &mut |mem, leaf| {
            if leaf.descriptor & DESC_VALID != 0 {
                return;
            }
            let extended = run.as_mut().is_some_and(|r| r.extend(&leaf));
            if !extended {
                if let Some(done) = run.take() {
                    activated += done.activate(mem, self.regime, &mut prepare);
                }
                run = Some(ParkedRun::start(&leaf));
            }
        });
        if let Some(done) = run {
            activated += done.activate(mem, self.regime, &mut prepare);
        }
        activated
    }

    /// Replaces each leaf in `[va, va + size)` by `rewrite(leaf)`, splitting
    /// the leaves that straddle a boundary of the range first.
    fn rewrite_leaves(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        size: u64,
        rewrite: impl Fn(u64) -> u64,
    ) -> Result<(), MapError> {
        let end = self.check_range(va, size)?;
        self.split_at(mem, va)?;
        self.split_at(mem, end)?;
        // Every leaf overlapping the range now lies inside it.
        self.walk_leaves(mem, va..end, &mut |mem, leaf| {
            mem.write(leaf.table, leaf.index, rewrite(leaf.descriptor));
        });
        Ok(())
    }

    /// Splits the block holding `va` (4 KiB aligned), and the blocks the
    /// splits make, until a leaf starts at `va`; nothing if one does already
    /// or nothing maps `va`.
    fn split_at(&mut self, mem: &mut impl TableMemory, va: u64) -> Result<(), MapError> {
        if va >> self.va_bits != 0 {
            return Ok(());
        }
        while let Some((table, index, descriptor, level)) = self.find_present_leaf(mem, va) {
            if va & (level_size(level) - 1) == 0 {
                break;
            }
            // Only part of this block is wanted: replace it by a table that
            // maps the same memory one level down, then look again.
            split_block(mem, table, index, descriptor, level)?;
        }
        Ok(())
    }

    /// Calls `visit` with every present leaf (valid or parked) overlapping
    /// `range`, in input-address order, descending the tables once: each
    /// table on the way is read once, entry by entry, from the first entry
    /// the range reaches to the last. `visit` may rewrite the leaf it is
    /// given, never a table descriptor.
    fn walk_leaves<M: TableMemory>(
        &self,
        mem: &mut M,
        range: Range<u64>,
        visit: &mut impl FnMut(&mut M, LeafSlot),
    ) {
        let end = range.end.min(1 << self.va_bits);
        if range.start < end {
            self.walk_table(mem, self.root, self.start_level, 0, range.start..end, visit);
        }
    }

    /// [`Self::walk_leaves`] within the table at `table` (a table at `level`
    /// whose first entry maps input address `table_va`), for a non-empty
    /// `range` inside the part of the input address space it covers.
    fn walk_table<M: TableMemory>(
        &self,
        mem: &mut M,
        table: u64,
        level: u8,
        table_va: u64,
        range: Range<u64>,
        visit: &mut impl FnMut(&mut M, LeafSlot),
    ) {
        let shift = level_shift(level);
        let first = ((range.start - table_va) >> shift) as usize;
        let last = (((range.end - 1 - table_va) >> shift) as usize).min(self.entries_at(level) - 1);
        for index in first..=last {
            let descriptor = mem.read(table, index);
            if !is_present(descriptor) {
                continue;
            }
            let va = table_va + ((index as u64) << shift);
            if is_table(descriptor, level) {
                let inner = range.start.max(va)..range.end.min(va + level_size(level));
                let next = descriptor & DESC_ADDRESS_MASK;
                self.walk_table(mem, next, level + 1, va, inner, visit);
            } else if level_allows_leaf(level) {
                let leaf = LeafSlot {
                    table,
                    index,
                    descriptor,
                    level,
                    va,
                };
                visit(mem, leaf);
            }
        }
    }

    /// Walks the tables: the output address and attributes for `va`, or `None`
    /// if `va` is unmapped, outside the input address space, or described by a
    /// descriptor this builder never writes.
    pub fn translate(&self, mem: &impl TableMemory, va: u64) -> Option<(u64, Attrs)> {
        if va >> self.va_bits != 0 {
            return None;
        }
        let (descriptor, level) = self.find_leaf(mem, va)?;
        let offset = va & (level_size(level) - 1);
        let base = descriptor & DESC_ADDRESS_MASK & !(level_size(level) - 1);
        Some((base + offset, decode_attrs(self.regime, descriptor)?))
    }

    /// Calls `visit` for every leaf descriptor, valid or parked, in
    /// input-address order.
    pub fn mappings(&self, mem: &impl TableMemory, mut visit: impl FnMut(Mapping)) {
        self.visit_table(mem, self.root, self.start_level, 0, &mut visit);
    }

    fn visit_table(
        &self,
        mem: &impl TableMemory,
        table: u64,
        level: u8,
        base_va: u64,
        visit: &mut impl FnMut(Mapping),
    ) {
        for index in 0..self.entries_at(level) {
            let descriptor = mem.read(table, index);
            if !is_present(descriptor) {
                continue;
            }
            let va = base_va + ((index as u64) << level_shift(level));
            if is_table(descriptor, level) {
                self.visit_table(mem, descriptor & DESC_ADDRESS_MASK, level + 1, va, visit);
            } else if let Some(mapping) = leaf_mapping(self.regime, va, descriptor, level) {
                visit(mapping);
            }
        }
    }

    /// Descriptors used in a table at `level`: all 512 below the root, fewer at
    /// the root when the input address size does not fill it.
    fn entries_at(&self, level: u8) -> usize {
        if level == self.start_level {
            let bits = u32::from(self.va_bits).saturating_sub(level_shift(level));
            (1usize << bits).min(ENTRIES)
        } else {
            ENTRIES
        }
    }

    /// Checks a range against alignment and the input address space; returns its end.
    fn check_range(&self, va: u64, size: u64) -> Result<u64, MapError> {
        check_aligned(va)?;
        check_aligned(size)?;
        let end = va.checked_add(size).ok_or(MapError::OutOfRange)?;
        if end > 1 << self.va_bits {
            return Err(MapError::OutOfRange);
        }
        Ok(end)
    }

    /// The valid leaf descriptor translating `va` and its level.
    fn find_leaf(&self, mem: &impl TableMemory, va: u64) -> Option<(u64, u8)> {
        let (_, _, descriptor, level) = self.find_present_leaf(mem, va)?;
        (descriptor & DESC_VALID != 0).then_some((descriptor, level))
    }

    /// The leaf descriptor, valid or parked, whose range holds `va`: its
    /// table, index, value and level.
    fn find_present_leaf(&self, mem: &impl TableMemory, va: u64) -> Option<(u64, usize, u64, u8)> {
        let mut table = self.root;
        let mut level = self.start_level;
        loop {
            let index = level_index(va, level);
            let descriptor = mem.read(table, index);
            if !is_present(descriptor) {
                return None;
            }
            if !is_table(descriptor, level) {
                return level_allows_leaf(level).then_some((table, index, descriptor, level));
            }
            table = descriptor & DESC_ADDRESS_MASK;
            level += 1;
        }
    }

    /// First mapped (valid or parked) input address in `[va, end)`, skipping
    /// unmapped space a whole invalid descriptor at a time.
    fn first_mapped(&self, mem: &impl TableMemory, va: u64, end: u64) -> Option<u64> {
        let mut cursor = va;
        'range: while cursor < end {
            let mut table = self.root;
            let mut level = self.start_level;
            loop {
                let descriptor = mem.read(table, level_index(cursor, level));
                if !is_present(descriptor) {
                    cursor = next_slot(cursor, level);
                    continue 'range;
                }
                if !is_table(descriptor, level) {
                    return Some(cursor);
                }
                table = descriptor & DESC_ADDRESS_MASK;
                level += 1;
            }
        }
        None
    }

    /// Maps the largest block that fits at `va` (at most `remaining` bytes, at
    /// most `options.largest_leaf`) and returns its size. Descends through
    /// existing tables; a level already holding a table gets its mapping one
    /// level further down.
    fn map_one(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        pa: u64,
        remaining: u64,
        leaf_bits: u64,
        options: MapOptions,
    ) -> Result<u64, MapError> {
        let mut table = self.root;
        let mut level = self.start_level;
        loop {
            let size = level_size(level);
            let fits = level_allows_leaf(level)
                && level >= options.largest_leaf.level()
                && va & (size - 1) == 0
                && pa & (size - 1) == 0
                && remaining >= size;
            let index = level_index(va, level);
            let descriptor = mem.read(table, index);
            if !is_present(descriptor) {
                if fits {
                    let kind = if level == LAST_LEVEL {
                        DESC_TYPE_TABLE_OR_PAGE
                    } else {
                        DESC_TYPE_BLOCK
                    };
                    let leaf = pa | leaf_bits | kind;
                    let leaf = match options.state {
                        LeafState::Valid => leaf,
                        LeafState::Parked => park_descriptor(leaf),
                    };
                    mem.write(table, index, leaf);
                    return Ok(size);
                }
                let next = mem.alloc_table().ok_or(MapError::OutOfMemory)?;
                mem.write(table, index, next | DESC_TYPE_TABLE_OR_PAGE);
                table = next;
            } else if is_table(descriptor, level) {
                table = descriptor & DESC_ADDRESS_MASK;
            } else {
                return Err(MapError::AlreadyMapped { va });
            }
            level += 1;
        }
    }
}

/// Whether a descriptor at `level` points to a next-level table.
const fn is_table(descriptor: u64, level: u8) -> bool {
    level < LAST_LEVEL && descriptor & DESC_TYPE_TABLE_OR_PAGE == DESC_TYPE_TABLE_OR_PAGE
}

/// Whether a descriptor maps something: valid, or a parked leaf.
const fn is_present(descriptor: u64) -> bool {
    descriptor & (DESC_VALID | DESC_SW_PARKED) != 0
}

/// The parked form of a leaf descriptor: valid bit clear, software mark
/// set, everything else kept. A parked leaf stays parked.
const fn park_descriptor(leaf: u64) -> u64 {
    if leaf & DESC_VALID == 0 {
        leaf
    } else {
        leaf & !DESC_VALID | DESC_SW_PARKED
    }
}

/// The leaf at `level` holding `va`, decoded; `None` for a memory type this
/// builder never writes.
fn leaf_mapping(regime: Regime, va: u64, descriptor: u64, level: u8) -> Option<Mapping> {
    let size = level_size(level);
    Some(Mapping {
        va: va & !(size - 1),
        pa: descriptor & DESC_ADDRESS_MASK & !(size - 1),
        size,
        level,
        attrs: decode_attrs(regime, descriptor)?,
        parked: descriptor & DESC_VALID == 0,
    })
}

/// A leaf descriptor found by [`PageTable::walk_leaves`]: where it is, its
/// value, its level and the first input address it maps.
#[derive(Clone, Copy, Debug)]
struct LeafSlot {
    table: u64,
    index: usize,
    descriptor: u64,
    level: u8,
    va: u64,
}

/// Consecutive parked leaves of one table that [`PageTable::activate_parked`]
/// makes valid together: entries `first..first + count` of `table`, mapping
/// `va` to `pa` onwards, every descriptor `pa + n * leaf size | bits`.
struct ParkedRun {
    table: u64,
    first: usize,
    count: usize,
    level: u8,
    va: u64,
    pa: u64,
    /// The descriptors' bits other than the output address (parked form).
    bits: u64,
}

impl ParkedRun {
    fn start(leaf: &LeafSlot) -> Self {
        Self {
            table: leaf.table,
            first: leaf.index,
            count: 1,
            level: leaf.level,
            va: leaf.va,
            pa: leaf.descriptor & DESC_ADDRESS_MASK,
            bits: leaf.descriptor & !DESC_ADDRESS_MASK,
        }
    }

    fn bytes(&self) -> u64 {
        self.count as u64 * level_size(self.level)
    }

    /// Takes `leaf` into the run if it is the next entry of the same table,
    /// parked, mapping the next output addresses with the same attributes.
    fn extend(&mut self, leaf: &LeafSlot) -> bool {
        let follows = leaf.table == self.table
            && leaf.index == self.first + self.count
            && leaf.descriptor & !DESC_ADDRESS_MASK == self.bits
            && leaf.descriptor & DESC_ADDRESS_MASK == self.pa + self.bytes();
        if follows {
            self.count += 1;
        }
        follows
    }

    /// Calls `prepare` with the run, then stores its descriptors valid;
    /// returns the bytes they map. A run of a memory type this builder
    /// never writes is left parked (`PageTable::leaf` does not report it
    /// either).
    fn activate(
        self,
        mem: &mut impl TableMemory,
        regime: Regime,
        prepare: &mut impl FnMut(&Mapping),
    ) -> u64 {
        let Some(run) = leaf_mapping(regime, self.va, self.pa | self.bits, self.level) else {
            return 0;
        };
        prepare(&Mapping {
            size: self.bytes(),
            ..run
        });
        let valid_bits = self.bits & !DESC_SW_PARKED | DESC_VALID;
        let leaf_size = level_size(self.level);
        let mut pa = self.pa;
        for index in self.first..self.first + self.count {
            mem.write(self.table, index, pa | valid_bits);
            pa += leaf_size;
        }
        self.bytes()
    }
}

fn check_aligned(value: u64) -> Result<(), MapError> {
    if value & (PAGE_SIZE - 1) == 0 {
        Ok(())
    } else {
        Err(MapError::Misaligned)
    }
}

/// Replaces the block at `table[index]` (a leaf at `level` < 3, valid or
/// parked) by a next-level table mapping the same output range with the same
/// attributes and state. The new
/// table is filled before it is linked, so a walker never sees it half-built.
fn split_block(
    mem: &mut impl TableMemory,
    table: u64,
    index: usize,
    block: u64,
    level: u8,
) -> Result<(), MapError> {
    let child_level = level + 1;
    let child = mem.alloc_table().ok_or(MapError::OutOfMemory)?;
    let base = block & DESC_ADDRESS_MASK & !(level_size(level) - 1);
    // The software mark travels with the attributes; a parked block splits
    // into parked leaves.
    let attributes = block & !DESC_ADDRESS_MASK & !DESC_TYPE_TABLE_OR_PAGE;
    let kind = if child_level == LAST_LEVEL {
        DESC_TYPE_TABLE_OR_PAGE
    } else {
        DESC_TYPE_BLOCK
    };
    let kind = kind & !DESC_VALID | block & DESC_VALID;
    for child_index in 0..ENTRIES {
        let out = base + ((child_index as u64) << level_shift(child_level));
        mem.write(child, child_index, out | attributes | kind);
    }
    mem.write(table, index, child | DESC_TYPE_TABLE_OR_PAGE);
    Ok(())
}

/// Leaf descriptor bits other than the address and type, or why the regime
/// cannot express `attrs`. Device mappings that ask to be executable are refused
/// rather than silently made non-executable: speculative instruction fetches
/// from MMIO are never wanted, and refusing keeps `translate` a faithful
/// round-trip of what was asked.
fn leaf_attribute_bits(regime: Regime, attrs: Attrs) -> Result<u64, MapError> {
    if attrs.mem == MemType::Device && attrs.exec {
        return Err(MapError::UnsupportedAttrs { attrs });
    }
    let shareability = match attrs.mem {
        MemType::Normal => ATTR_SH_INNER,
        MemType::Device => 0,
    };
    let execute_never = if attrs.exec { 0 } else { ATTR_XN };
    let permissions_and_type = match regime {
        Regime::El2Stage1 => {
            // AP[2:1] has no "no read" encoding with one privilege level.
            if !attrs.read {
                return Err(MapError::UnsupportedAttrs { attrs });
            }
            let index = match attrs.mem {
                MemType::Normal => MAIR_INDEX_NORMAL,
                MemType::Device => MAIR_INDEX_DEVICE,
            };
            let read_only = if attrs.write { 0 } else { S1_AP_READ_ONLY };
            index << S1_ATTR_INDX_SHIFT | S1_AP1_RES1 | read_only
        }
        Regime::Stage2 => {
            let memattr = match attrs.mem {
                MemType::Normal => S2_MEMATTR_NORMAL_WB,
                MemType::Device => S2_MEMATTR_DEVICE_NGNRE,
            };
            let read = if attrs.read { S2AP_READ } else { 0 };
            let write = if attrs.write { S2AP_WRITE } else { 0 };
            memattr << S2_MEMATTR_SHIFT | read | write
        }
    };
    Ok(ATTR_AF | shareability | execute_never | permissions_and_type)
}

/// The attributes a leaf descriptor encodes; `None` for a memory type this
/// builder never writes.
fn decode_attrs(regime: Regime, descriptor: u64) -> Option<Attrs> {
    let exec = descriptor & ATTR_XN == 0;
    match regime {
        Regime::El2Stage1 => {
            let mem = match (descriptor & S1_ATTR_INDX_MASK) >> S1_ATTR_INDX_SHIFT {
                MAIR_INDEX_NORMAL => MemType::Normal,
                MAIR_INDEX_DEVICE => MemType::Device,
                _ => return None,
            };
            let write = descriptor & S1_AP_READ_ONLY == 0;
            Some(Attrs {
                read: true,
                write,
                exec,
                mem,
            })
        }
        Regime::Stage2 => {
            let mem = match (descriptor & S2_MEMATTR_MASK) >> S2_MEMATTR_SHIFT {
                S2_MEMATTR_NORMAL_WB => MemType::Normal,
                S2_MEMATTR_DEVICE_NGNRE => MemType::Device,
                _ => return None,
            };
            let read = descriptor & S2AP_READ != 0;
            let write = descriptor & S2AP_WRITE != 0;
            Some(Attrs {
                read,
                write,
                exec,
                mem,
            })
        }
    }
}

/// Converts ID_AA64MMFR0_EL1.PARange (Arm ARM, ID_AA64MMFR0_EL1 bits 3:0)
/// to a physical address size in bits; `None` for reserved values.
pub fn pa_range_bits(parange: u8) -> Option<u8> {
    Some(match parange {
        0b0000 => 32,
        0b0001 => 36,
        0b0010 => 40,
        0b0011 => 42,
        0b0100 => 44,
        0b0101 => 48,
        0b0110 => 52,
        _ => return None,
    })
}

/// The PS / physical-size field encoding shared by TCR_EL2.PS and VTCR_EL2.PS:
/// the largest size not above `pa_bits`. Sizes above 48 bits use 48, because
/// this descriptor format carries 48-bit output addresses (52 needs FEAT_LPA2
/// and TCR.DS).
fn physical_size_field(pa_bits: u8) -> u64 {
    match pa_bits {
        0..=35 => 0b000,
        36..=39 => 0b001,
        40..=41 => 0b010,
        42..=43 => 0b011,
        44..=47 => 0b100,
        _ => 0b101,
    }
}

/// Translation-control fields shared by TCR_EL2 and VTCR_EL2 at the same bit
/// positions (Arm ARM, TCR_EL2 and VTCR_EL2): T0SZ bits 5:0, IRGN0 bits
/// 9:8 = 0b01 (Normal Inner Write-Back Read-Allocate Write-Allocate), ORGN0 bits
/// 11:10 = 0b01 (the same, outer), SH0 bits 13:12 = 0b11 (Inner Shareable),
/// TG0 bits 15:14 = 0b00 (4 KiB granule), PS bits 18:16.
fn walk_control_fields(table: &PageTable, pa_bits: u8) -> u64 {
    let t0sz = 64 - u64::from(table.va_bits);
    let irgn0 = 0b01 << 8;
    let orgn0 = 0b01 << 10;
    let sh0 = 0b11 << 12;
    let tg0_4k = 0b00 << 14;
    t0sz | irgn0 | orgn0 | sh0 | tg0_4k | physical_size_field(pa_bits) << 16
}

/// The input (IPA) size for partitions' stage-2 tables, given the end of the
/// highest range any partition maps (`ipa_end`, exclusive) and the physical
/// address size from [`pa_range_bits`]: 39 bits when that covers every
/// range, else as many as 40 the physical size allows.
///
/// 39 bits is the largest input size whose walk starts at level 1 (see
/// [`PageTable::new`]): three levels down to a 4 KiB page instead of four
/// from level 0, without concatenated root tables. It matters because
/// private RAM is mapped with pages (`crate::scrub::PRIVATE_RAM_MAPPING`):
/// every descriptor a guest's stage-1 walk fetches takes a stage-2 walk
/// first (Arm ARM, "Stage 2 translation" of the stage 1 table addresses), so
/// one level less at stage 2 saves up to five descriptor fetches a TLB miss.
/// Under QEMU's TCG, which keeps no walk cache and empties its TLB at every
/// VTTBR_EL2 change (each partition switch), the switch-heavy part of a
/// Linux boot (from "smp: Brought up" to "Freeing unused kernel memory",
/// console output through the console service) took a median 2.08 s with
/// 39 bits and 2.24 s with 40 (8 alternating boots each). KVM also sizes
/// its stage 2 for a walk of three levels by default (40 bits with
/// concatenated level-1 tables).
pub fn stage2_ipa_bits(ipa_end: u64, pa_bits: u8) -> u8 {
    const LEVEL_1_START_BITS: u8 = 39;
    if ipa_end <= 1 << LEVEL_1_START_BITS {
        LEVEL_1_START_BITS.min(pa_bits)
    } else {
        pa_bits.min(40)
    }
}

/// VTCR_EL2 for a stage-2 table (Arm ARM, VTCR_EL2), given the physical
/// address size from [`pa_range_bits`]: T0SZ = 64 - va_bits; SL0 (bits 7:6,
/// 4 KiB granule) = 0b00 to start at level 2, 0b01 at level 1, 0b10 at level 0;
/// inner/outer Write-Back Write-Allocate, Inner Shareable walks; 4 KiB granule;
/// PS; bit 31 RES1. VS (16-bit VMIDs), HA/HD and the FEAT_XNX/FEAT_S2FWB
/// controls stay 0. The IPA size must not exceed `pa_bits`.
pub fn vtcr_el2(table: &PageTable, pa_bits: u8) -> u64 {
    let sl0 = match table.start_level {
        0 => 0b10,
        1 => 0b01,
        _ => 0b00,
    };
    const VTCR_EL2_RES1: u64 = 1 << 31;
    walk_control_fields(table, pa_bits) | sl0 << 6 | VTCR_EL2_RES1
}

/// TCR_EL2 for the EL2 stage-1 table when HCR_EL2.E2H = 0 (Arm ARM,
/// TCR_EL2): T0SZ = 64 - va_bits (the initial level follows from it),
/// inner/outer Write-Back Write-Allocate, Inner Shareable walks, 4 KiB granule,
/// PS, and the RES1 bits 31 and 23. TBI, HA, HD and HPD stay 0.
pub fn tcr_el2(table: &PageTable, pa_bits: u8) -> u64 {
    const TCR_EL2_RES1: u64 = 1 << 31 | 1 << 23;
    walk_control_fields(table, pa_bits) | TCR_EL2_RES1
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::rc::Rc;
    use alloc::vec;
    use alloc::vec::Vec;
    use core::cell::Cell;

    const KIB4: u64 = 4 << 10;
    const MIB2: u64 = 2 << 20;
    const GIB1: u64 = 1 << 30;

    /// Tables in a map keyed by a fake physical address; optionally limited.
    /// Counts descriptor reads, and writes through a counter a test can
    /// share (to see what was stored before a callback ran).
    struct FakeMemory {
        tables: BTreeMap<u64, Vec<u64>>,
        next: u64,
        limit: usize,
        reads: Cell<usize>,
        writes: Rc<Cell<usize>>,
    }

    impl FakeMemory {
        fn new() -> Self {
            Self::with_limit(usize::MAX)
        }

        fn with_limit(limit: usize) -> Self {
            Self {
                tables: BTreeMap::new(),
                next: 0x8000_0000,
                limit,
                reads: Cell::new(0),
                writes: Rc::new(Cell::new(0)),
            }
        }
    }

    impl TableMemory for FakeMemory {
        fn alloc_table(&mut self) -> Option<u64> {
            if self.tables.len() >= self.limit {
                return None;
            }
            let pa = self.next;
            self.next += PAGE_SIZE;
            self.tables.insert(pa, vec![0; ENTRIES]);
            Some(pa)
        }

        fn read(&self, table_pa: u64, index: usize) -> u64 {
            self.reads.set(self.reads.get() + 1);
            self.tables[&table_pa][index]
        }

        fn write(&mut self, table_pa: u64, index: usize, descriptor: u64) {
            assert_eq!(table_pa % PAGE_SIZE, 0);
            self.writes.set(self.writes.get() + 1);
            self.tables
                .get_mut(&table_pa)
                .expect("write to a table that was never allocated")[index] = descriptor;
        }
    }

    fn leaf_counts(table: &PageTable, mem: &FakeMemory) -> [usize; 4] {
        let mut counts = [0; 4];
        table.mappings(mem, |m| counts[usize::from(m.level)] += 1);
        counts
    }

    fn stage2(mem: &mut FakeMemory, va_bits: u8) -> PageTable {
        PageTable::new(mem, Regime::Stage2, va_bits).unwrap()
    }

    #[test]
    fn start_levels_follow_input_size() {
        let mut mem = FakeMemory::new();
        for (bits, level) in [
            (48, 0),
            (44, 0),
            (40, 0),
            (39, 1),
            (32, 1),
            (31, 1),
            (30, 2),
            (25, 2),
        ] {
            let table = PageTable::new(&mut mem, Regime::El2Stage1, bits).unwrap();
            assert_eq!(table.start_level(), level, "{bits} bits");
            assert_eq!(table.va_bits(), bits);
        }
        for bits in [0, 24, 49, 64] {
            assert_eq!(
                PageTable::new(&mut mem, Regime::Stage2, bits),
                Err(MapError::UnsupportedVaBits { va_bits: bits })
            );
        }
    }

    #[test]
    fn root_is_the_allocated_table() {
        let mut mem = FakeMemory::new();
        let table = stage2(&mut mem, 40);
        assert!(mem.tables.contains_key(&table.root()));
        assert_eq!(table.regime(), Regime::Stage2);
    }

    #[test]
    fn block_selection_uses_largest_aligned_blocks() {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 40);
        // 4 KiB before a 2 MiB boundary, then up to a 1 GiB boundary, two 1 GiB
        // blocks, 2 MiB more and one trailing page.
        let va = GIB1 - MIB2 - KIB4;
        let size = KIB4 + MIB2 + 2 * GIB1 + MIB2 + KIB4;
        table.map(&mut mem, va, va, size, Attrs::RWX).unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 2, 2, 2]);
        assert_eq!(table.translate(&mem, va), Some((va, Attrs::RWX)));
        assert_eq!(
            table.translate(&mem, va + size - 1),
            Some((va + size - 1, Attrs::RWX))
        );
        assert_eq!(table.translate(&mem, va + size), None);
        assert_eq!(table.translate(&mem, va - 1), None);
    }

    #[test]
    fn blocks_need_both_addresses_aligned() {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 40);
        // The input is 1 GiB aligned but the output only 4 KiB aligned: pages only.
        table
            .map(&mut mem, GIB1, 0x4000_1000, 4 * MIB2, Attrs::RW)
            .unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 0, 4 * 512]);
        // Output 2 MiB aligned: 2 MiB blocks, not 1 GiB.
        table
            .map(&mut mem, 4 * GIB1, 0x4020_0000, GIB1, Attrs::RW)
            .unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 512, 4 * 512]);
        assert_eq!(
            table.translate(&mem, 4 * GIB1 + 0x1234),
            Some((0x4020_1234, Attrs::RW))
        );
    }

    #[test]
    fn level_two_start_has_no_gigabyte_blocks() {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 30);
        table.map(&mut mem, 0, 0, GIB1, Attrs::RW).unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 512, 0]);
        assert_eq!(
            table.map(&mut mem, GIB1, 0, KIB4, Attrs::RW),
            Err(MapError::OutOfRange)
        );
    }

    #[test]
    fn level_zero_start_walks_four_levels() {
        let mut mem = FakeMemory::new();
        let mut table = PageTable::new(&mut mem, Regime::El2Stage1, 48).unwrap();
        let va = 0x0000_8123_4567_8000;
        table.map(&mut mem, va, 0x1000, KIB4, Attrs::RO).unwrap();
        assert_eq!(table.translate(&mem, va + 0x10), Some((0x1010, Attrs::RO)));
        // Root, level 1, level 2 and level 3 tables.
        assert_eq!(mem.tables.len(), 4);
    }

    #[test]
    fn misaligned_and_out_of_range_inputs_are_refused() {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 32);
        assert_eq!(
            table.map(&mut mem, 0x800, 0, KIB4, Attrs::RW),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            table.map(&mut mem, 0, 0x800, KIB4, Attrs::RW),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            table.map(&mut mem, 0, 0, 0x800, Attrs::RW),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            table.map(&mut mem, 1 << 32, 0, KIB4, Attrs::RW),
            Err(MapError::OutOfRange)
        );
        assert_eq!(
            table.map(&mut mem, (1 << 32) - KIB4, 0, 2 * KIB4, Attrs::RW),
            Err(MapError::OutOfRange)
        );
        assert_eq!(
            table.map(&mut mem, 0, (1 << 48) - KIB4, 2 * KIB4, Attrs::RW),
            Err(MapError::OutOfRange)
        );
        assert_eq!(
            table.map(&mut mem, 0, !0xfff, KIB4, Attrs::RW),
            Err(MapError::OutOfRange)
        );
        assert_eq!(table.unmap(&mut mem, 0x10, KIB4), Err(MapError::Misaligned));
        assert_eq!(
            table.unmap(&mut mem, !0xfff, KIB4),
            Err(MapError::OutOfRange)
        );
        assert_eq!(table.translate(&mem, 1 << 32), None);
        // Nothing was mapped along the way.
        assert_eq!(leaf_counts(&table, &mem), [0; 4]);
        // An empty range is a no-op.
        table.map(&mut mem, 0, 0, 0, Attrs::RW).unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0; 4]);
    }

    #[test]
    fn overlaps_are_refused_and_leave_nothing_behind() {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 40);
        table
            .map(&mut mem, 0x4000_0000, 0x4000_0000, MIB2, Attrs::RW)
            .unwrap();
        let before = leaf_counts(&table, &mem);
        // Overlaps the tail of a 2 MiB block.
        assert_eq!(
            table.map(&mut mem, 0x401F_F000, 0x9000_0000, 2 * KIB4, Attrs::RW),
            Err(MapError::AlreadyMapped { va: 0x401F_F000 })
        );
        // A range that starts unmapped and runs into the block names the first mapped page.
        assert_eq!(
            table.map(&mut mem, 0x3FF0_0000, 0x9000_0000, 2 * MIB2, Attrs::RW),
            Err(MapError::AlreadyMapped { va: 0x4000_0000 })
        );
        assert_eq!(leaf_counts(&table, &mem), before);
        assert_eq!(table.translate(&mem, 0x3FF0_0000), None);
        // Mapping the same range again is refused too.
        assert_eq!(
            table.map(&mut mem, 0x4000_0000, 0x4000_0000, MIB2, Attrs::RW),
            Err(MapError::AlreadyMapped { va: 0x4000_0000 })
        );
    }

    #[test]
    fn running_out_of_tables_rolls_back() {
        // Root (level 1) plus one level-2 table: the level-3 table for the
        // trailing page cannot be allocated.
        let mut mem = FakeMemory::with_limit(2);
        let mut table = stage2(&mut mem, 39);
        assert_eq!(
            table.map(&mut mem, 0, 0x8000_0000, 2 * MIB2 + KIB4, Attrs::RW),
            Err(MapError::OutOfMemory)
        );
        assert_eq!(leaf_counts(&table, &mem), [0; 4]);
        assert_eq!(table.translate(&mem, 0), None);
        // The space is still usable with what was allocated.
        table
            .map(&mut mem, 0, 0x8000_0000, 2 * MIB2, Attrs::RW)
            .unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 2, 0]);
    }

    #[test]
    fn unmapping_part_of_a_block_splits_it() {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 40);
        table
            .map(&mut mem, GIB1, 0x1_0000_0000, GIB1, Attrs::RWX)
            .unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 1, 0, 0]);

        // A guard page in the middle: the 1 GiB block becomes 511 2 MiB blocks
        // and 511 pages.
        let guard = GIB1 + 5 * MIB2 + 3 * KIB4;
        table.unmap(&mut mem, guard, KIB4).unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 511, 511]);
        assert_eq!(table.translate(&mem, guard), None);
        assert_eq!(
            table.translate(&mem, guard - 1),
            Some((0x1_0000_0000 + guard - 1 - GIB1, Attrs::RWX))
        );
        assert_eq!(
            table.translate(&mem, guard + KIB4),
            Some((0x1_0000_0000 + guard + KIB4 - GIB1, Attrs::RWX))
        );
        assert_eq!(
            table.translate(&mem, 2 * GIB1 - 1),
            Some((0x1_3FFF_FFFF, Attrs::RWX))
        );

        // The remaining memory is exactly the block minus the page.
        let mut total = 0;
        table.mappings(&mem, |m| {
            assert_eq!(m.pa, 0x1_0000_0000 + (m.va - GIB1));
            total += m.size;
        });
        assert_eq!(total, GIB1 - KIB4);
    }

    #[test]
    fn unmapping_whole_blocks_does_not_split() {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 40);
        table.map(&mut mem, 0, 0, 4 * MIB2, Attrs::RW).unwrap();
        let tables = mem.tables.len();
        table.unmap(&mut mem, MIB2, 2 * MIB2).unwrap();
        assert_eq!(mem.tables.len(), tables);
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 2, 0]);
        // Unmapping what is not mapped is fine.
        table.unmap(&mut mem, MIB2, 100 * MIB2).unwrap();
        table.unmap(&mut mem, 0, 0).unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 1, 0]);
        // The hole can be mapped again, and the new mapping lands in the existing table.
        table
            .map(&mut mem, MIB2, 0x7000_0000, MIB2, Attrs::RO)
            .unwrap();
        assert_eq!(
            table.translate(&mem, MIB2 + 8),
            Some((0x7000_0008, Attrs::RO))
        );
    }

    #[test]
    fn mapping_into_an_emptied_table_uses_smaller_blocks() {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 40);
        table.map(&mut mem, 0, 0, KIB4, Attrs::RW).unwrap();
        table.unmap(&mut mem, 0, KIB4).unwrap();
        // Level-1 entry 0 and level-2 entry 0 now hold (empty) tables. A 1 GiB
        // request at 0 descends into them instead of replacing a live table:
        // the first 2 MiB as pages, the rest as 2 MiB blocks.
        table.map(&mut mem, 0, 0, GIB1, Attrs::RW).unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 511, 512]);
        assert_eq!(table.translate(&mem, GIB1 - 1), Some((GIB1 - 1, Attrs::RW)));
    }

    #[test]
    fn splitting_needs_a_table() {
        let mut mem = FakeMemory::with_limit(2);
        let mut table = stage2(&mut mem, 39);
        table.map(&mut mem, 0, 0, GIB1, Attrs::RW).unwrap();
        assert_eq!(mem.tables.len(), 1);
        table.unmap(&mut mem, MIB2, MIB2).unwrap();
        assert_eq!(mem.tables.len(), 2);
        assert_eq!(table.unmap(&mut mem, 0, KIB4), Err(MapError::OutOfMemory));
        // The block that could not be split is intact.
        assert_eq!(table.translate(&mem, 0), Some((0, Attrs::RW)));
    }

    fn every_attrs() -> impl Iterator<Item = Attrs> {
        (0..16).map(|bits| Attrs {
            read: bits & 1 != 0,
            write: bits & 2 != 0,
            exec: bits & 4 != 0,
            mem: if bits & 8 != 0 {
                MemType::Device
            } else {
                MemType::Normal
            },
        })
    }

    #[test]
    fn every_attribute_combination_round_trips_or_is_refused() {
        for regime in [Regime::El2Stage1, Regime::Stage2] {
            let mut mem = FakeMemory::new();
            let mut table = PageTable::new(&mut mem, regime, 39).unwrap();
            for (slot, attrs) in every_attrs().enumerate() {
                let va = slot as u64 * MIB2;
                let expressible = !(attrs.mem == MemType::Device && attrs.exec)
                    && (regime == Regime::Stage2 || attrs.read);
                let result = table.map(&mut mem, va, 0x4000_0000 + va, MIB2, attrs);
                if expressible {
                    result.unwrap();
                    assert_eq!(
                        table.translate(&mem, va + 0x42),
                        Some((0x4000_0042 + va, attrs))
                    );
                    // Also as a page, and after splitting.
                    let page_va = GIB1 + va;
                    table
                        .map(&mut mem, page_va, 0x8000_0000, KIB4, attrs)
                        .unwrap();
                    assert_eq!(table.translate(&mem, page_va), Some((0x8000_0000, attrs)));
                    table.unmap(&mut mem, va, KIB4).unwrap();
                    assert_eq!(
                        table.translate(&mem, va + KIB4),
                        Some((0x4000_1000 + va, attrs))
                    );
                } else {
                    assert_eq!(
                        result,
                        Err(MapError::UnsupportedAttrs { attrs }),
                        "{regime:?}"
                    );
                    assert_eq!(table.translate(&mem, va), None);
                }
            }
        }
    }

    #[test]
    fn descriptor_bits_match_the_architecture() {
        let mut mem = FakeMemory::new();
        let mut s1 = PageTable::new(&mut mem, Regime::El2Stage1, 39).unwrap();
        s1.map(&mut mem, 0, 0x4000_0000, MIB2, Attrs::RX).unwrap();
        s1.map(&mut mem, MIB2, 0x0900_0000, KIB4, Attrs::DEVICE)
            .unwrap();
        let l2 = mem.read(s1.root(), 0) & DESC_ADDRESS_MASK;
        // Block, AttrIndx 0, AP = 0b11 (read-only, AP[1] RES1), SH inner, AF, executable.
        assert_eq!(
            mem.read(l2, 0),
            0x4000_0000 | 0b01 | 0b11 << 6 | 0b11 << 8 | 1 << 10
        );
        let l3 = mem.read(l2, 1) & DESC_ADDRESS_MASK;
        // Page, AttrIndx 1, AP = 0b01 (read/write), SH 0, AF, XN.
        assert_eq!(
            mem.read(l3, 0),
            0x0900_0000 | 0b11 | 1 << 2 | 0b01 << 6 | 1 << 10 | 1 << 54
        );

        let mut s2 = stage2(&mut mem, 39);
        s2.map(&mut mem, 0, 0x4000_0000, MIB2, Attrs::RWX).unwrap();
        s2.map(
            &mut mem,
            MIB2,
            0x0900_0000,
            KIB4,
            Attrs {
                write: false,
                ..Attrs::DEVICE
            },
        )
        .unwrap();
        let l2 = mem.read(s2.root(), 0) & DESC_ADDRESS_MASK;
        // Block, MemAttr 0b1111, S2AP 0b11, SH inner, AF.
        assert_eq!(
            mem.read(l2, 0),
            0x4000_0000 | 0b01 | 0b1111 << 2 | 0b11 << 6 | 0b11 << 8 | 1 << 10
        );
        let l3 = mem.read(l2, 1) & DESC_ADDRESS_MASK;
        // Page, MemAttr 0b0001, S2AP read-only, AF, XN.
        assert_eq!(
            mem.read(l3, 0),
            0x0900_0000 | 0b11 | 0b0001 << 2 | 0b01 << 6 | 1 << 10 | 1 << 54
        );
        // Table descriptors carry only the address and type.
        assert_eq!(mem.read(s2.root(), 0), l2 | 0b11);
    }

    #[test]
    fn mair_matches_the_attribute_indices() {
        assert_eq!(MAIR_EL2, 0x04FF);
    }

    #[test]
    fn pa_range_decoding() {
        let expected = [
            (0, Some(32)),
            (1, Some(36)),
            (2, Some(40)),
            (3, Some(42)),
            (4, Some(44)),
            (5, Some(48)),
            (6, Some(52)),
            (7, None),
            (15, None),
        ];
        for (parange, bits) in expected {
            assert_eq!(pa_range_bits(parange), bits);
        }
    }

    #[test]
    fn vtcr_fields_for_40_and_44_bit_physical_addresses() {
        let mut mem = FakeMemory::new();
        // 40-bit IPA, 40-bit PA (QEMU cortex-a72 without highmem): start level 0.
        let table = stage2(&mut mem, 40);
        let vtcr = vtcr_el2(&table, 40);
        assert_eq!(vtcr & 0x3f, 24, "T0SZ");
        assert_eq!((vtcr >> 6) & 0b11, 0b10, "SL0: level 0");
        assert_eq!((vtcr >> 8) & 0b11, 0b01, "IRGN0");
        assert_eq!((vtcr >> 10) & 0b11, 0b01, "ORGN0");
        assert_eq!((vtcr >> 12) & 0b11, 0b11, "SH0");
        assert_eq!((vtcr >> 14) & 0b11, 0b00, "TG0");
        assert_eq!((vtcr >> 16) & 0b111, 0b010, "PS: 40 bits");
        assert_eq!(vtcr >> 31, 1, "RES1");
        assert_eq!(vtcr, 0x8002_3598);

        // 39-bit IPA on a 44-bit PA machine: start level 1.
        let table = stage2(&mut mem, 39);
        let vtcr = vtcr_el2(&table, 44);
        assert_eq!(vtcr & 0x3f, 25);
        assert_eq!((vtcr >> 6) & 0b11, 0b01, "SL0: level 1");
        assert_eq!((vtcr >> 16) & 0b111, 0b100, "PS: 44 bits");
        assert_eq!(vtcr, 0x8004_3559);

        // 30-bit IPA: start level 2. 52-bit PA clamps to 48.
        let table = stage2(&mut mem, 30);
        let vtcr = vtcr_el2(&table, 52);
        assert_eq!((vtcr >> 6) & 0b11, 0b00, "SL0: level 2");
        assert_eq!((vtcr >> 16) & 0b111, 0b101, "PS: 48 bits");
    }

    #[test]
    fn stage2_ipa_size_keeps_walks_at_three_levels_when_it_can() {
        // Everything below 512 GiB: 39 bits, a walk from level 1.
        for end in [0, GIB1, 2 * GIB1, 1 << 39] {
            assert_eq!(stage2_ipa_bits(end, 44), 39, "{end:#x}");
        }
        let mut mem = FakeMemory::new();
        assert_eq!(
            stage2(&mut mem, stage2_ipa_bits(2 * GIB1, 44)).start_level(),
            1
        );
        // Above it, 40 bits (level 0), never more than the physical size.
        assert_eq!(stage2_ipa_bits((1 << 39) + KIB4, 44), 40);
        assert_eq!(stage2_ipa_bits((1 << 39) + KIB4, 48), 40);
        assert_eq!(stage2_ipa_bits((1 << 39) + KIB4, 36), 36);
        assert_eq!(stage2_ipa_bits(GIB1, 36), 36);
        assert_eq!(stage2_ipa_bits(GIB1, 32), 32);
    }

    #[test]
    fn tcr_fields_for_40_and_44_bit_physical_addresses() {
        let mut mem = FakeMemory::new();
        let table = PageTable::new(&mut mem, Regime::El2Stage1, 40).unwrap();
        let tcr = tcr_el2(&table, 40);
        assert_eq!(tcr & 0x3f, 24, "T0SZ");
        assert_eq!((tcr >> 8) & 0b11, 0b01, "IRGN0");
        assert_eq!((tcr >> 10) & 0b11, 0b01, "ORGN0");
        assert_eq!((tcr >> 12) & 0b11, 0b11, "SH0");
        assert_eq!((tcr >> 14) & 0b11, 0b00, "TG0");
        assert_eq!((tcr >> 16) & 0b111, 0b010, "PS");
        assert_eq!(tcr & (1 << 23 | 1 << 31), 1 << 23 | 1 << 31, "RES1");
        assert_eq!(tcr, 0x8082_3518);
        let table = PageTable::new(&mut mem, Regime::El2Stage1, 44).unwrap();
        assert_eq!(tcr_el2(&table, 44), 0x8084_3514);
    }

    /// A small deterministic generator (Numerical Recipes LCG).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }
    }

    #[derive(Clone, Copy, Debug)]
    struct Reference {
        va: u64,
        pa: u64,
        size: u64,
        attrs: Attrs,
    }

    fn reference_lookup(model: &[Reference], va: u64) -> Option<(u64, Attrs)> {
        model
            .iter()
            .find(|r| (r.va..r.va + r.size).contains(&va))
            .map(|r| (r.pa + (va - r.va), r.attrs))
    }

    #[test]
    fn random_maps_and_unmaps_agree_with_a_reference_model() {
        const SPACE: u64 = 1 << 36;
        let granules = [KIB4, MIB2, GIB1];
        let attrs = [Attrs::RW, Attrs::RO, Attrs::RX, Attrs::RWX, Attrs::DEVICE];
        let mut levels_seen = [0usize; 4];
        for seed in 1..=8u64 {
            let mut rng = Lcg(seed);
            let mut mem = FakeMemory::new();
            let mut table = stage2(&mut mem, 36);
            let mut model: Vec<Reference> = Vec::new();
            for _ in 0..60 {
                let granule = granules[rng.below(3) as usize];
                let va = rng.below(SPACE / granule) * granule + rng.below(4) * KIB4;
                // Output congruent to the input modulo the granule, so blocks are usable.
                let pa = rng.below(1 << 10) * granule + va % granule;
                let size = (1 + rng.below(3)) * granule + rng.below(3) * KIB4;
                let attrs = attrs[rng.below(attrs.len() as u64) as usize];
                if va + size > SPACE {
                    assert_eq!(
                        table.map(&mut mem, va, pa, size, attrs),
                        Err(MapError::OutOfRange)
                    );
                    continue;
                }
                let first_overlap = model
                    .iter()
                    .filter(|r| r.va < va + size && va < r.va + r.size)
                    .map(|r| r.va.max(va))
                    .min();
                match first_overlap {
                    Some(overlap) => assert_eq!(
                        table.map(&mut mem, va, pa, size, attrs),
                        Err(MapError::AlreadyMapped { va: overlap })
                    ),
                    None => {
                        table.map(&mut mem, va, pa, size, attrs).unwrap();
                        model.push(Reference {
                            va,
                            pa,
                            size,
                            attrs,
                        });
                    }
                }
                // Now and then punch a hole into an existing mapping.
                if rng.below(4) == 0 && !model.is_empty() {
                    let victim = model.swap_remove(rng.below(model.len() as u64) as usize);
                    let pages = victim.size / KIB4;
                    let hole_start = rng.below(pages);
                    let hole_pages = 1 + rng.below(pages - hole_start);
                    let hole_va = victim.va + hole_start * KIB4;
                    table.unmap(&mut mem, hole_va, hole_pages * KIB4).unwrap();
                    let before = hole_start * KIB4;
                    let after_start = (hole_start + hole_pages) * KIB4;
                    if before > 0 {
                        model.push(Reference {
                            size: before,
                            ..victim
                        });
                    }
                    if after_start < victim.size {
                        model.push(Reference {
                            va: victim.va + after_start,
                            pa: victim.pa + after_start,
                            size: victim.size - after_start,
                            attrs: victim.attrs,
                        });
                    }
                }
            }
            // Probe edges of every mapping and random addresses.
            for r in &model {
                for va in [r.va, r.va + r.size - 1, r.va + r.size / 2] {
                    assert_eq!(
                        table.translate(&mem, va),
                        reference_lookup(&model, va),
                        "seed {seed} va {va:#x}"
                    );
                }
                let outside = [r.va.wrapping_sub(1), r.va + r.size];
                for va in outside {
                    assert_eq!(
                        table.translate(&mem, va),
                        reference_lookup(&model, va),
                        "seed {seed} va {va:#x}"
                    );
                }
            }
            for _ in 0..2000 {
                let va = rng.below(SPACE);
                assert_eq!(
                    table.translate(&mem, va),
                    reference_lookup(&model, va),
                    "seed {seed} va {va:#x}"
                );
            }
            // The leaves cover exactly what the model says.
            let mapped: u64 = model.iter().map(|r| r.size).sum();
            let mut leaves = 0;
            table.mappings(&mem, |m| {
                leaves += m.size;
                levels_seen[usize::from(m.level)] += 1;
            });
            assert_eq!(leaves, mapped, "seed {seed}");
        }
        // The runs exercised 1 GiB blocks, 2 MiB blocks and pages.
        assert!(levels_seen[1..].iter().all(|&n| n > 0), "{levels_seen:?}");
    }

    fn parked(largest_leaf: LeafSize) -> MapOptions {
        MapOptions {
            largest_leaf,
            state: LeafState::Parked,
        }
    }

    /// A 40-bit stage-2 table with `[va, va + size)` mapped to `pa`, parked,
    /// in leaves of at most `largest_leaf`.
    fn parked_table(
        va: u64,
        pa: u64,
        size: u64,
        attrs: Attrs,
        largest_leaf: LeafSize,
    ) -> (FakeMemory, PageTable) {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 40);
        table
            .map_with(&mut mem, va, pa, size, attrs, parked(largest_leaf))
            .unwrap();
        (mem, table)
    }

    /// [`parked_table`] in 4 KiB pages, as the core maps private RAM.
    fn parked_pages(va: u64, pa: u64, size: u64, attrs: Attrs) -> (FakeMemory, PageTable) {
        parked_table(va, pa, size, attrs, LeafSize::Page)
    }

    /// The leaf descriptor, valid or parked, holding `va`.
    fn leaf_descriptor(mem: &FakeMemory, table: &PageTable, va: u64) -> u64 {
        table.find_present_leaf(mem, va).unwrap().2
    }

    /// The descriptor `map_with` writes, valid, for the leaf of at most
    /// `largest_leaf` at `va`.
    fn valid_descriptor(va: u64, pa: u64, attrs: Attrs, largest_leaf: LeafSize) -> u64 {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 40);
        let options = MapOptions {
            largest_leaf,
            state: LeafState::Valid,
        };
        let size = largest_leaf.bytes();
        table
            .map_with(&mut mem, va, pa, size, attrs, options)
            .unwrap();
        leaf_descriptor(&mem, &table, va)
    }

    fn parked_count(table: &PageTable, mem: &FakeMemory) -> usize {
        let mut parked = 0;
        table.mappings(mem, |m| parked += usize::from(m.parked));
        parked
    }

    /// Activates the parked leaves overlapping `range`; returns the bytes
    /// activated and the runs `prepare` saw, each with the number of
    /// descriptor stores made before it was called.
    fn activate(
        table: &mut PageTable,
        mem: &mut FakeMemory,
        range: Range<u64>,
    ) -> (u64, Vec<(Mapping, usize)>) {
        let writes = Rc::clone(&mem.writes);
        let before = writes.get();
        let mut runs = Vec::new();
        let bytes = table.activate_parked(mem, range, |run| {
            runs.push((*run, writes.get() - before));
        });
        (bytes, runs)
    }

    fn run(va: u64, pa: u64, size: u64, level: u8, attrs: Attrs) -> Mapping {
        Mapping {
            va,
            pa,
            size,
            level,
            attrs,
            parked: true,
        }
    }

    #[test]
    fn the_largest_leaf_caps_block_sizes() {
        let expected = [
            (LeafSize::Block1G, [0, 1, 0, 0]),
            (LeafSize::Block2M, [0, 0, 512, 0]),
            (LeafSize::Page, [0, 0, 0, 512 * 512]),
        ];
        for (largest_leaf, counts) in expected {
            let mut mem = FakeMemory::new();
            let mut table = stage2(&mut mem, 40);
            let options = MapOptions {
                largest_leaf,
                state: LeafState::Valid,
            };
            table
                .map_with(&mut mem, GIB1, GIB1, GIB1, Attrs::RWX, options)
                .unwrap();
            assert_eq!(leaf_counts(&table, &mem), counts, "{largest_leaf:?}");
            table.mappings(&mem, |m| assert!(m.size <= largest_leaf.bytes()));
            assert_eq!(
                table.translate(&mem, GIB1 + GIB1 / 2),
                Some((GIB1 + GIB1 / 2, Attrs::RWX))
            );
        }
        assert_eq!(LeafSize::Page.bytes(), KIB4);
        assert_eq!(LeafSize::Block2M.bytes(), MIB2);
        assert_eq!(LeafSize::Block1G.bytes(), GIB1);
        // Alignment still decides below the cap: a 4 KiB-aligned start takes
        // pages up to the first 2 MiB boundary.
        let (mem, table) = parked_table(
            GIB1 - KIB4,
            GIB1 - KIB4,
            KIB4 + 2 * MIB2,
            Attrs::RW,
            LeafSize::Block2M,
        );
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 2, 1]);
    }

    #[test]
    fn parked_leaves_stay_claimed_but_do_not_translate() {
        for (largest_leaf, leaf_size) in [(LeafSize::Page, KIB4), (LeafSize::Block2M, MIB2)] {
            let (mut mem, mut table) =
                parked_table(GIB1, 0x8000_0000, 4 * MIB2, Attrs::RWX, largest_leaf);
            assert_eq!(table.translate(&mem, GIB1), None);
            let leaves = (4 * MIB2 / leaf_size) as usize;
            assert_eq!(parked_count(&table, &mem), leaves);
            let probe = GIB1 + MIB2 + 0x1234;
            let leaf_va = probe & !(leaf_size - 1);
            assert_eq!(
                table.leaf(&mem, probe),
                Some(run(
                    leaf_va,
                    0x8000_0000 + (leaf_va - GIB1),
                    leaf_size,
                    largest_leaf.level(),
                    Attrs::RWX
                ))
            );
            assert_eq!(table.leaf(&mem, GIB1 + 4 * MIB2), None);
            assert_eq!(table.leaf(&mem, 1 << 40), None);
            // The range is taken: mapping over it is refused, at the first
            // parked leaf.
            assert_eq!(
                table.map(&mut mem, GIB1 - MIB2, 0, 2 * MIB2, Attrs::RW),
                Err(MapError::AlreadyMapped { va: GIB1 })
            );
            // The descriptor is the valid one with bit 0 clear and bit 55 set.
            let leaf_pa = 0x8000_0000 + (leaf_va - GIB1);
            let valid = valid_descriptor(leaf_va, leaf_pa, Attrs::RWX, largest_leaf);
            assert_eq!(leaf_descriptor(&mem, &table, probe), valid & !1 | 1 << 55);
        }
    }

    #[test]
    fn activating_a_parked_page_makes_it_translate_once() {
        let (mut mem, mut table) = parked_pages(GIB1, 0x8000_0000, 2 * MIB2, Attrs::RWX);
        let page = GIB1 + MIB2 + 3 * KIB4;
        let (bytes, runs) = activate(&mut table, &mut mem, page + 8..page + 9);
        assert_eq!(bytes, KIB4);
        // Prepared before its descriptor was stored.
        let expected = run(page, 0x8000_0000 + MIB2 + 3 * KIB4, KIB4, 3, Attrs::RWX);
        assert_eq!(runs, [(expected, 0)]);
        assert_eq!(
            table.translate(&mem, page + 8),
            Some((0x8000_0000 + MIB2 + 3 * KIB4 + 8, Attrs::RWX))
        );
        // Only that page: its neighbours are still parked.
        assert_eq!(table.translate(&mem, page - KIB4), None);
        assert_eq!(table.translate(&mem, page + KIB4), None);
        assert_eq!(parked_count(&table, &mem), 1023);
        // A second activation (a vCPU that raced the first) changes nothing
        // and prepares nothing.
        assert_eq!(
            activate(&mut table, &mut mem, page..page + KIB4),
            (0, Vec::new())
        );
        // Nothing to activate where nothing is mapped.
        assert_eq!(activate(&mut table, &mut mem, 0..GIB1), (0, Vec::new()));
        assert_eq!(
            activate(&mut table, &mut mem, 1 << 40..1 << 41),
            (0, Vec::new())
        );
        assert_eq!(activate(&mut table, &mut mem, page..page), (0, Vec::new()));
        // The active descriptor is exactly what `map` writes.
        assert_eq!(
            leaf_descriptor(&mem, &table, page),
            valid_descriptor(
                page,
                0x8000_0000 + MIB2 + 3 * KIB4,
                Attrs::RWX,
                LeafSize::Page
            )
        );
    }

    #[test]
    fn a_group_of_pages_is_prepared_as_one_run_then_activated() {
        let (mut mem, mut table) = parked_pages(GIB1, 0x8000_0000, 2 * MIB2, Attrs::RWX);
        let group = 64 << 10;
        let start = GIB1 + MIB2 + 4 * group;
        let (bytes, runs) = activate(&mut table, &mut mem, start..start + group);
        assert_eq!(bytes, group);
        // One run for all 16 pages, prepared before any of them was stored.
        let expected = run(start, 0x8000_0000 + MIB2 + 4 * group, group, 3, Attrs::RWX);
        assert_eq!(runs, [(expected, 0)]);
        let mut valid = 0;
        table.mappings(&mem, |m| {
            if !m.parked {
                assert!((start..start + group).contains(&m.va), "{:#x}", m.va);
                assert_eq!(table.translate(&mem, m.va), Some((m.pa, Attrs::RWX)));
                valid += 1;
            }
        });
        assert_eq!(valid, 16);
        assert_eq!(table.translate(&mem, start - 1), None);
        assert_eq!(table.translate(&mem, start + group), None);
    }

    #[test]
    fn runs_break_at_valid_pages_tables_and_output_gaps() {
        let (mut mem, mut table) = parked_pages(GIB1, 0x8000_0000, 2 * MIB2, Attrs::RWX);
        // Another page mapped right after, to output addresses that do not
        // follow, and one with other attributes after that.
        let end = GIB1 + 2 * MIB2;
        table
            .map_with(
                &mut mem,
                end,
                0x9000_0000,
                KIB4,
                Attrs::RWX,
                parked(LeafSize::Page),
            )
            .unwrap();
        table
            .map_with(
                &mut mem,
                end + KIB4,
                0x9000_1000,
                KIB4,
                Attrs::RW,
                parked(LeafSize::Page),
            )
            .unwrap();
        // A page the partition already uses, in the middle: left alone.
        let used = GIB1 + MIB2 - 2 * KIB4;
        activate(&mut table, &mut mem, used..used + 1);
        let pa = |va: u64| 0x8000_0000 + (va - GIB1);
        let (bytes, runs) = activate(&mut table, &mut mem, used - 2 * KIB4..end + 2 * KIB4);
        assert_eq!(bytes, 2 * KIB4 + KIB4 + MIB2 + KIB4 + KIB4);
        // Each run is prepared after the previous runs' stores and before its own.
        let first = used - 2 * KIB4;
        assert_eq!(
            runs,
            [
                (run(first, pa(first), 2 * KIB4, 3, Attrs::RWX), 0),
                // The rest of the first level-3 table.
                (run(used + KIB4, pa(used + KIB4), KIB4, 3, Attrs::RWX), 2),
                // The whole next table, one run.
                (run(GIB1 + MIB2, pa(GIB1 + MIB2), MIB2, 3, Attrs::RWX), 3),
                (run(end, 0x9000_0000, KIB4, 3, Attrs::RWX), 3 + 512),
                (run(end + KIB4, 0x9000_1000, KIB4, 3, Attrs::RW), 4 + 512),
            ]
        );
        // What stays parked: the first table's pages before the range.
        assert_eq!(parked_count(&table, &mem), 512 - 4);
    }

    #[test]
    fn a_block_overlapping_the_range_is_activated_whole() {
        let (mut mem, mut table) =
            parked_table(GIB1, 0x8000_0000, 2 * MIB2, Attrs::RW, LeafSize::Block2M);
        let (bytes, runs) = activate(&mut table, &mut mem, GIB1 + MIB2 - 5..GIB1 + MIB2 + 5);
        // Both blocks touch the range; adjacent, one run.
        assert_eq!(bytes, 2 * MIB2);
        assert_eq!(runs, [(run(GIB1, 0x8000_0000, 2 * MIB2, 2, Attrs::RW), 0)]);
        assert_eq!(
            leaf_descriptor(&mem, &table, GIB1 + MIB2),
            valid_descriptor(
                GIB1 + MIB2,
                0x8000_0000 + MIB2,
                Attrs::RW,
                LeafSize::Block2M
            )
        );
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 2, 0]);
    }

    #[test]
    fn walks_read_each_table_entry_once() {
        let (mut mem, mut table) = parked_pages(GIB1, GIB1, 4 * MIB2, Attrs::RWX);
        // Activating a 2 MiB group: the 512 pages of its level-3 table and
        // one descriptor of each table above it.
        mem.reads.set(0);
        activate(&mut table, &mut mem, GIB1 + MIB2..GIB1 + 2 * MIB2);
        assert_eq!(mem.reads.get(), 512 + 3);
        // Parking all four tables: the leaves and the tables above them
        // read once (the boundary checks walk down to the first and the
        // end).
        mem.reads.set(0);
        table.park(&mut mem, GIB1, 4 * MIB2).unwrap();
        let walk = 4 * 512 + 4 + 2;
        let boundary_checks = 4 + 3;
        assert_eq!(mem.reads.get(), walk + boundary_checks);
        assert_eq!(parked_count(&table, &mem), 4 * 512);
    }

    #[test]
    fn parking_again_covers_every_leaf_of_the_range() {
        let (mut mem, mut table) = parked_pages(GIB1, GIB1, 8 * MIB2, Attrs::RWX);
        for table_index in [0, 3, 7] {
            let start = GIB1 + table_index * MIB2;
            assert_eq!(activate(&mut table, &mut mem, start..start + MIB2).0, MIB2);
        }
        assert_eq!(parked_count(&table, &mem), 5 * 512);
        table.park(&mut mem, GIB1, 8 * MIB2).unwrap();
        assert_eq!(parked_count(&table, &mem), 8 * 512);
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 0, 8 * 512]);
        for page in (GIB1..GIB1 + 8 * MIB2).step_by(KIB4 as usize) {
            assert_eq!(table.translate(&mem, page), None);
        }
        // Parking what is not mapped is fine.
        table.park(&mut mem, 0, GIB1).unwrap();
        assert_eq!(table.park(&mut mem, 1, KIB4), Err(MapError::Misaligned));
    }

    #[test]
    fn parking_part_of_a_block_splits_it() {
        let mut mem = FakeMemory::new();
        let mut table = stage2(&mut mem, 40);
        table.map(&mut mem, GIB1, GIB1, MIB2, Attrs::RW).unwrap();
        table.park(&mut mem, GIB1 + KIB4, KIB4).unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 0, 512]);
        assert_eq!(parked_count(&table, &mem), 1);
        assert_eq!(table.translate(&mem, GIB1), Some((GIB1, Attrs::RW)));
        assert_eq!(table.translate(&mem, GIB1 + KIB4), None);
        let page = GIB1 + KIB4;
        let (bytes, runs) = activate(&mut table, &mut mem, page + 4..page + 5);
        assert_eq!(bytes, KIB4);
        assert_eq!(runs, [(run(page, page, KIB4, 3, Attrs::RW), 0)]);
        assert_eq!(
            table.translate(&mem, GIB1 + KIB4),
            Some((GIB1 + KIB4, Attrs::RW))
        );
    }

    #[test]
    fn unmapping_removes_parked_leaves_and_splits_parked_blocks() {
        let (mut mem, mut table) = parked_table(GIB1, GIB1, 2 * MIB2, Attrs::RW, LeafSize::Block2M);
        table.unmap(&mut mem, GIB1, MIB2).unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 1, 0]);
        // A hole in the parked block leaves its pages parked.
        table.unmap(&mut mem, GIB1 + MIB2, KIB4).unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 0, 511]);
        assert_eq!(parked_count(&table, &mem), 511);
        assert_eq!(table.leaf(&mem, GIB1 + MIB2), None);
        assert!(table.leaf(&mem, GIB1 + MIB2 + KIB4).unwrap().parked);
        // The freed ranges can be mapped again.
        table.map(&mut mem, GIB1, GIB1, MIB2, Attrs::RW).unwrap();
        table
            .map(&mut mem, GIB1 + MIB2, GIB1 + MIB2, KIB4, Attrs::RW)
            .unwrap();
        // Parked pages unmap like valid ones.
        let (mut mem, mut table) = parked_pages(GIB1, GIB1, MIB2, Attrs::RW);
        table.unmap(&mut mem, GIB1 + KIB4, MIB2 - 2 * KIB4).unwrap();
        assert_eq!(leaf_counts(&table, &mem), [0, 0, 0, 2]);
        assert_eq!(parked_count(&table, &mem), 2);
    }

    #[test]
    fn errors_read_as_sentences() {
        let text = alloc::format!("{}", MapError::AlreadyMapped { va: 0x4000_0000 });
        assert_eq!(text, "the range overlaps an existing mapping at 0x40000000");
        assert!(
            alloc::format!("{}", MapError::UnsupportedVaBits { va_bits: 12 }).contains("12 bits")
        );
    }
}
