//! Everything that touches the CPU directly: entry code, vectors, per-CPU
//! data, context switching of EL1 and FP state, caches and TLBs, firmware
//! calls. The only place in the core with assembly.

pub mod boot;
pub mod bulk;
pub mod cache;
pub mod context;
pub mod crc32;
pub mod firmware;
pub mod percpu;
pub mod sysreg;
pub mod vectors;
