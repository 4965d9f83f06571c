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

#[target_feature(enable = "crc")]
fn update_with_instructions(mut state: u32, data: &[u8]) -> u32 {
    use core::arch::aarch64::{__crc32b, __crc32d};
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        state = __crc32d(state, u64::from_le_bytes(bytes));
    }
    for &byte in words.remainder() {
        state = __crc32b(state, byte);
    }
    state
}
