//! The partition's RAM and the parts of it the program itself occupies: its
//! image (text, data, bss, stacks — everything the linker script places) and
//! the device tree. What is left is free for tests and programs to use.

use crate::devicetree;
use crate::memory_map::{self, IpaRange};

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

/// Why the runtime cannot say which RAM is free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryMapError {
    /// There is no device tree to say where RAM is.
    NoDeviceTree,
    /// The blob reserves more ranges than the runtime keeps track of.
    TooManyReservations,
}

/// Most memory reservations the free-RAM computation honours.
const MAX_RESERVATIONS: usize = 6;

/// Calls `visit` with each piece of RAM that is neither the image, nor the
/// device tree, nor reserved in the blob's `/memreserve/` block.
pub fn for_each_free_piece(mut visit: impl FnMut(IpaRange)) -> Result<(), MemoryMapError> {
    let empty = IpaRange { start: 0, end: 0 };
    let mut holes = [empty; 2 + MAX_RESERVATIONS];
    holes[0] = image();
    holes[1] = devicetree::blob_range().unwrap_or(empty);
    let mut reserved = holes.iter_mut().skip(2);
    let mut overflow = false;
    devicetree::for_each_reservation(|range| match reserved.next() {
        Some(slot) => *slot = range,
        None => overflow = true,
    });
    if overflow {
        return Err(MemoryMapError::TooManyReservations);
    }
    let found = devicetree::for_each_memory_region(|region| {
        memory_map::for_each_free_piece(region, &holes, &mut visit);
    });
    if found {
        Ok(())
    } else {
        Err(MemoryMapError::NoDeviceTree)
    }
}

/// Is `address` in the partition's RAM (per the device tree) or its image?
pub fn is_ram(address: u64) -> Result<bool, MemoryMapError> {
    let mut inside = image().contains(address);
    if !devicetree::for_each_memory_region(|region| inside |= region.contains(address)) {
        return Err(MemoryMapError::NoDeviceTree);
    }
    Ok(inside)
}
