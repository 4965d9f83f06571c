//! The vmm program: reads its boot arguments, starts the partitions it
//! supervises, then applies their restart policies and prints their status
//! table, on vCPU 0; its other vCPUs serve the control endpoint. The
//! behaviour, the boot-argument format and the control protocol are
//! documented in the `vmm` library, which holds all the logic.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bulkhead_runtime::ipc::{Core, Endpoint};
use bulkhead_runtime::{devicetree, hvc, print, println, psci, smp, timer};
use spin::{Mutex, MutexGuard, Once};
use vmm::events::Event;
use vmm::service::{self, Clock, Report, Vmm};
use vmm::settings::Settings;
use vmm::supervision::Supervisor;
use vmm::table::StatusTable;

bulkhead_runtime::entry!(main);

/// Read by vCPU 0 before any other vCPU starts; the control vCPUs read it.
static SETTINGS: Once<Settings<'static>> = Once::new();
/// The supervisor's memory. Its restart windows are too large for a stack.
static SUPERVISOR: Mutex<Supervisor> = Mutex::new(Supervisor::new());
/// Held while a status table is printed, so that tables printed by vCPU 0
/// and by a control vCPU at the same time do not interleave line by line.
static TABLE_LOCK: Mutex<()> = Mutex::new(());
/// How long a table waits for the other printer before printing anyway: a
/// control vCPU may run above vCPU 0 on the same CPU, and must not spin on
/// a lock vCPU 0 cannot release while it waits.
const TABLE_LOCK_ATTEMPTS: u32 = 1 << 16;

/// The partition console (the core prefixes each line with `[<name>] `).
struct Console;

impl Report for Console {
    fn event(&mut self, event: Event<'_>) {
        if !event.is_silent() {
            println!("{event}");
        }
    }

    fn table(&mut self, table: &StatusTable<'_>) {
        let _guard = table_lock();
        print!("{table}");
    }
}

fn table_lock() -> Option<MutexGuard<'static, ()>> {
    (0..TABLE_LOCK_ATTEMPTS).find_map(|_| {
        let guard = TABLE_LOCK.try_lock();
        if guard.is_none() {
            core::hint::spin_loop();
        }
        guard
    })
}

/// Milliseconds from the EL1 virtual counter; sleeping on the virtual timer.
struct VirtualTimer;

impl Clock for VirtualTimer {
    fn now_ms(&self) -> u64 {
        timer::ms_from_ticks(timer::now())
    }

    fn sleep_ms(&self, ms: u64) {
        timer::sleep_ms(ms);
    }
}

fn main(_device_tree: usize) -> ! {
    let settings = match Settings::from_bootargs(&devicetree::bootargs()) {
        Ok(settings) => SETTINGS.call_once(|| settings),
        Err(error) => {
            // A configuration mistake: report it as a fault of the vmm.
            Console.event(Event::BadSettings(error));
            hvc::abort_panic()
        }
    };
    if settings.control.is_some() {
        start_control_vcpus();
    }

    let core = Core;
    let clock = VirtualTimer;
    let mut supervisor = SUPERVISOR.lock();
    let mut vmm = Vmm::new(&core, settings, &mut supervisor, clock.now_ms());
    vmm.start(clock.now_ms(), &mut Console);
    loop {
        let wake = vmm.wait(&clock);
        vmm.look(wake, clock.now_ms(), &mut Console);
    }
}

/// Every vCPU but vCPU 0 serves the control endpoint; they start before any
/// partition does, so they wait in `RECV` before a caller can call.
fn start_control_vcpus() {
    let vcpus = devicetree::machine().map_or(1, |machine| machine.cpus.len());
    if vcpus < 2 {
        Console.event(Event::ControlWithoutVcpu);
    }
    for vcpu in 1..vcpus {
        if let Err(error) = smp::start_vcpu(vcpu, serve_control) {
            Console.event(Event::ControlVcpuNotStarted { vcpu, error });
        }
    }
}

/// A control vCPU's life: serve until the endpoint fails, then turn off.
fn serve_control(vcpu: usize) -> ! {
    if let Some((settings, slot)) = SETTINGS
        .get()
        .and_then(|settings| Some((settings, settings.control?)))
    {
        let error = service::serve_control(&Core, settings, Endpoint(slot.0), &mut Console);
        Console.event(Event::ControlFailed { vcpu, error });
    }
    // CPU_OFF returns only if the core refused it; then wait forever.
    let _refused = psci::cpu_off();
    psci::park()
}
