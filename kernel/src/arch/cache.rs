//! Cache and TLB maintenance (Arm ARM D7.5 and D8.13): what the core must do
//! after writing memory a guest will read with its MMU off, and after changing
//! translation tables.

use super::sysreg::{dsb_ish, dsb_sy, isb, read_sysreg};

/// Smallest data-cache line size, from CTR_EL0.DminLine.
fn dcache_line() -> u64 {
    let ctr = read_sysreg!("ctr_el0");
    4 << ((ctr >> 16) & 0xf)
}

/// Cleans and invalidates `[addr, addr + len)` to the point of coherency, so a
/// guest running with caches off (or another CPU with its MMU off) sees it.
pub fn clean_invalidate_to_poc(addr: u64, len: u64) {
    for_each_line(addr, len, dcache_line(), |p| {
        // SAFETY: DC CIVAC on a mapped address only affects cache state.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) p, options(nostack, preserves_flags)) };
    });
    dsb_sy();
}

/// Calls `op` with the first address of each `line`-byte cache line (a
/// power of two) that `[addr, addr + len)` overlaps: maintenance by address
/// acts on whole lines.
fn for_each_line(addr: u64, len: u64, line: u64, mut op: impl FnMut(u64)) {
    let mut p = addr & !(line - 1);
    let end = addr.saturating_add(len);
    while p < end {
        op(p);
        p += line;
    }
}

/// Makes the bytes of `[addr, addr + len)`, written and already cleaned to
/// the point of unification (or further: `clean_invalidate_to_poc`), visible
/// to instruction fetches on every CPU, so a guest may execute them: the
/// sequence for writing instructions (Arm ARM B2, "Concurrent modification
/// and execution of instructions", and D7.5 on instruction cache
/// maintenance) after its clean and DSB is `IC IVAU` over the range,
/// `DSB ISH`, `ISB`. `IC IVAU` acts on every CPU of the Inner Shareable
/// domain.
///
/// CTR_EL0 (Arm ARM, "CTR_EL0, Cache Type Register") says how: with DIC
/// set, instruction fetches are coherent with the data cache and nothing
/// needs invalidating. By address only when L1Ip says the instruction cache
/// is PIPT: a VIPT one may hold a line under a virtual alias the core's
/// address does not reach, so it is invalidated whole (`IC IALLUIS`), as
/// Linux does for an aliasing one.
pub fn invalidate_icache_range(addr: u64, len: u64) {
    const CTR_DIC: u64 = 1 << 29;
    const CTR_L1IP_SHIFT: u32 = 14;
    const CTR_L1IP_PIPT: u64 = 0b11;
    let ctr = read_sysreg!("ctr_el0");
    if ctr & CTR_DIC != 0 {
        dsb_ish();
        isb();
        return;
    }
    if (ctr >> CTR_L1IP_SHIFT) & 0b11 != CTR_L1IP_PIPT {
        invalidate_icache_all();
        return;
    }
    // IminLine (bits 3:0): log2 of the smallest instruction-cache line in
    // 4-byte words.
    for_each_line(addr, len, 4 << (ctr & 0xf), |p| {
        // SAFETY: IC IVAU on a mapped address only affects cache state.
        unsafe { core::arch::asm!("ic ivau, {}", in(reg) p, options(nostack, preserves_flags)) };
    });
    dsb_ish();
    isb();
}

/// Invalidates the whole instruction cache (inner shareable), after new code
/// was written for a guest.
pub fn invalidate_icache_all() {
    // SAFETY: IC IALLUIS only affects cache state.
    unsafe { core::arch::asm!("ic ialluis", options(nostack, preserves_flags)) };
    dsb_ish();
    isb();
}

/// Invalidates all stage-1 and stage-2 TLB entries of the VMID currently in
/// VTTBR_EL2, on every CPU (TLBI VMALLS12E1IS).
pub fn invalidate_guest_tlb_current_vmid() {
    dsb_ish();
    // SAFETY: TLB maintenance only affects translation caches.
    unsafe { core::arch::asm!("tlbi vmalls12e1is", options(nostack, preserves_flags)) };
    dsb_ish();
    isb();
}

/// Invalidates all EL2 TLB entries on this CPU.
pub fn invalidate_el2_tlb_local() {
    dsb_sy();
    // SAFETY: TLB maintenance only affects translation caches.
    unsafe { core::arch::asm!("tlbi alle2", options(nostack, preserves_flags)) };
    dsb_sy();
    isb();
}
