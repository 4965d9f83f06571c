//! Deliberate faults, for tests of the core's fault handling. They are safe:
//! neither touches memory the program owns.

use crate::devicetree::DeviceTreeError;
use crate::ram;
use core::arch::asm;

/// Why [`read_outside_ram`] did not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeRefused {
    /// The address is the partition's own RAM (or image).
    InsideRam,
    /// The RAM map is unknown.
    MemoryMap(DeviceTreeError),
}

/// Reads the 64-bit word at `ipa`, which must lie outside the partition's
/// RAM: under Bulkhead the read faults and the core stops the partition, so
/// it returns only if something is mapped there. Refuses addresses in RAM.
/// (Reading a device register can have device side effects.)
pub fn read_outside_ram(ipa: u64) -> Result<u64, ProbeRefused> {
    if ram::is_ram(ipa).map_err(ProbeRefused::MemoryMap)? {
        return Err(ProbeRefused::InsideRam);
    }
    // the address is outside every RAM region and the image, so no
    // Rust object lives there and the read cannot alias or race with one. It
    // is identity mapped (Device memory outside RAM), so the access reaches
    // stage 2; a fault goes to the core or to the runtime's vectors, neither of
    // which resumes here.
    // SAFETY: sound for the reasons just given.
    Ok(unsafe { (ipa as *const u64).read_volatile() })
}

/// Executes `UDF #0`, a permanently undefined instruction: the exception goes
/// to the runtime's vectors, which report it and abort the partition.
pub fn undefined_instruction() -> ! {
    // SAFETY: the Undefined Instruction exception is taken by the runtime's
    // vectors, which never return to a synchronous exception they do not
    // emulate; `noreturn` tells the compiler exactly that.
    unsafe { asm!("udf #0", options(noreturn, nostack)) }
}
