//! Where a partition program starts: the boot code for vCPU 0 (the first byte
//! of the image), the entry for secondary vCPUs started with PSCI `CPU_ON`,
//! the per-vCPU stacks, and the identity map both switch on before any Rust
//! code runs.
//!
//! The image starts with an arm64 Linux Image header (the kernel's
//! Documentation/arch/arm64/booting.rst), whose first word branches over it:
//! the entry is still the first byte, and `image_size` tells the config tool
//! (and QEMU's loader) how much memory the program occupies once running —
//! `.bss` and stacks included, which the flat file does not hold — so the
//! device tree is placed clear of them.
//!
//! The core's contract: vCPU 0 enters at the image base at EL1h with the MMU
//! and caches off, DAIF masked and x0 = the IPA of its device tree; a vCPU
//! started by `CPU_ON` enters at the given entry the same way with x0 = the
//! context id, and reads its index in MPIDR_EL1.Aff0.
//!
//! Nothing is written to memory before the MMU and caches are on, so no stale
//! cache line can hide what was written with caches off (Arm ARM DDI 0487,
//! D7.5.10 "Behavior of caches at reset" and the mismatched-attribute rules of
//! B2.12): the translation table is a constant in `.rodata`, and `.bss` is
//! zeroed through the cache.

use crate::translation_table::{
    TranslationTable, MAIR_EL1_VALUE, SCTLR_EL1_CLEAR, SCTLR_EL1_SET, TCR_EL1_IPS_MAX,
    TCR_EL1_IPS_SHIFT, TCR_EL1_WITHOUT_IPS,
};
use core::arch::global_asm;

include!(concat!(env!("OUT_DIR"), "/partition_base.rs"));

/// Most vCPUs a partition program can run on (one stack each).
pub const MAX_VCPUS: usize = 8;
/// Bytes of stack per vCPU.
pub const STACK_SIZE: usize = 64 * 1024;

/// The vCPU stacks. Only the entry code touches them (by address); they sit in
/// the NOLOAD `.stacks` section after `.bss`, so they cost nothing in the image
/// and are not zeroed.
#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; MAX_VCPUS]);

#[link_section = ".stacks"]
static mut STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_VCPUS]);

/// The level-1 table TTBR0_EL1 points at; see [`crate::translation_table`].
static TRANSLATION_TABLE: TranslationTable = TranslationTable::identity(PARTITION_BASE);

/// CPACR_EL1.FPEN = 0b11 (Arm ARM D23.2.34): FP/SIMD does not trap at EL1/EL0;
/// Rust uses SIMD registers for ordinary copies.
const CPACR_EL1_FPEN: u64 = 0b11 << 20;
/// Image header `text_offset`: where the image sits above a 2 MiB aligned base
/// (booting.rst), which is how loaders find the link address from the header.
const IMAGE_TEXT_OFFSET: u64 = PARTITION_BASE % (2 * 1024 * 1024);
/// The Image header magic, "ARM\x64" little-endian.
const IMAGE_MAGIC: u32 = 0x644d_5241;

/// PSCI CPU_OFF, for a vCPU that has no stack to run on.
const PSCI_CPU_OFF: u32 = abi::psci::CPU_OFF;

global_asm!(
    // Loads a 64-bit constant with four moves (no literal pool needed).
    ".macro BULKHEAD_MOV64 reg, value",
    "    movz \\reg, #((\\value) & 0xffff)",
    "    movk \\reg, #(((\\value) >> 16) & 0xffff), lsl #16",
    "    movk \\reg, #(((\\value) >> 32) & 0xffff), lsl #32",
    "    movk \\reg, #(((\\value) >> 48) & 0xffff), lsl #48",
    ".endm",
    "",
    ".pushsection .text.boot, \"ax\"",
    ".global _start",
    "_start:",
    // arm64 Image header (booting.rst, "Call the kernel image"), 64 bytes.
    "    b       .Lbulkhead_boot",        // code0: over the header
    "    .word   0",                      // code1
    "    .quad   {text_offset}",          // text_offset
    "    .quad   __image_size",           // image_size: __image_end - __image_start
    "    .quad   0",                      // flags: little-endian, 4K/any page, near DRAM base
    "    .quad   0",                      // res2
    "    .quad   0",                      // res3
    "    .quad   0",                      // res4
    "    .word   {magic}",                // magic
    "    .word   0",                      // res5: no PE/COFF header
    ".Lbulkhead_boot:",
    // x19 keeps the device tree address until Rust gets it.
    "    mov     x19, x0",
    "    bl      __bulkhead_cpu_setup",
    // SP = top of stack 0.
    "    adrp    x0, {stacks}",
    "    add     x0, x0, :lo12:{stacks}",
    "    mov     x1, #{stack_size}",
    "    add     sp, x0, x1",
    // Zero .bss (16-byte aligned at both ends by the linker script).
    "    adrp    x0, __bss_start",
    "    add     x0, x0, :lo12:__bss_start",
    "    adrp    x1, __bss_end",
    "    add     x1, x1, :lo12:__bss_end",
    ".Lbulkhead_zero_bss:",
    "    cmp     x0, x1",
    "    b.hs    .Lbulkhead_bss_done",
    "    stp     xzr, xzr, [x0], #16",
    "    b       .Lbulkhead_zero_bss",
    ".Lbulkhead_bss_done:",
    "    mov     x0, x19",
    "    bl      {primary_start}",
    "    b       .",
    "",
    // CPU_ON entry: x0 = context id. The stack comes from MPIDR_EL1.Aff0, the
    // vCPU index the core guarantees, so a wrong context cannot make two
    // vCPUs share a stack.
    ".global __bulkhead_secondary_entry",
    "__bulkhead_secondary_entry:",
    "    mrs     x19, mpidr_el1",
    "    and     x19, x19, #0xff",
    "    cmp     x19, #{max_vcpus}",
    "    b.hs    .Lbulkhead_no_stack",
    "    bl      __bulkhead_cpu_setup",
    "    adrp    x0, {stacks}",
    "    add     x0, x0, :lo12:{stacks}",
    "    mov     x1, #{stack_size}",
    "    madd    x0, x19, x1, x0",
    "    add     sp, x0, x1",
    "    mov     x0, x19",
    "    bl      {secondary_start}",
    "    b       .",
    ".Lbulkhead_no_stack:",
    "    BULKHEAD_MOV64 x0, {psci_cpu_off}",
    "    hvc     #0",
    "    b       .",
    "",
    // Per-vCPU setup shared by both entries; uses x0-x2 only and no memory.
    "__bulkhead_cpu_setup:",
    // Exceptions go to the runtime's vectors from now on.
    "    adrp    x0, __bulkhead_vectors",
    "    add     x0, x0, :lo12:__bulkhead_vectors",
    "    msr     vbar_el1, x0",
    "    BULKHEAD_MOV64 x0, {cpacr}",
    "    msr     cpacr_el1, x0",
    "    BULKHEAD_MOV64 x0, {mair}",
    "    msr     mair_el1, x0",
    // TCR_EL1.IPS = min(ID_AA64MMFR0_EL1.PARange, 48 bits): the output size
    // the table's descriptors may use (Arm ARM D23.2.131, D23.2.74).
    "    mrs     x1, id_aa64mmfr0_el1",
    "    and     x1, x1, #0xf",
    "    mov     x2, #{ips_max}",
    "    cmp     x1, x2",
    "    csel    x1, x1, x2, ls",
    "    BULKHEAD_MOV64 x0, {tcr}",
    "    orr     x0, x0, x1, lsl #{ips_shift}",
    "    msr     tcr_el1, x0",
    // The table is 4 KiB aligned, so its page address is its address.
    "    adrp    x0, {table}",
    "    msr     ttbr0_el1, x0",
    "    isb",
    // No stale translations or instructions from before this boot (D8.14).
    "    tlbi    vmalle1",
    "    ic      iallu",
    "    dsb     nsh",
    "    isb",
    "    mrs     x0, sctlr_el1",
    "    BULKHEAD_MOV64 x1, {sctlr_set}",
    "    orr     x0, x0, x1",
    "    BULKHEAD_MOV64 x1, {sctlr_clear}",
    "    bic     x0, x0, x1",
    "    msr     sctlr_el1, x0",
    "    isb",
    "    ret",
    ".popsection",
    stacks = sym STACKS,
    table = sym TRANSLATION_TABLE,
    primary_start = sym crate::start::primary_start,
    secondary_start = sym crate::start::secondary_start,
    text_offset = const IMAGE_TEXT_OFFSET,
    magic = const IMAGE_MAGIC,
    stack_size = const STACK_SIZE,
    max_vcpus = const MAX_VCPUS,
    psci_cpu_off = const PSCI_CPU_OFF,
    cpacr = const CPACR_EL1_FPEN,
    mair = const MAIR_EL1_VALUE,
    tcr = const TCR_EL1_WITHOUT_IPS,
    ips_max = const TCR_EL1_IPS_MAX,
    ips_shift = const TCR_EL1_IPS_SHIFT,
    sctlr_set = const SCTLR_EL1_SET,
    sctlr_clear = const SCTLR_EL1_CLEAR,
);

extern "C" {
    /// The `CPU_ON` entry point defined above.
    fn __bulkhead_secondary_entry();
}

/// The IPA a secondary vCPU must be started at (identity mapped, so the
/// address of the symbol is its IPA).
pub(crate) fn secondary_entry_address() -> u64 {
    __bulkhead_secondary_entry as *const () as u64
}
