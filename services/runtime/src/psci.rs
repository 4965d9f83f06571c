//! PSCI (Arm DEN0022) as the core offers it to partitions, over `HVC #0` (the
//! `method = "hvc"` of the generated device tree) — or, in [`crate::native`]
//! mode, over the conduit the machine's own tree names. Calls whose numeric
//! answer is the point (versions, feature queries) return it raw; the others
//! return `Result`s.

use crate::hvc::raw_call;
use crate::{native, smccc};
use abi::{psci as ids, smccc as arch, Error};

fn call(function: u32, args: [u64; 3]) -> [u64; 4] {
    let [a1, a2, a3] = args;
    raw_call(native::psci_conduit(), function, [a1, a2, a3, 0, 0, 0])
}

/// PSCI_VERSION: major in bits \[31:16\], minor in \[15:0\].
pub fn version() -> u32 {
    call(ids::VERSION, [0; 3])[0] as u32
}

/// SMCCC_VERSION, as the raw status (a version, or NOT_SUPPORTED).
pub fn smccc_version() -> i64 {
    smccc::return_code(arch::SMCCC_VERSION, call(arch::SMCCC_VERSION, [0; 3])[0])
}

/// PSCI_FEATURES(`function`): 0 (or feature flags) if implemented,
/// NOT_SUPPORTED (-1) otherwise.
pub fn features(function: u32) -> i64 {
    smccc::return_code(
        ids::FEATURES,
        call(ids::FEATURES, [u64::from(function), 0, 0])[0],
    )
}

/// MIGRATE_INFO_TYPE, raw.
pub fn migrate_info_type() -> i64 {
    smccc::return_code(
        ids::MIGRATE_INFO_TYPE,
        call(ids::MIGRATE_INFO_TYPE, [0; 3])[0],
    )
}

/// CPU_ON (SMC64): starts the vCPU with MPIDR `target` at `entry`, x0 =
/// `context`. Crate-private: the entry must be the runtime's own.
pub(crate) fn cpu_on(target: u64, entry: u64, context: u64) -> Result<(), Error> {
    smccc::status(
        ids::CPU_ON_64,
        call(ids::CPU_ON_64, [target, entry, context])[0],
    )
    .map(|_| ())
}

/// CPU_OFF: stops the calling vCPU. Returns only if the core refused.
pub fn cpu_off() -> Error {
    match smccc::status(ids::CPU_OFF, call(ids::CPU_OFF, [0; 3])[0]) {
        Err(error) => error,
        // A successful CPU_OFF does not return; returning with SUCCESS breaks
        // the PSCI contract.
        Ok(_) => Error::InternalFailure,
    }
}

/// What AFFINITY_INFO says about a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffinityState {
    /// Running.
    On,
    /// Off.
    Off,
    /// CPU_ON accepted, not running yet.
    OnPending,
}

/// AFFINITY_INFO (SMC64, affinity level 0) for the vCPU with MPIDR `target`.
pub fn affinity_info(target: u64) -> Result<AffinityState, Error> {
    let code = smccc::status(
        ids::AFFINITY_INFO_64,
        call(ids::AFFINITY_INFO_64, [target, 0, 0])[0],
    )?;
    match code as i64 {
        ids::affinity::ON => Ok(AffinityState::On),
        ids::affinity::OFF => Ok(AffinityState::Off),
        ids::affinity::ON_PENDING => Ok(AffinityState::OnPending),
        _ => Err(Error::InternalFailure),
    }
}

/// SYSTEM_OFF: stops the whole partition.
pub fn system_off() -> ! {
    call(ids::SYSTEM_OFF, [0; 3]);
    park()
}

/// SYSTEM_RESET: restarts the partition from its pristine image.
pub fn system_reset() -> ! {
    call(ids::SYSTEM_RESET, [0; 3]);
    park()
}

/// Stops this vCPU for good when a power call unexpectedly returned (no
/// hypervisor and no PSCI): interrupts masked, waiting forever.
pub fn park() -> ! {
    crate::irq::disable();
    loop {
        aarch64_cpu::asm::wfi();
    }
}
