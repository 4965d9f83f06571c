//! The IPC fast path in assembly: CALL to a server context waiting on this
//! CPU, and REPLY_RECV to a caller waiting here with nobody queued, with no
//! interrupt work in flight on either side. The vector branches here for
//! `HVC #0` with function id CALL or REPLY_RECV before saving anything but
//! x6 and x7; whatever the checks below decline goes on to the Rust paths
//! (`ipc_call_entry`, `ipc_reply_recv_entry` in `vectors.rs`) with the
//! guest's x0..x5 and x18..x30 untouched, so declining changes nothing.
//!
//! It holds no policy of its own: it makes exactly the state changes of the
//! Rust fast path it stands in front of (`cpu::ipc_fast_path`, `ipc::fast`):
//!
//! - the capability lookup with the kind and right the call needs
//!   (`CapTable::lookup`, as one access bit: `captable::layout`);
//! - `IpcCpu::call_receiving` / `IpcCpu::reply_and_wait` on this CPU's IPC
//!   state (`kernel_core::ipc::layout`), with the same checks;
//! - the waits (`IpcWait::Call { endpoint, badge }` for the caller and
//!   `None` for the server; `None` for the caller and `Recv { endpoint }`
//!   for the server), the caller's call counter and both trap counters;
//! - `RunQueue::hand_over` (`kernel_core::sched::layout`), the loaded vCPU,
//!   the FP trap, stage 2 and debug traps, and the quiet vGIC switch
//!   (`VgicState::switch`: VMCR and active priorities only);
//! - the EL1 switch, from the same text as `El1State::switch`.
//!
//! The message never leaves the registers: a call's x2..x6 are the server's
//! x2..x6 (x1 its badge), a reply's x2..x6 the caller's x1..x5 (x0 = 0, the
//! caller's x6 and up its own). The caller's x0..x6 are stored as the Rust
//! path stores them; x7..x17 of the vCPU that resumes hold its own values
//! from an earlier trap, as on the Rust IPC path (the ABI lets every call
//! change x0..x17).
//!
//! No ISB: the ERET that ends the path is a context synchronization event
//! (Arm ARM D1.10.3; SCTLR_EL2.EOS is set, `mm::enable_el2_mmu`), and
//! nothing at EL2 depends on the registers written before it.

use core::arch::global_asm;
use core::mem::offset_of;

use abi::ipc::{rights, ObjectKind};
use kernel_core::manifest::{MAX_CAP_SLOTS, MAX_ENDPOINTS};
use kernel_core::{captable, ipc, sched};

use crate::cpu::fast_layout as cpu;
use crate::gic::layout as vgic;
use crate::partition::{ipc_wait_layout as wait, VcpuContext};

/// Offsets in a vCPU context.
const IPC_WAIT: usize = offset_of!(VcpuContext, ipc);
const VGIC: usize = offset_of!(VcpuContext, vgic);
const EL1: usize = offset_of!(VcpuContext, el1);
/// Offsets in a CPU's state.
const IPC: usize = cpu::CPU_IPC;

/// `ldp`/`stp` reach 504 bytes from SP; `ldrh` 8190 from a base.
const _: () = assert!(IPC_WAIT + 8 <= 504 && VGIC + vgic::APR1 <= 504);
const _: () = assert!(IPC + ipc::layout::QUEUED_ON + 2 * 64 <= 8190);
const _: () = assert!(EL1 < 4096);

global_asm!(
    concat!(
        r#"
// Both vCPUs' virtual CPU interfaces quiet (`gic::layout`): outgoing at SP,
// incoming at x17, or branch to `decline`. Uses `a`, `b`.
.macro VGIC_QUIET decline, a, b
    ldp     \a, \b, [sp, #{vgic_flags}]
    and     \a, \a, #{vgic_outgoing_flags}
    orr     \a, \a, \b, lsr #1
    cbnz    \a, \decline
    ldp     \a, \b, [x17, #{vgic_flags}]
    orr     \a, \a, \b, lsr #1
    cbnz    \a, \decline
.endm

// What the outgoing vCPU (at SP) needs to resume: ELR, SPSR, x18-x30.
.macro SAVE_OUTGOING
    mrs     x15, elr_el2
    mrs     x16, spsr_el2
    stp     x15, x16, [sp, #248]
    str     x18, [sp, #144]
    stp     x19, x20, [sp, #152]
    stp     x21, x22, [sp, #168]
    stp     x23, x24, [sp, #184]
    stp     x25, x26, [sp, #200]
    stp     x27, x28, [sp, #216]
    stp     x29, x30, [sp, #232]
.endm

// Hands the CPU (state at x8) from the vCPU at SP, which blocks, to the one
// at x17, which runs now: the run queue, the loaded vCPU, FP trap, stage 2
// and debug traps, the vGIC control registers and the EL1 registers; SP then
// points at x17 and ELR/SPSR are its own. Keeps x1-x6.
.macro SWITCH_TO_X17
    ldp     x9, x10, [x17, #{link_id}]          // its id, its run-queue entry
    ldr     x12, [sp, #{link_run_entry}]
    mov     x13, #{no_deadline}
    mov     x14, #{blocked}
    stp     x13, x14, [x12, #{wake_at}]         // Blocked, no deadline
    stp     x13, xzr, [x10, #{wake_at}]         // Runnable (0), no deadline
    str     x9, [x8, #{rq_current}]
    str     x9, [x8, #{cpu_loaded}]
    ldp     x12, x13, [x8, #{cpu_fp_owner}]     // FP owner, CPTR with TFP
    cmp     x12, x9
    b.ne    1f
    mov     x13, #{cptr_fp_free}
1:  msr     cptr_el2, x13
    ldp     x12, x13, [x17, #{link_vttbr}]
    msr     vttbr_el2, x12
    msr     mdcr_el2, x13
    mrs     x12, ich_vmcr_el2
    mrs     x13, ich_ap0r0_el2
    mrs     x14, ich_ap1r0_el2
    stp     x12, x13, [sp, #{vgic_vmcr}]
    str     x14, [sp, #{vgic_apr1}]
    strb    wzr, [sp, #{vgic_vtimer_active}]
    ldp     x12, x13, [x17, #{vgic_vmcr}]
    ldr     x14, [x17, #{vgic_apr1}]
    msr     ich_vmcr_el2, x12
    msr     ich_ap0r0_el2, x13
    msr     ich_ap1r0_el2, x14
    add     x12, sp, #{el1}
    add     x13, x17, #{el1}
"#,
        el1_asm!(save, "x12", "x14", "x15"),
        el1_asm!(restore, "x13", "x14", "x15"),
        r#"
    mov     sp, x17
    ldp     x12, x13, [sp, #248]
    msr     elr_el2, x12
    msr     spsr_el2, x13
.endm

.macro LOAD_X8_TO_X30
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
.endm

// CALL: x0 = function id, x1 = slot, x2-x6 = message, SP = the caller's
// context (x6, x7 stored); x7-x17 are free.
.global ipc_call_fast
ipc_call_fast:
    ldp     x8, x9, [sp, #{link_cpu}]           // this CPU, capability slots
    cmp     x1, #{max_cap_slots}
    b.hs    ipc_call_entry
    ldr     w10, [x8, #{cpu_gate}]
    cbnz    w10, ipc_call_entry
    add     x9, x9, x1, lsl #{slot_shift}
    ldp     x10, x11, [x9, #{cap_object}]       // object | access << 32, badge
    tbz     x10, #{call_access_bit}, ipc_call_entry
    cmp     w10, #{max_endpoints}
    b.hs    ipc_call_entry
    add     x12, x8, w10, uxtw #1
    ldrh    w13, [x12, #{ipc_receiving}]        // server receiving + 1
    ldr     x14, [sp, #{link_ipc_id}]           // caller + 1
    cbz     w13, ipc_call_entry
    cmp     w13, w14
    b.eq    ipc_call_entry
    add     x15, x8, x14, lsl #1
    ldrh    w16, [x15, #{ipc_queued_on_1}]
    cbnz    w16, ipc_call_entry                 // the caller is queued
    add     x16, x8, x13, lsl #3
    ldr     x17, [x16, #{cpu_contexts}]         // the server's context
    cbz     x17, ipc_call_entry
    VGIC_QUIET ipc_call_entry, x15, x16
    // Decided: IpcCpu::call_receiving, the waits, the counters.
    strh    wzr, [x12, #{ipc_receiving}]
    add     x15, x8, x13, lsl #1
    strh    w14, [x15, #{ipc_serving_1}]
    ldp     x15, x16, [sp, #264]                // traps, IPC calls
    add     x15, x15, #1
    add     x16, x16, #1
    stp     x15, x16, [sp, #264]
    mov     x15, #{wait_call}
    orr     x15, x15, x10, lsl #32
    stp     x15, x11, [sp, #{ipc_wait}]         // Call {{ endpoint, badge }}
    strb    wzr, [x17, #{ipc_wait}]             // the server: None
    stp     x0, x1, [sp]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    SAVE_OUTGOING
    mov     x1, x11
    SWITCH_TO_X17
    mov     x0, xzr                             // SUCCESS, badge, message
    ldr     x7, [sp, #56]
    LOAD_X8_TO_X30
    eret

// REPLY_RECV: x0 = function id, x1 = slot, x2-x6 = reply, SP = the server's
// context (x6, x7 stored); x7-x17 are free.
.global ipc_reply_recv_fast
ipc_reply_recv_fast:
    ldp     x8, x9, [sp, #{link_cpu}]
    cmp     x1, #{max_cap_slots}
    b.hs    ipc_reply_recv_entry
    ldr     w10, [x8, #{cpu_gate}]
    cbnz    w10, ipc_reply_recv_entry
    add     x9, x9, x1, lsl #{slot_shift}
    ldr     x10, [x9, #{cap_object}]
    tbz     x10, #{recv_access_bit}, ipc_reply_recv_entry
    cmp     w10, #{max_endpoints}
    b.hs    ipc_reply_recv_entry
    ldr     x14, [sp, #{link_ipc_id}]           // server + 1
    add     x15, x8, x14, lsl #1
    ldrh    w16, [x15, #{ipc_serving_1}]        // its caller + 1
    cbz     w16, ipc_reply_recv_entry           // serving nobody
    tbnz    w16, #15, ipc_reply_recv_entry      // the caller has gone
    add     x12, x8, w10, uxtw #1
    ldrh    w13, [x12, #{ipc_head}]
    cbnz    w13, ipc_reply_recv_entry           // callers queued
    ldrh    w13, [x12, #{ipc_server}]
    cmp     w13, w14
    b.ne    ipc_reply_recv_entry                // not this endpoint's server
    add     x13, x8, x16, lsl #3
    ldr     x17, [x13, #{cpu_contexts}]         // the caller's context
    cbz     x17, ipc_reply_recv_entry
    ldrb    w13, [x17, #{ipc_wait}]
    cmp     w13, #{wait_call}
    b.ne    ipc_reply_recv_entry                // a device access
    VGIC_QUIET ipc_reply_recv_entry, x9, x11
    // Decided: IpcCpu::reply_and_wait, the waits, the trap counter.
    strh    wzr, [x15, #{ipc_serving_1}]
    strh    w14, [x12, #{ipc_receiving}]
    ldr     x15, [sp, #264]
    add     x15, x15, #1
    str     x15, [sp, #264]
    strb    wzr, [x17, #{ipc_wait}]             // the caller: None
    mov     x15, #{wait_recv}
    orr     x15, x15, x10, lsl #32
    str     x15, [sp, #{ipc_wait}]              // the server: Recv {{ endpoint }}
    SAVE_OUTGOING
    SWITCH_TO_X17
    mov     x0, xzr                             // SUCCESS, reply
    mov     x1, x2
    mov     x2, x3
    mov     x3, x4
    mov     x4, x5
    mov     x5, x6
    ldp     x6, x7, [sp, #48]
    LOAD_X8_TO_X30
    eret
"#
    ),
    vgic_flags = const VGIC + vgic::FLAGS,
    vgic_outgoing_flags = const vgic::OUTGOING_FLAGS,
    vgic_vmcr = const VGIC + vgic::VMCR,
    vgic_apr1 = const VGIC + vgic::APR1,
    vgic_vtimer_active = const VGIC + vgic::VTIMER_ACTIVE,
    link_cpu = const cpu::LINK_CPU,
    link_id = const cpu::LINK_ID,
    link_run_entry = const cpu::LINK_ID + 8,
    link_ipc_id = const cpu::LINK_IPC_ID,
    link_vttbr = const cpu::LINK_VTTBR,
    cpu_gate = const cpu::CPU_GATE,
    cpu_contexts = const cpu::CPU_CONTEXTS,
    cpu_fp_owner = const cpu::CPU_FP_OWNER,
    cpu_loaded = const cpu::CPU_LOADED,
    cptr_fp_free = const crate::cpu::CPTR_EL2_RES1,
    rq_current = const cpu::CPU_RUN_QUEUE + sched::layout::CURRENT,
    wake_at = const sched::layout::WAKE_AT,
    no_deadline = const sched::layout::NO_DEADLINE as i64,
    blocked = const sched::layout::BLOCKED,
    max_cap_slots = const MAX_CAP_SLOTS,
    max_endpoints = const MAX_ENDPOINTS,
    slot_shift = const captable::layout::SLOT_SHIFT,
    cap_object = const captable::layout::OBJECT,
    call_access_bit = const 32 + captable::layout::access_bit(ObjectKind::Endpoint, rights::CALL),
    recv_access_bit = const 32 + captable::layout::access_bit(ObjectKind::Endpoint, rights::RECV),
    ipc_receiving = const IPC + ipc::layout::RECEIVING,
    ipc_server = const IPC + ipc::layout::SERVER,
    ipc_head = const IPC + ipc::layout::HEAD,
    ipc_serving_1 = const IPC + ipc::layout::SERVING - 2,
    ipc_queued_on_1 = const IPC + ipc::layout::QUEUED_ON - 2,
    ipc_wait = const IPC_WAIT,
    wait_call = const wait::CALL,
    wait_recv = const wait::RECV,
    el1 = const EL1,
);

const _: () = assert!(sched::layout::RUNNABLE == 0, "stored as xzr");
