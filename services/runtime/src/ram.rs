//! The partition's RAM and the parts of it that are taken: the program's own
//! image (text, data, bss, stacks — everything the linker script places) and
//! the ranges the device tree reserves (the blob itself among them). What is
//! left is free for tests and programs to use.

use core::sync::atomic::AtomicU64;

use crate::devicetree::{self, DeviceTreeError};
use crate::memory_map::{self, IpaRange};
use platform::machine::{MemRange, MAX_MEMORY_RANGES, MAX_RESERVED_RANGES};
use spin::{Mutex, MutexGuard};

extern "C" {
    /// First byte of the image (linker script).
    static __image_start: u8;
    /// First byte after the image, stacks included (linker script).
    static __image_end: u8;
}

/// The program's own image, stacks included.
pub fn image() -> IpaRange {
    IpaRange {
        start: (&raw const __image_start) as u64,
        end: (&raw const __image_end) as u64,
    }
}

fn ipa_range(range: &MemRange) -> IpaRange {
    IpaRange::from_start_size(range.base, range.size).unwrap_or(IpaRange {
        start: range.base,
        end: u64::MAX,
    })
}

/// Calls `visit` with each piece of RAM that is neither the image nor reserved.
pub fn for_each_free_piece(mut visit: impl FnMut(IpaRange)) -> Result<(), DeviceTreeError> {
    let machine = devicetree::machine()?;
    let empty = IpaRange { start: 0, end: 0 };
    let mut holes = [empty; 1 + MAX_RESERVED_RANGES];
    for (hole, taken) in holes
        .iter_mut()
        .zip(core::iter::once(image()).chain(machine.reserved.as_slice().iter().map(ipa_range)))
    {
        *hole = taken;
    }
    for region in machine.memory.as_slice() {
        memory_map::for_each_free_piece(ipa_range(region), &holes, &mut visit);
    }
    Ok(())
}

/// Is `address` in the partition's RAM (per the device tree) or its image?
pub fn is_ram(address: u64) -> Result<bool, DeviceTreeError> {
    let machine = devicetree::machine()?;
    let in_memory = machine
        .memory
        .as_slice()
        .iter()
        .any(|region| ipa_range(region).contains(address));
    Ok(in_memory || image().contains(address))
}

/// Held by whatever reaches free RAM with raw memory accesses (the RAM test,
/// a [`FreeRam`]), so no two of them touch the same words at once.
static FREE_RAM_CLAIM: Mutex<()> = Mutex::new(());

/// Claims free RAM for raw accesses; `None` while another claim holds it.
pub(crate) fn claim_free_ram() -> Option<MutexGuard<'static, ()>> {
    FREE_RAM_CLAIM.try_lock()
}

/// Most free pieces: each memory range split by the image and every
/// reserved range.
const MAX_FREE_PIECES: usize = MAX_MEMORY_RANGES * (2 + MAX_RESERVED_RANGES);

/// Why [`FreeRam::claim`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeRamUnavailable {
    /// The RAM map is unknown.
    MemoryMap(DeviceTreeError),
    /// A RAM test or another `FreeRam` holds it.
    Busy,
}

/// The partition's free RAM (see [`for_each_free_piece`]) a word at a time,
/// for programs that check what memory holds: what the core hands a
/// partition, what survives a restart. Words are atomics, so vCPUs may
/// share them; the claim keeps the RAM test out while it lives.
pub struct FreeRam {
    pieces: [IpaRange; MAX_FREE_PIECES],
    count: usize,
    _claim: MutexGuard<'static, ()>,
}

impl FreeRam {
    /// Claims the free RAM.
    pub fn claim() -> Result<Self, FreeRamUnavailable> {
        let claim = claim_free_ram().ok_or(FreeRamUnavailable::Busy)?;
        let empty = IpaRange { start: 0, end: 0 };
        let mut pieces = [empty; MAX_FREE_PIECES];
        let mut count = 0;
        for_each_free_piece(|piece| {
            if let Some(slot) = pieces.get_mut(count) {
                *slot = piece;
                count += 1;
            }
        })
        .map_err(FreeRamUnavailable::MemoryMap)?;
        Ok(Self {
            pieces,
            count,
            _claim: claim,
        })
    }

    /// The free pieces, in ascending order.
    pub fn pieces(&self) -> &[IpaRange] {
        self.pieces.get(..self.count).unwrap_or(&[])
    }

    /// The word at `address`, if it is 8-byte aligned and lies in a free
    /// piece.
    pub fn word(&self, address: u64) -> Option<&AtomicU64> {
        if !address.is_multiple_of(8)
            || !self.pieces().iter().any(|piece| word_fits(piece, address))
        {
            return None;
        }
        // the word lies in free RAM: outside the image (every Rust object
        // and stack), the device tree and reserved ranges, so nothing else
        // in the program refers to it, and the claim keeps raw non-atomic
        // accesses (the RAM test) away while `self` lives. It is identity
        // mapped RAM and 8-byte aligned, as `AtomicU64` needs.
        // SAFETY: sound for the reasons just given.
        Some(unsafe { AtomicU64::from_ptr(address as *mut u64) })
    }
}

/// Does the word at `address` lie wholly inside `piece`?
fn word_fits(piece: &IpaRange, address: u64) -> bool {
    piece.contains(address) && address.checked_add(8).is_some_and(|end| end <= piece.end)
}
