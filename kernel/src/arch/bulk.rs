//! Bulk writes into partition RAM through the EL2 map: zeroing (a scrub)
//! and copying boot blobs in. Both run over megabytes at every partition
//! load or first touch, so both use the widest plain instructions the
//! softfloat core has.

use super::sysreg::{dsb_ish, read_sysreg};

/// Zeroes `[addr, addr + len)`, which the EL2 map has as Normal memory: with
/// DC ZVA (Arm ARM C5.3.15), a whole block per instruction, where DCZID_EL0
/// permits it; plain stores for the unaligned ends or when it does not.
///
/// # Safety
///
/// The range must be mapped writable at EL2, and nothing may rely on its
/// contents.
pub unsafe fn zero(addr: u64, len: u64) {
    let dczid = read_sysreg!("dczid_el0");
    // DZP (bit 4) set prohibits DC ZVA; BS (bits 3:0) is log2 of the block
    // size in 4-byte words.
    let block = 4u64 << (dczid & 0xf);
    let end = addr.saturating_add(len);
    let first = addr.div_ceil(block).saturating_mul(block);
    let last = end & !(block - 1);
    if dczid & (1 << 4) != 0 || first >= last {
        // SAFETY: the caller's contract covers the whole range.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, len as usize) };
        return;
    }
    // SAFETY: the head and tail lie inside the caller's range.
    unsafe {
        core::ptr::write_bytes(addr as *mut u8, 0, (first - addr) as usize);
        core::ptr::write_bytes(last as *mut u8, 0, (end - last) as usize);
    }
    let mut p = first;
    while p < last {
        // SAFETY: DC ZVA zeroes one aligned block inside the caller's range.
        unsafe { core::arch::asm!("dc zva, {}", in(reg) p, options(nostack, preserves_flags)) };
        p += block;
    }
    dsb_ish();
}

/// Copies `src` to `[dst, dst + src.len())`.
///
/// # Safety
///
/// The destination must be mapped writable at EL2, must not overlap `src`,
/// and nothing may rely on its contents.
pub unsafe fn copy(dst: u64, src: &[u8]) {
    // SAFETY: the caller's contract covers the destination; `src` is a
    // valid slice disjoint from it.
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
}
