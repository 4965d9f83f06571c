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
/// trap counter at 264.
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
.macro SAVE_CALLER_SAVED base    // x2-x18, x29, x30 (x0, x1 separately)
    stp     x2, x3, [\base, #16]
    stp     x4, x5, [\base, #32]
    stp     x6, x7, [\base, #48]
    stp     x8, x9, [\base, #64]
    stp     x10, x11, [\base, #80]
    stp     x12, x13, [\base, #96]
    stp     x14, x15, [\base, #112]
    stp     x16, x17, [\base, #128]
    str     x18, [\base, #144]
    stp     x29, x30, [\base, #232]
.endm

.macro SAVE_RESUME_STATE         // x0 = current GuestRegs: ELR, SPSR, trap count (uses x2, x3)
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [x0, #248]
    ldr     x2, [x0, #264]          // GuestRegs.traps
    add     x2, x2, #1
    str     x2, [x0, #264]
.endm

.macro SAVE_GUEST_ENTRY          // x0 = current GuestRegs; saves x0-x18, x29, x30, ELR, SPSR
    mrs     x0, tpidr_el2
    ldr     x0, [x0]                // PerCpu.current_regs
    SAVE_CALLER_SAVED x0
    ldp     x2, x3, [sp], #16       // the guest's x0, x1, pushed by the vector
    stp     x2, x3, [x0, #0]
    SAVE_RESUME_STATE
.endm

.macro HVC_ENTRY_TAIL            // x0 = current GuestRegs: ELR, SPSR, trap count
    SAVE_RESUME_STATE
    mov     x29, xzr
.endm

.macro SAVE_CALLEE_SAVED base    // x19-x28
    stp     x19, x20, [\base, #152]
    stp     x21, x22, [\base, #168]
    stp     x23, x24, [\base, #184]
    stp     x25, x26, [\base, #200]
    stp     x27, x28, [\base, #216]
.endm

.macro RESTORE_CALLER_SAVED base // ELR, SPSR, x2-x18, x29, x30
    ldp     x2, x3, [\base, #248]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x2, x3, [\base, #16]
    ldp     x4, x5, [\base, #32]
    ldp     x6, x7, [\base, #48]
    ldp     x8, x9, [\base, #64]
    ldp     x10, x11, [\base, #80]
    ldp     x12, x13, [\base, #96]
    ldp     x14, x15, [\base, #112]
    ldp     x16, x17, [\base, #128]
    ldr     x18, [\base, #144]
    ldp     x29, x30, [\base, #232]
.endm

.macro LOWER kind
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mov     x1, #\kind
    b       lower_el_common
.endm

.macro LOWER_SYNC
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mrs     x0, esr_el2
    lsr     x0, x0, #26
    cmp     x0, #0x16               // EC = HVC64: the hypercall path
    b.eq    hvc_entry
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

lower_el_common:
    SAVE_GUEST_ENTRY
    SAVE_CALLEE_SAVED x0
    mov     x0, x1
    mov     x29, xzr
    bl      rust_guest_trap         // returns the GuestRegs to resume
    b       restore_guest

// Hypercalls follow SMCCC: the caller expects x0-x17 changed and x18-x30
// kept. Only x0-x18, x29, x30, ELR and SPSR are saved on the way in; Rust
// keeps x19-x28 intact (AAPCS64 callee-saved), so when the same vCPU resumes
// they are still in the registers. Rust returns x0 = the GuestRegs to resume
// and x1 = 0 (same vCPU, nothing else to do), 1 (restore x0 fully; the
// trapped vCPU's x19-x28 are dead, it was reset) or the trapped vCPU's
// GuestRegs, where x19-x28 are stored before restoring x0 fully.
//
// Function ids CALL..=REPLY_RECV go to `rust_ipc_trap` (the IPC fast path),
// tested here so that no other call pays for it. Those calls carry
// arguments in x1..x6 and the ABI (docs/abi.md) lets every Bulkhead call
// change x0..x17, so x7..x17 are not saved for them: when the vCPU resumes
// they hold what it had at an earlier trap, its own values.
hvc_entry:
    mrs     x0, tpidr_el2
    ldr     x0, [x0]                // PerCpu.current_regs
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    ldp     x2, x3, [sp], #16       // the guest's x0 (function id), x1
    stp     x2, x3, [x0, #0]
    mov     w1, #{ipc_first_lo}
    movk    w1, #{ipc_first_hi}, lsl #16
    sub     w1, w2, w1              // function id - CALL
    cmp     w1, #{ipc_span}
    b.ls    2f
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    str     x18, [x0, #144]
    stp     x29, x30, [x0, #232]
    HVC_ENTRY_TAIL
    bl      rust_hvc_trap
    b       3f
2:  str     x6, [x0, #48]
    str     x18, [x0, #144]
    stp     x29, x30, [x0, #232]
    HVC_ENTRY_TAIL                  // keeps w1 = function id - CALL
    bl      rust_ipc_trap
3:  cbnz    x1, 1f
    RESTORE_CALLER_SAVED x0
    ldp     x0, x1, [x0, #0]
    eret
1:  cmp     x1, #1
    b.eq    restore_guest
    SAVE_CALLEE_SAVED x1
    b       restore_guest

// x0 = &GuestRegs, x1 = the stack top to run on from now.
.global enter_guest
enter_guest:
    mov     sp, x1
restore_guest:
    RESTORE_CALLER_SAVED x0
    ldp     x19, x20, [x0, #152]
    ldp     x21, x22, [x0, #168]
    ldp     x23, x24, [x0, #184]
    ldp     x25, x26, [x0, #200]
    ldp     x27, x28, [x0, #216]
    ldp     x0, x1, [x0, #0]
    eret

current_el_common:
    SAVE_CALLER_SAVED sp
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
    ipc_first_lo = const abi::ipc::CALL & 0xffff,
    ipc_first_hi = const abi::ipc::CALL >> 16,
    ipc_span = const abi::ipc::REPLY_RECV - abi::ipc::CALL,
);

extern "C" {
    /// The vector table (2 KiB aligned).
    pub static el2_vectors: [u8; 0x800];
    /// Restores `regs` and enters the guest, running on `stack_top` from now.
    pub fn enter_guest(regs: *const GuestRegs, stack_top: usize) -> !;
}

const _: () = assert!(core::mem::size_of::<GuestRegs>() == 272);
const _: () = assert!(core::mem::size_of::<El2Frame>() == 288);
