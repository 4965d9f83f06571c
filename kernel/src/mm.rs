//! Memory management of the core, all done at boot: the EL2 stage-1 identity
//! map (text RX, rodata R, data RW-NX, stacks with guard pages, RAM RW-NX,
//! devices), the boot heap, and table memory for partitions' stage-2 tables.

use core::alloc::Layout;
use core::cell::UnsafeCell;

use aarch64_cpu::registers::*;
use buddy_system_allocator::LockedHeap;
use kernel_core::pagetable::{self, Attrs, MapError, PageTable, Regime, TableMemory};
use kernel_core::MAX_CPUS;
use platform::machine::MemRange as Range;
use spin::Once;

use crate::arch::sysreg::{dsb_sy, isb};
use crate::arch::{boot::GUARD_SIZE, percpu::STACK_SIZE};

#[global_allocator]
static HEAP: LockedHeap<33> = LockedHeap::empty();

/// Gives `[start, start + size)` to the heap. Called once, after the map is on.
pub fn init_heap(start: usize, size: usize) {
    // SAFETY: the range is RAM reserved for the core (after the loaded image,
    // clear of every partition, checked by the caller) and mapped RW.
    unsafe { HEAP.lock().init(start, size) };
}

/// Table memory from the heap; physical = virtual under the identity map.
pub struct HeapTables;

impl TableMemory for HeapTables {
    fn alloc_table(&mut self) -> Option<u64> {
        let layout = Layout::from_size_align(4096, 4096).ok()?;
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
        (!p.is_null()).then_some(p as u64)
    }

    fn read(&self, table_pa: u64, index: usize) -> u64 {
        // SAFETY: `table_pa` came from `alloc_table` (identity mapped, 4 KiB),
        // and the builder keeps `index` below 512.
        unsafe { core::ptr::read_volatile((table_pa as *const u64).add(index % 512)) }
    }

    fn write(&mut self, table_pa: u64, index: usize, descriptor: u64) {
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile((table_pa as *mut u64).add(index % 512), descriptor) };
    }
}

/// Tables for the EL2 map, in .bss: used before the heap exists.
const BOOT_TABLES: usize = 48;

#[repr(C, align(4096))]
struct BootTables(UnsafeCell<[[u64; 512]; BOOT_TABLES]>);

// SAFETY: only the boot CPU writes these, before secondaries start; afterwards
// they are read by the MMU only.
unsafe impl Sync for BootTables {}

static BOOT_TABLE_POOL: BootTables = BootTables(UnsafeCell::new([[0; 512]; BOOT_TABLES]));

struct BootPool {
    used: usize,
}

impl TableMemory for BootPool {
    fn alloc_table(&mut self) -> Option<u64> {
        if self.used == BOOT_TABLES {
            return None;
        }
        // SAFETY: computing the address of a slot of the static pool.
        let p = unsafe { (*BOOT_TABLE_POOL.0.get()).as_mut_ptr().add(self.used) };
        self.used += 1;
        Some(p as u64)
    }

    fn read(&self, table_pa: u64, index: usize) -> u64 {
        // SAFETY: `table_pa` is a slot of the static pool; index < 512.
        unsafe { core::ptr::read_volatile((table_pa as *const u64).add(index % 512)) }
    }

    fn write(&mut self, table_pa: u64, index: usize, descriptor: u64) {
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile((table_pa as *mut u64).add(index % 512), descriptor) };
    }
}

extern "C" {
    static __image_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __stacks_start: u8;
    static __stacks_end: u8;
    static __image_end: u8;
}

fn sym(s: &u8) -> u64 {
    s as *const u8 as u64
}

/// Addresses of the loaded kernel's sections.
pub struct KernelLayout {
    /// Start of the image (the header).
    pub start: u64,
    /// End of text.
    pub text_end: u64,
    /// Start of read-only data.
    pub rodata_start: u64,
    /// End of read-only data.
    pub rodata_end: u64,
    /// Start of the stacks region.
    pub stacks_start: u64,
    /// End of the stacks region.
    pub stacks_end: u64,
    /// End of the kernel (bss and stacks included); the manifest follows.
    pub end: u64,
}

/// The running kernel's layout, from linker symbols.
pub fn kernel_layout() -> KernelLayout {
    // SAFETY: only the addresses of linker-defined symbols are taken.
    unsafe {
        KernelLayout {
            start: sym(&__image_start),
            text_end: sym(&__text_end),
            rodata_start: sym(&__rodata_start),
            rodata_end: sym(&__rodata_end),
            stacks_start: sym(&__stacks_start),
            stacks_end: sym(&__stacks_end),
            end: sym(&__image_end),
        }
    }
}

/// Register values every CPU loads to turn the EL2 MMU on.
#[derive(Clone, Copy, Debug)]
pub struct El2Translation {
    ttbr0: u64,
    tcr: u64,
}

static EL2_TRANSLATION: Once<El2Translation> = Once::new();

fn page_down(v: u64) -> u64 {
    v & !0xfff
}

fn page_up(v: u64) -> u64 {
    v.saturating_add(0xfff) & !0xfff
}

/// Maps the parts of `ram` outside `[hole_start, hole_end)` as RW-NX.
fn map_ram_around(
    table: &mut PageTable,
    pool: &mut BootPool,
    ram: Range,
    hole_start: u64,
    hole_end: u64,
) -> Result<(), MapError> {
    let start = page_down(ram.base);
    let end = page_down(ram.base.saturating_add(ram.size));
    let pieces = [
        (start, hole_start.min(end).max(start)),
        (hole_end.max(start).min(end), end),
    ];
    for (a, b) in pieces {
        if b > a {
            table.map(pool, a, a, b - a, Attrs::RW)?;
        }
    }
    Ok(())
}

/// Builds the EL2 identity map: kernel sections with their own rights, each
/// CPU's stack with an unmapped guard page below, all RAM RW-NX, `devices`
/// as device memory. Returns the register values to enable it.
pub fn build_el2_map(ram: &[Range], devices: &[Range], pa_bits: u8) -> Result<(), MapError> {
    let k = kernel_layout();
    let mut pool = BootPool { used: 0 };
    let va_bits = pa_bits.clamp(32, 48);
    let mut table = PageTable::new(&mut pool, Regime::El2Stage1, va_bits)?;
    table.map(&mut pool, k.start, k.start, k.text_end - k.start, Attrs::RX)?;
    table.map(
        &mut pool,
        k.rodata_start,
        k.rodata_start,
        k.rodata_end - k.rodata_start,
        Attrs::RO,
    )?;
    // Data and bss up to the stacks.
    table.map(
        &mut pool,
        k.rodata_end,
        k.rodata_end,
        k.stacks_start - k.rodata_end,
        Attrs::RW,
    )?;
    for cpu in 0..MAX_CPUS as u64 {
        let slot = k.stacks_start + cpu * (GUARD_SIZE + STACK_SIZE) as u64;
        let stack = slot + GUARD_SIZE as u64;
        table.map(&mut pool, stack, stack, STACK_SIZE as u64, Attrs::RW)?;
    }
    if k.end > k.stacks_end {
        table.map(
            &mut pool,
            k.stacks_end,
            k.stacks_end,
            k.end - k.stacks_end,
            Attrs::RW,
        )?;
    }
    for r in ram {
        map_ram_around(&mut table, &mut pool, *r, k.start, k.end)?;
    }
    for d in devices {
        let base = page_down(d.base);
        let size = page_up(d.base + d.size) - base;
        match table.map(&mut pool, base, base, size, Attrs::DEVICE) {
            Ok(()) | Err(MapError::AlreadyMapped { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let tcr = pagetable::tcr_el2(&table, pa_bits);
    EL2_TRANSLATION.call_once(|| El2Translation {
        ttbr0: table.root(),
        tcr,
    });
    Ok(())
}

/// Turns on this CPU's EL2 MMU with the map built by [`build_el2_map`]:
/// caches on, WXN so no writable page is ever executable (SCTLR_EL2, Arm ARM
/// D17.2.119).
pub fn enable_el2_mmu() {
    let Some(t) = EL2_TRANSLATION.get() else {
        return;
    };
    MAIR_EL2.set(pagetable::MAIR_EL2);
    TCR_EL2.set(t.tcr);
    TTBR0_EL2.set(t.ttbr0);
    dsb_sy();
    isb();
    crate::arch::cache::invalidate_el2_tlb_local();
    // RES1 bits (29:28, 23:22, 18, 16, 11, 5:4) | M | C | SA | I | WXN.
    const RES1: u64 = 0x30C5_0830;
    let sctlr = RES1 | 1 | 1 << 2 | 1 << 3 | 1 << 12 | 1 << 19;
    SCTLR_EL2.set(sctlr);
    isb();
}
