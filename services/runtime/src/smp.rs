//! Secondary vCPUs: which vCPU is running, and starting another one with PSCI
//! `CPU_ON` at the runtime's secondary entry, where it gets its own stack and
//! then runs the function registered for it.

use crate::entry::{self, MAX_VCPUS};
use crate::psci;
use aarch64_cpu::registers::{Readable, MPIDR_EL1};
use abi::Error;
use spin::Mutex;

/// What a secondary vCPU runs; gets its vCPU index.
pub type SecondaryMain = fn(usize) -> !;

static SECONDARY_MAINS: [Mutex<Option<SecondaryMain>>; MAX_VCPUS] =
    [const { Mutex::new(None) }; MAX_VCPUS];

/// MPIDR_EL1 of this vCPU.
pub fn mpidr() -> u64 {
    MPIDR_EL1.get()
}

/// This vCPU's index: MPIDR_EL1.Aff0 (the core numbers vCPUs flatly).
pub fn current_vcpu() -> usize {
    MPIDR_EL1.read(MPIDR_EL1::Aff0) as usize
}

/// Starts vCPU `index` (MPIDR Aff0 = `index`) running `main`. The core's
/// answer comes back as is: `AlreadyOn`, `OnPending`, `InvalidParameter` for
/// a vCPU the partition does not have. An index the runtime has no stack for
/// (≥ [`MAX_VCPUS`]) is refused with `InvalidParameter` without asking.
pub fn start_vcpu(index: usize, main: SecondaryMain) -> Result<(), Error> {
    let slot = SECONDARY_MAINS.get(index).ok_or(Error::InvalidParameter)?;
    *slot.lock() = Some(main);
    psci::cpu_on(index as u64, entry::secondary_entry_address(), index as u64)
}

/// The function registered for vCPU `index`.
pub(crate) fn registered_main(index: usize) -> Option<SecondaryMain> {
    *SECONDARY_MAINS.get(index)?.lock()
}

/// How many vCPUs the partition has (from its device tree; 1 if unreadable).
pub fn vcpu_count() -> usize {
    crate::devicetree::machine()
        .map_or(1, |machine| machine.cpus.len())
        .max(1)
}

/// Starts every other vCPU running `main` — how a service gets a context on
/// each CPU it serves. Returns how many started; a vCPU that fails to start
/// is reported on the console and skipped.
pub fn start_all_others(main: SecondaryMain) -> usize {
    let me = current_vcpu();
    let mut started = 0;
    for index in (0..vcpu_count()).filter(|&i| i != me) {
        match start_vcpu(index, main) {
            Ok(()) => started += 1,
            Err(e) => crate::println!("runtime: vCPU {index} did not start: {e:?}"),
        }
    }
    started
}
