//! The device tree the core generates for the partition and hands vCPU 0 in
//! x0: where it is, its boot arguments, and what it says about the machine —
//! read by the same [`platform::machine`] reader the core uses for the board's
//! tree (RAM, reserved ranges, the GIC, a PL011, the timer PPIs), once, and
//! kept.

use crate::bootargs::BootArgs;
use core::sync::atomic::{AtomicUsize, Ordering};
use fdt::Fdt;
use platform::machine::{self, Machine, MachineError};

/// The IPA of the device tree blob (0: none recorded).
static ADDRESS: AtomicUsize = AtomicUsize::new(0);

/// The machine description, read on first use.
static MACHINE: spin::Once<Result<Machine, DeviceTreeError>> = spin::Once::new();

/// Bytes of the header [`machine::blob_size`] reads: magic and `totalsize`.
const SIZE_HEADER_LEN: usize = 8;
/// The device tree specification requires 8-byte alignment of the blob.
const BLOB_ALIGNMENT: usize = 8;

/// Why the device tree cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceTreeError {
    /// vCPU 0 was given no (or a misaligned) device tree address.
    Missing,
    /// The blob is malformed or lacks something the runtime needs.
    Machine(MachineError),
}

/// Records x0 of vCPU 0.
pub(crate) fn record(address: usize) {
    ADDRESS.store(address, Ordering::Relaxed);
}

/// The IPA vCPU 0 was given, if any.
pub fn address() -> Option<usize> {
    Some(ADDRESS.load(Ordering::Relaxed)).filter(|&address| address != 0)
}

/// The blob's bytes, exactly `totalsize` long.
pub fn blob() -> Result<&'static [u8], DeviceTreeError> {
    let address = address()
        .filter(|address| address.is_multiple_of(BLOB_ALIGNMENT))
        .ok_or(DeviceTreeError::Missing)?;
    // by the boot contract x0 is the IPA of a flattened device tree in
    // the partition's RAM, identity mapped by the runtime, so its header can be
    // read; the core never changes the blob and the runtime never writes it
    // (the RAM test skips reserved ranges, which include it).
    // SAFETY: sound for the reasons just given.
    let header = unsafe { core::slice::from_raw_parts(address as *const u8, SIZE_HEADER_LEN) };
    let size = machine::blob_size(header).map_err(DeviceTreeError::Machine)?;
    // SAFETY: as above, for the `totalsize` bytes the header declares (at most
    // the boot protocol's 2 MiB, checked by `blob_size`).
    Ok(unsafe { core::slice::from_raw_parts(address as *const u8, size) })
}

/// What the device tree says about the partition's machine.
pub fn machine() -> Result<&'static Machine, DeviceTreeError> {
    MACHINE
        .call_once(|| {
            let blob = blob()?;
            Machine::from_fdt_at(blob, blob.as_ptr() as u64).map_err(DeviceTreeError::Machine)
        })
        .as_ref()
        .map_err(|error| *error)
}

/// `/chosen/bootargs`, or an empty command line.
pub fn bootargs() -> BootArgs<'static> {
    let text = blob().ok().and_then(|blob| {
        // `machine()` has checked the blob's structure before anything here
        // walks it.
        machine().ok()?;
        let tree = Fdt::new(blob).ok()?;
        tree.find_node("/chosen")?.property("bootargs")?.as_str()
    });
    BootArgs::new(text.unwrap_or(""))
}

/// The value of `key=value` in the boot arguments.
pub fn bootarg_value(key: &str) -> Option<&'static str> {
    bootargs().value(key)
}
