//! Per-CPU data, found through TPIDR_EL2. Also the MPIDR → logical index
//! table that secondary CPUs search on entry, and their emergency stacks.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use aarch64_cpu::registers::{Writeable, TPIDR_EL2};
use kernel_core::MAX_CPUS;

use super::vectors::GuestRegs;

/// Size of each CPU's EL2 stack.
pub const STACK_SIZE: usize = 64 * 1024;
/// Size of each CPU's emergency stack, used only to report an EL2 exception.
const EMERGENCY_STACK_SIZE: usize = 8 * 1024;

/// MPIDR affinity (Aff3..Aff0) of each logical CPU, read by `secondary_entry`
/// with its MMU off; written by the boot CPU and cleaned to the PoC before any
/// secondary starts.
#[no_mangle]
pub static mut CPU_MPIDRS: [u64; MAX_CPUS] = [u64::MAX; MAX_CPUS];

/// Data of one physical CPU.
#[repr(C)]
pub struct PerCpu {
    index: usize,
    online: AtomicBool,
    /// Registers of the vCPU whose hypercall is being handled, while its
    /// x19-x28 live only in the CPU (see the hypercall path in vectors.rs).
    hvc_trapped: UnsafeCell<*mut GuestRegs>,
    /// Top of this CPU's emergency stack, which the vectors switch to for an
    /// exception taken at EL2 (set once by `init_this_cpu`).
    emergency_stack_top: UnsafeCell<u64>,
}

/// Offset of [`PerCpu`]'s `emergency_stack_top`, for the vectors.
pub const EMERGENCY_STACK_TOP_OFFSET: usize = core::mem::offset_of!(PerCpu, emergency_stack_top);

// SAFETY: `hvc_trapped` and `emergency_stack_top` are only touched by the CPU
// owning this PerCpu (through TPIDR_EL2); the other fields are immutable after
// boot or atomic.
unsafe impl Sync for PerCpu {}

#[repr(C, align(16))]
struct EmergencyStacks(UnsafeCell<[[u8; EMERGENCY_STACK_SIZE]; MAX_CPUS]>);

// SAFETY: each CPU uses only its own slot, and only after a fatal exception.
unsafe impl Sync for EmergencyStacks {}

static EMERGENCY_STACKS: EmergencyStacks =
    EmergencyStacks(UnsafeCell::new([[0; EMERGENCY_STACK_SIZE]; MAX_CPUS]));

static PERCPU: [PerCpu; MAX_CPUS] = {
    let mut all = [const {
        PerCpu {
            index: 0,
            online: AtomicBool::new(false),
            hvc_trapped: UnsafeCell::new(core::ptr::null_mut()),
            emergency_stack_top: UnsafeCell::new(0),
        }
    }; MAX_CPUS];
    let mut i = 0;
    while i < MAX_CPUS {
        all[i].index = i;
        i += 1;
    }
    all
};

extern "C" {
    static __stacks_start: u8;
}

/// Top of logical CPU `index`'s EL2 stack (see `setup_cpu_stack` in boot.rs).
pub fn stack_top(index: usize) -> usize {
    let base = core::ptr::addr_of!(__stacks_start) as usize;
    base + (index + 1) * (super::boot::GUARD_SIZE + STACK_SIZE)
}

/// Points TPIDR_EL2 at this CPU's data and records its emergency stack.
/// Called once per CPU, early, before any guest runs.
pub fn init_this_cpu(index: usize) {
    let Some(cpu) = PERCPU.get(index) else { return };
    TPIDR_EL2.set(cpu as *const PerCpu as u64);
    // SAFETY: only the address of this CPU's slot is computed.
    let emergency = unsafe { (*EMERGENCY_STACKS.0.get()).as_ptr().add(index) } as u64;
    // SAFETY: only this CPU touches its own PerCpu, and no exception can
    // be using the emergency stack yet.
    unsafe { *cpu.emergency_stack_top.get() = emergency + EMERGENCY_STACK_SIZE as u64 };
}

/// Announces that this CPU is ready to run vCPUs (the boot CPU waits for it).
pub fn mark_online() {
    this_cpu().online.store(true, Ordering::Release);
}

/// This CPU's data.
pub fn this_cpu() -> &'static PerCpu {
    let p = aarch64_cpu::registers::TPIDR_EL2.get() as *const PerCpu;
    // SAFETY: TPIDR_EL2 was set by `init_this_cpu` to an element of the static
    // PERCPU array before any caller runs; element 0 otherwise.
    unsafe { p.as_ref() }.unwrap_or(&PERCPU[0])
}

use aarch64_cpu::registers::Readable;

impl PerCpu {
    /// Logical index of this CPU.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl PerCpu {
    /// Records the vCPU registers of the hypercall now being handled.
    pub fn set_hvc_trapped(&self, regs: *mut GuestRegs) {
        // SAFETY: per-CPU field, only touched by its own CPU with exceptions masked.
        unsafe { *self.hvc_trapped.get() = regs };
    }

    /// The vCPU registers of the hypercall being handled; null if that vCPU's
    /// register state was reset meanwhile.
    pub fn hvc_trapped(&self) -> *mut GuestRegs {
        // SAFETY: as above.
        unsafe { *self.hvc_trapped.get() }
    }

    /// Forgets `regs` as the trapped hypercall's registers: its state was
    /// rewritten, so the live x19-x28 must not be stored over it.
    pub fn forget_hvc_trapped(&self, regs: *mut GuestRegs) {
        if self.hvc_trapped() == regs {
            self.set_hvc_trapped(core::ptr::null_mut());
        }
    }
}

/// Is logical CPU `index` online?
pub fn is_online(index: usize) -> bool {
    PERCPU
        .get(index)
        .is_some_and(|c| c.online.load(Ordering::Acquire))
}

/// Records the MPIDR of each logical CPU for `secondary_entry`, then cleans
/// the table to the point of coherency so CPUs with caches off see it.
pub fn publish_mpidrs(mpidrs: &[u64]) {
    let table = core::ptr::addr_of_mut!(CPU_MPIDRS);
    for (i, &m) in mpidrs.iter().take(MAX_CPUS).enumerate() {
        // SAFETY: written by the boot CPU alone, before secondaries start.
        unsafe { (*table)[i] = m & 0xff_00ff_ffff };
    }
    super::cache::clean_invalidate_to_poc(
        table as u64,
        core::mem::size_of::<[u64; MAX_CPUS]>() as u64,
    );
}
