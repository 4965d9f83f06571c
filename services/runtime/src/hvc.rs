//! Calls to the core: the SMCCC `HVC #0` (or `SMC #0`) instruction and typed
//! wrappers for the Bulkhead calls (abi::hvc). Function id in w0, arguments in
//! x1..x6, results in x0..x3 — x0..x6 for the IPC calls of [`crate::ipc`]
//! (Arm DEN0028, SMC Calling Convention).

use crate::smccc;
use abi::{hvc as ids, psci, Error};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

/// The instruction a call is made with. The core treats both alike; `SMC`
/// exists so tests can check that it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `HVC #0`.
    Hvc,
    /// `SMC #0`.
    Smc,
}

/// Set when a call took an Undefined Instruction exception: no EL2 exists.
static HYPERVISOR_ABSENT: AtomicBool = AtomicBool::new(false);

/// False once a call has shown that no hypervisor is present (bare metal).
pub fn hypervisor_present() -> bool {
    !HYPERVISOR_ABSENT.load(Ordering::Relaxed)
}

/// Recorded by the exception vectors.
pub(crate) fn note_hypervisor_absent() {
    HYPERVISOR_ABSENT.store(true, Ordering::Relaxed);
}

/// A call [`call`] will not make: it would start code at an address taken from
/// the arguments, which safe code must not be able to choose. Use
/// [`crate::smp::start_vcpu`] to start a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusedCall {
    /// The function id that was refused.
    pub function: u32,
}

/// Function ids whose arguments include an entry point.
fn takes_entry_point(function: u32) -> bool {
    matches!(
        function,
        psci::CPU_ON_32 | psci::CPU_ON_64 | psci::CPU_SUSPEND_32 | psci::CPU_SUSPEND_64
    )
}

/// Makes any call with `HVC #0` and returns x0..x3 as the core left them.
pub fn call(function: u32, args: [u64; 6]) -> Result<[u64; 4], RefusedCall> {
    call_via(Conduit::Hvc, function, args)
}

/// Makes any call through `conduit` and returns x0..x3.
pub fn call_via(conduit: Conduit, function: u32, args: [u64; 6]) -> Result<[u64; 4], RefusedCall> {
    if takes_entry_point(function) {
        return Err(RefusedCall { function });
    }
    Ok(raw_call(conduit, function, args))
}

/// `asm!` around an SMCCC call as Bulkhead's ABI makes it: the function id
/// (`u32`) in x0 and the six arguments (`[u64; 6]`) in x1..x6, results in
/// x0..x6, x7..x17 clobbered (SMCCC lets the callee change them); the
/// template strings (which hold the `hvc #0` or `smc #0`) and any further
/// operands and options come from the caller. Evaluates to x0..x6. Expand
/// it inside an `unsafe` block.
macro_rules! smccc_asm {
    ([$($template:literal),+ $(,)?], $function:expr, $args:expr, $($operands:tt)*) => {{
        let [a1, a2, a3, a4, a5, a6]: [u64; 6] = $args;
        let (r0, r1, r2, r3, r4, r5, r6): (u64, u64, u64, u64, u64, u64, u64);
        core::arch::asm!(
            $($template),+,
            inlateout("x0") u64::from($function) => r0,
            inlateout("x1") a1 => r1,
            inlateout("x2") a2 => r2,
            inlateout("x3") a3 => r3,
            inlateout("x4") a4 => r4,
            inlateout("x5") a5 => r5,
            inlateout("x6") a6 => r6,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
            out("x17") _,
            $($operands)*
        );
        [r0, r1, r2, r3, r4, r5, r6]
    }};
}
pub(crate) use smccc_asm;

/// Issues the instruction and returns x0..x3.
pub(crate) fn raw_call(conduit: Conduit, function: u32, args: [u64; 6]) -> [u64; 4] {
    let [r0, r1, r2, r3, ..] = raw_call_full(conduit, function, args);
    [r0, r1, r2, r3]
}

/// Issues the instruction and returns x0..x6: the IPC calls (abi::ipc)
/// return a status, a badge and a five-word message, which SMCCC 1.2 lets
/// SMC64/HVC64 calls return in registers beyond x3. Registers x7..x17 are
/// declared clobbered: SMCCC 1.0 lets the callee change them, and declaring
/// costs nothing.
#[inline]
pub(crate) fn raw_call_full(conduit: Conduit, function: u32, args: [u64; 6]) -> [u64; 7] {
    match conduit {
        // a hypercall only changes the registers declared here; the
        // core never writes this partition's memory on a call, and the calls
        // that could start code at an address (CPU_ON, CPU_SUSPEND) are only
        // made by the runtime with its own entry point.
        // SAFETY: sound for the reasons just given.
        Conduit::Hvc => unsafe { smccc_asm!(["hvc #0"], function, args, options(nostack)) },
        // SAFETY: as for HVC; the core traps SMC and handles it the same way.
        Conduit::Smc => unsafe { smccc_asm!(["smc #0"], function, args, options(nostack)) },
    }
}

/// Issues `function` with `HVC #1`, an immediate no Bulkhead call uses, and
/// returns x0: the core answers NOT_SUPPORTED and changes nothing else (a
/// test of its trap path). x1..x17 are declared clobbered.
pub fn call_with_immediate_one(function: u32) -> u64 {
    let r0: u64;
    // SAFETY: as for `raw_call_full`: the call changes at most the registers
    // declared here and no memory of this partition.
    unsafe {
        asm!(
            "hvc #1",
            inlateout("x0") u64::from(function) => r0,
            inlateout("x1") 0u64 => _,
            out("x2") _, out("x3") _, out("x4") _, out("x5") _, out("x6") _,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
            out("x17") _,
            options(nostack),
        )
    };
    r0
}

/// Makes a call with `HVC #0` and reads x0 as its status.
fn checked_call(function: u32, args: [u64; 6]) -> Result<[u64; 4], Error> {
    let registers = raw_call(Conduit::Hvc, function, args);
    smccc::status(function, registers[0]).map(|_| registers)
}

/// `NULL`: the cheapest round trip through the core.
pub fn null() -> Result<(), Error> {
    checked_call(ids::NULL, [0; 6]).map(|_| ())
}

/// Who this partition and vCPU are, as the core sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition's id.
    pub partition_id: u64,
    /// The calling vCPU's index.
    pub vcpu_index: u64,
    /// Times the partition was restarted since boot.
    pub restart_count: u64,
}

/// `PARTITION_INFO`.
pub fn partition_info() -> Result<PartitionInfo, Error> {
    let [_, partition_id, vcpu_index, restart_count] = checked_call(ids::PARTITION_INFO, [0; 6])?;
    Ok(PartitionInfo {
        partition_id,
        vcpu_index,
        restart_count,
    })
}

/// `UART_CLAIM`: the core keeps its own lines back while this partition
/// prints on the board UART it holds as a passed-through device; `Denied`
/// if it does not hold the core's UART.
pub fn uart_claim() -> Result<(), Error> {
    checked_call(ids::UART_CLAIM, [0; 6]).map(|_| ())
}

/// `UART_RELEASE`: ends a [`uart_claim`]; the core prints what it kept back.
pub fn uart_release() {
    let _ = checked_call(ids::UART_RELEASE, [0; 6]);
}

/// `CONSOLE_WRITE` of up to [`ids::CONSOLE_WRITE_MAX`] bytes of `bytes`;
/// returns how many were sent. Most programs want [`crate::println!`].
pub fn console_write(bytes: &[u8]) -> Result<usize, Error> {
    let (words, count) = ids::pack_console_bytes(bytes);
    let [w0, w1, w2, w3, w4] = words;
    checked_call(ids::CONSOLE_WRITE, [count as u64, w0, w1, w2, w3, w4]).map(|_| count)
}

/// `CALL_UID`: the hypervisor's UID in w0..w3.
pub fn call_uid() -> [u32; 4] {
    raw_call(Conduit::Hvc, ids::CALL_UID, [0; 6]).map(|register| register as u32)
}

/// `ABORT` with reason `ABORT_PANIC` (natively: power off, nobody to report to).
pub fn abort_panic() -> ! {
    if crate::native::is_active() {
        crate::psci::system_off()
    }
    raw_call(Conduit::Hvc, ids::ABORT, [ids::ABORT_PANIC, 0, 0, 0, 0, 0]);
    // Only without a hypervisor does ABORT return.
    crate::psci::system_off()
}

/// `ABORT` with reason `ABORT_EXCEPTION` and the syndrome of the exception
/// the program's vectors could not handle (natively: power off).
pub fn abort_exception(esr: u64, elr: u64, far: u64) -> ! {
    if crate::native::is_active() {
        crate::psci::system_off()
    }
    raw_call(
        Conduit::Hvc,
        ids::ABORT,
        [ids::ABORT_EXCEPTION, esr, elr, far, 0, 0],
    );
    crate::psci::system_off()
}
