//! Decodes every exception taken from a guest (ESR_EL2, Arm ARM D17.2.37) and
//! routes it: hypercalls by SMCCC owner, WFI/WFE, faults. A guest can never
//! make the core panic: anything unexpected becomes a partition fault.

use aarch64_cpu::registers::*;
use abi::smccc::{self, Owner};
use abi::{hvc, psci};
use kernel_core::esr::{self, DataAbort, ExceptionClass};
use kernel_core::psci::{Outcome, Power};

use crate::arch::vectors::{GuestRegs, TrapKind};
use crate::partition::{self, Partition, Request, Vcpu};
use crate::{cpu, gic, lifecycle};

/// What handling a hypercall changed beyond the caller's result registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Only x0..x3 of the caller: it resumes at once.
    ResultOnly,
    /// Scheduling or partition state may have changed: reschedule.
    StateChanged,
    /// IPC handed the CPU to this vCPU (the server of a call, or the caller
    /// a reply completes): run it next without a scheduling decision.
    SwitchTo(usize),
}

/// Handles a hypercall (`HVC #0`: the vectors send other immediates down the
/// general path) from the loaded vCPU, whose registers are `regs`.
pub fn hypercall_trap(regs: &mut GuestRegs) -> Effect {
    hypercall(regs)
}

/// What the scheduler does after a trap that is not a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterTrap {
    /// Decide what runs; `timer_fired` if the EL2 timer went off.
    Reschedule {
        /// The EL2 timer fired (time slice or wake-up).
        timer_fired: bool,
    },
    /// A device access was handed to its service's vCPU: run it next.
    SwitchTo(usize),
}

/// Handles one exception from the loaded vCPU.
pub fn handle(kind: TrapKind) -> AfterTrap {
    let reschedule = |timer_fired| AfterTrap::Reschedule { timer_fired };
    let Some((_, v)) = cpu::loaded() else {
        // Cannot happen: traps come only from a loaded vCPU.
        return reschedule(cpu::handle_irqs(cpu::this_index()));
    };
    let Some(p) = partition::partition(v.partition) else {
        return reschedule(false);
    };
    let timer_fired = match kind {
        TrapKind::Sync => {
            return match handle_sync(v, p) {
                Some(id) => AfterTrap::SwitchTo(id),
                None => reschedule(false),
            };
        }
        TrapKind::Irq | TrapKind::Fiq => cpu::handle_irqs(cpu::this_index()),
        TrapKind::SError => {
            fault_here(
                v,
                p,
                format_args!(
                    "SError (asynchronous external abort), ESR {:#x}",
                    ESR_EL2.get()
                ),
            );
            false
        }
        TrapKind::Aarch32 => {
            fault_here(
                v,
                p,
                format_args!("exception from AArch32 state, which partitions may not use"),
            );
            false
        }
    };
    reschedule(timer_fired)
}

fn fault_here(v: &Vcpu, p: &Partition, what: core::fmt::Arguments<'_>) {
    let pc = v.ctx().regs.elr;
    lifecycle::fault(
        p,
        format_args!("vCPU {} on CPU {}: {what}, PC {pc:#x}", v.index, v.home),
    );
}

fn advance_pc(v: &Vcpu, esr: u64) {
    v.ctx().regs.elr += esr::instruction_length(esr);
}

/// Handles a synchronous exception; returns the vCPU to hand the CPU to, if
/// the exception was a device access forwarded to its service.
fn handle_sync(v: &Vcpu, p: &Partition) -> Option<usize> {
    let esr = ESR_EL2.get();
    let class = ExceptionClass::from_esr(esr);
    match class {
        ExceptionClass::Hvc64 | ExceptionClass::Smc64 => {
            // A trapped SMC returns to the SMC itself (Arm ARM D1.10.4): step
            // over it. (`HVC #0` arrives through `hypercall_trap`; the
            // vectors send other immediates here, and no call uses them.)
            if class == ExceptionClass::Smc64 {
                advance_pc(v, esr);
            }
            if class == ExceptionClass::Hvc64 && esr::hvc_immediate(esr) != 0 {
                v.ctx().regs.x[0] = NOT_SUPPORTED;
            } else {
                hypercall(&mut v.ctx().regs);
            }
        }
        ExceptionClass::FpAsimdAccess => {
            // Lazy FP switching: give it its FP registers and retry.
            if let Some((id, _)) = cpu::loaded() {
                cpu::fp_trap(id, v);
            }
        }
        ExceptionClass::Wfx => {
            advance_pc(v, esr);
            if !esr::wfx_is_wfe(esr) {
                wait_for_interrupt(v);
            }
        }
        ExceptionClass::DataAbortLower => {
            let da = DataAbort::decode(esr);
            let ipa = faulting_ipa();
            let vgic_access =
                cpu::loaded().and_then(|(id, _)| crate::vgic::mmio_abort(id, v, p, ipa, esr));
            if let Some(emulated) = vgic_access {
                if let Err(why) = emulated {
                    fault_here(v, p, format_args!("{why}, at IPA {ipa:#x}"));
                }
                return None;
            }
            match cpu::loaded().and_then(|(id, _)| crate::ipc::device_abort(id, v, p, ipa, &da)) {
                Some(Ok(Effect::SwitchTo(server))) => return Some(server),
                Some(Ok(_)) => {}
                Some(Err(why)) => fault_here(v, p, format_args!("{why}, at IPA {ipa:#x}")),
                None => {
                    // The first touch of RAM not yet scrubbed is retried
                    // (PC unchanged) once the core has scrubbed it.
                    if !p.ram.first_touch(ipa, da.fault_status) {
                        fault_here(
                            v,
                            p,
                            format_args!(
                                "data abort ({}) on a {} at IPA {ipa:#x} (FAR {:#x}), outside its memory",
                                esr::fault_status_name(da.fault_status),
                                if da.write { "write" } else { "read" },
                                FAR_EL2.get()
                            ),
                        );
                    }
                }
            }
        }
        ExceptionClass::InstrAbortLower => {
            let ipa = faulting_ipa();
            let fault_status = (esr & 0x3f) as u8;
            // An instruction fetch (or its stage-1 table walk) may be the
            // first touch of RAM not yet scrubbed, as a data access may.
            if !p.ram.first_touch(ipa, fault_status) {
                fault_here(
                    v,
                    p,
                    format_args!(
                        "instruction abort ({}) at IPA {ipa:#x}, outside its executable memory",
                        esr::fault_status_name(fault_status)
                    ),
                );
            }
        }
        ExceptionClass::SysReg => {
            if cpu::loaded().is_some_and(|(id, _)| crate::sysreg_trap::handle(id, v, p, esr)) {
                return None;
            }
            if cpu::loaded().is_some_and(|(id, _)| crate::vgic::trapped_sysreg(id, v, p, esr)) {
                return None;
            }
            let a = esr::SysRegAccess::decode(esr);
            fault_here(
                v,
                p,
                format_args!(
                    "trapped system register {} S{}_{}_C{}_C{}_{} (not available to partitions)",
                    if a.read { "read of" } else { "write to" },
                    a.op0,
                    a.op1,
                    a.crn,
                    a.crm,
                    a.op2
                ),
            );
        }
        other => {
            fault_here(v, p, format_args!("{} (ESR {esr:#x})", other.name()));
        }
    };
    None
}

/// IPA of a stage-2 abort: HPFAR_EL2.FIPA holds bits [47:12], FAR_EL2 the page offset.
fn faulting_ipa() -> u64 {
    (HPFAR_EL2.get() & 0x0000_0FFF_FFFF_FFF0) << 8 | (FAR_EL2.get() & 0xfff)
}

/// WFI: block until the virtual timer is due or something is injected.
fn wait_for_interrupt(v: &Vcpu) {
    if gic::has_pending() {
        return;
    }
    let ctl = CNTV_CTL_EL0.get();
    let deadline = (ctl & 0b11 == 0b01).then(|| CNTV_CVAL_EL0.get());
    if ctl & 0b111 == 0b101 {
        return; // ISTATUS set and unmasked: the interrupt is about to arrive.
    }
    let _ = v;
    cpu::block_loaded(deadline);
}

/// x0 for an unknown or refused call.
const NOT_SUPPORTED: u64 = abi::Error::NotSupported.code() as u64;
const OK: u64 = abi::SUCCESS as u64;
const DENIED: u64 = abi::Error::Denied.code() as u64;

fn set_result(regs: &mut GuestRegs, values: &[u64]) {
    for (slot, value) in regs.x.iter_mut().zip(values) {
        *slot = *value;
    }
}

/// Routes a call by SMCCC owner. Calls that need no partition state are
/// answered first, without looking anything up, cheapest first.
fn hypercall(regs: &mut GuestRegs) -> Effect {
    let fid = regs.x[0] as u32;
    regs.x[0] = match fid {
        hvc::NULL => OK,
        smccc::SMCCC_VERSION => u64::from(smccc::VERSION_1_1),
        smccc::SMCCC_ARCH_FEATURES if regs.x[1] as u32 == smccc::SMCCC_VERSION => OK,
        smccc::SMCCC_ARCH_FEATURES => NOT_SUPPORTED,
        hvc::CALL_COUNT => u64::from(hvc::IMPLEMENTED_CALLS),
        hvc::CALL_UID => {
            set_result(regs, &hvc::UID.map(u64::from));
            return Effect::ResultOnly;
        }
        hvc::REVISION => {
            regs.x[1] = u64::from(hvc::ABI_REVISION.1);
            u64::from(hvc::ABI_REVISION.0)
        }
        _ => return partition_call(fid),
    };
    Effect::ResultOnly
}

/// Calls that act on the caller's partition or vCPU. Kept out of line so the
/// calls answered in `hypercall` do not pay for its stack frame.
#[inline(never)]
fn partition_call(fid: u32) -> Effect {
    let Some((id, v)) = cpu::loaded() else {
        return Effect::StateChanged;
    };
    let Some(p) = partition::partition(v.partition) else {
        return Effect::StateChanged;
    };
    match smccc::owner(fid) {
        Owner::Standard if kernel_core::psci::implemented(fid) => {
            let x = v.ctx().regs.x;
            psci_call(id, v, p, fid, [x[1], x[2], x[3]])
        }
        Owner::VendorHyp if (abi::ipc::CALL..=abi::ipc::PARTITION_STATUS).contains(&fid) => {
            crate::ipc::hypercall(id, v, p, fid)
        }
        Owner::VendorHyp => bulkhead_call(v, p, fid),
        _ => {
            set_result(&mut v.ctx().regs, &[NOT_SUPPORTED]);
            Effect::ResultOnly
        }
    }
}

fn bulkhead_call(v: &Vcpu, p: &Partition, fid: u32) -> Effect {
    let regs = &mut v.ctx().regs;
    let x = regs.x;
    match fid {
        hvc::CONSOLE_WRITE => {
            let mut bytes = [0u8; hvc::CONSOLE_WRITE_MAX];
            let n = hvc::unpack_console_bytes(x[1], [x[2], x[3], x[4], x[5], x[6]], &mut bytes);
            p.line.lock().push(p.name(), &bytes[..n]);
            set_result(regs, &[OK, n as u64]);
        }
        hvc::PARTITION_INFO => {
            set_result(
                regs,
                &[
                    OK,
                    p.id as u64,
                    v.index as u64,
                    u64::from(partition::restarts(p)),
                ],
            );
        }
        hvc::UART_CLAIM => {
            let result = if crate::console::claim(p) { OK } else { DENIED };
            set_result(regs, &[result]);
        }
        hvc::UART_RELEASE => {
            crate::console::release(p.id);
            set_result(regs, &[OK]);
        }
        hvc::ABORT => {
            if x[1] == hvc::ABORT_EXCEPTION {
                fault_here(
                    v,
                    p,
                    format_args!(
                        "unhandled exception reported by the partition: {} (ESR_EL1 {:#x}, ELR_EL1 {:#x}, FAR_EL1 {:#x})",
                        ExceptionClass::from_esr(x[2]).name(),
                        x[2],
                        x[3],
                        x[4]
                    ),
                );
            } else {
                fault_here(
                    v,
                    p,
                    format_args!("the partition aborted (panic, code {})", x[1]),
                );
            }
            return Effect::StateChanged;
        }
        _ => set_result(regs, &[NOT_SUPPORTED]),
    }
    Effect::ResultOnly
}

fn psci_call(id: usize, v: &Vcpu, p: &Partition, fid: u32, args: [u64; 3]) -> Effect {
    let mut power = [Power::Off; kernel_core::manifest::MAX_VCPUS_PER_PARTITION];
    for (i, slot) in power.iter_mut().enumerate().take(p.vcpu_count) {
        if let Some(other) = partition::vcpu(p.first_vcpu + i) {
            *slot = *other.power.lock();
        }
    }
    let outcome =
        kernel_core::psci::handle(fid, args, &power[..p.vcpu_count], |e| p.ipa_is_exec_ram(e));
    let regs = &mut v.ctx().regs;
    match outcome {
        Outcome::Return(r) => {
            set_result(regs, &[r as u64]);
            return Effect::ResultOnly;
        }
        Outcome::StartVcpu {
            index,
            entry,
            context,
        } => {
            let Some(target) = partition::vcpu(p.first_vcpu + index) else {
                set_result(regs, &[psci::ret::INVALID_PARAMETERS as u64]);
                return Effect::ResultOnly;
            };
            let accepted = {
                let mut pw = target.power.lock();
                if *pw == Power::Off {
                    *pw = Power::OnPending;
                    true
                } else {
                    false
                }
            };
            if !accepted {
                set_result(regs, &[psci::ret::ALREADY_ON as u64]);
                return Effect::ResultOnly;
            }
            p.ctl.lock().live += 1;
            set_result(regs, &[psci::ret::SUCCESS as u64]);
            lifecycle::post(target, Request::Start { entry, context });
        }
        Outcome::OffSelf => cpu::take_off(cpu::this_index(), id, v),
        Outcome::Suspend => {
            set_result(regs, &[psci::ret::SUCCESS as u64]);
            wait_for_interrupt(v);
        }
        Outcome::SystemOff => lifecycle::system_off(p),
        Outcome::SystemReset => lifecycle::system_reset(p),
        Outcome::SystemWarmReset => fault_here(
            v,
            p,
            format_args!(
                "kernel panic: the guest asked for a warm reset (PSCI SYSTEM_RESET2), which Linux does after a panic when booted with reboot=panic_warm"
            ),
        ),
    }
    Effect::StateChanged
}
