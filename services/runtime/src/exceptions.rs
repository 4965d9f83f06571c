//! The EL1 exception vectors (Arm ARM DDI 0487, D1.3.1 "Exception vectors"):
//! every entry saves the interrupted context — general registers, ELR/SPSR,
//! and all of the FP/SIMD state, since Rust handlers may use SIMD registers —
//! and calls [`handle_exception`]. IRQ and FIQ go to [`crate::irq`]; a
//! synchronous exception or SError is reported on the console and the
//! partition aborts with `ABORT_EXCEPTION`, so the core applies its restart
//! policy.
//!
//! One synchronous exception is not fatal: `HVC #0`/`SMC #0` taking an
//! Undefined Instruction exception means there is no hypervisor (bare metal,
//! e.g. QEMU without EL2). The runtime then answers that call and every later
//! one with NOT_SUPPORTED itself, and the console falls back to the UART.

use crate::{console, hvc, irq, syndrome};
use aarch64_cpu::registers::{Readable, ESR_EL1, FAR_EL1};
use core::arch::global_asm;
use core::mem::{offset_of, size_of};

/// The context the vectors save, on the interrupted stack.
#[repr(C)]
#[derive(Debug)]
pub struct ExceptionFrame {
    /// x0..x30.
    pub x: [u64; 31],
    /// ELR_EL1: where execution resumes.
    pub elr: u64,
    /// SPSR_EL1: the PSTATE restored on return.
    pub spsr: u64,
    /// FPSR.
    pub fpsr: u64,
    /// FPCR.
    pub fpcr: u64,
    /// q0..q31 (16-byte aligned: the compiler pads before it).
    pub q: [u128; 32],
}

const FRAME_SIZE: usize = size_of::<ExceptionFrame>();
const FRAME_ELR: usize = offset_of!(ExceptionFrame, elr);
const FRAME_FPSR: usize = offset_of!(ExceptionFrame, fpsr);
const FRAME_Q: usize = offset_of!(ExceptionFrame, q);
// The assembly stores x30 alone at 240 and pairs from ELR on; check the
// layout matches and keeps SP 16-byte aligned.
const _: () = assert!(FRAME_ELR == 31 * 8);
const _: () = assert!(offset_of!(ExceptionFrame, spsr) == FRAME_ELR + 8);
const _: () = assert!(offset_of!(ExceptionFrame, fpcr) == FRAME_FPSR + 8);
const _: () = assert!(FRAME_Q.is_multiple_of(16) && FRAME_SIZE.is_multiple_of(16));

/// Vector offsets / 0x80: which of the sixteen entries was taken.
mod vector {
    /// Synchronous, current EL, SP_ELx.
    pub const CURRENT_SPX_SYNC: u64 = 4;
    /// IRQ, current EL, SP_ELx.
    pub const CURRENT_SPX_IRQ: u64 = 5;
    /// FIQ, current EL, SP_ELx.
    pub const CURRENT_SPX_FIQ: u64 = 6;
}

// The FP/SIMD registers are part of the saved context only when the program
// is built with FP/SIMD (`aarch64-unknown-none`): Rust code run by the
// handlers may then use them. A soft-float program never touches them, so
// its exceptions neither save them nor make the core switch them in.
#[cfg(target_feature = "neon")]
global_asm!(
    ".macro SAVE_FP",
    "    mrs     x1, fpsr",
    "    mrs     x2, fpcr",
    "    stp     x1, x2, [sp, #{fpsr}]",
    "    add     x1, sp, #{q}",
    "    stp     q0, q1, [x1, #0]",
    "    stp     q2, q3, [x1, #32]",
    "    stp     q4, q5, [x1, #64]",
    "    stp     q6, q7, [x1, #96]",
    "    stp     q8, q9, [x1, #128]",
    "    stp     q10, q11, [x1, #160]",
    "    stp     q12, q13, [x1, #192]",
    "    stp     q14, q15, [x1, #224]",
    "    stp     q16, q17, [x1, #256]",
    "    stp     q18, q19, [x1, #288]",
    "    stp     q20, q21, [x1, #320]",
    "    stp     q22, q23, [x1, #352]",
    "    stp     q24, q25, [x1, #384]",
    "    stp     q26, q27, [x1, #416]",
    "    stp     q28, q29, [x1, #448]",
    "    stp     q30, q31, [x1, #480]",
    ".endm",
    ".macro RESTORE_FP",
    "    add     x1, sp, #{q}",
    "    ldp     q0, q1, [x1, #0]",
    "    ldp     q2, q3, [x1, #32]",
    "    ldp     q4, q5, [x1, #64]",
    "    ldp     q6, q7, [x1, #96]",
    "    ldp     q8, q9, [x1, #128]",
    "    ldp     q10, q11, [x1, #160]",
    "    ldp     q12, q13, [x1, #192]",
    "    ldp     q14, q15, [x1, #224]",
    "    ldp     q16, q17, [x1, #256]",
    "    ldp     q18, q19, [x1, #288]",
    "    ldp     q20, q21, [x1, #320]",
    "    ldp     q22, q23, [x1, #352]",
    "    ldp     q24, q25, [x1, #384]",
    "    ldp     q26, q27, [x1, #416]",
    "    ldp     q28, q29, [x1, #448]",
    "    ldp     q30, q31, [x1, #480]",
    "    ldp     x1, x2, [sp, #{fpsr}]",
    "    msr     fpsr, x1",
    "    msr     fpcr, x2",
    ".endm",
    fpsr = const FRAME_FPSR,
    q = const FRAME_Q,
);

// No FP/SIMD state to save in a soft-float program (see above).
#[cfg(not(target_feature = "neon"))]
global_asm!(".macro SAVE_FP", ".endm", ".macro RESTORE_FP", ".endm");

global_asm!(
    ".macro BULKHEAD_VECTOR kind",
    "    .balign 0x80",
    "    sub     sp, sp, #{frame_size}",
    "    stp     x0, x1, [sp]",
    "    mov     x0, #\\kind",
    "    b       __bulkhead_exception_common",
    ".endm",
    "",
    ".pushsection .text.vectors, \"ax\"",
    ".balign 0x800",
    ".global __bulkhead_vectors",
    "__bulkhead_vectors:",
    "    BULKHEAD_VECTOR 0",
    "    BULKHEAD_VECTOR 1",
    "    BULKHEAD_VECTOR 2",
    "    BULKHEAD_VECTOR 3",
    "    BULKHEAD_VECTOR 4",
    "    BULKHEAD_VECTOR 5",
    "    BULKHEAD_VECTOR 6",
    "    BULKHEAD_VECTOR 7",
    "    BULKHEAD_VECTOR 8",
    "    BULKHEAD_VECTOR 9",
    "    BULKHEAD_VECTOR 10",
    "    BULKHEAD_VECTOR 11",
    "    BULKHEAD_VECTOR 12",
    "    BULKHEAD_VECTOR 13",
    "    BULKHEAD_VECTOR 14",
    "    BULKHEAD_VECTOR 15",
    "",
    // x0 = vector kind; x0/x1 of the interrupted code are already saved.
    "__bulkhead_exception_common:",
    "    stp     x2, x3, [sp, #16]",
    "    stp     x4, x5, [sp, #32]",
    "    stp     x6, x7, [sp, #48]",
    "    stp     x8, x9, [sp, #64]",
    "    stp     x10, x11, [sp, #80]",
    "    stp     x12, x13, [sp, #96]",
    "    stp     x14, x15, [sp, #112]",
    "    stp     x16, x17, [sp, #128]",
    "    stp     x18, x19, [sp, #144]",
    "    stp     x20, x21, [sp, #160]",
    "    stp     x22, x23, [sp, #176]",
    "    stp     x24, x25, [sp, #192]",
    "    stp     x26, x27, [sp, #208]",
    "    stp     x28, x29, [sp, #224]",
    "    str     x30, [sp, #240]",
    "    mrs     x1, elr_el1",
    "    mrs     x2, spsr_el1",
    "    stp     x1, x2, [sp, #{elr}]",
    "    SAVE_FP",
    "    mov     x1, sp",
    "    bl      {handler}",
    "    RESTORE_FP",
    "    ldp     x1, x2, [sp, #{elr}]",
    "    msr     elr_el1, x1",
    "    msr     spsr_el1, x2",
    "    ldp     x2, x3, [sp, #16]",
    "    ldp     x4, x5, [sp, #32]",
    "    ldp     x6, x7, [sp, #48]",
    "    ldp     x8, x9, [sp, #64]",
    "    ldp     x10, x11, [sp, #80]",
    "    ldp     x12, x13, [sp, #96]",
    "    ldp     x14, x15, [sp, #112]",
    "    ldp     x16, x17, [sp, #128]",
    "    ldp     x18, x19, [sp, #144]",
    "    ldp     x20, x21, [sp, #160]",
    "    ldp     x22, x23, [sp, #176]",
    "    ldp     x24, x25, [sp, #192]",
    "    ldp     x26, x27, [sp, #208]",
    "    ldp     x28, x29, [sp, #224]",
    "    ldr     x30, [sp, #240]",
    "    ldp     x0, x1, [sp]",
    "    add     sp, sp, #{frame_size}",
    "    eret",
    ".popsection",
    frame_size = const FRAME_SIZE,
    elr = const FRAME_ELR,
    handler = sym handle_exception,
);

/// Called by the vectors with the entry taken and the saved context.
extern "C" fn handle_exception(kind: u64, frame: *mut ExceptionFrame) {
    // SAFETY: the vectors pass the frame they just built on this stack; it is
    // not otherwise accessed until this handler returns.
    let frame = unsafe { &mut *frame };
    match kind {
        vector::CURRENT_SPX_SYNC => handle_synchronous(frame),
        vector::CURRENT_SPX_IRQ | vector::CURRENT_SPX_FIQ => irq::dispatch(),
        // SError, or an entry for SP_EL0 / a lower EL, which this program
        // never uses: nothing sensible to resume.
        _ => report_and_abort("unexpected exception vector", kind, frame),
    }
}

fn handle_synchronous(frame: &mut ExceptionFrame) {
    let esr = ESR_EL1.get();
    if syndrome::exception_class(esr) == syndrome::EC_UNKNOWN
        && syndrome::is_runtime_call_instruction(instruction_at(frame.elr))
    {
        // No EL2 (or EL3) took the call: there is no hypervisor. Answer it.
        hvc::note_hypervisor_absent();
        frame.x[0] = abi::Error::NotSupported.code() as u64;
        frame.elr = frame.elr.wrapping_add(4);
        return;
    }
    report_and_abort("synchronous exception", vector::CURRENT_SPX_SYNC, frame);
}

/// The instruction at `elr`, which raised an exception of class "unknown":
/// such an exception comes from an instruction that was fetched and decoded.
fn instruction_at(elr: u64) -> u32 {
    if !elr.is_multiple_of(4) {
        return 0;
    }
    // SAFETY: an EC=0 exception is taken on an instruction that was fetched,
    // so `elr` is a mapped, aligned code address; reading it has no effect.
    unsafe { (elr as *const u32).read_volatile() }
}

fn report_and_abort(what: &str, kind: u64, frame: &ExceptionFrame) -> ! {
    let esr = ESR_EL1.get();
    let far = FAR_EL1.get();
    let class = syndrome::exception_class(esr);
    console::emergency_print(format_args!(
        "{what} (vector {kind}): {} (EC {class:#04x}), ESR_EL1 {esr:#x}, ELR_EL1 {:#x}, FAR_EL1 {far:#x}, SPSR {:#x}\n",
        syndrome::describe_class(class),
        frame.elr,
        frame.spsr,
    ));
    hvc::abort_exception(esr, frame.elr, far)
}
