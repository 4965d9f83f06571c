//! The console service program: serves the console endpoint on every vCPU
//! that is the console's context on its CPU, and waits for the board UART's
//! input on `input_vcpu`. The design is in the library's docs (`lib.rs`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use abi::hvc::CONSOLE_WRITE_MAX;
use abi::ipc::mmio::Access;
use abi::Error;
use bulkhead_runtime::entry::MAX_VCPUS;
use bulkhead_runtime::ipc::{Core, Endpoint, Message, Notification};
use bulkhead_runtime::posted_mmio::DeviceWindow;
use bulkhead_runtime::{devicetree, hvc, pl011, println, psci, smp, timer};
use console::guest::{access_reply, GuestConsole};
use console::input::{InputEvent, InputSwitch};
use console::log_ring::LOG_CAPACITY;
use console::posted_uart::{queued_bit, PostedUart};
use console::settings::{GuestDevice, Settings, MAX_GUESTS};
use console::terminal::{ByteSink, GuestOutput, Lossy, Terminal};
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use platform::pl011::Pl011;
use spin::RelaxStrategy;

bulkhead_runtime::entry!(main);

/// Spinning on a lock gives the CPU back to the core: `WFE` traps to the
/// core, which treats it as a yield, so a lock holder preempted on this CPU
/// runs and releases it (see the library docs, "Locks").
struct YieldToCore;

impl RelaxStrategy for YieldToCore {
    fn relax() {
        aarch64_cpu::asm::wfe();
    }
}

type Lock<T> = spin::mutex::Mutex<T, YieldToCore>;

/// The board's UART and what is shown on it.
struct Uart {
    device: Option<Pl011>,
    terminal: Terminal,
    input: InputSwitch,
}

/// Bytes read from the UART before they are handed to the guests.
const INPUT_BATCH: usize = 64;

/// One guest's console and what of its UART is published to the core.
struct Guest {
    console: GuestConsole,
    posted: PostedUart,
}

static SETTINGS: spin::Once<Settings<'static>> = spin::Once::new();
static GUESTS: [Lock<Guest>; MAX_GUESTS] = [const {
    Lock::new(Guest {
        console: GuestConsole::new(),
        posted: PostedUart::new(),
    })
}; MAX_GUESTS];
static UART: Lock<Uart> = Lock::new(Uart {
    device: None,
    terminal: Terminal::new(),
    input: InputSwitch::new(0),
});
/// The focused guest, as the input switch last set it; read without the
/// UART lock by the output path, which only needs to know whether to show
/// an unfinished line.
static FOCUS: AtomicUsize = AtomicUsize::new(0);

/// Guest accesses served so far, for the `crash_after` fault injection.
static SERVED: AtomicUsize = AtomicUsize::new(0);

/// Fault injection for tests: with `crash_after=N` in the boot arguments the
/// console panics after serving N guest accesses — in its first run only, so
/// the restarted console keeps serving. Shows that guests survive a console
/// crash (their accesses wait) and see their UART come back.
fn maybe_crash() {
    let Some(limit) =
        devicetree::bootarg_value("crash_after").and_then(bulkhead_runtime::bootargs::parse_u64)
    else {
        return;
    };
    let first_run = hvc::partition_info().is_ok_and(|info| info.restart_count == 0);
    let served = SERVED.fetch_add(1, Ordering::Relaxed) as u64 + 1;
    if first_run && served > limit {
        panic!("console: crashing on purpose after {limit} accesses (crash_after)");
    }
}

/// The terminal's bytes: to the board's UART, or without one through the
/// core's `CONSOLE_WRITE` (which ends lines itself, so CRs are left out).
struct Screen<'a>(&'a Option<Pl011>);

impl ByteSink for Screen<'_> {
    fn write_bytes(&mut self, bytes: &[u8]) {
        match self.0 {
            Some(device) => {
                claim_uart();
                bytes.iter().for_each(|&byte| device.write_byte(byte));
            }
            None => forward_to_core(bytes),
        }
    }
}

/// The core's own lines wait while this partition prints on the board UART
/// (`UART_CLAIM`, made before the first byte a [`lock_uart`] holder prints
/// and ended when the guard goes), so neither splits the other's line.
/// Only a holder of the UART lock changes it.
static CLAIMED: AtomicBool = AtomicBool::new(false);
/// The core refused the claim (its log is on another UART): not asked
/// again.
static CLAIM_REFUSED: AtomicBool = AtomicBool::new(false);

fn claim_uart() {
    if CLAIMED.load(Ordering::Relaxed) || CLAIM_REFUSED.load(Ordering::Relaxed) {
        return;
    }
    match hvc::uart_claim() {
        Ok(()) => CLAIMED.store(true, Ordering::Relaxed),
        Err(_) => CLAIM_REFUSED.store(true, Ordering::Relaxed),
    }
}

/// The UART lock, which ends this partition's claim of the board UART,
/// if printing made one, when it is released.
struct UartGuard(spin::mutex::MutexGuard<'static, Uart>);

impl core::ops::Deref for UartGuard {
    type Target = Uart;
    fn deref(&self) -> &Uart {
        &self.0
    }
}

impl core::ops::DerefMut for UartGuard {
    fn deref_mut(&mut self) -> &mut Uart {
        &mut self.0
    }
}

impl Drop for UartGuard {
    fn drop(&mut self) {
        if CLAIMED.swap(false, Ordering::Relaxed) {
            hvc::uart_release();
        }
    }
}

fn lock_uart() -> UartGuard {
    UartGuard(UART.lock())
}

fn forward_to_core(bytes: &[u8]) {
    let mut chunk = [0u8; CONSOLE_WRITE_MAX];
    let mut len = 0;
    for &byte in bytes.iter().filter(|&&byte| byte != b'\r') {
        if let Some(slot) = chunk.get_mut(len) {
            *slot = byte;
            len += 1;
        }
        if len == CONSOLE_WRITE_MAX {
            let _ = hvc::console_write(&chunk);
            len = 0;
        }
    }
    if let Some(rest) = chunk.get(..len).filter(|rest| !rest.is_empty()) {
        let _ = hvc::console_write(rest);
    }
}

impl Uart {
    fn show(&mut self, guest: usize, name: &str, output: GuestOutput<'_>) {
        let Uart {
            device, terminal, ..
        } = self;
        terminal.guest_output(guest, name, output, &mut Screen(device));
    }

    /// Prints a `[console] ` line.
    fn say(&mut self, args: fmt::Arguments<'_>) {
        let Uart {
            device, terminal, ..
        } = self;
        if device.is_some() {
            terminal.console_line(args, &mut Screen(device));
        } else {
            // The core prefixes it with this partition's name.
            println!("{args}");
        }
    }
}

fn say(args: fmt::Arguments<'_>) {
    lock_uart().say(args);
}

fn main(_device_tree: usize) -> ! {
    let vcpus = devicetree::machine()
        .map_or(1, |machine| machine.cpus.len())
        .min(MAX_VCPUS);
    let settings = SETTINGS.call_once(|| {
        let mut settings = Settings::parse(&devicetree::bootargs(), |error| {
            println!("boot arguments: {error}")
        });
        // vCPU 0 is the first vCPU on its CPU, so it serves calls there.
        if let Some(vcpu) = settings.input_vcpu.filter(|&vcpu| vcpu == 0 || vcpu >= vcpus) {
            println!(
                "boot arguments: input_vcpu={vcpu} is not a spare vCPU (of {vcpus}); input is polled instead"
            );
            settings.input_vcpu = None;
        }
        settings
    });
    let base = settings
        .uart
        .or_else(|| Some(devicetree::machine().ok()?.uart?.base));
    let device = base.and_then(pl011::passthrough);
    if let (Some(base), None) = (base, &device) {
        println!("uart={base:#x} is not in the device part of the address space; printing through the core");
    }
    if let (Some(device), Some(_)) = (&device, settings.irq_slot) {
        device.enable_receive_interrupts();
    }
    {
        let mut uart = lock_uart();
        uart.device = device;
        uart.input = InputSwitch::new(settings.guests.len());
        announce(&mut uart, settings);
    }
    publish_uarts(settings);

    if devicetree::machine().is_ok_and(|machine| machine.cpus.len() > MAX_VCPUS) {
        say(format_args!(
            "more than {MAX_VCPUS} vCPUs; the runtime runs {MAX_VCPUS}, the rest stay off"
        ));
    }
    for index in 1..vcpus {
        if let Err(error) = smp::start_vcpu(index, run) {
            say(format_args!("cannot start vCPU {index}: {error:?}"));
        }
    }
    run(0)
}

/// The console's first lines: whom it serves and where input goes.
fn announce(uart: &mut Uart, settings: &Settings<'_>) {
    uart.say(format_args!(
        "serving {} guest(s) on endpoint slot {}",
        settings.guests.len(),
        settings.endpoint_slot
    ));
    for (number, guest) in settings.guests.iter().enumerate() {
        uart.say(format_args!(
            "  {} \"{}\" (badge {:#x})",
            number + 1,
            guest.name,
            guest.badge
        ));
    }
    match (settings.irq_slot, uart.input.focus()) {
        (None, _) => uart.say(format_args!("no input: irq_slot not given")),
        (Some(_), None) => {}
        (Some(_), Some(focus)) => {
            say_focus(uart, settings, focus);
            uart.say(format_args!("Ctrl-\\ then ? lists the keys"));
        }
    }
}

/// Whether guests' UARTDR stores are posted: only when a vCPU waits on the
/// input notification, which the core then signals when stores are queued.
fn posts_data(settings: &Settings<'_>) -> bool {
    settings.input_vcpu.is_some() && settings.irq_slot.is_some()
}

/// The emulated UART `device` as the core knows it.
fn window(settings: &Settings<'_>, device: &GuestDevice<'_>) -> DeviceWindow {
    DeviceWindow {
        endpoint: Endpoint(settings.endpoint_slot),
        badge: device.badge,
    }
}

/// Publishes every guest's UART registers to the core, maps them for its
/// loads and, with [`posts_data`], declares its UARTDR posted
/// (`console::posted_uart`).
fn publish_uarts(settings: &Settings<'static>) {
    let post_data = posts_data(settings);
    let (mut published, mut mapped) = (0, 0);
    for (index, device) in settings.guests.iter().enumerate() {
        let Some(guest) = GUESTS.get(index) else {
            continue;
        };
        let mut guest = guest.lock();
        let Guest { console, posted } = &mut *guest;
        match posted.start(console, &Core, window(settings, device), post_data) {
            Ok(()) => {
                published += 1;
                mapped += usize::from(posted.reads_mapped());
            }
            Err(error) => say(format_args!(
                "cannot publish the UART of \"{}\" ({error:?}); all its accesses come here",
                device.name
            )),
        }
    }
    if published > 0 {
        say(format_args!(
            "posted MMIO: registers published{}{} for {published} guest(s)",
            if mapped == published {
                ", reads mapped"
            } else {
                ""
            },
            if post_data { ", UARTDR posted" } else { "" }
        ));
    }
}

fn say_focus(uart: &mut Uart, settings: &Settings<'_>, guest: usize) {
    if let Some(device) = settings.guests.get(guest) {
        uart.say(format_args!("input goes to \"{}\"", device.name));
    }
}

/// What every vCPU runs: the input loop on `input_vcpu`, the server loop on
/// the others.
fn run(vcpu: usize) -> ! {
    let Some(settings) = SETTINGS.get() else {
        // vCPU 0 sets the settings before it starts anyone.
        psci::park()
    };
    if settings.input_vcpu == Some(vcpu) {
        match settings.irq_slot {
            Some(slot) => input_loop(vcpu, settings, Notification(slot)),
            None => stop_vcpu(format_args!(
                "vCPU {vcpu}: input_vcpu given without irq_slot; stopping it"
            )),
        }
    }
    serve_loop(vcpu, settings)
}

fn stop_vcpu(args: fmt::Arguments<'_>) -> ! {
    say(args);
    let error = psci::cpu_off();
    say(format_args!("CPU_OFF refused: {error:?}"));
    psci::park()
}

/// RECV, then REPLY_RECV with each answer, for ever.
fn serve_loop(vcpu: usize, settings: &'static Settings<'static>) -> ! {
    let endpoint = Endpoint(settings.endpoint_slot);
    let polled_input = match settings.input_vcpu {
        None => settings.irq_slot.map(Notification),
        Some(_) => None,
    };
    let mut received = endpoint.recv();
    loop {
        let (badge, message) = match received {
            Ok(received) => received,
            Err(error) => stop_vcpu(format_args!(
                "vCPU {vcpu}: cannot receive on endpoint slot {}: {error:?}; stopping it",
                settings.endpoint_slot
            )),
        };
        let reply = answer(settings, badge, message);
        if let Some(irq) = polled_input {
            if irq.poll().is_ok_and(|bits| bits != 0) {
                read_input(settings);
                let _ = irq.irq_ack();
            }
        }
        received = endpoint.reply_recv(reply);
        if let Err(error) = received {
            say(format_args!(
                "vCPU {vcpu}: REPLY_RECV failed ({error:?}); receiving afresh"
            ));
            received = endpoint.recv();
        }
    }
}

/// The reply to one message.
fn answer(settings: &Settings<'static>, badge: u64, message: Message) -> Message {
    maybe_crash();
    let Some(access) = Access::from_words(message) else {
        return [Error::NotSupported.code() as u64, 0, 0, 0, 0];
    };
    let Some(index) = settings.guest_index(badge) else {
        return access_reply(0, false);
    };
    let (Some(device), Some(guest)) = (settings.guests.get(index), GUESTS.get(index)) else {
        return access_reply(0, false);
    };
    let focused = FOCUS.load(Ordering::Relaxed) == index;
    let show = |output: GuestOutput<'_>| lock_uart().show(index, device.name, output);
    let mut guest = guest.lock();
    let Guest { console, posted } = &mut *guest;
    // Stores the core queued came first: they happen before this access.
    if posted.posts_data() {
        if let Err(error) = posted.drain(console, &Core, None, focused, maybe_crash, show) {
            say(format_args!(
                "draining \"{}\" failed: {error:?}",
                device.name
            ));
        }
    }
    let reply = console.access(&access, focused, show);
    if let Err(error) = posted.republish(console, &Core) {
        say(format_args!(
            "publishing \"{}\" failed: {error:?}",
            device.name
        ));
    }
    reply
}

/// How long the input vCPU lets a guest's stores pile up in the core's
/// queue after the first one woke it, before it drains them: the core
/// signals the first store after each drain, so without this pause a guest
/// printing steadily would wake it every few bytes, and on the guest's own
/// CPU each wake (and each pause) is two partition switches. Four
/// milliseconds fit a burst of boot messages, under the queue's capacity
/// (measured on the Linux boot: 3,500 wakes without a pause, ~150 with
/// 1 ms; with 4 ms the boot makes 1,096 partition switches instead of
/// 2,552); the guest is not held up meanwhile, and text still shows
/// quicker than anyone reads it.
const COALESCE_MS: u64 = 4;

/// WAIT on the UART's notification for ever: bit 0 (its interrupt) reads
/// the input and IRQ_ACKs it; a guest's [`queued_bit`] drains the UARTDR
/// stores the core queued for it, after [`COALESCE_MS`], and arms the bit
/// again.
fn input_loop(vcpu: usize, settings: &'static Settings<'static>, irq: Notification) -> ! {
    // Whatever was typed, or stored, before the console started; arms
    // every guest's bit.
    read_input(settings);
    drain_queued(settings, irq, u64::MAX);
    loop {
        let bits = match irq.wait() {
            Ok(bits) => bits,
            Err(error) => stop_vcpu(format_args!(
                "vCPU {vcpu}: cannot wait on irq_slot {}: {error:?}; no more input",
                irq.0
            )),
        };
        if bits & !1 != 0 {
            timer::sleep_ms(COALESCE_MS);
        }
        if bits & 1 != 0 {
            read_input(settings);
            if let Err(error) = irq.irq_ack() {
                say(format_args!(
                    "IRQ_ACK on irq_slot {} failed: {error:?}",
                    irq.0
                ));
            }
        }
        drain_queued(settings, irq, bits);
    }
}

/// Drains the queued UARTDR stores of every guest whose [`queued_bit`] is in
/// `bits`, arming it again, and rings a guest's doorbell if they raised its
/// interrupt.
fn drain_queued(settings: &Settings<'static>, irq: Notification, bits: u64) {
    for (index, device) in settings.guests.iter().enumerate() {
        let bit = queued_bit(index);
        let Some(guest) = GUESTS.get(index).filter(|_| bits & bit != 0) else {
            continue;
        };
        let focused = FOCUS.load(Ordering::Relaxed) == index;
        let drained = {
            let mut guest = guest.lock();
            let Guest { console, posted } = &mut *guest;
            posted.drain(
                console,
                &Core,
                Some((irq, bit)),
                focused,
                maybe_crash,
                |output| lock_uart().show(index, device.name, output),
            )
        };
        match drained {
            Ok(drain) if drain.raised => ring_doorbell(device),
            Ok(_) => {}
            Err(error) => say(format_args!(
                "draining \"{}\" failed: {error:?}",
                device.name
            )),
        }
    }
}

/// Reads the UART dry, in batches: each byte through the input switch, the
/// bytes for guests into their receive FIFOs.
fn read_input(settings: &Settings<'static>) {
    loop {
        let mut batch = [(0usize, 0u8); INPUT_BATCH];
        let mut len = 0;
        let mut dump = None;
        let mut drained = false;
        {
            let mut uart = lock_uart();
            let Some(device) = &uart.device else {
                return;
            };
            // Clear first: a byte arriving after the last read raises the
            // interrupt afresh.
            device.clear_receive_interrupts();
            while len < INPUT_BATCH && dump.is_none() {
                let Some(byte) = uart.device.as_ref().and_then(Pl011::try_read_byte) else {
                    drained = true;
                    break;
                };
                match uart.input.feed(byte) {
                    InputEvent::Nothing => {}
                    InputEvent::Deliver { guest, byte } => {
                        if let Some(slot) = batch.get_mut(len) {
                            *slot = (guest, byte);
                            len += 1;
                        }
                    }
                    InputEvent::Focus { guest } => {
                        FOCUS.store(guest, Ordering::Relaxed);
                        say_focus(&mut uart, settings, guest);
                    }
                    // The log is copied under the guest's lock, which is
                    // never taken while the UART's is held.
                    InputEvent::DumpLog { guest } => dump = Some(guest),
                    InputEvent::Help => help(&mut uart, settings),
                }
            }
        }
        deliver(settings, batch.get(..len).unwrap_or(&[]));
        if let Some(guest) = dump {
            dump_log(settings, guest);
        }
        if drained {
            return;
        }
    }
}

fn help(uart: &mut Uart, settings: &Settings<'_>) {
    uart.say(format_args!(
        "keys: Ctrl-\\ then 1..9 input to that guest, n the next guest, l its log, Ctrl-\\ a Ctrl-\\"
    ));
    for (number, guest) in settings.guests.iter().enumerate() {
        uart.say(format_args!("  {} \"{}\"", number + 1, guest.name));
    }
}

/// Puts each guest's bytes into its receive FIFO and rings its doorbell
/// if that raised its interrupt.
fn deliver(settings: &Settings<'static>, batch: &[(usize, u8)]) {
    for (index, device) in settings.guests.iter().enumerate() {
        let mut bytes = [0u8; INPUT_BATCH];
        let mut count = 0;
        for (slot, &(_, byte)) in bytes
            .iter_mut()
            .zip(batch.iter().filter(|(guest, _)| *guest == index))
        {
            *slot = byte;
            count += 1;
        }
        let (Some(bytes), Some(guest)) = (bytes.get(..count), GUESTS.get(index)) else {
            continue;
        };
        if bytes.is_empty() {
            continue;
        }
        let reception = {
            let mut guest = guest.lock();
            let Guest { console, posted } = &mut *guest;
            let reception = console.receive(bytes);
            // Before the doorbell: the guest's handler reads FR at once.
            if let Err(error) = posted.republish(console, &Core) {
                say(format_args!(
                    "publishing \"{}\" failed: {error:?}",
                    device.name
                ));
            }
            reception
        };
        if reception.raised {
            ring_doorbell(device);
        }
    }
}

/// Tells guest `device` its UART's interrupt line rose outside an access
/// (whose reply would carry the level): signals its doorbell, which the core
/// makes pending in the guest.
fn ring_doorbell(device: &GuestDevice<'_>) {
    let Some(doorbell) = device.doorbell else {
        return;
    };
    if let Err(error) = Notification(doorbell).signal(1) {
        say(format_args!(
            "doorbell of \"{}\" (slot {doorbell}) failed: {error:?}",
            device.name
        ));
    }
}

/// Prints guest `index`'s log as `[console] | line` lines.
fn dump_log(settings: &Settings<'static>, index: usize) {
    let (Some(device), Some(guest)) = (settings.guests.get(index), GUESTS.get(index)) else {
        return;
    };
    let mut copy = [0u8; LOG_CAPACITY];
    let (len, dropped) = {
        let guest = guest.lock();
        let log = guest.console.log();
        (log.copy_to(&mut copy), log.dropped())
    };
    let mut uart = lock_uart();
    uart.say(format_args!(
        "log of \"{}\": the last {len} bytes ({dropped} older ones dropped)",
        device.name
    ));
    let text = copy.get(..len).unwrap_or(&[]);
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    if text.is_empty() {
        return;
    }
    for line in text.split(|&byte| byte == b'\n') {
        uart.say(format_args!("| {}", Lossy(line)));
    }
}
