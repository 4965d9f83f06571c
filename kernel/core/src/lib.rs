//! Policy of the Bulkhead EL2 core, free of hardware access so that it runs and is
//! tested on the host: the boot manifest, page-table building, scheduling, PSCI
//! emulation, trap-syndrome decoding, RAM scrubbing and secondary-CPU release.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;

pub mod captable;
pub mod cpu_boot;
pub mod esr;
pub mod ipc;
pub mod manifest;
pub mod pagetable;
pub mod posted_mmio;
pub mod psci;
pub mod restart;
pub mod sched;
pub mod scrub;
pub mod sysregs;
pub mod uart_claim;
pub mod vgic;
pub mod xxh64;

/// Most physical CPUs the core drives.
pub const MAX_CPUS: usize = 8;
