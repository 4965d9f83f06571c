//! Per-CPU scheduling glue: applies requests posted for vCPUs homed here,
//! picks the next vCPU with `kernel_core::sched`, switches the hardware state
//! between vCPUs, arms the EL2 timer, and idles when nothing is runnable.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use aarch64_cpu::registers::*;
use core::cell::UnsafeCell;
use kernel_core::ipc::IpcCpu;
use kernel_core::manifest::MAX_VCPUS;
use kernel_core::psci::Power;
use kernel_core::sched::RunQueue;
use kernel_core::MAX_CPUS;

use crate::arch::context::Extras;
use crate::arch::percpu::{this_cpu, PerCpu};
use crate::arch::vectors::{GuestRegs, HvcReturn};
use crate::arch::{cache, sysreg::isb};
use crate::partition::{self, IpcWait, PartState, Vcpu, VcpuContext};
use crate::{gic, ipc, lifecycle, objects, timer, trap, vgic};

/// No vCPU loaded.
const NONE: usize = usize::MAX;
/// Time slice between vCPUs of equal priority.
const SLICE_MS: u64 = 10;

/// State that only its own CPU ever touches, reached without a lock: the
/// scheduler's and IPC's per-CPU data (DESIGN.md §3: no locks on the fast
/// path). Requests from other CPUs go through `Vcpu::requests` and the
/// `requests` flag instead.
struct CpuLocal<T>(UnsafeCell<T>);

// SAFETY: each CpuLocal belongs to one CPU's `CpuState` and is only accessed
// by that CPU (`with` callers pass `this_index()`), one exception at a time
// with interrupts masked at EL2; so there is never concurrent access.
unsafe impl<T> Sync for CpuLocal<T> {}

impl<T> CpuLocal<T> {
    const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// Runs `f` on the value. `f` must not reach this same cell again (the
    /// callers here are leaf operations on the run queue or IPC state).
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: only the owning CPU calls this (see the Sync impl), and no
        // caller nests `with` on one cell, so this is the only reference.
        f(unsafe { &mut *self.0.get() })
    }
}

/// The scheduler's state of one CPU.
struct Sched {
    queue: RunQueue,
    /// When the running vCPU's time slice ends.
    slice_end: Option<u64>,
}

/// The loaded vCPU with its partition, as the IPC fast path last resolved
/// them (a cache of `partition::vcpu(loaded)`, valid while `id` is loaded).
#[derive(Clone, Copy)]
struct LoadedRefs {
    id: usize,
    vcpu: &'static Vcpu,
    partition: &'static partition::Partition,
}

/// Whether the IPC fast path (`arch::ipc_fast`) may run on a CPU, in one
/// word it reads with a single load: all zero means it may.
#[repr(C, align(4))]
struct FastGate {
    /// A request was posted for a vCPU homed here.
    requests: AtomicBool,
    /// This CPU needs what only the Rust paths do: a GICv2, or optional EL1
    /// registers to switch ([`Extras`]). Set at boot.
    hardware: AtomicBool,
    _reserved: [u8; 2],
}

/// One CPU's state. `repr(C)` keeps `fp_owner` next to `cptr_fp_trapped`,
/// which the fast path loads as a pair, within `ldp` reach of the start.
#[repr(C)]
struct CpuState {
    /// vCPU whose FP/SIMD state is in the registers.
    fp_owner: AtomicUsize,
    /// CPTR_EL2 for every other vCPU: FP/SIMD traps (a constant).
    cptr_fp_trapped: u64,
    /// vCPU whose state is in the hardware (only this CPU touches it).
    loaded: AtomicUsize,
    gate: FastGate,
    /// The optional EL1 registers this CPU switches ([`Extras`] bits).
    el1_extras: AtomicU8,
    sched: CpuLocal<Sched>,
    /// IPC state of this CPU.
    ipc: CpuLocal<IpcCpu>,
    /// See [`LoadedRefs`].
    loaded_refs: CpuLocal<Option<LoadedRefs>>,
    /// The context of each vCPU homed here by global id + 1 (entry 0 and
    /// vCPUs homed elsewhere: null), where the fast path finds the vCPU
    /// the IPC state names.
    contexts: CpuLocal<[*mut VcpuContext; MAX_VCPUS + 1]>,
}

static CPUS: [CpuState; MAX_CPUS] = [const {
    CpuState {
        sched: CpuLocal::new(Sched {
            queue: RunQueue::new(),
            slice_end: None,
        }),
        ipc: CpuLocal::new(IpcCpu::new()),
        loaded_refs: CpuLocal::new(None),
        contexts: CpuLocal::new([core::ptr::null_mut(); MAX_VCPUS + 1]),
        fp_owner: AtomicUsize::new(NONE),
        cptr_fp_trapped: CPTR_EL2_RES1 | CPTR_EL2_TFP,
        loaded: AtomicUsize::new(NONE),
        gate: FastGate {
            requests: AtomicBool::new(false),
            hardware: AtomicBool::new(true),
            _reserved: [0; 2],
        },
        el1_extras: AtomicU8::new(0),
    }
}; MAX_CPUS];

/// What a trap needs at once of a vCPU's home CPU and partition, kept in
/// its context so that the vectors reach it from SP alone; set once by
/// [`register_vcpus`] and kept across resets. `repr(C)`: the IPC fast path
/// loads it in pairs ([`fast_layout`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuLinks {
    /// Address of the home CPU's `CpuState`.
    cpu: usize,
    /// Address of the first slot of its partition's capability table.
    caps: usize,
    /// Its global id.
    id: u64,
    /// Address of its entry in the home CPU's run queue.
    run_entry: usize,
    /// Its global id + 1, as the IPC state holds it.
    ipc_id: u64,
    /// Top of the home CPU's stack, which Rust code runs on during a trap.
    pub stack_top: u64,
    /// VTTBR_EL2 of its partition, then MDCR_EL2.
    vttbr: u64,
    mdcr: u64,
}

/// Byte offsets the IPC fast path (`arch::ipc_fast`) uses: in a CPU's state
/// (`CPU_*`) and in a vCPU's context (`LINK_*`).
pub mod fast_layout {
    use super::{CpuState, Sched, VcpuContext};
    use core::mem::offset_of;

    /// The fast path's gate word ([`super::FastGate`]).
    pub const CPU_GATE: usize = offset_of!(CpuState, gate);
    /// The CPU's `IpcCpu`.
    pub const CPU_IPC: usize = offset_of!(CpuState, ipc);
    /// The CPU's `RunQueue`.
    pub const CPU_RUN_QUEUE: usize = offset_of!(CpuState, sched) + offset_of!(Sched, queue);
    /// The contexts by vCPU id + 1.
    pub const CPU_CONTEXTS: usize = offset_of!(CpuState, contexts);
    /// The FP owner, then CPTR_EL2 with FP trapped.
    pub const CPU_FP_OWNER: usize = offset_of!(CpuState, fp_owner);
    /// The loaded vCPU.
    pub const CPU_LOADED: usize = offset_of!(CpuState, loaded);
    /// Home CPU, then the capability slots.
    pub const LINK_CPU: usize = offset_of!(VcpuContext, links.cpu);
    /// Global id, then the run-queue entry.
    pub const LINK_ID: usize = offset_of!(VcpuContext, links.id);
    /// Global id + 1.
    pub const LINK_IPC_ID: usize = offset_of!(VcpuContext, links.ipc_id);
    /// VTTBR_EL2, then MDCR_EL2.
    pub const LINK_VTTBR: usize = offset_of!(VcpuContext, links.vttbr);

    const _: () = assert!(offset_of!(CpuState, cptr_fp_trapped) == CPU_FP_OWNER + 8);
    const _: () = assert!(CPU_FP_OWNER + 8 <= 504 + 8 && CPU_CONTEXTS < 32760 - 8 * 65);
    const _: () = assert!(offset_of!(VcpuContext, links.caps) == LINK_CPU + 8);
    const _: () = assert!(offset_of!(VcpuContext, links.run_entry) == LINK_ID + 8);
    const _: () = assert!(offset_of!(VcpuContext, links.mdcr) == LINK_VTTBR + 8);
}

/// Virtual timer PPI (INTID 27), injected to guests with the HW bit.
pub const VTIMER_INTID: u32 = 27;
/// EL2 physical timer PPI (INTID 26).
pub const HYP_TIMER_INTID: u32 = 26;

/// This CPU's logical index.
pub fn this_index() -> usize {
    this_cpu().index()
}

fn state(cpu: usize) -> &'static CpuState {
    &CPUS[cpu.min(MAX_CPUS - 1)]
}

/// Records which optional EL1 registers this CPU switches, and so whether
/// the IPC fast path may run here (boot, before it runs a vCPU).
pub fn init_switching(extras: Extras) {
    let st = state(this_index());
    st.el1_extras.store(extras.bits(), Ordering::Relaxed);
    let fast = gic::is_v3() && extras.is_empty();
    st.gate.hardware.store(!fast, Ordering::Relaxed);
}

fn el1_extras(cpu: usize) -> Extras {
    Extras::from_bits(state(cpu).el1_extras.load(Ordering::Relaxed))
}

/// Marks that CPU `cpu` has a request to look at.
pub fn note_request(cpu: usize) {
    state(cpu).gate.requests.store(true, Ordering::Release);
}

/// Runs `f` on this CPU's run queue.
fn queue<R>(f: impl FnOnce(&mut RunQueue) -> R) -> R {
    state(this_index()).sched.with(|s| f(&mut s.queue))
}

/// Puts every vCPU homed on this CPU into its run queue and fills in its
/// links (`VcpuLinks`, and the context table the IPC fast path uses), and
/// tells this CPU's IPC state which vCPU serves each endpoint here (boot).
pub fn register_vcpus(cpu: usize) {
    let st = state(cpu);
    let system = partition::system();
    queue(|q| {
        for (id, v) in system.vcpus.iter().enumerate() {
            let Some(p) = system.partitions.get(v.partition).filter(|_| v.home == cpu) else {
                continue;
            };
            let queued = q.add(id, v.priority).is_ok();
            let ctx = v.ctx();
            let queue_at = q as *const RunQueue as usize;
            ctx.links = VcpuLinks {
                cpu: st as *const CpuState as usize,
                caps: &p.caps as *const _ as usize + kernel_core::captable::layout::SLOTS,
                id: id as u64,
                run_entry: q.entry_offset(id).map_or(0, |offset| queue_at + offset),
                ipc_id: id as u64 + 1,
                stack_top: crate::arch::percpu::stack_top(cpu) as u64,
                vttbr: p.vttbr,
                mdcr: mdcr_for(p.has_pmu()),
            };
            // Only a vCPU in the run queue has an entry for the fast path to
            // hand over; any other stays with the Rust paths.
            st.contexts.with(|contexts| {
                if let Some(slot) = contexts.get_mut(id + 1).filter(|_| queued) {
                    *slot = ctx as *mut VcpuContext;
                }
            });
        }
    });
    // A server context the run queue could not take never runs here: calls
    // find no server (NOT_PRESENT) rather than one that cannot answer, and
    // every vCPU that runs has a run-queue entry.
    let queued = |id: u16| queue(|q| q.state(usize::from(id)).is_some());
    for (e, ep) in objects::objects().endpoints.iter().enumerate() {
        if let Some(server) = ep.server_vcpu.get(cpu).copied().flatten() {
            if queued(server) {
                let _ = with_ipc(|ipc| ipc.set_server(e, server));
            }
        }
    }
}

/// The vCPU loaded on this CPU, if any.
pub fn loaded() -> Option<(usize, &'static Vcpu)> {
    let id = state(this_index()).loaded.load(Ordering::Relaxed);
    partition::vcpu(id).map(|v| (id, v))
}

/// Blocks the loaded vCPU (WFI) until `wake_at` or an event.
pub fn block_loaded(wake_at: Option<u64>) {
    if let Some((id, _)) = loaded() {
        block(id, wake_at);
    }
}

/// Blocks vCPU `id` (homed here) until `wake_at` or until made runnable.
pub fn block(id: usize, wake_at: Option<u64>) {
    queue(|q| q.block(id, wake_at));
}

/// Makes vCPU `id` (homed here) runnable.
pub fn set_runnable(id: usize) {
    queue(|q| q.set_runnable(id));
}

/// Runs `f` on this CPU's IPC state.
pub fn with_ipc<R>(f: impl FnOnce(&mut IpcCpu) -> R) -> R {
    state(this_index()).ipc.with(f)
}

/// vCPU `id` (homed here) has a pending virtual interrupt in its list
/// registers: if it waits in WFI (blocked, but not in IPC), it runs again.
pub fn wake_from_wfi(id: usize, v: &Vcpu) {
    let waiting_in_wfi = v.ctx().ipc == IpcWait::None;
    queue(|q| {
        if waiting_in_wfi && q.state(id) == Some(kernel_core::sched::RunState::Blocked) {
            q.set_runnable(id);
        }
    });
}

/// Handles requests for vCPUs homed here.
fn process_requests(cpu: usize) {
    let st = state(cpu);
    if !st.gate.requests.swap(false, Ordering::AcqRel) {
        return;
    }
    for (id, v) in partition::system().vcpus.iter().enumerate() {
        if v.home != cpu {
            continue;
        }
        let pending = core::mem::take(&mut *v.requests.lock());
        if pending.stop {
            take_off(cpu, id, v);
            continue;
        }
        if let Some((entry, context)) = pending.start {
            let running = partition::partition(v.partition)
                .is_some_and(|p| p.ctl.lock().state == PartState::Running);
            if running {
                if st.loaded.load(Ordering::Relaxed) == id {
                    // Clear the hardware (list registers, timer) it leaves.
                    save(cpu, v);
                    st.loaded.store(NONE, Ordering::Relaxed);
                }
                partition::reset_context(v, entry, context, gic::is_v3());
                forget_fp(id);
                *v.power.lock() = Power::On;
                vgic::vcpu_started(id, v);
                queue(|q| q.set_runnable(id));
            }
        }
        if pending.notified {
            ipc::notified(id, v);
        }
        if pending.vgic_sync {
            vgic::sync(id, v);
        }
    }
}

/// Takes a vCPU off this CPU for good (stop or CPU_OFF) and tells its
/// partition.
pub fn take_off(cpu: usize, id: usize, v: &Vcpu) {
    let st = state(cpu);
    // Its list registers go back into the model, where what was pending
    // stays pending for its next start.
    vgic::vcpu_stopped(id, v);
    if st.loaded.load(Ordering::Relaxed) == id {
        save(cpu, v);
        st.loaded.store(NONE, Ordering::Relaxed);
    }
    queue(|q| q.set_off(id));
    forget_fp(id);
    ipc::departed(id, v);
    let was_on = core::mem::replace(&mut *v.power.lock(), Power::Off) != Power::Off;
    if was_on {
        if let Some(p) = partition::partition(v.partition) {
            lifecycle::vcpu_went_off(p);
        }
    }
}

fn save(cpu: usize, v: &Vcpu) {
    let ctx = v.ctx();
    ctx.el1.save(el1_extras(cpu));
    ctx.vgic.save(cpu, VTIMER_INTID);
}

/// CPTR_EL2 with RES1 bits (13:12, 9:0); TFP (bit 10) traps FP/SIMD use,
/// at EL2 too (Arm ARM D17.2.30).
pub(crate) const CPTR_EL2_RES1: u64 = 0x33ff;
const CPTR_EL2_TFP: u64 = 1 << 10;

/// FP/SIMD registers hold the state of this CPU's `fp_owner`. A guest's
/// vCPU ([`Vcpu::fp_eager`]) takes them as soon as the Rust paths switch it
/// in; a service's runs with FP trapped until it uses FP (`fp_trap`), and
/// so does a guest that the IPC fast path resumes while another vCPU owns
/// them. Services rarely touch FP, so switching between services, or
/// between a guest and a service, costs nothing here.
///
/// Guests take them eagerly because they use FP all the time (Linux's
/// userspace, its NEON routines) and because a trap setting that changes
/// with ownership costs QEMU's TCG a second translation of code that runs
/// under both: CPTR_EL2.TFP is part of every translation block's key (the
/// FP exception level). Switched lazily, a Linux boot had 15,000 of Linux's
/// 73,000 blocks translated twice, and the wall clock to userspace was about
/// 4 % longer. Services stay lazy: one that used FP once, at start-up, would
/// otherwise swap registers with its guest on every call (an emulated MMIO
/// read took 1,252 instructions instead of 1,130).
fn arm_fp_trap(cpu: usize, id: usize, v: &Vcpu) {
    let st = state(cpu);
    if st.fp_owner.load(Ordering::Relaxed) == id {
        CPTR_EL2.set(CPTR_EL2_RES1);
    } else if v.fp_eager {
        take_fp(st, id, v);
    } else {
        CPTR_EL2.set(st.cptr_fp_trapped);
    }
}

/// The loaded vCPU `id` used FP/SIMD: move the FP registers to it.
pub fn fp_trap(id: usize, v: &Vcpu) {
    take_fp(state(this_index()), id, v);
}

/// Gives the FP registers of this CPU (`st`) to vCPU `id`, the loaded one,
/// saving the previous owner's, and stops trapping FP.
fn take_fp(st: &CpuState, id: usize, v: &Vcpu) {
    CPTR_EL2.set(CPTR_EL2_RES1);
    isb();
    let owner = st.fp_owner.swap(id, Ordering::Relaxed);
    if owner != id {
        if let Some(previous) = partition::vcpu(owner) {
            previous.ctx().fp.save();
        }
        v.ctx().fp.restore();
    }
}

/// Forgets vCPU `id`'s FP registers in the hardware (it stopped or was reset).
pub fn forget_fp(id: usize) {
    let st = state(this_index());
    if st.fp_owner.load(Ordering::Relaxed) == id {
        st.fp_owner.store(NONE, Ordering::Relaxed);
    }
}

/// MDCR_EL2 for a partition: debug registers trap (TDA, TDOSA, TDRA), PMU
/// registers trap (TPM, TPMCR) unless the partition holds the PMU; HPMN keeps
/// every counter for EL1 (Arm ARM D17.2.71).
fn mdcr_for(pmu: bool) -> u64 {
    let hpmn = PMU_COUNTERS.load(Ordering::Relaxed);
    let mut v = hpmn | 1 << 9 | 1 << 10 | 1 << 11;
    if !pmu {
        v |= 1 << 5 | 1 << 6;
    }
    v
}

/// PMCR_EL0.N, the number of event counters, read once at boot.
static PMU_COUNTERS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Reads the PMU's counter count (the same on every CPU) for MDCR_EL2.HPMN.
pub fn init_pmu_counters() {
    let n = (crate::arch::sysreg::read_sysreg!("pmcr_el0") >> 11) & 0x1f;
    PMU_COUNTERS.store(n, Ordering::Relaxed);
}

/// Points stage 2 and the debug/PMU traps at the partition of the vCPU
/// whose links are `links` (its VTTBR and MDCR, fixed by `register_vcpus`).
fn enter_partition(links: &VcpuLinks) {
    VTTBR_EL2.set(links.vttbr);
    MDCR_EL2.set(links.mdcr);
    isb();
}

fn restore(cpu: usize, v: &Vcpu) {
    let ctx = v.ctx();
    enter_partition(&ctx.links);
    ctx.el1.restore(el1_extras(cpu));
    ctx.vgic.restore(cpu, VTIMER_INTID);
}

/// Moves the hardware from vCPU `old` to vCPU `new` (distinct): `save` then
/// `restore`, with the EL1 registers exchanged in one pass.
#[inline(always)]
fn exchange_into(cpu: usize, old: &Vcpu, new: &Vcpu) {
    let (from, to) = (old.ctx(), new.ctx());
    from.vgic.switch(&to.vgic, cpu, VTIMER_INTID);
    enter_partition(&to.links);
    from.el1.switch(&to.el1, el1_extras(cpu));
}

/// Invalidates the TLB entries of the partition with this VTTBR (its VMID),
/// on every CPU: its translations may not outlive a restart.
pub fn flush_guest_tlb(vttbr: u64) {
    let previous = VTTBR_EL2.get();
    VTTBR_EL2.set(vttbr);
    isb();
    cache::invalidate_guest_tlb_current_vmid();
    VTTBR_EL2.set(previous);
    isb();
}

/// Handles every pending physical interrupt. Returns true if the EL2 timer
/// fired (time slice or wake-up deadline).
pub fn handle_irqs(cpu: usize) -> bool {
    let mut timer_fired = false;
    let maintenance = gic::maintenance_intid();
    while let Some(irq) = gic::ack() {
        match irq.intid {
            VTIMER_INTID => {
                gic::priority_drop(irq);
                match loaded() {
                    // The loaded vCPU's timer: its vGIC holds the physical
                    // PPI active until the guest's EOI (HW bit).
                    Some((id, v)) => vgic::timer_fired(id, v),
                    None => {
                        // No guest to take it: mask the timer so it cannot storm.
                        CNTV_CTL_EL0.set(CNTV_CTL_EL0.get() | 0b10);
                        gic::deactivate(irq);
                    }
                }
            }
            intid if intid == maintenance => {
                gic::priority_drop(irq);
                // The sync clears the condition (a level interrupt) first.
                vgic::maintenance();
                gic::deactivate(irq);
            }
            HYP_TIMER_INTID => {
                // Disarm first: the PPI is level-triggered and would be
                // pending again the moment it is deactivated.
                timer::arm(None);
                gic::priority_drop(irq);
                gic::deactivate(irq);
                timer_fired = true;
            }
            intid => {
                gic::priority_drop(irq);
                if vgic::passthrough_fired(intid) {
                    // Passed through: active until the guest's EOI (HW bit).
                    continue;
                }
                match objects::notification_for_irq(intid) {
                    // A device a partition drives: it stays active (masked)
                    // until the holder's IRQ_ACK.
                    Some(n) => objects::signal(n, 1),
                    // Reschedule SGIs: the request flags do the work.
                    None => gic::deactivate(irq),
                }
            }
        }
    }
    let _ = cpu;
    timer_fired
}

/// Decides what runs next on this CPU and returns the registers to enter.
/// Idles (WFI with interrupts masked, polling the GIC) while nothing is
/// runnable.
pub fn reschedule(timer_fired: bool) -> *mut GuestRegs {
    let cpu = this_index();
    let st = state(cpu);
    let mut slice_expired = false;
    if timer_fired {
        let now = timer::now();
        slice_expired = st.sched.with(|s| {
            s.queue.wake_expired(now);
            let expired = s.slice_end.is_some_and(|t| t <= now);
            if expired {
                s.slice_end = None;
            }
            expired
        });
    }
    loop {
        process_requests(cpu);
        let next = queue(|q| q.pick(slice_expired));
        slice_expired = false;
        if let Some(id) = next {
            if let Some(v) = partition::vcpu(id) {
                return switch_to(cpu, id, v);
            }
        }
        // Nothing to run: put the loaded vCPU's state away and wait.
        if let Some(v) = partition::vcpu(st.loaded.load(Ordering::Relaxed)) {
            save(cpu, v);
            st.loaded.store(NONE, Ordering::Relaxed);
        }
        if st.gate.requests.load(Ordering::Acquire) {
            // Posted from this CPU while handling the last request (a
            // restart): no interrupt will announce it.
            continue;
        }
        timer::arm(queue(|q| q.next_wake()));
        wait_for_interrupt();
        handle_irqs(cpu);
        queue(|q| q.wake_expired(timer::now()));
    }
}

fn wait_for_interrupt() {
    // SAFETY: WFI with interrupts masked at EL2 waits until one is pending; it
    // has no memory effects.
    unsafe { core::arch::asm!("dsb sy", "wfi", options(nostack)) };
}

/// Puts vCPU `id`'s state into the hardware if it is not there yet (saving
/// the loaded one's), and points the vectors at its registers. True if the
/// hardware changed hands.
fn load(cpu: usize, id: usize, v: &'static Vcpu) -> (*mut GuestRegs, bool) {
    let st = state(cpu);
    let current = st.loaded.load(Ordering::Relaxed);
    let switched = current != id;
    if switched {
        match partition::vcpu(current) {
            Some(old) => exchange_into(cpu, old, v),
            None => restore(cpu, v),
        }
        arm_fp_trap(cpu, id, v);
        st.loaded.store(id, Ordering::Relaxed);
        st.loaded_refs.with(|r| {
            *r = partition::partition(v.partition).map(|partition| LoadedRefs {
                id,
                vcpu: v,
                partition,
            })
        });
        sync_if_needed(id, v);
    }
    let regs = &mut v.ctx().regs as *mut GuestRegs;
    (regs, switched)
}

/// Runs vCPU `id`, the scheduler's choice: a new vCPU gets a fresh time
/// slice when it shares its priority, and the EL2 timer is armed for the
/// slice end or the earliest wake-up.
///
/// The counter is read only when a slice starts: most traps resume the
/// vCPU they came from with nothing to time, and under QEMU's TCG every
/// CNTPCT_EL0 read takes the emulator's global lock (an I/O register).
fn switch_to(cpu: usize, id: usize, v: &'static Vcpu) -> *mut GuestRegs {
    let st = state(cpu);
    let (regs, switched) = load(cpu, id, v);
    let deadline = st.sched.with(|s| {
        let sliced = s.queue.needs_time_slice();
        if switched || !sliced {
            s.slice_end = None;
        }
        if sliced && s.slice_end.is_none() {
            s.slice_end = Some(timer::now() + timer::ms_to_ticks(SLICE_MS));
        }
        match (s.slice_end, s.queue.next_wake()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    });
    timer::arm(deadline);
    regs
}

/// Hands the CPU to vCPU `id` without a scheduling decision (IPC): it
/// becomes the queue's current vCPU; time slices and timers stay as they were.
fn direct_switch(cpu: usize, id: usize, v: &'static Vcpu) -> *mut GuestRegs {
    let (regs, _) = load(cpu, id, v);
    state(cpu).sched.with(|s| s.queue.set_current(id));
    regs
}

/// Syncs the list registers of vCPU `id`, just loaded, with the vGIC model
/// if a maintenance condition was pending when it left.
#[inline(always)]
fn sync_if_needed(id: usize, v: &Vcpu) {
    if core::mem::take(&mut v.ctx().vgic.needs_sync) {
        vgic::sync(id, v);
    }
}

/// Hands this CPU from the loaded vCPU `from` (global id, vCPU) to `to`
/// (both homed here) for an IPC call or reply: `from` blocks, `to` runs now,
/// without a scheduling decision; time slices and timers stay as they were.
#[inline(always)]
fn hand_over(
    percpu: &PerCpu,
    st: &CpuState,
    from: (usize, &'static Vcpu),
    to: ipc::Handoff,
) -> *mut GuestRegs {
    let cpu = percpu.index();
    st.sched.with(|s| s.queue.hand_over(from.0, to.id));
    exchange_into(cpu, from.1, to.vcpu);
    arm_fp_trap(cpu, to.id, to.vcpu);
    st.loaded.store(to.id, Ordering::Relaxed);
    sync_if_needed(to.id, to.vcpu);
    st.loaded_refs.with(|r| {
        *r = Some(LoadedRefs {
            id: to.id,
            vcpu: to.vcpu,
            partition: to.partition,
        })
    });
    &mut to.vcpu.ctx().regs as *mut GuestRegs
}

/// The loaded vCPU and its partition, from the cache when it is current.
#[inline(always)]
fn loaded_refs(st: &CpuState, system: &'static partition::System) -> Option<LoadedRefs> {
    let id = st.loaded.load(Ordering::Relaxed);
    st.loaded_refs.with(|cached| {
        if let Some(refs) = cached.filter(|r| r.id == id) {
            return Some(refs);
        }
        let vcpu = system.vcpus.get(id)?;
        let partition = system.partitions.get(vcpu.partition)?;
        let refs = LoadedRefs {
            id,
            vcpu,
            partition,
        };
        *cached = Some(refs);
        Some(refs)
    })
}

/// The Rust IPC fast path (`ipc::fast`) for the hypercall `call` (`HVC #0`,
/// as the vectors checked) of the loaded vCPU, if it applies: no request is
/// pending for this CPU and its common case holds. Returns the registers of
/// the vCPU that runs next.
#[inline(always)]
fn ipc_fast_path(percpu: &PerCpu, call: ipc::FastCall) -> Option<*mut GuestRegs> {
    let st = state(percpu.index());
    if st.gate.requests.load(Ordering::Acquire) {
        return None;
    }
    let system = partition::system();
    let from = loaded_refs(st, system)?;
    let next = st
        .ipc
        .with(|ipc| ipc::fast(system, ipc, from.id, from.vcpu, from.partition, call))?;
    Some(hand_over(percpu, st, (from.id, from.vcpu), next))
}

/// Enters the scheduler on this CPU for the first time; never returns.
pub fn run() -> ! {
    let regs = reschedule(false);
    // SAFETY: `regs` is the loaded vCPU's saved state, prepared by
    // `switch_to`; from here this CPU lives in trap handling, each trap on a
    // fresh stack.
    unsafe { crate::arch::vectors::enter_guest(regs) }
}

/// Entry from the vectors for a hypercall (HVC #imm from a guest): calls that
/// only produce results resume the caller, and IPC hands the CPU straight to
/// the vCPU that must run next, without going through the scheduler.
#[no_mangle]
extern "C" fn rust_hvc_trap(regs: *mut GuestRegs) -> HvcReturn {
    let percpu = this_cpu();
    percpu.set_hvc_trapped(regs);
    // SAFETY: `regs` is the loaded vCPU's register area, which the vectors
    // just filled; nothing else refers to it during this call.
    let effect = trap::hypercall_trap(unsafe { &mut *regs });
    let requests = state(percpu.index()).gate.requests.load(Ordering::Acquire);
    let next = match effect {
        trap::Effect::ResultOnly if !requests => {
            return HvcReturn {
                next: regs,
                trapped: 0,
            };
        }
        trap::Effect::SwitchTo(id) if !requests => match partition::vcpu(id) {
            Some(v) => direct_switch(percpu.index(), id, v),
            None => reschedule(false),
        },
        _ => reschedule(false),
    };
    let trapped = percpu.hvc_trapped();
    HvcReturn {
        next,
        trapped: if trapped.is_null() {
            1
        } else {
            trapped as usize
        },
    }
}

/// Entry from the vectors for a CALL or REPLY_RECV that the assembly fast
/// path (`arch::ipc_fast`) declined, `index` = function id - CALL: the Rust
/// fast path, or `rust_hvc_trap`.
#[no_mangle]
extern "C" fn rust_ipc_trap(regs: *mut GuestRegs, index: u32) -> HvcReturn {
    let call = match index {
        0 => Some(ipc::FastCall::Call),
        2 => Some(ipc::FastCall::ReplyRecv),
        _ => None,
    };
    if let Some(next) = call.and_then(|c| ipc_fast_path(this_cpu(), c)) {
        return HvcReturn {
            next,
            trapped: regs as usize,
        };
    }
    rust_hvc_trap(regs)
}

/// Entry from the vectors for every other exception taken from a guest.
#[no_mangle]
extern "C" fn rust_guest_trap(kind: u64) -> *mut GuestRegs {
    let cpu = this_index();
    match trap::handle(crate::arch::vectors::TrapKind::from_code(kind)) {
        trap::AfterTrap::SwitchTo(id) if !state(cpu).gate.requests.load(Ordering::Acquire) => {
            match partition::vcpu(id) {
                Some(v) => direct_switch(cpu, id, v),
                None => reschedule(false),
            }
        }
        trap::AfterTrap::SwitchTo(_) => reschedule(false),
        trap::AfterTrap::Reschedule { timer_fired } => reschedule(timer_fired),
    }
}
