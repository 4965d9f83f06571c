//! The interrupt-latency probe, for benchmarks (needs `pmu = true`): how many
//! instructions run between an interrupt arriving and the first instruction
//! of this vCPU's IRQ vector, measured from inside the vCPU with PMCCNTR_EL0,
//! which counts instructions under `qemu -icount shift=0`.
//!
//! Taking an exception costs no instructions in that model, so natively the
//! count is zero (for an SGI: one, the write that sends it), and under
//! Bulkhead it is the core's path: for the virtual timer, the physical PPI
//! taken at EL2, its injection into a list register and the `ERET` that
//! lands in the guest's vector; for an SGI to itself, the trapped
//! ICC_SGI1R_EL1 write emulated, the SGI injected, and the `ERET`.
//!
//! How: the vCPU points VBAR_EL1 at a table of its own for the duration,
//! unmasks interrupts, reads PMCCNTR_EL0 into x8, sends the SGI (if that is
//! what is measured; the timer was armed before) and spins on `add x14, #1;
//! b`. Every entry of the table starts by reading PMCCNTR_EL0 into x9, then
//! notes which entry it is and ELR_EL1 and branches back out to the probe
//! (which never returns into the loop). The loop count in x14 and ELR_EL1
//! tell exactly how many of the probe's instructions ran after its read;
//! they are subtracted along with the vector's own read.

use crate::gic::{self, SgiTarget};
use crate::{irq, timer};
use aarch64_cpu::registers::{Readable, Writeable, DAIF};
use core::arch::{asm, global_asm};

/// Which entry of a vector table (offset / 0x80) an IRQ taken from the
/// current EL on SP_EL1 uses (Arm ARM D1.3.1, Table D1-7).
const CURRENT_EL_SPX_IRQ: u64 = 5;
/// Bytes of one instruction.
const INSTRUCTION: u64 = 4;
/// The probe's `cbz` that skips the SGI write when there is none, after the
/// counter read.
const BRANCH_AFTER_READ: u64 = 1;
/// The vector's own `mrs`, counted in the vector-side read.
const VECTOR_READ: u64 = 1;
/// The SGI the probe sends itself.
const PROBE_SGI: u32 = 1;

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
    /// The interrupt came before the probe had read the counter.
    BeforeTheLoop,
    /// The device tree names no GIC CPU interface to acknowledge with.
    NoGic,
    /// The SGI probe needs a GICv3 (ICC_SGI1R_EL1).
    NotGicV3,
    /// A different interrupt than the one being measured was taken.
    UnexpectedInterrupt {
        /// Its INTID (1023: none was pending any more).
        intid: u32,
    },
}

/// Takes one interrupt at the probe's table and counts the instructions to
/// it (see the module text). With `sgi1r` non-zero the probe sends it, by
/// writing that value to ICC_SGI1R_EL1 right after its counter read;
/// otherwise the caller has made one due soon (or the probe spins until one
/// comes).
fn probe(sgi1r: u64) -> Result<u64, ProbeError> {
    // Only the symbol's address is taken; nothing is read.
    let vectors = &raw const __bulkhead_latency_vectors as u64;
    let (loop_start, probe_read, vector_read, vector, elr, rounds): (u64, u64, u64, u64, u64, u64);
    // The loop runs with IRQ and FIQ unmasked until one is taken at the
    // probe's table, whose entries branch to `2:` with all of DAIF masked by
    // the exception entry (Arm ARM D1.3.4), x9..x11 set as described above;
    // the interrupted loop is abandoned, not returned to, so its stale ELR_EL1
    // and SPSR_EL1 matter to nobody. VBAR_EL1 is this CPU's and restored
    // before any other exception can be taken. The SGI write only generates
    // an SGI. No memory is accessed.
    // SAFETY: sound for the reasons just given.
    unsafe {
        asm!(
            "adr     x12, 2f",
            "mrs     x13, vbar_el1",
            "msr     vbar_el1, {vectors}",
            "isb",
            "mov     x8, #0",
            "mov     x14, #0",
            "adr     {loop_start}, 1f",
            "msr     daifclr, #3",
            "isb",
            "mrs     x8, pmccntr_el0",
            "cbz     {sgi1r}, 1f",
            "msr     icc_sgi1r_el1, {sgi1r}",
            "1:",
            "add     x14, x14, #1",
            "b       1b",
            "2:",
            "msr     vbar_el1, x13",
            "isb",
            vectors = in(reg) vectors,
            sgi1r = in(reg) sgi1r,
            loop_start = out(reg) loop_start,
            out("x8") probe_read,
            out("x9") vector_read,
            out("x10") vector,
            out("x11") elr,
            out("x12") _,
            out("x13") _,
            out("x14") rounds,
            options(nostack),
        );
    }
    if vector != CURRENT_EL_SPX_IRQ {
        return Err(ProbeError::NotAnIrq { vector });
    }
    // x14 counts the `add`s; every `add` but the last was followed by its
    // `b`, and the last one too unless the interrupt came right after it.
    let looped = if elr == loop_start {
        Some(2 * rounds)
    } else if elr == loop_start.wrapping_add(INSTRUCTION) && rounds > 0 {
        Some(2 * rounds - 1)
    } else {
        None
    };
    match looped {
        Some(looped) if probe_read != 0 => Ok(vector_read
            .wrapping_sub(probe_read)
            .saturating_sub(BRANCH_AFTER_READ + looped + VECTOR_READ)),
        _ => Err(ProbeError::BeforeTheLoop),
    }
}

/// Runs `probe` with interrupts masked around it, then acknowledges and
/// ends the interrupt it took, which must be `expected`; `quiet` lowers a
/// level-triggered source between the two.
fn measure(
    expected: u32,
    probe: impl FnOnce() -> Result<u64, ProbeError>,
    quiet: impl FnOnce(),
) -> Result<u64, ProbeError> {
    let interface = gic::cpu_interface().ok_or(ProbeError::NoGic)?;
    let saved = DAIF.get();
    irq::disable();
    let measured = probe();
    // Acknowledge first (natively, a lowered line is no longer pending), then
    // lower the line before ending the interrupt, as the runtime's own
    // handler does, so it is not taken again.
    let taken = interface.ack();
    quiet();
    let result = match taken {
        Some(taken) => {
            interface.eoi(taken);
            if taken.intid() == expected {
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

/// Instructions from this vCPU's virtual timer firing to its IRQ vector:
/// the timer is armed `lead` counts ahead, the interrupt is acknowledged and
/// ended afterwards, the timer left off.
pub fn measure_virtual_timer(lead: u64) -> Result<u64, ProbeError> {
    measure(
        timer::interrupt_id(),
        || {
            timer::arm_at(timer::now().saturating_add(lead));
            probe(0)
        },
        timer::disarm,
    )
}

/// Instructions from this vCPU's ICC_SGI1R_EL1 write sending itself an SGI
/// to its IRQ vector (GICv3 only). The first call enables the SGI.
pub fn measure_sgi_to_self() -> Result<u64, ProbeError> {
    if !matches!(gic::distributor(), Some(gic::Distributor::V3 { .. })) {
        return Err(ProbeError::NotGicV3);
    }
    gic::enable_interrupt(PROBE_SGI);
    let sgi1r = gic::sgi1r_value(PROBE_SGI, SgiTarget::This);
    measure(PROBE_SGI, || probe(sgi1r), || {})
}
