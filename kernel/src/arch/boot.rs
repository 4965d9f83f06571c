//! Entry code: the arm64 Image header, exception-level checks, per-CPU stacks
//! and the hand-off to Rust, for the boot CPU and for secondaries.
//!
//! The header (Linux Documentation/arch/arm64/booting.rst) lets QEMU `-kernel`,
//! U-Boot `booti` and the Pi firmware load the raw image and enter it at EL2
//! with x0 = the device tree. `image_size` (offset 16) is patched by
//! `cargo xtask build` to the length of the whole system image.

use core::arch::global_asm;

use super::percpu::STACK_SIZE;

/// Size of the unmapped guard page under each per-CPU stack.
pub const GUARD_SIZE: usize = 4096;

global_asm!(
    r#"
.section .text.head, "ax"
.global _start
_start:
    b       primary_entry           // code0
    .long   0                       // code1
    .quad   0x80000                 // text_offset: loaders put us at a 2 MiB boundary + 512 KiB
    .quad   __image_end - _start    // image_size (patched to the file length by the packer)
    .quad   0x2                     // flags: little-endian, 4 KiB pages, 2 MiB-aligned base
    .quad   0
    .quad   0
    .quad   0
    .ascii  "ARM\x64"               // magic
    .long   0

primary_entry:
    mov     x19, x0                 // the device tree
    mov     x20, #0                 // logical CPU 0
    bl      drop_to_el2
    // Clear .bss before any Rust code runs.
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  bl      setup_cpu_stack
    mov     x0, x19
    mrs     x1, CurrentEL
    lsr     x1, x1, #2
    b       rust_primary_main

// Secondary CPUs (PSCI CPU_ON with context = logical index, or released from
// the spin table, where no context arrives): find the logical index by MPIDR.
.global secondary_entry
secondary_entry:
    bl      drop_to_el2
    mrs     x1, mpidr_el1
    mov     x2, #0xffffff
    movk    x2, #0xff, lsl #32
    and     x1, x1, x2
    adrp    x3, CPU_MPIDRS
    add     x3, x3, :lo12:CPU_MPIDRS
    mov     x20, #0
3:  ldr     x4, [x3, x20, lsl #3]
    cmp     x4, x1
    b.eq    4f
    add     x20, x20, #1
    cmp     x20, #{max_cpus}
    b.lo    3b
5:  wfe                             // not in the table: park forever
    b       5b
4:  bl      setup_cpu_stack
    mov     x0, x20
    b       rust_secondary_main

// Entered at EL1: we cannot become a hypervisor. Run on the stack anyway so
// Rust can say so; entered at EL3: configure EL3 minimally and drop to EL2h.
drop_to_el2:
    mrs     x9, CurrentEL
    lsr     x9, x9, #2
    cmp     x9, #3
    b.ne    6f
    // SCR_EL3: NS (0), RES1 (5:4), SMD=0, HCE (8), RW (10): EL2 is AArch64.
    mov     x9, #0x531
    msr     scr_el3, x9
    msr     cptr_el3, xzr           // no FP/SIMD traps to EL3
    // A GICv3 CPU interface needs ICC_SRE_EL3.SRE and .Enable for EL2 to use it.
    mrs     x9, id_aa64pfr0_el1
    ubfx    x9, x9, #24, #4
    cbz     x9, 7f
    mov     x9, #0xf
    msr     S3_6_C12_C12_5, x9      // ICC_SRE_EL3
    isb
7:  mov     x9, #0x3c9              // EL2h, DAIF masked
    msr     spsr_el3, x9
    msr     elr_el3, x30
    eret
6:  ret

// SP = top of this CPU's stack; CPTR_EL2 stops trapping FP/SIMD at EL2
// (RES1 bits 13:12 and 9:0, TFP=0), since Rust code may use SIMD registers.
setup_cpu_stack:
    mrs     x9, CurrentEL
    lsr     x9, x9, #2
    cmp     x9, #2
    b.ne    8f
    mov     x9, #0x33ff
    msr     cptr_el2, x9
    isb
8:  adrp    x9, __stacks_start
    add     x9, x9, :lo12:__stacks_start
    mov     x10, #{stride_lo}
    movk    x10, #{stride_hi}, lsl #16
    madd    x9, x20, x10, x9
    add     x9, x9, x10             // top of this CPU's slot
    mov     sp, x9
    mov     x29, xzr
    ret
"#,
    max_cpus = const kernel_core::MAX_CPUS,
    stride_lo = const (GUARD_SIZE + STACK_SIZE) & 0xffff,
    stride_hi = const (GUARD_SIZE + STACK_SIZE) >> 16,
);
