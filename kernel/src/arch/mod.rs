//! Everything that touches the CPU directly: entry code, vectors, per-CPU
//! data, context switching of EL1 and FP state, the IPC fast path, caches
//! and TLBs, firmware calls. The only place in the core with assembly.

pub mod boot;
pub mod bulk;
pub mod cache;
// `#[macro_use]`: `el1_asm!` is also the EL1 switch of `ipc_fast`.
#[macro_use]
pub mod context;
pub mod firmware;
pub mod ipc_fast;
pub mod percpu;
pub mod sysreg;
pub mod vectors;
