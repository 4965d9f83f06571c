//! Emulated-device scenarios. `device-server slot=S` serves endpoint cap S as
//! a small register file; `mmio base=B` is a guest with that device's window
//! at B, which checks loads of every width and sign extension, stores, and
//! the device's interrupt line; with `nosyndrome=1` it ends with a load pair,
//! which the core cannot forward and must fault.
//!
//! Register file (offsets): 0x00 ID (reads [`DEVICE_ID`]), 0x08 scratch
//! (64-bit, read/write), 0x10 reads 0xFFFF_FFFF_FFFF_FF80 (to check sign
//! extension), 0x18 interrupt line (write 1 to raise it, 0 to lower it).
//!
//! `posted-device-server slot=S badge=W` serves the same register file
//! behind the window with badge W through posted MMIO
//! (`abi::posted_mmio`): it publishes the ID register, so the core answers
//! its loads, and declares a data register at [`DATA`] posted, so the core
//! queues its stores; the server drains them before it handles any other
//! access, and [`DATA_COUNT`] reads how many it took.

use abi::ipc::mmio::Access;
use bulkhead_runtime::ipc::Endpoint;
use bulkhead_runtime::mmio::Window;
use bulkhead_runtime::posted_mmio::{DeviceWindow, Register};
use bulkhead_runtime::{gic, hvc, irq, println, psci, smp, timer};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use spin::Mutex;

use crate::options;

/// What offset 0 reads: "BULK".
pub const DEVICE_ID: u32 = 0x4B4C_5542;
/// `posted-device-server`: the posted data register.
pub const DATA: usize = 0x20;
/// `posted-device-server`: reads how many stores the data register took.
pub const DATA_COUNT: usize = 0x28;
const NEGATIVE: u64 = 0xFFFF_FFFF_FFFF_FF80;

/// The register file's state, one per device server.
struct Registers {
    scratch: u64,
    line: bool,
}

impl Registers {
    /// Applies an access; returns (value for a load, line level after).
    /// Inlined into each server loop, so `mmio_emulated_read_roundtrip`
    /// counts the device's work, not a call.
    #[inline(always)]
    fn access(&mut self, a: Access) -> (u64, bool) {
        let value = match (a.offset, a.write) {
            (0x00, false) => u64::from(DEVICE_ID),
            (0x08, false) => self.scratch,
            (0x08, true) => {
                self.scratch = merge(self.scratch, a.value, a.size);
                0
            }
            (0x10, false) => NEGATIVE,
            (0x18, false) => u64::from(self.line),
            (0x18, true) => {
                self.line = a.value & 1 != 0;
                0
            }
            _ => 0,
        };
        (value, self.line)
    }
}

/// A store of `size` bytes replaces that many low bytes of `old`.
fn merge(old: u64, value: u64, size: u8) -> u64 {
    if size >= 8 {
        value
    } else {
        let mask = (1u64 << (u32::from(size) * 8)) - 1;
        (old & !mask) | (value & mask)
    }
}

/// The register file, shared by the server's vCPUs.
static REGISTERS: Mutex<Registers> = Mutex::new(Registers {
    scratch: 0,
    line: false,
});

/// `device-server`: serves on every vCPU, one per CPU it serves.
pub fn server() -> ! {
    let slot = options::required_number("device-server", "slot") as u16;
    let others = smp::start_all_others(serve);
    println!(
        "device-server: serving endpoint slot {slot} on {} vCPUs",
        others + 1
    );
    serve(0)
}

/// Accesses served so far, for `crash_after`.
static SERVED: AtomicU32 = AtomicU32::new(0);

fn serve(_vcpu: usize) -> ! {
    let endpoint = Endpoint(options::required_number("device-server", "slot") as u16);
    // Fault injection: `crash_after=N` panics after N accesses, in the first
    // run only (a restarted server keeps serving).
    let crash_after = options::number("device-server", "crash_after")
        .filter(|_| hvc::partition_info().is_ok_and(|info| info.restart_count == 0));
    serve_accesses(endpoint, |a| {
        let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
        if crash_after.is_some_and(|n| u64::from(served) > n) {
            panic!(
                "device-server: crashing on purpose after {} accesses",
                served - 1
            );
        }
        REGISTERS.lock().access(a)
    })
}

/// RECV, then REPLY_RECV for ever: each MMIO access message answered with
/// `answer`'s (value, line level).
#[inline(always)]
fn serve_accesses(endpoint: Endpoint, mut answer: impl FnMut(Access) -> (u64, bool)) -> ! {
    let mut next = endpoint.recv();
    loop {
        next = match next {
            Ok((_badge, words)) => {
                let reply = match Access::from_words(words) {
                    Some(a) => {
                        let (value, line) = answer(a);
                        [value, u64::from(line), 0, 0, 0]
                    }
                    None => [0; 5],
                };
                endpoint.reply_recv(reply)
            }
            Err(e) => {
                println!("device-server: receive failed: {e:?}");
                endpoint.recv()
            }
        };
    }
}

/// The posted device's window: the endpoint in `slot=` and `badge=`.
fn posted_window() -> DeviceWindow {
    let scenario = "posted-device-server";
    DeviceWindow {
        endpoint: Endpoint(options::required_number(scenario, "slot") as u16),
        badge: options::required_number(scenario, "badge"),
    }
}

/// Stores the data register took.
static DATA_STORES: AtomicU64 = AtomicU64::new(0);

/// `posted-device-server`: publishes the ID, posts the data register, then
/// serves on every vCPU.
pub fn posted_server() -> ! {
    let window = posted_window();
    let published = window
        .publish(0x00, Register::Read(DEVICE_ID))
        .and_then(|()| window.publish(DATA as u64, Register::Posted));
    match published {
        Ok(()) => println!("posted-device-server: ID published, data register posted"),
        Err(e) => println!("posted-device-server: FAIL publishing: {e:?}"),
    }
    smp::start_all_others(serve_posted);
    serve_posted(0)
}

fn serve_posted(_vcpu: usize) -> ! {
    let window = posted_window();
    serve_accesses(window.endpoint, |a| {
        // Under the register lock, so the queue is drained in order.
        let registers = REGISTERS.lock();
        drain_data_stores(window);
        match (a.offset as usize, a.write) {
            (DATA, true) => {
                DATA_STORES.fetch_add(1, Ordering::Relaxed);
                (0, registers.line)
            }
            (DATA_COUNT, false) => (DATA_STORES.load(Ordering::Relaxed), registers.line),
            _ => {
                let mut registers = registers;
                registers.access(a)
            }
        }
    })
}

/// Takes every store the core queued (all to the data register: the only
/// one posted), oldest first.
fn drain_data_stores(window: DeviceWindow) {
    loop {
        match window.drain(None) {
            Ok(drained) => {
                let stores = drained
                    .writes()
                    .filter(|w| w.offset as usize == DATA)
                    .count();
                DATA_STORES.fetch_add(stores as u64, Ordering::Relaxed);
                if !drained.status.more {
                    return;
                }
            }
            Err(e) => {
                println!("posted-device-server: FAIL draining: {e:?}");
                return;
            }
        }
    }
}

static DEVICE_INTERRUPTS: AtomicU32 = AtomicU32::new(0);
static DEVICE_BASE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
static DEVICE_IRQ: AtomicU32 = AtomicU32::new(0);

fn on_interrupt(intid: u32) {
    if intid == DEVICE_IRQ.load(Ordering::Relaxed) {
        DEVICE_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
        // Lower the line, as a driver acknowledges its device.
        Window::new(DEVICE_BASE.load(Ordering::Relaxed)).write_u32(0x18, 0);
    }
}

fn check(what: &str, ok: bool, failures: &mut u32) {
    if ok {
        println!("mmio: {what} ok");
    } else {
        println!("mmio: FAIL {what}");
        *failures += 1;
    }
}

pub fn client() -> ! {
    let base = options::required_number("mmio", "base") as usize;
    let device = Window::new(base);
    let mut failures = 0;
    // `rounds=N` repeats the register checks (to outlive a service restart).
    let rounds = options::number_or("mmio", "rounds", 1);
    for round in 1..=rounds {
        registers_round(device, &mut failures);
        if rounds > 1 {
            println!("mmio: round {round}/{rounds}");
        }
    }
    if let Some(intid) = options::number("mmio", "irq") {
        device_interrupt(base, device, intid as u32, &mut failures);
    }
    if failures == 0 {
        println!("mmio: all ok");
    }
    if options::number_or("mmio", "nosyndrome", 0) != 0 {
        println!("mmio: a load pair the core cannot emulate");
        let pair = device.read_pair_u64(0);
        println!("mmio: FAIL the load pair returned {pair:?}");
    }
    psci::system_off()
}

fn registers_round(device: Window, failures: &mut u32) {
    check("32-bit ID read", device.read_u32(0) == DEVICE_ID, failures);
    check(
        "byte read",
        device.read_u8(0) == (DEVICE_ID & 0xff) as u8,
        failures,
    );
    device.write_u64(8, 0x1122_3344_5566_7788);
    check(
        "64-bit store and load",
        device.read_u64(8) == 0x1122_3344_5566_7788,
        failures,
    );
    device.write_u16(8, 0xAABB);
    check(
        "16-bit store merges",
        device.read_u64(8) == 0x1122_3344_5566_AABB,
        failures,
    );
    check("16-bit load", device.read_u16(8) == 0xAABB, failures);
    check(
        "LDRSB sign-extends",
        device.read_i8_sign_extended(0x10) == -128,
        failures,
    );
    check(
        "LDRSH sign-extends",
        device.read_i16_sign_extended(0x10) == -128,
        failures,
    );
    check(
        "LDRSW sign-extends",
        device.read_i32_sign_extended(0x10) == -128,
        failures,
    );
    check(
        "W load zero-extends",
        device.read_u32(0x10) == 0xFFFF_FF80,
        failures,
    );
}

fn device_interrupt(base: usize, device: Window, intid: u32, failures: &mut u32) {
    DEVICE_IRQ.store(intid, Ordering::Relaxed);
    DEVICE_BASE.store(base, Ordering::Relaxed);
    if let Some(gicc) = gic::cpu_interface() {
        gicc.init();
    }
    gic::enable_interrupt(intid);
    irq::set_handler(on_interrupt);
    device.write_u32(0x18, 1);
    timer::sleep_ms(5);
    check(
        "device interrupt delivered once",
        DEVICE_INTERRUPTS.load(Ordering::Relaxed) == 1,
        failures,
    );
    check(
        "line lowered by the handler",
        device.read_u32(0x18) == 0,
        failures,
    );
}
