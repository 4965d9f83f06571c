//! CRC-32 (the IEEE polynomial of `kernel_core::crc32`) with the CPU's CRC32
//! instructions (FEAT_CRC32, Arm ARM C6.2: CRC32B/CRC32X use the same
//! reflected 0x04C11DB7 polynomial), 8 bytes an instruction. Falls back to
//! the table-driven version on a CPU without them.

use aarch64_cpu::registers::{Readable, ID_AA64ISAR0_EL1};

/// Does this CPU implement the CRC32 instructions (ID_AA64ISAR0_EL1.CRC32,
/// bits [19:16])?
fn has_crc32_instructions() -> bool {
    (ID_AA64ISAR0_EL1.get() >> 16) & 0xf != 0
}

/// Folds `data` into a running CRC state, as `kernel_core::crc32::update`.
pub fn update(state: u32, data: &[u8]) -> u32 {
    if has_crc32_instructions() {
        // SAFETY: the CPU implements FEAT_CRC32 (checked above), which is
        // all `update_with_instructions` needs.
        unsafe { update_with_instructions(state, data) }
    } else {
        kernel_core::crc32::update(state, data)
    }
}

/// Folds byte by byte up to an 8-byte boundary, then whole aligned
/// doublewords, then the tail. The core is built with strict alignment
/// (`aarch64-unknown-none-softfloat`), so a doubleword read from an unaligned
/// slice compiles to eight byte loads; reading aligned `u64`s gives one `LDR`
/// (or an `LDP` for two) per `CRC32X`. The manifest's check runs under QEMU
/// TCG at boot, where every instruction counts.
#[target_feature(enable = "crc")]
fn update_with_instructions(mut state: u32, data: &[u8]) -> u32 {
    use core::arch::aarch64::{__crc32b, __crc32d};
    // SAFETY: every bit pattern is a valid u64, so viewing the aligned middle
    // of a byte slice as u64s is sound; `align_to` keeps the order and
    // leaves the unaligned ends as bytes.
    let (head, words, tail) = unsafe { data.align_to::<u64>() };
    for &byte in head {
        state = __crc32b(state, byte);
    }
    // Four at a time, so the loop's own instructions spread over 32 bytes.
    let mut quads = words.chunks_exact(4);
    for quad in &mut quads {
        for &word in quad {
            // Memory order is little-endian, which is what CRC32X folds first.
            state = __crc32d(state, u64::from_le(word));
        }
    }
    for &word in quads.remainder() {
        state = __crc32d(state, u64::from_le(word));
    }
    for &byte in tail {
        state = __crc32b(state, byte);
    }
    state
}
