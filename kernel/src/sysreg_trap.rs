//! Applies `kernel_core::sysregs` to a system-register access the loaded
//! vCPU trapped on: sanitized ID registers, read-as-zero debug registers,
//! set/way maintenance turned into a clean and invalidate of the partition's
//! memory, ACTLR_EL1 and ICC_SRE_EL1 fixed (so that no switch moves them),
//! and an Undefined Instruction exception for what a partition may not use.

use core::sync::atomic::{AtomicU64, Ordering};

use kernel_core::esr::{self, SysRegAccess};
use kernel_core::sysregs::{self, Decision};
use kernel_core::MAX_CPUS;

use crate::arch::cache;
use crate::partition::{Partition, Vcpu};
use crate::{cpu, guest_exception};

/// Handles a trapped system-register access of the loaded vCPU `v` (global
/// id `id`); false if the access is not one this module knows (the caller
/// tries the vGIC's registers, then faults the partition).
pub fn handle(id: usize, v: &Vcpu, p: &Partition, esr: u64) -> bool {
    let access = SysRegAccess::decode(esr);
    match sysregs::decide(&access) {
        Decision::IdRegister { crm, op2 } => {
            let key = access.encoding();
            let value = sysregs::sanitize_id_register(key, read_id_register(crm, op2), p.has_pmu());
            complete(v, &access, esr, value);
        }
        Decision::ReadAsZeroWriteIgnored => complete(v, &access, esr, 0),
        Decision::AuxiliaryControl => {
            complete(
                v,
                &access,
                esr,
                crate::arch::sysreg::read_sysreg!("actlr_el1"),
            );
        }
        Decision::GicSystemRegisterEnable => {
            complete(v, &access, esr, crate::arch::context::ICC_SRE_EL1_GUEST);
        }
        Decision::Undefined => guest_exception::inject_undefined(v),
        Decision::SetWay => {
            clean_partition_memory_once_per_run(id, v, p);
            complete(v, &access, esr, 0);
        }
        Decision::Unknown => return false,
    }
    true
}

/// Finishes an emulated access: a read puts `value` in its register (XZR
/// discards it), and the PC steps over the instruction.
fn complete(v: &Vcpu, access: &SysRegAccess, esr: u64, value: u64) {
    let regs = &mut v.ctx().regs;
    if access.read {
        if let Some(slot) = regs.x.get_mut(usize::from(access.register)) {
            *slot = value;
        }
    }
    regs.elr += esr::instruction_length(esr);
}

/// For each physical CPU: the vCPU (global id + 1, 0 for none) and its trap
/// count at the last set/way clean, so that a loop of set/way operations
/// (one per set and way, back to back) cleans the partition's memory once.
static LAST_SET_WAY: [(AtomicU64, AtomicU64); MAX_CPUS] =
    [const { (AtomicU64::new(0), AtomicU64::new(0)) }; MAX_CPUS];

/// A guest cleaning "the cache" by set/way means: make memory coherent with
/// what it wrote. The physical sets and ways hold other partitions' lines
/// too, so instead the core cleans and invalidates the partition's own RAM to
/// the point of coherency (as KVM does, Arm ARM D7.5.9 on set/way not being
/// usable for coherency by lower ELs). Consecutive traps of the same vCPU
/// are one loop and cost one clean.
fn clean_partition_memory_once_per_run(id: usize, v: &Vcpu, p: &Partition) {
    let traps = v.ctx().regs.traps;
    let Some((last_vcpu, last_traps)) = LAST_SET_WAY.get(cpu::this_index()) else {
        return;
    };
    let me = id as u64 + 1;
    let same_run = last_vcpu.load(Ordering::Relaxed) == me
        && last_traps.load(Ordering::Relaxed).wrapping_add(1) == traps;
    last_vcpu.store(me, Ordering::Relaxed);
    last_traps.store(traps, Ordering::Relaxed);
    if !same_run {
        for r in p.regions.iter().filter(|r| r.is_ram()) {
            cache::clean_invalidate_to_poc(r.pa, r.size);
        }
    }
}

/// Reads ID register `S3_0_C0_C<crm>_<op2>` of this CPU. Only encodings the
/// Arm ARM allocates (up to Armv9.4) are read; the rest of the ID space is
/// reserved and reads as zero (Arm ARM D17.1.2), which is what they return.
fn read_id_register(crm: u8, op2: u8) -> u64 {
    macro_rules! mrs {
        ($crm:literal, $op2:literal) => {{
            let value: u64;
            // SAFETY: reading an ID register has no side effects; the ID
            // space encodings are readable at EL2 on every Armv8-A CPU
            // (reserved ones read as zero).
            unsafe {
                core::arch::asm!(
                    concat!("mrs {}, s3_0_c0_c", $crm, "_", $op2),
                    out(reg) value,
                    options(nomem, nostack, preserves_flags)
                )
            };
            value
        }};
    }
    match (crm, op2) {
        // AArch32 views: ID_PFR0/1, ID_DFR0, ID_AFR0, ID_MMFR0..3.
        (1, 0) => mrs!(1, 0),
        (1, 1) => mrs!(1, 1),
        (1, 2) => mrs!(1, 2),
        (1, 3) => mrs!(1, 3),
        (1, 4) => mrs!(1, 4),
        (1, 5) => mrs!(1, 5),
        (1, 6) => mrs!(1, 6),
        (1, 7) => mrs!(1, 7),
        // ID_ISAR0..5, ID_MMFR4, ID_ISAR6.
        (2, 0) => mrs!(2, 0),
        (2, 1) => mrs!(2, 1),
        (2, 2) => mrs!(2, 2),
        (2, 3) => mrs!(2, 3),
        (2, 4) => mrs!(2, 4),
        (2, 5) => mrs!(2, 5),
        (2, 6) => mrs!(2, 6),
        (2, 7) => mrs!(2, 7),
        // MVFR0..2, ID_PFR2, ID_DFR1, ID_MMFR5.
        (3, 0) => mrs!(3, 0),
        (3, 1) => mrs!(3, 1),
        (3, 2) => mrs!(3, 2),
        (3, 4) => mrs!(3, 4),
        (3, 5) => mrs!(3, 5),
        (3, 6) => mrs!(3, 6),
        // ID_AA64PFR0..2, ID_AA64ZFR0, ID_AA64SMFR0.
        (4, 0) => mrs!(4, 0),
        (4, 1) => mrs!(4, 1),
        (4, 2) => mrs!(4, 2),
        (4, 4) => mrs!(4, 4),
        (4, 5) => mrs!(4, 5),
        // ID_AA64DFR0/1, ID_AA64AFR0/1.
        (5, 0) => mrs!(5, 0),
        (5, 1) => mrs!(5, 1),
        (5, 4) => mrs!(5, 4),
        (5, 5) => mrs!(5, 5),
        // ID_AA64ISAR0..2.
        (6, 0) => mrs!(6, 0),
        (6, 1) => mrs!(6, 1),
        (6, 2) => mrs!(6, 2),
        // ID_AA64MMFR0..4.
        (7, 0) => mrs!(7, 0),
        (7, 1) => mrs!(7, 1),
        (7, 2) => mrs!(7, 2),
        (7, 3) => mrs!(7, 3),
        (7, 4) => mrs!(7, 4),
        _ => 0,
    }
}
