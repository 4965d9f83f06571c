//! The EL2 exception vector table (Arm ARM D1.10.2) and the guest entry/exit
//! path: a trap from a lower EL saves the guest's general registers into the
//! current vCPU's [`GuestRegs`], Rust decides, and the registers of whichever
//! vCPU should run next are restored before `eret`.
//!
//! An exception taken from EL2 itself is a core bug (or a stack overflow into a
//! guard page): it switches to this CPU's emergency stack, saves every
//! register and reports. The emergency stack's address comes from the per-CPU
//! data, never from SP_EL0, which holds whatever the last guest put there.

use core::arch::global_asm;

/// General registers of a vCPU as the vectors save them. Offsets are used by
/// the assembly below: x0..x30 at 0, ELR_EL2 at 248, SPSR_EL2 at 256, the
/// trap counter at 264, the IPC call counter at 272.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestRegs {
    /// x0..x30.
    pub x: [u64; 31],
    /// Where the guest resumes.
    pub elr: u64,
    /// The guest's PSTATE on resume.
    pub spsr: u64,
    /// Exceptions taken from this vCPU since boot, counted by the vectors.
    pub traps: u64,
    /// IPC calls (CALL) this vCPU made since boot; next to `traps`, so that
    /// the IPC fast path counts both with one load and store pair.
    pub ipc_calls: u64,
}

/// What the vectors report to Rust: which kind of exception came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum TrapKind {
    /// Synchronous exception from a lower EL (AArch64).
    Sync = 0,
    /// IRQ while a guest ran.
    Irq = 1,
    /// FIQ while a guest ran.
    Fiq = 2,
    /// SError while a guest ran.
    SError = 3,
    /// Anything from a lower EL in AArch32 (not supported).
    Aarch32 = 4,
}

impl TrapKind {
    /// Decodes the vector's code.
    pub fn from_code(code: u64) -> Self {
        match code {
            0 => Self::Sync,
            1 => Self::Irq,
            2 => Self::Fiq,
            3 => Self::SError,
            _ => Self::Aarch32,
        }
    }
}

/// What `rust_hvc_trap` returns to the hypercall path (x0, x1).
#[repr(C)]
#[derive(Debug)]
pub struct HvcReturn {
    /// Registers of the vCPU to resume.
    pub next: *mut GuestRegs,
    /// 0: resume the trapped vCPU as it is; 1: restore `next` fully;
    /// otherwise the trapped vCPU's registers, to store x19-x28 into first.
    pub trapped: usize,
}

/// Registers saved when EL2 itself takes an exception.
#[repr(C)]
#[derive(Debug)]
pub struct El2Frame {
    /// x0..x30.
    pub x: [u64; 31],
    /// SP_EL2 at the time of the exception.
    pub sp: u64,
    /// ELR_EL2.
    pub elr: u64,
    /// SPSR_EL2.
    pub spsr: u64,
    /// ESR_EL2.
    pub esr: u64,
    /// FAR_EL2.
    pub far: u64,
}

global_asm!(
    r#"
// While a vCPU runs, SP_EL2 points at its context (`VcpuContext`, whose
// first field is its `GuestRegs`), so a trap stores the guest's registers
// straight there. Rust runs on this CPU's stack, whose top the context
// names (`VcpuLinks::stack_top`); it returns the context to resume, and SP
// points at that one again before `eret`.

.macro SAVE_X2_TO_X5
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
.endm

.macro SAVE_X8_TO_X18
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    str     x18, [sp, #144]
.endm

.macro SAVE_RESUME_STATE         // ELR, SPSR and the trap count (uses x2, x3)
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [sp, #248]
    ldr     x2, [sp, #264]          // GuestRegs.traps
    add     x2, x2, #1
    str     x2, [sp, #264]
.endm

.macro SAVE_CALLEE_SAVED base    // x19-x28
    stp     x19, x20, [\base, #152]
    stp     x21, x22, [\base, #168]
    stp     x23, x24, [\base, #184]
    stp     x25, x26, [\base, #200]
    stp     x27, x28, [\base, #216]
.endm

.macro TO_CORE_STACK scratch     // SP = this CPU's stack top
    ldr     \scratch, [sp, #{stack_top}]
    mov     sp, \scratch
    mov     x29, xzr
.endm

.macro RESTORE_CALLER_SAVED      // ELR, SPSR, x2-x18, x29, x30 from [SP]
    ldp     x2, x3, [sp, #248]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldr     x18, [sp, #144]
    ldp     x29, x30, [sp, #232]
.endm

.macro LOWER kind
    .balign 0x80
    stp     x0, x1, [sp]
    mov     x1, #\kind
    b       lower_el_common
.endm

// `HVC #0` is recognised here from the whole syndrome: rotated right by 20,
// an ESR_EL2 with EC = HVC64, IL = 1 and ISS (the immediate) = 0 reads
// {hvc0_rotated} (Arm ARM D17.2.37), so a non-zero immediate, which no
// Bulkhead call uses, takes the general path. CALL and REPLY_RECV branch
// off to the IPC fast path (`ipc_fast.rs`) before anything else is saved
// (x7 is free once stored with x6).
.macro LOWER_SYNC
    .balign 0x80
    stp     x6, x7, [sp, #48]
    mrs     x7, esr_el2
    ror     w7, w7, #20
    cmp     w7, #{hvc0_rotated}
    b.ne    1f
    movz    w7, #{call_hi}, lsl #16
    movk    w7, #{call_lo}
    cmp     w0, w7
    b.eq    ipc_call_fast
    add     w7, w7, #{reply_recv_offset}
    cmp     w0, w7
    b.eq    ipc_reply_recv_fast
    b       hvc_entry
1:  ldr     x7, [sp, #56]           // the guest's x7 again: lower_el_common stores it
    stp     x0, x1, [sp]
    mov     x1, #0
    b       lower_el_common
.endm

.macro CURRENT kind
    .balign 0x80
    // SP_EL0 holds the last guest's value: load this CPU's emergency stack
    // top instead. x0 is parked in SP_EL0 meanwhile (the guest's SP_EL0 is
    // lost, but an EL2 exception stops the system anyway), then SP and x0
    // are swapped back without a scratch register.
    msr     spsel, #0
    mov     sp, x0
    mrs     x0, tpidr_el2
    ldr     x0, [x0, #{emergency_stack_top}]
    add     sp, sp, x0              // sp = x0_orig + top
    sub     x0, sp, x0              // x0 = x0_orig
    sub     sp, sp, x0              // sp = top
    sub     sp, sp, #288
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       current_el_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global el2_vectors
el2_vectors:
    CURRENT 0
    CURRENT 1
    CURRENT 2
    CURRENT 3
    CURRENT 0
    CURRENT 1
    CURRENT 2
    CURRENT 3
    LOWER_SYNC
    LOWER 1
    LOWER 2
    LOWER 3
    LOWER 4
    LOWER 4
    LOWER 4
    LOWER 4

// x0, x1 stored, x1 = the kind of exception.
lower_el_common:
    SAVE_X2_TO_X5
    stp     x6, x7, [sp, #48]
    SAVE_X8_TO_X18
    stp     x29, x30, [sp, #232]
    SAVE_RESUME_STATE
    SAVE_CALLEE_SAVED sp
    mov     x0, x1
    TO_CORE_STACK x1
    bl      rust_guest_trap         // returns the context to resume
    b       restore_guest

// Hypercalls follow SMCCC: the caller expects x0-x17 changed and x18-x30
// kept. Only x0-x18, x29, x30, ELR and SPSR are saved on the way in; Rust
// keeps x19-x28 intact (AAPCS64 callee-saved), so when the same vCPU resumes
// they are still in the registers. Rust returns x0 = the context to resume
// and x1 = 0 (same vCPU, nothing else to do), 1 (restore x0 fully; the
// trapped vCPU's x19-x28 are dead, it was reset) or the trapped vCPU's
// context, where x19-x28 are stored before restoring x0 fully.
// (x6 and x7 were stored by the vector.)
hvc_entry:
    stp     x0, x1, [sp]
    SAVE_X2_TO_X5
    SAVE_X8_TO_X18
    stp     x29, x30, [sp, #232]
    SAVE_RESUME_STATE
    mov     x0, sp
    TO_CORE_STACK x1
    bl      rust_hvc_trap
hvc_return:
    cbnz    x1, 1f
    mov     sp, x0
    RESTORE_CALLER_SAVED
    ldp     x0, x1, [sp]
    eret
1:  cmp     x1, #1
    b.eq    restore_guest
    SAVE_CALLEE_SAVED x1
    b       restore_guest

// CALL and REPLY_RECV that the assembly fast path (`ipc_fast.rs`) declined
// go to `rust_ipc_trap` (the Rust fast path, then the general one) with the
// function id's offset from CALL in w1. These calls carry arguments in
// x1..x6 and the ABI (docs/abi.md) lets every Bulkhead call change x0..x17,
// so x8..x17 are not saved for them: when the vCPU resumes they hold what
// it had at an earlier trap, its own values.
.global ipc_call_entry
ipc_call_entry:
    mov     w8, #0
    b       ipc_entry
.global ipc_reply_recv_entry
ipc_reply_recv_entry:
    mov     w8, #{reply_recv_offset}
ipc_entry:
    stp     x0, x1, [sp]
    SAVE_X2_TO_X5
    str     x18, [sp, #144]
    stp     x29, x30, [sp, #232]
    SAVE_RESUME_STATE
    mov     x0, sp
    mov     w1, w8
    TO_CORE_STACK x8
    bl      rust_ipc_trap
    b       hvc_return

// x0 = the context to enter; the current stack is abandoned.
.global enter_guest
enter_guest:
restore_guest:
    mov     sp, x0
    RESTORE_CALLER_SAVED
    ldp     x19, x20, [sp, #152]
    ldp     x21, x22, [sp, #168]
    ldp     x23, x24, [sp, #184]
    ldp     x25, x26, [sp, #200]
    ldp     x27, x28, [sp, #216]
    ldp     x0, x1, [sp]
    eret

current_el_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    SAVE_X8_TO_X18
    stp     x29, x30, [sp, #232]
    SAVE_CALLEE_SAVED sp
    msr     spsel, #1               // SP_EL2 cannot be read at EL2 with mrs
    mov     x2, sp
    msr     spsel, #0
    str     x2, [sp, #248]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [sp, #256]
    mrs     x2, esr_el2
    mrs     x3, far_el2
    stp     x2, x3, [sp, #272]
    mov     x0, sp
    mov     x29, xzr
    bl      rust_el2_exception
9:  wfe
    b       9b
"#,
    emergency_stack_top = const super::percpu::EMERGENCY_STACK_TOP_OFFSET,
    stack_top = const crate::partition::STACK_TOP_OFFSET,
    hvc0_rotated = const HVC0_ESR.rotate_right(20),
    call_hi = const abi::ipc::CALL >> 16,
    call_lo = const abi::ipc::CALL & 0xffff,
    reply_recv_offset = const abi::ipc::REPLY_RECV - abi::ipc::CALL,
);

/// ESR_EL2 of `HVC #0` from AArch64: EC 0x16, IL, immediate 0 (Arm ARM
/// D17.2.37).
const HVC0_ESR: u32 = 0x16 << 26 | 1 << 25;
const _: () = assert!(HVC0_ESR.rotate_right(20) < 4096, "a cmp immediate");

extern "C" {
    /// The vector table (2 KiB aligned).
    pub static el2_vectors: [u8; 0x800];
    /// Restores `regs` (the start of a vCPU context) and enters the guest;
    /// the stack of the caller is abandoned.
    pub fn enter_guest(regs: *const GuestRegs) -> !;
}

const _: () = assert!(core::mem::offset_of!(GuestRegs, traps) == 264);
const _: () = assert!(core::mem::offset_of!(GuestRegs, ipc_calls) == 272);
const _: () = assert!(core::mem::size_of::<El2Frame>() == 288);
