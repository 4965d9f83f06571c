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

/// Copies `src` to `[dst, dst + src.len())`: 64 bytes per iteration with
/// `LDP`/`STP` of general registers (the core is softfloat), the tail with
/// the compiler's copy. Under an emulator each instruction costs a dispatch,
/// and the compiler's `memcpy` moves 8 bytes an iteration (and a byte at a
/// time when the two sides are not equally aligned); unaligned `LDP`/`STP`
/// to Normal memory are fine at EL2 (SCTLR_EL2.A = 0).
///
/// # Safety
///
/// The destination must be mapped writable at EL2, must not overlap `src`,
/// and nothing may rely on its contents.
pub unsafe fn copy(dst: u64, src: &[u8]) {
    const CHUNK: usize = 64;
    let chunks = src.len() / CHUNK * CHUNK;
    if chunks != 0 {
        // `chunks` is a non-zero multiple of 64, so the loop ends with the
        // count at zero.
        // SAFETY: reads `[src, src + chunks)`, inside the slice, and writes
        // `[dst, dst + chunks)`, inside the caller's range; no overlap.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldp {a}, {b}, [{src}]",
                "ldp {c}, {d}, [{src}, #16]",
                "stp {a}, {b}, [{dst}]",
                "stp {c}, {d}, [{dst}, #16]",
                "ldp {a}, {b}, [{src}, #32]",
                "ldp {c}, {d}, [{src}, #48]",
                "add {src}, {src}, #64",
                "stp {a}, {b}, [{dst}, #32]",
                "stp {c}, {d}, [{dst}, #48]",
                "add {dst}, {dst}, #64",
                "subs {count}, {count}, #64",
                "b.ne 2b",
                src = inout(reg) src.as_ptr() => _,
                dst = inout(reg) dst => _,
                count = inout(reg) chunks => _,
                a = out(reg) _,
                b = out(reg) _,
                c = out(reg) _,
                d = out(reg) _,
                options(nostack),
            );
        }
    }
    let tail = src.get(chunks..).unwrap_or(&[]);
    // SAFETY: the tail of the caller's range, disjoint from the slice.
    unsafe {
        core::ptr::copy_nonoverlapping(tail.as_ptr(), (dst + chunks as u64) as *mut u8, tail.len())
    };
}
