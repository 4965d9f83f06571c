//! Holding a known FP/SIMD state in the registers across other work, for
//! tests that the core keeps each partition's FP state its own
//! (`testguest`'s `fp-keep` and `fp-server`). The state stays in the
//! registers only inside one `asm!` block, since compiled code may use any
//! vector register.

use crate::hvc::smccc_asm;

/// The FP/SIMD state a partition can see: q0..q31, FPCR, FPSR, in the
/// layout [`hold`] loads and stores.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpState {
    /// q0..q31.
    pub q: [u128; 32],
    /// FPCR.
    pub fpcr: u64,
    /// FPSR.
    pub fpsr: u64,
}

impl FpState {
    /// All zero.
    pub const ZERO: Self = Self {
        q: [0; 32],
        fpcr: 0,
        fpsr: 0,
    };
}

/// FPCR bits that keep what is written on the cores Bulkhead runs on:
/// AHP, DN, FZ and RMode (26:22).
pub const FPCR_WRITABLE: u64 = 0x1f << 22;
/// FPSR bits that do: QC (27) and the cumulative exception flags (7, 4:0).
pub const FPSR_WRITABLE: u64 = 1 << 27 | 0x9f;

/// Loads `pattern` into the FP/SIMD registers, spins `rounds` integer
/// rounds, makes the hypercall `function` with x1..x6 = `args` unless
/// `function` is 0, and stores the registers into `read`; then clears FPCR
/// and FPSR for the compiled code. Returns x0..x6 of the call. Only
/// FPCR and FPSR bits in [`FPCR_WRITABLE`] and [`FPSR_WRITABLE`] read back
/// as written.
pub fn hold(
    pattern: &FpState,
    read: &mut FpState,
    rounds: u64,
    function: u32,
    args: [u64; 6],
) -> [u64; 7] {
    // The asm reads the 528 bytes of `pattern` and writes the 528 bytes of
    // `read` (both `FpState`s, 16-byte aligned, at the offsets its layout
    // gives), changes only the registers declared (every vector register,
    // FPCR and FPSR, which it leaves zero as they were for the compiled
    // code), and makes a hypercall, which changes only x0..x17 (declared)
    // and writes no memory of this partition.
    // SAFETY: sound for the reasons just given.
    unsafe {
        smccc_asm!(
            [
            "ldp q0, q1, [x20, #0]", "ldp q2, q3, [x20, #32]", "ldp q4, q5, [x20, #64]",
            "ldp q6, q7, [x20, #96]", "ldp q8, q9, [x20, #128]", "ldp q10, q11, [x20, #160]",
            "ldp q12, q13, [x20, #192]", "ldp q14, q15, [x20, #224]", "ldp q16, q17, [x20, #256]",
            "ldp q18, q19, [x20, #288]", "ldp q20, q21, [x20, #320]", "ldp q22, q23, [x20, #352]",
            "ldp q24, q25, [x20, #384]", "ldp q26, q27, [x20, #416]", "ldp q28, q29, [x20, #448]",
            "ldp q30, q31, [x20, #480]",
            "ldr x23, [x20, #512]",
            "ldr x24, [x20, #520]",
            "msr fpcr, x23",
            "msr fpsr, x24",
            "cbz x22, 3f",
            "2:",
            "subs x22, x22, #1",
            "b.ne 2b",
            "3:",
            "cbz x0, 4f",
            "hvc #0",
            "4:",
            "stp q0, q1, [x21, #0]", "stp q2, q3, [x21, #32]", "stp q4, q5, [x21, #64]",
            "stp q6, q7, [x21, #96]", "stp q8, q9, [x21, #128]", "stp q10, q11, [x21, #160]",
            "stp q12, q13, [x21, #192]", "stp q14, q15, [x21, #224]", "stp q16, q17, [x21, #256]",
            "stp q18, q19, [x21, #288]", "stp q20, q21, [x21, #320]", "stp q22, q23, [x21, #352]",
            "stp q24, q25, [x21, #384]", "stp q26, q27, [x21, #416]", "stp q28, q29, [x21, #448]",
            "stp q30, q31, [x21, #480]",
            "mrs x23, fpcr",
            "mrs x24, fpsr",
            "str x23, [x21, #512]",
            "str x24, [x21, #520]",
            "msr fpcr, xzr",
            "msr fpsr, xzr",
            ],
            function,
            args,
            in("x20") pattern as *const FpState,
            in("x21") read as *mut FpState,
            inout("x22") rounds => _,
            out("x23") _,
            out("x24") _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _,
            out("v5") _, out("v6") _, out("v7") _, out("v8") _, out("v9") _,
            out("v10") _, out("v11") _, out("v12") _, out("v13") _, out("v14") _,
            out("v15") _, out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _, out("v24") _,
            out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _,
            out("v30") _, out("v31") _,
            options(nostack),
        )
    }
}
