//! A partition's private RAM and the stage-2 pages that map it: parked when
//! the partition is loaded, scrubbed a group of pages at a time on first
//! touch (or all at load, for partitions with passed-through devices), with
//! the boot blobs written in. The policy is `kernel_core::scrub`; this
//! applies it.
//!
//! The core writes a partition's RAM only here (the blobs), and only into
//! pages it scrubs first, so it never hands a partition another run's data.

use alloc::vec::Vec;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel_core::manifest::RegionDesc;
use kernel_core::pagetable::{Attrs, MapError, MemType, PageTable};
use kernel_core::scrub::{self, FirstTouch, ScrubTiming};
use spin::Mutex;

use crate::arch::sysreg::dsb_ishst;
use crate::arch::{bulk, cache};
use crate::mm::HeapTables;

/// Bytes of a register page (`abi::posted_mmio::REGISTER_PAGE`).
const REGISTER_PAGE_SIZE: u64 = abi::posted_mmio::REGISTER_PAGE;

/// One boot blob (kernel image, device tree, initrd) and its IPA.
#[derive(Clone, Copy, Debug)]
pub struct Blob<'a> {
    /// Where it goes in the partition's address space.
    pub ipa: u64,
    /// Its bytes, in the core's memory.
    pub bytes: &'a [u8],
}

impl Blob<'_> {
    fn ipa_range(&self) -> Range<u64> {
        self.ipa..self.ipa.saturating_add(self.bytes.len() as u64)
    }
}

/// The private RAM of one partition.
pub struct GuestRam {
    /// Its stage-2 tables. Held while a page is looked up and its group
    /// scrubbed and made valid, so two vCPUs touching one fresh group at
    /// once scrub it once: the second finds its page valid and only retries.
    stage2: Mutex<PageTable>,
    /// The private RAM regions (see [`scrub::is_private_ram`]).
    private: Vec<RegionDesc>,
    /// When they are scrubbed.
    timing: ScrubTiming,
    /// No vCPU has run since the tables were built: every private page is
    /// still parked as [`Self::new`] mapped it and no CPU holds a
    /// translation of the VMID, so the first load need not park again.
    pristine: AtomicBool,
}

impl GuestRam {
    /// The private RAM among `regions`, mapped in `stage2` with
    /// [`scrub::PRIVATE_RAM_MAPPING`] (parked), scrubbed as `timing` says.
    pub fn new(stage2: PageTable, regions: &[RegionDesc], timing: ScrubTiming) -> Self {
        Self {
            stage2: Mutex::new(stage2),
            private: regions
                .iter()
                .filter(|r| scrub::is_private_ram(r))
                .copied()
                .collect(),
            timing,
            pristine: AtomicBool::new(true),
        }
    }

    /// Prepares the RAM for a (re)start; none of the partition's vCPUs may
    /// run. Parks every private page again, so nothing of the previous run
    /// stays reachable, and invalidates the TLB entries of `vttbr`'s VMID
    /// on every CPU. Then scrubs the groups `blobs` land in, except where
    /// the blobs go, copies the blobs in and makes those groups valid; with
    /// [`ScrubTiming::AtLoad`] it scrubs every other page too. Pages it
    /// leaves parked are scrubbed on first touch ([`Self::first_touch`]).
    /// Everything it writes is cleaned to the point of coherency, for a
    /// guest that starts with its MMU and caches off.
    pub fn reload<const N: usize>(&self, vttbr: u64, blobs: [Blob<'_>; N]) {
        let mut stage2 = self.stage2.lock();
        let mut tables = HeapTables;
        // The first load after boot finds every page parked already (a walk
        // of every page descriptor and a TLB flush saved: 65,536 pages for
        // 256 MiB).
        let pristine = self.pristine.swap(false, Ordering::AcqRel);
        for r in self.private.iter().filter(|_| !pristine) {
            if stage2.park(&mut tables, r.ipa, r.size).is_err() {
                // Cannot happen: the region was mapped whole, with pages
                // inside it, when the partition was built, so parking needs
                // no split (the only way it can fail). Should it fail, the
                // pages stay valid: scrub the whole region now instead.
                // SAFETY: the region's memory belongs to this partition
                // alone (checked at boot), is mapped RW at EL2, and no vCPU
                // of it runs while it is loaded.
                unsafe { bulk::zero(r.pa, r.size) };
                cache::clean_invalidate_to_poc(r.pa, r.size);
            }
        }
        // Parking turned valid pages invalid: no CPU may keep a
        // translation to RAM that still holds the previous run's data.
        // TLBI VMALLS12E1IS (Arm ARM C5.5, "A64 System instructions for TLB
        // maintenance") removes every stage-1 and stage-2 entry of the VMID
        // in VTTBR_EL2 on all CPUs of the Inner Shareable domain with one
        // instruction; `flush_guest_tlb` loads the partition's VTTBR_EL2
        // around it (DSB ISH before and after, ISB). The per-IPA
        // alternative, TLBI IPAS2E1IS for each page, would be one
        // instruction per 4 KiB and still need TLBI VMALLE1IS (under the
        // same VMID) for the cached stage-1+2 translations, which
        // IPAS2E1IS does not remove (Arm ARM, "TLB maintenance
        // instructions", the sequence required after a stage 2 change).
        if !pristine {
            crate::cpu::flush_guest_tlb(vttbr);
        }

        // Where blobs go: those parts of their groups are not zeroed.
        let filled = blobs.map(|b| match self.private_pa(b.ipa_range()) {
            Some(_) => b.ipa_range(),
            None => 0..0,
        });
        for blob in blobs {
            let range = blob.ipa_range();
            let Some(pa) = self.private_pa(range.clone()) else {
                continue;
            };
            if let Some(region) = self.private_region(range.start) {
                let groups = scrub::group(range, region);
                scrub_parked(&mut stage2, groups, &filled);
            }
            // The blob lives in the core's memory, disjoint from partition RAM.
            // SAFETY: `private_pa` found the range inside one private RAM region
            // of this partition (its own, mapped RW at EL2, no vCPU running).
            unsafe { bulk::copy(pa, blob.bytes) };
            cache::clean_invalidate_to_poc(pa, blob.bytes.len() as u64);
        }

        if self.timing == ScrubTiming::AtLoad {
            for r in &self.private {
                scrub_parked(&mut stage2, region_ipas(r), &[]);
            }
        }
        // The partition's first vCPU may start on another CPU: make the
        // descriptor stores visible to its table walks.
        dsb_ishst();
        cache::invalidate_icache_all();
    }

    /// A stage-2 abort with fault status `fault_status` (DFSC/IFSC) at `ipa`
    /// from one of the partition's vCPUs: if it is the first touch of a
    /// parked page, zeroes the parked pages of its scrub group, cleans them
    /// to the point of coherency and makes them valid. Returns true if the
    /// vCPU should retry the access (its PC unchanged): the page is valid
    /// now, scrubbed by this call or by another vCPU's. False: the abort is
    /// the partition's fault.
    pub fn first_touch(&self, ipa: u64, fault_status: u8) -> bool {
        let Some(region) = self.private_region(ipa) else {
            return false;
        };
        let mut stage2 = self.stage2.lock();
        // Decided under the lock: a vCPU that faulted in the same group on
        // another CPU may have scrubbed it meanwhile.
        let leaf = stage2.leaf(&HeapTables, ipa);
        match scrub::first_touch(fault_status, ipa, region, leaf) {
            FirstTouch::Scrub(group) => {
                scrub_parked(&mut stage2, group, &[]);
                // Invalid to valid needs no TLB maintenance (a TLB holds no
                // entry that faults, Arm ARM D8.14): the stores only have to
                // reach the table walkers before the vCPU retries.
                dsb_ishst();
                true
            }
            FirstTouch::Retry => true,
            FirstTouch::NotScrubbing => false,
        }
    }

    /// Maps the 4 KiB frame at `pa` read-only, never executable, at `ipa`
    /// (4 KiB aligned, where nothing is mapped): a device window's register
    /// page (`posted_mmio`). Invalid to valid: no TLB maintenance, only a
    /// `DSB ISHST` so table walks see it.
    pub fn map_register_page(&self, ipa: u64, pa: u64) -> Result<(), MapError> {
        let attrs = Attrs {
            read: true,
            write: false,
            exec: false,
            mem: MemType::Normal,
        };
        let mapped = self
            .stage2
            .lock()
            .map(&mut HeapTables, ipa, pa, REGISTER_PAGE_SIZE, attrs);
        dsb_ishst();
        mapped
    }

    /// Unmaps what [`Self::map_register_page`] mapped at `ipa`; the caller
    /// then invalidates the partition's TLB entries on every CPU.
    pub fn unmap_register_page(&self, ipa: u64) -> Result<(), MapError> {
        self.stage2
            .lock()
            .unmap(&mut HeapTables, ipa, REGISTER_PAGE_SIZE)
    }

    /// The IPAs of the private RAM region holding `ipa`.
    fn private_region(&self, ipa: u64) -> Option<Range<u64>> {
        self.private
            .iter()
            .find(|r| ipa.wrapping_sub(r.ipa) < r.size)
            .map(region_ipas)
    }

    /// Physical address of `range` if it lies inside one private RAM region.
    fn private_pa(&self, range: Range<u64>) -> Option<u64> {
        self.private.iter().find_map(|r| {
            let offset = range.start.checked_sub(r.ipa)?;
            let end = range.end.checked_sub(r.ipa)?;
            (end <= r.size && offset <= end).then_some(r.pa + offset)
        })
    }
}

/// The IPAs a region covers.
fn region_ipas(region: &RegionDesc) -> Range<u64> {
    region.ipa..region.ipa.saturating_add(region.size)
}

/// Scrubs every parked page that `range` (in private RAM) overlaps, except
/// where `filled` (IPAs of the blobs about to be copied in) says blobs go,
/// and makes it valid: one pass over the descriptors, each run of
/// consecutive parked pages zeroed, then cleaned and invalidated to the
/// point of coherency, so a guest running with its MMU or caches off reads
/// the zeros too, and only then stored valid (the final DSB of the clean
/// orders the zeros before those stores). Pages already valid are left
/// alone: they may hold what the partition wrote.
fn scrub_parked(stage2: &mut PageTable, range: Range<u64>, filled: &[Range<u64>]) {
    stage2.activate_parked(&mut HeapTables, range, |run| {
        scrub::unfilled(run.va..run.va + run.size, filled, |gap| {
            let pa = run.pa + (gap.start - run.va);
            let len = gap.end - gap.start;
            // SAFETY: the run maps private RAM of one partition (its own
            // memory, mapped RW at EL2); it is parked, so no vCPU can reach
            // it, and nothing relies on what it holds.
            unsafe { bulk::zero(pa, len) };
            cache::clean_invalidate_to_poc(pa, len);
        });
    });
}
