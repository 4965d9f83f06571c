//! The partition's RAM and the parts of it that are taken: the program's own
//! image (text, data, bss, stacks — everything the linker script places) and
//! the ranges the device tree reserves (the blob itself among them). What is
//! left is free for tests and programs to use.

use crate::devicetree::{self, DeviceTreeError};
use crate::memory_map::{self, IpaRange};
use platform::machine::{MemRange, MAX_RESERVED_RANGES};

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
