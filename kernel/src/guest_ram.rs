//! A partition's private RAM and the stage-2 pages that map it: parked when
//! the partition is loaded, and filled a group of pages at a time on first
//! touch (or all at load, for partitions with passed-through devices that
//! may master DMA): the boot blobs' bytes where they go, zero elsewhere. The
//! policy is `kernel_core::scrub`; this applies it.
//!
//! The core writes a partition's RAM only here, and only into parked pages
//! it fills whole before making them valid, so it never hands a partition
//! another run's data. The blobs stay pristine in the core's memory: every
//! run fills from them, so a guest that wrote over its kernel finds it
//! intact after a restart.

use alloc::vec::Vec;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel_core::manifest::RegionDesc;
use kernel_core::pagetable::{Attrs, MapError, MemType, PageTable};
use kernel_core::scrub::{self, FirstTouch, ScrubTiming, Source};
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
    /// filled and made valid, so two vCPUs touching one fresh group at once
    /// fill it once: the second finds its page valid and only retries.
    stage2: Mutex<PageTable>,
    /// The private RAM regions (see [`scrub::is_private_ram`]).
    private: Vec<RegionDesc>,
    /// When they are filled.
    timing: ScrubTiming,
    /// The boot blobs that lie inside one private RAM region (others are
    /// not written anywhere), in the order they lie on top of each other.
    blobs: Vec<Blob<'static>>,
    /// Their IPA ranges, for [`scrub::fill`].
    blob_ipas: Vec<Range<u64>>,
    /// No vCPU has run since the tables were built: every private page is
    /// still parked as [`Self::new`] mapped it and no CPU holds a
    /// translation of the VMID, so the first load need not park again.
    pristine: AtomicBool,
}

impl GuestRam {
    /// The private RAM among `regions`, mapped in `stage2` with
    /// [`scrub::PRIVATE_RAM_MAPPING`] (parked), filled as `timing` says,
    /// with the boot `blobs` (image, device tree, initrd) written in at
    /// every (re)start; a later blob lies over an earlier one. A blob that
    /// does not lie inside one private RAM region is not written.
    pub fn new(
        stage2: PageTable,
        regions: &[RegionDesc],
        timing: ScrubTiming,
        blobs: &[Blob<'static>],
    ) -> Self {
        let private: Vec<RegionDesc> = regions
            .iter()
            .filter(|r| scrub::is_private_ram(r))
            .copied()
            .collect();
        let blobs: Vec<Blob<'static>> = blobs
            .iter()
            .filter(|b| in_one_region(&private, b.ipa_range()))
            .copied()
            .collect();
        Self {
            stage2: Mutex::new(stage2),
            private,
            timing,
            blob_ipas: blobs.iter().map(Blob::ipa_range).collect(),
            blobs,
            pristine: AtomicBool::new(true),
        }
    }

    /// Prepares the RAM for a (re)start; none of the partition's vCPUs may
    /// run. Parks every private page again, so nothing of the previous run
    /// stays reachable, and invalidates the TLB entries of `vttbr`'s VMID
    /// on every CPU. With [`ScrubTiming::OnFirstTouch`] that is all: each
    /// group is filled (blob bytes, zeroes) on its first touch
    /// ([`Self::first_touch`]), from the pristine blobs, so a load copies
    /// nothing. With [`ScrubTiming::AtLoad`] every page is filled now.
    pub fn reload(&self, vttbr: u64) {
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
                // pages stay valid: fill the whole region now instead.
                self.fill(region_ipas(r), r.pa);
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

        if self.timing == ScrubTiming::AtLoad {
            for r in &self.private {
                self.fill_parked(&mut stage2, region_ipas(r));
            }
        }
        // The partition's first vCPU may start on another CPU: make the
        // descriptor stores visible to its table walks.
        dsb_ishst();
        // No CPU may fetch the previous run's instructions from this RAM:
        // once this is done, none can fetch from it at all until a fill
        // makes a page valid (parked pages translate nowhere, and the EL2
        // map has RAM execute-never).
        cache::invalidate_icache_all();
    }

    /// A stage-2 abort with fault status `fault_status` (DFSC/IFSC) at `ipa`
    /// from one of the partition's vCPUs: if it is the first touch of a
    /// parked page, fills the parked pages of its scrub group (blob bytes
    /// where blobs go, zero elsewhere), cleans them to the point of
    /// coherency and makes them valid. Returns true if the vCPU should
    /// retry the access (its PC unchanged): the page is valid now, filled
    /// by this call or by another vCPU's. False: the abort is the
    /// partition's fault.
    pub fn first_touch(&self, ipa: u64, fault_status: u8) -> bool {
        let Some(region) = self.private_region(ipa) else {
            return false;
        };
        let mut stage2 = self.stage2.lock();
        // Decided under the lock: a vCPU that faulted in the same group on
        // another CPU may have filled it meanwhile.
        let leaf = stage2.leaf(&HeapTables, ipa);
        match scrub::first_touch(fault_status, ipa, region, leaf) {
            FirstTouch::Scrub(group) => {
                self.fill_parked(&mut stage2, group);
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

    /// Fills every parked page that `range` (in private RAM) overlaps and
    /// makes it valid: one pass over the descriptors, each run of
    /// consecutive parked pages filled ([`Self::fill`]) before it is stored
    /// valid. Pages already valid are left alone: they may hold what the
    /// partition wrote.
    fn fill_parked(&self, stage2: &mut PageTable, range: Range<u64>) {
        stage2.activate_parked(&mut HeapTables, range, |run| {
            self.fill(run.va..run.va.saturating_add(run.size), run.pa);
        });
    }

    /// Writes what the private RAM at `ipas` (at physical `pa` on) holds
    /// when the partition starts, per [`scrub::fill`]: the blobs' bytes
    /// where they go, zero elsewhere, each byte once. Then cleans and
    /// invalidates it to the point of coherency, so a guest running with
    /// its MMU or caches off reads it too (the clean's final DSB also
    /// orders the bytes before the caller's descriptor stores), and where a
    /// blob went, which may be code, makes it visible to instruction
    /// fetches: the guest's first touch may be a fetch from it.
    fn fill(&self, ipas: Range<u64>, pa: u64) {
        let mut wrote_blob = false;
        scrub::fill(ipas.clone(), &self.blob_ipas, |part, source| {
            let dst = pa + (part.start - ipas.start);
            let len = part.end - part.start;
            let bytes = match source {
                Source::Zero => None,
                Source::Blob { index, offset } => self.blob_bytes(index, offset, len),
            };
            match bytes {
                Some(bytes) => {
                    wrote_blob = true;
                    // The blob lives in the core's memory, apart from all
                    // partition RAM.
                    // SAFETY: the part is this partition's private RAM (RW
                    // at EL2), parked or with no vCPU running.
                    unsafe { bulk::copy(dst, bytes) };
                }
                // SAFETY: as for the copy.
                None => unsafe { bulk::zero(dst, len) },
            }
        });
        let len = ipas.end - ipas.start;
        cache::clean_invalidate_to_poc(pa, len);
        if wrote_blob {
            cache::invalidate_icache_range(pa, len);
        }
    }

    /// `len` bytes of blob `index` from `offset`. Always some for a part
    /// [`scrub::fill`] names (it lies inside the blob); were it none, the
    /// part is zeroed, which hands out nothing.
    fn blob_bytes(&self, index: usize, offset: u64, len: u64) -> Option<&'static [u8]> {
        let blob = self.blobs.get(index)?;
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        blob.bytes.get(start..end)
    }
}

/// Does `range` lie inside one of the `private` regions?
fn in_one_region(private: &[RegionDesc], range: Range<u64>) -> bool {
    private.iter().any(|r| {
        let region = region_ipas(r);
        region.start <= range.start && range.start <= range.end && range.end <= region.end
    })
}

/// The IPAs a region covers.
fn region_ipas(region: &RegionDesc) -> Range<u64> {
    region.ipa..region.ipa.saturating_add(region.size)
}
