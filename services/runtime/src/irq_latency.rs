//! The interrupt-latency probe, for benchmarks (needs `pmu = true`): how many
//! instructions run between an interrupt arriving and the first instruction
//! of this vCPU's IRQ vector, measured from inside the vCPU with PMCCNTR_EL0,
//! which counts instructions under `qemu -icount shift=0`.
//!
//! Taking an exception costs no instructions in that model, so the count
//! natively is zero, and under Bulkhead it is the core's path: the physical
//! interrupt taken at EL2, its injection into a list register, and the
//! `ERET` that lands in the guest's vector.
//!
//! How: the vCPU points VBAR_EL1 at a table of its own for the duration,
//! unmasks interrupts and spins on `isb; mrs x8, pmccntr_el0; b`, so x8
//! always holds the count of the latest read. Every entry of the table
//! starts by reading PMCCNTR_EL0 into x9, then notes which entry it is and
//! ELR_EL1 and branches back out of the loop (the probe never returns into
//! it). ELR_EL1 tells which loop instructions ran after the latest read,
//! which are subtracted with the vector's own read.

use crate::{gic, irq, timer};
use aarch64_cpu::registers::{Readable, Writeable, DAIF};
use core::arch::{asm, global_asm};

/// Which entry of a vector table (offset / 0x80) an IRQ taken from the
/// current EL on SP_EL1 uses (Arm ARM D1.3.1, Table D1-7).
const CURRENT_EL_SPX_IRQ: u64 = 5;
/// Bytes of one instruction.
const INSTRUCTION: u64 = 4;
/// The probe loop's instructions after its counter read: `b`, then (when the
/// interrupt comes after the branch) `isb`. Indexed by where ELR_EL1 points:
/// the `b` (nothing ran after the read), the loop start `isb` (the `b` ran),
/// the `mrs` (the `b` and the `isb` ran), as offsets from the loop start.
const LOOP_AFTER_READ: [(u64, u64); 3] = [(2 * INSTRUCTION, 0), (0, 1), (INSTRUCTION, 2)];
/// The vector's own `mrs`, counted in the vector-side read.
const VECTOR_READ: u64 = 1;

// Sixteen entries alike: read the counter first, then record the entry and
// ELR_EL1, and leave through x12, which the probe set to its exit label.
global_asm!(
    ".pushsection .text.vectors, \"ax\"",
    ".balign 0x800",
    "__bulkhead_latency_vectors:",
    ".irp kind, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15",
    "    .balign 0x80",
    "    mrs     x9, pmccntr_el0",
    "    mov     x10, #\\kind",
    "    mrs     x11, elr_el1",
    "    br      x12",
    ".endr",
    ".popsection",
);

extern "C" {
    /// The probe's vector table defined above.
    static __bulkhead_latency_vectors: u8;
}

/// Why a probe has no figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// The exception taken was not an IRQ from this EL: the vector entry index.
    NotAnIrq {
        /// Vector entry (offset / 0x80).
        vector: u64,
    },
    /// The interrupt came before the loop had read the counter once.
    BeforeTheLoop,
    /// The device tree names no GIC CPU interface to acknowledge with.
    NoGic,
    /// A different interrupt than the one being measured was taken.
    UnexpectedInterrupt {
        /// Its INTID (1023: none was pending any more).
        intid: u32,
    },
}

/// Instructions from the interrupt that `arm` makes due to the probe's
/// vector, less the loop's own; see the module text. `arm` must make an
/// interrupt pending within a few thousand instructions, or the probe spins
/// until one comes. On return interrupts are masked again and the interrupt
/// taken is still unacknowledged: the caller acknowledges and ends it.
fn probe(arm: impl FnOnce()) -> Result<u64, ProbeError> {
    // Only the symbol's address is taken; nothing is read.
    let vectors = &raw const __bulkhead_latency_vectors as u64;
    arm();
    let (loop_start, last_read, vector_read, vector, elr): (u64, u64, u64, u64, u64);
    // The loop runs with IRQ and FIQ unmasked until one is taken at the
    // probe's table, whose entries branch to `2:` with all of DAIF masked by
    // the exception entry (Arm ARM D1.3.4), x9..x11 set as described above;
    // the interrupted loop is abandoned, not returned to, so its stale ELR_EL1
    // and SPSR_EL1 matter to nobody. VBAR_EL1 is this CPU's and restored
    // before any other exception can be taken. No memory is accessed.
    // SAFETY: sound for the reasons just given.
    unsafe {
        asm!(
            "adr     x12, 2f",
            "mrs     x13, vbar_el1",
            "msr     vbar_el1, {vectors}",
            "isb",
            "mov     x8, #0",
            "adr     {loop_start}, 1f",
            "msr     daifclr, #3",
            "1:",
            "isb",
            "mrs     x8, pmccntr_el0",
            "b       1b",
            "2:",
            "msr     vbar_el1, x13",
            "isb",
            vectors = in(reg) vectors,
            loop_start = out(reg) loop_start,
            out("x8") last_read,
            out("x9") vector_read,
            out("x10") vector,
            out("x11") elr,
            out("x12") _,
            out("x13") _,
            options(nostack),
        );
    }
    if vector != CURRENT_EL_SPX_IRQ {
        return Err(ProbeError::NotAnIrq { vector });
    }
    let after_read = LOOP_AFTER_READ
        .iter()
        .find(|&&(offset, _)| elr == loop_start.wrapping_add(offset))
        .map(|&(_, count)| count);
    match after_read {
        Some(after_read) if last_read != 0 => Ok(vector_read
            .wrapping_sub(last_read)
            .saturating_sub(after_read + VECTOR_READ)),
        _ => Err(ProbeError::BeforeTheLoop),
    }
}

/// Instructions from this vCPU's virtual timer firing to its IRQ vector
/// ([`probe`]): the timer is armed `lead` counts ahead, the interrupt is
/// acknowledged and ended afterwards, the timer left off.
pub fn measure_virtual_timer(lead: u64) -> Result<u64, ProbeError> {
    let interface = gic::cpu_interface().ok_or(ProbeError::NoGic)?;
    let saved = DAIF.get();
    irq::disable();
    let measured = probe(|| timer::arm_at(timer::now().saturating_add(lead)));
    // Acknowledge first (natively, a lowered line is no longer pending), then
    // lower the level-triggered line before ending the interrupt, as the
    // runtime's own handler does, so it is not taken again.
    let taken = interface.ack();
    timer::disarm();
    let result = match taken {
        Some(taken) => {
            interface.eoi(taken);
            if taken.intid() == timer::interrupt_id() {
                measured
            } else {
                Err(ProbeError::UnexpectedInterrupt {
                    intid: taken.intid(),
                })
            }
        }
        None => measured.and(Err(ProbeError::UnexpectedInterrupt { intid: 1023 })),
    };
    DAIF.set(saved);
    result
}
