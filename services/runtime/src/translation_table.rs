//! The EL1 stage-1 translation regime every partition program runs with: an
//! identity map built from one level-1 table of 1 GiB blocks, plus the
//! MAIR_EL1/TCR_EL1/SCTLR_EL1 values that go with it.
//!
//! Why a stage-1 map at all: with the EL1 MMU off every data access is
//! Device-nGnRnE (Arm ARM DDI 0487, D8.2.10 "Behavior when stage 1 address
//! translation is disabled"), where unaligned accesses and load/store-exclusive
//! fault, so ordinary Rust (atomics, `memcpy`) cannot run. The table is a
//! compile-time constant: identity descriptors do not depend on where the
//! image is, so nothing has to be written before the MMU is on.
//!
//! Layout (4 KiB granule, T0SZ = 25, a 39-bit / 512 GiB input range whose walk
//! starts at level 1 — D8.2.6): block 0 (IPA 0..1 GiB, the device window of
//! the partition IPA map) is Device-nGnRE; blocks 1..=3 (0x4000_0000 up to
//! 4 GiB, where partition RAM lives) and the block holding the link base are
//! Normal write-back (the build script rejects a base in block 0 or beyond the
//! 512 GiB the table covers); every other block is Device-nGnRE and execute-never, so
//! an access outside the partition's RAM still reaches stage 2, where the core
//! reports it, instead of being a stage-1 fault the program handles itself.

/// Entries in the level-1 table (a 4 KiB table of 8-byte descriptors).
pub const ENTRIES: usize = 512;
/// Bytes mapped by one level-1 block descriptor.
pub const BLOCK_SIZE: u64 = 1 << 30;
/// Blocks 1..=3, 0x4000_0000..0x1_0000_0000, are partition RAM.
const RAM_BLOCKS: core::ops::RangeInclusive<usize> = 1..=3;

/// MAIR_EL1 attribute index of Device-nGnRE memory.
pub const ATTR_INDEX_DEVICE: u64 = 0;
/// MAIR_EL1 attribute index of Normal write-back memory.
pub const ATTR_INDEX_NORMAL: u64 = 1;
/// MAIR_EL1 (D23.2.97): Attr0 = 0x04 Device-nGnRE; Attr1 = 0xff Normal,
/// inner and outer write-back non-transient, read- and write-allocate.
pub const MAIR_EL1_VALUE: u64 = 0x04 << (8 * ATTR_INDEX_DEVICE) | 0xff << (8 * ATTR_INDEX_NORMAL);

/// TCR_EL1 (D23.2.131) without IPS: T0SZ = 25; IRGN0 = ORGN0 = 0b01 (walks
/// write-back cacheable); SH0 = 0b11 (inner shareable); TG0 = 0b00 (4 KiB);
/// EPD1 = 1 (no TTBR1 walks: nothing lives in the upper half). The entry code
/// adds IPS, bits \[34:32\], from ID_AA64MMFR0_EL1.PARange.
pub const TCR_EL1_WITHOUT_IPS: u64 = 25 | 0b01 << 8 | 0b01 << 10 | 0b11 << 12 | 1 << 23;
/// Bit position of TCR_EL1.IPS.
pub const TCR_EL1_IPS_SHIFT: u64 = 32;
/// Largest IPS the runtime programs: 0b101, 48 bits. 52-bit output needs
/// FEAT_LPA2 descriptors, which this table does not use.
pub const TCR_EL1_IPS_MAX: u64 = 0b101;

/// SCTLR_EL1 bits the entry code sets (D23.2.118): M (MMU on), C (data
/// cacheable), I (instructions cacheable).
pub const SCTLR_EL1_SET: u64 = 1 << 0 | 1 << 2 | 1 << 12;
/// SCTLR_EL1 bits the entry code clears: A (alignment checks: Rust relies on
/// unaligned Normal accesses being allowed), WXN (RAM is writable and
/// executable here), E0E and EE (little-endian data at EL0 and EL1).
pub const SCTLR_EL1_CLEAR: u64 = 1 << 1 | 1 << 19 | 1 << 24 | 1 << 25;

/// Descriptor type bits \[1:0\] of a level-1 block (D8.3.1).
const BLOCK: u64 = 0b01;
/// AttrIndx, bits \[4:2\].
const ATTR_INDEX_SHIFT: u64 = 2;
/// SH = 0b11, inner shareable, bits \[9:8\] (ignored for Device memory).
const INNER_SHAREABLE: u64 = 0b11 << 8;
/// AF, bit 10: already accessed, so there are no Access flag faults.
const ACCESS_FLAG: u64 = 1 << 10;
/// PXN (bit 53) and UXN (bit 54): never execute from device space.
const EXECUTE_NEVER: u64 = 1 << 53 | 1 << 54;

/// What a block of the identity map is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// RAM: Normal write-back, inner shareable, executable.
    Normal,
    /// Anything else: Device-nGnRE, execute-never.
    Device,
}

/// The level-1 block descriptor mapping block `index` to itself. AP = 0b00
/// (EL1 read/write, no EL0 access).
pub const fn block_descriptor(index: usize, kind: BlockKind) -> u64 {
    let output_address = index as u64 * BLOCK_SIZE;
    match kind {
        BlockKind::Normal => {
            output_address
                | BLOCK
                | ATTR_INDEX_NORMAL << ATTR_INDEX_SHIFT
                | INNER_SHAREABLE
                | ACCESS_FLAG
        }
        BlockKind::Device => {
            output_address
                | BLOCK
                | ATTR_INDEX_DEVICE << ATTR_INDEX_SHIFT
                | ACCESS_FLAG
                | EXECUTE_NEVER
        }
    }
}

/// The kind of block `index` for a program linked at `image_base`.
pub const fn block_kind(index: usize, image_base: u64) -> BlockKind {
    let image_block = (image_base / BLOCK_SIZE) as usize;
    let is_ram = index >= *RAM_BLOCKS.start() && index <= *RAM_BLOCKS.end();
    // Block 0 is the device window: it never becomes Normal memory.
    if is_ram || (index == image_block && index != 0) {
        BlockKind::Normal
    } else {
        BlockKind::Device
    }
}

/// Whether `[base, base + size)` lies inside one Device block of the identity
/// map of a program linked at `image_base`: device registers there cannot
/// alias any memory the program's Rust code uses, whatever `base` is.
pub fn is_device_range(base: u64, size: u64, image_base: u64) -> bool {
    let Some(last) = size.checked_sub(1).and_then(|s| base.checked_add(s)) else {
        return false;
    };
    let (Ok(first_block), Ok(last_block)) = (
        usize::try_from(base / BLOCK_SIZE),
        usize::try_from(last / BLOCK_SIZE),
    ) else {
        return false;
    };
    first_block == last_block
        && first_block < ENTRIES
        && matches!(block_kind(first_block, image_base), BlockKind::Device)
}

/// A level-1 translation table; TTBR0_EL1 needs it aligned to its size.
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct TranslationTable(pub [u64; ENTRIES]);

impl TranslationTable {
    /// The identity map described in the module documentation.
    pub const fn identity(image_base: u64) -> Self {
        let mut entries = [0u64; ENTRIES];
        let mut index = 0;
        while index < ENTRIES {
            entries[index] = block_descriptor(index, block_kind(index, image_base));
            index += 1;
        }
        Self(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: TranslationTable = TranslationTable::identity(0x4000_0000);

    #[test]
    fn ram_blocks_are_normal_and_executable() {
        for index in 1..=3 {
            let d = TABLE.0[index];
            assert_eq!(d & 0b11, 0b01, "block descriptor");
            assert_eq!((d >> 2) & 0b111, ATTR_INDEX_NORMAL);
            assert_eq!(d & (1 << 10), 1 << 10, "access flag");
            assert_eq!((d >> 8) & 0b11, 0b11, "inner shareable");
            assert_eq!(d & (0b11 << 53), 0, "executable");
            assert_eq!(d & 0x0000_ffff_c000_0000, index as u64 * BLOCK_SIZE);
        }
    }

    #[test]
    fn everything_else_is_device_and_execute_never() {
        for index in [0usize, 4, 5, 511] {
            let d = TABLE.0[index];
            assert_eq!((d >> 2) & 0b111, ATTR_INDEX_DEVICE);
            assert_eq!(d & (0b11 << 53), 0b11 << 53);
            assert_eq!(d & 0x0000_ffff_c000_0000, index as u64 * BLOCK_SIZE);
        }
        // The out-of-RAM probe address of the fault tests is mapped, so the
        // access reaches stage 2.
        assert_eq!(TABLE.0[(0x1_0000_0000u64 / BLOCK_SIZE) as usize] & 1, 1);
    }

    #[test]
    fn image_block_is_normal_wherever_it_is_linked() {
        let high = TranslationTable::identity(0x8_4000_0000);
        assert_eq!(block_kind(0x21, 0x8_4000_0000), BlockKind::Normal);
        assert_eq!((high.0[0x21] >> 2) & 0b111, ATTR_INDEX_NORMAL);
        assert_eq!((high.0[0x22] >> 2) & 0b111, ATTR_INDEX_DEVICE);
        // The device window stays Device whatever the base.
        assert_eq!(block_kind(0, 0x8_0000), BlockKind::Device);
    }

    #[test]
    fn device_ranges_sit_in_one_device_block() {
        let base = 0x4000_0000;
        // The device window below RAM (a passed-through UART's page).
        assert!(is_device_range(0x0921_5000, 0x1000, base));
        assert!(is_device_range(0x0900_0000, 0x1000, base));
        // RAM blocks and the image's block are Normal memory.
        assert!(!is_device_range(0x4000_0000, 0x1000, base));
        assert!(!is_device_range(0xFE21_5000, 0x1000, base));
        // Straddling into RAM, empty, wrapping or past the table: refused.
        assert!(!is_device_range(0x3FFF_F000, 0x2000, base));
        assert!(!is_device_range(0x0900_0000, 0, base));
        assert!(!is_device_range(u64::MAX - 0xfff, 0x2000, base));
        assert!(!is_device_range(512 * BLOCK_SIZE, 0x1000, base));
        assert!(is_device_range(4 * BLOCK_SIZE, 0x1000, base));
    }

    #[test]
    fn register_values() {
        assert_eq!(MAIR_EL1_VALUE, 0xff04);
        assert_eq!(TCR_EL1_WITHOUT_IPS & 0x3f, 25);
        assert_eq!(TCR_EL1_WITHOUT_IPS, 0x0080_3519);
        assert_eq!(SCTLR_EL1_SET & SCTLR_EL1_CLEAR, 0);
    }
}
