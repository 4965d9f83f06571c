//! The scenarios, by the name `scenario=` gives them.

mod bench;
mod busy;
mod cpu_loop;
mod device;
mod faults;
mod fp;
mod hello;
mod ipc;
mod lines;
mod memtest;
mod mini_uart;
mod notify;
mod passthrough;
mod ping;
mod posted_uart;
mod power;
mod scrub;
mod smp;
mod sysregs;
mod ticks;
mod vgic;
mod virq_latency;

/// A scenario runs until it powers the partition off, resets it, or faults.
pub type Scenario = fn() -> !;

/// Every scenario name, for the error message about an unknown one.
pub const NAMES: &str =
    "hello, ticks, spin, busy, memtest, mini-uart, ping, smp, oob, undef, reset, off, panic, \
     echo-server, ipc-client, caps, device-server, mmio, notify-ping, notify-pong, \
     bench, bench-ipc, bench-mmio, vgic, irq-passthrough, bench-cpu, bench-virq, sysregs, scrub, \
     posted-uart, bench-mmio-posted, posted-device-server, fp-keep, fp-server, lines";

/// The scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    let scenario: Scenario = match name {
        "hello" => hello::run,
        "ticks" => ticks::run,
        "spin" => ticks::spin,
        "busy" => busy::run,
        "memtest" => memtest::run,
        "mini-uart" => mini_uart::run,
        "ping" => ping::run,
        "smp" => smp::run,
        "oob" => faults::oob,
        "undef" => faults::undef,
        "reset" => power::reset,
        "off" => power::off,
        "panic" => faults::panic,
        "bench" => bench::run,
        "bench-ipc" => bench::ipc,
        "bench-mmio" => bench::mmio,
        "bench-mmio-posted" => bench::mmio_posted,
        "bench-cpu" => cpu_loop::run,
        "bench-virq" => virq_latency::run,
        "echo-server" => ipc::echo_server,
        "ipc-client" => ipc::client,
        "caps" => ipc::caps,
        "device-server" => device::server,
        "posted-device-server" => device::posted_server,
        "mmio" => device::client,
        "posted-uart" => posted_uart::run,
        "notify-ping" => notify::ping,
        "notify-pong" => notify::pong,
        "vgic" => vgic::run,
        "sysregs" => sysregs::run,
        "irq-passthrough" => passthrough::run,
        "scrub" => scrub::run,
        "fp-keep" => fp::keep,
        "fp-server" => fp::server,
        "lines" => lines::run,
        _ => return None,
    };
    Some(scenario)
}
