//! `smp` (needs 2 vCPUs): PSCI CPU_ON starts vCPU 1, which reports its MPIDR
//! and waits; meanwhile AFFINITY_INFO says it is on, a second CPU_ON says
//! ALREADY_ON and CPU_ON of a vCPU that does not exist says
//! INVALID_PARAMETERS; then vCPU 1 turns itself off and AFFINITY_INFO follows.

use abi::Error;
use bulkhead_runtime::psci::{self, AffinityState};
use bulkhead_runtime::{println, smp, timer};
use core::sync::atomic::{AtomicBool, Ordering};

/// The vCPU this scenario starts.
const SECONDARY: usize = 1;
/// A vCPU index the runtime has a stack for but a 2-vCPU partition lacks.
const ABSENT_VCPU: usize = 7;
/// How long to wait for another vCPU to change state.
const TIMEOUT_MS: u64 = 2000;
const POLL_MS: u64 = 1;

/// vCPU 1 has printed its line.
static SECONDARY_UP: AtomicBool = AtomicBool::new(false);
/// vCPU 1 may turn itself off.
static SECONDARY_RELEASED: AtomicBool = AtomicBool::new(false);

/// Polls `condition` every millisecond until it holds or the timeout passes.
fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = timer::now().saturating_add(timer::ticks_from_ms(TIMEOUT_MS));
    while !condition() {
        if timer::now() >= deadline {
            return false;
        }
        timer::sleep_ms(POLL_MS);
    }
    true
}

fn affinity_is(state: AffinityState) -> bool {
    psci::affinity_info(SECONDARY as u64) == Ok(state)
}

fn secondary_main(vcpu: usize) -> ! {
    println!("smp: vCPU {vcpu} up (MPIDR {:#x})", smp::mpidr());
    SECONDARY_UP.store(true, Ordering::Release);
    while !SECONDARY_RELEASED.load(Ordering::Acquire) {
        timer::sleep_ms(POLL_MS);
    }
    let error = psci::cpu_off();
    println!("smp: FAIL CPU_OFF returned {error:?}");
    psci::park()
}

/// Runs the checks in order; stops at the first failure, whose line it prints.
fn checks() -> Result<(), ()> {
    let fail = |what: core::fmt::Arguments<'_>| println!("smp: FAIL {what}");

    if let Err(error) = smp::start_vcpu(SECONDARY, secondary_main) {
        fail(format_args!("CPU_ON vCPU {SECONDARY} got {error:?}"));
        return Err(());
    }
    println!("smp: CPU_ON vCPU {SECONDARY} ok");

    if !wait_until(|| SECONDARY_UP.load(Ordering::Acquire)) {
        fail(format_args!("vCPU {SECONDARY} did not come up"));
        return Err(());
    }
    let state = psci::affinity_info(SECONDARY as u64);
    if state != Ok(AffinityState::On) {
        fail(format_args!(
            "AFFINITY_INFO vCPU {SECONDARY} got {state:?} while it runs"
        ));
        return Err(());
    }
    println!("smp: AFFINITY_INFO vCPU {SECONDARY} on ok");

    let again = smp::start_vcpu(SECONDARY, secondary_main);
    if again != Err(Error::AlreadyOn) {
        fail(format_args!("CPU_ON vCPU {SECONDARY} again got {again:?}"));
        return Err(());
    }
    println!("smp: CPU_ON vCPU {SECONDARY} again ALREADY_ON ok");

    let absent = smp::start_vcpu(ABSENT_VCPU, secondary_main);
    if absent != Err(Error::InvalidParameter) {
        fail(format_args!("CPU_ON vCPU {ABSENT_VCPU} got {absent:?}"));
        return Err(());
    }
    println!("smp: CPU_ON vCPU {ABSENT_VCPU} INVALID_PARAMETERS ok");

    SECONDARY_RELEASED.store(true, Ordering::Release);
    if !wait_until(|| affinity_is(AffinityState::Off)) {
        let state = psci::affinity_info(SECONDARY as u64);
        fail(format_args!(
            "AFFINITY_INFO vCPU {SECONDARY} got {state:?} after CPU_OFF"
        ));
        return Err(());
    }
    println!("smp: AFFINITY_INFO vCPU {SECONDARY} off ok");
    Ok(())
}

pub fn run() -> ! {
    if checks().is_ok() {
        println!("smp: all ok");
    }
    psci::system_off()
}
