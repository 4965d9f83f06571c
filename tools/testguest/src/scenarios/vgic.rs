//! `vgic` (needs 2 vCPUs on 2 CPUs): the virtual GIC as an operating system
//! drives it. The runtime has already programmed the distributor and this
//! vCPU's redistributor the way Linux does (GICD_CTLR, GICR_WAKER, groups,
//! priorities, the timer PPI). Then:
//!
//! - identification: GICD_PIDR2/ICPIDR2 ArchRev, GICD_TYPER lines (and
//!   CPUNumber on GICv2), the GICv3 redistributor walk (affinity,
//!   Processor_Number, Last) as Linux's `gic_iterate_rdists` does it;
//! - registers read back as written: priorities (five bits), trigger
//!   configuration, IROUTER / ITARGETSR routing;
//! - SGIs to the other vCPU and to itself, from both vCPUs (ICC_SGI1R_EL1 or
//!   GICD_SGIR);
//! - eight SPIs made pending through GICD_ISPENDR while interrupts are
//!   masked — more than the four list registers — arrive exactly once each,
//!   most urgent priority first;
//! - enable semantics: a pending but disabled SPI waits (and shows in
//!   ISPENDR), arrives once enabled; one cleared through ICPENDR never does;
//! - active semantics: ISACTIVER shows an SPI active while its handler runs
//!   and not after its EOI;
//! - an SPI routed to the other vCPU arrives there.
//!
//! Every check prints `vgic: <what> ok` or `vgic: FAIL <what>: <detail>`,
//! then `vgic: all ok` when none failed.

use bulkhead_runtime::gic::{self, Distributor, InterruptRegs, SgiTarget};
use bulkhead_runtime::{irq, println, psci, smp, timer};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

/// SGIs: vCPU 0 → vCPU 1, vCPU 0 → itself, vCPU 1 → the others, vCPU 1 →
/// itself.
const SGI_TO_OTHER: u32 = 3;
const SGI_TO_SELF: u32 = 4;
const SGI_FROM_SECONDARY: u32 = 5;
const SGI_SECONDARY_SELF: u32 = 6;
/// The SPIs pended at once, and their priorities (scrambled on purpose).
const BURST_FIRST: u32 = 64;
const BURST_PRIORITIES: [u8; 8] = [0x60, 0x20, 0x80, 0x10, 0x70, 0x30, 0x50, 0x40];
/// An SPI for the enable checks, one for ICPENDR, one for the active state,
/// one routed to vCPU 1.
const SPI_DISABLED: u32 = 80;
const SPI_CLEARED: u32 = 81;
const SPI_ACTIVE: u32 = 82;
const SPI_REMOTE: u32 = 83;
/// How long an interrupt may take to arrive (the cores run in QEMU).
const ARRIVAL_MS: u64 = 20;
const TIMEOUT_MS: u64 = 2000;

/// `COUNTS[vcpu][intid]`: interrupts each vCPU took, for INTIDs below 96.
static COUNTS: [[AtomicU32; 96]; 2] = [const { [const { AtomicU32::new(0) }; 96] }; 2];
/// The order the burst SPIs arrived in.
static ORDER: [AtomicU32; 8] = [const { AtomicU32::new(0) }; 8];
static ORDER_LEN: AtomicUsize = AtomicUsize::new(0);
/// What `ISACTIVER` said about `SPI_ACTIVE` inside its handler.
static ACTIVE_IN_HANDLER: AtomicBool = AtomicBool::new(false);
/// vCPU 1 set up its GIC and enabled its SGIs.
static SECONDARY_READY: AtomicBool = AtomicBool::new(false);
/// vCPU 0 has sent its SGIs; vCPU 1 may send its own.
static SECONDARY_GO: AtomicBool = AtomicBool::new(false);

static FAILURES: AtomicU32 = AtomicU32::new(0);

fn check(what: &str, ok: bool, detail: core::fmt::Arguments<'_>) {
    if ok {
        println!("vgic: {what} ok");
    } else {
        FAILURES.fetch_add(1, Ordering::Relaxed);
        println!("vgic: FAIL {what}: {detail}");
    }
}

fn count(vcpu: usize, intid: u32) -> u32 {
    COUNTS
        .get(vcpu)
        .and_then(|c| c.get(intid as usize))
        .map_or(0, |c| c.load(Ordering::Acquire))
}

fn on_interrupt(intid: u32) {
    let vcpu = smp::current_vcpu();
    if let Some(slot) = COUNTS.get(vcpu).and_then(|c| c.get(intid as usize)) {
        slot.fetch_add(1, Ordering::AcqRel);
    }
    if (BURST_FIRST..BURST_FIRST + 8).contains(&intid) {
        let at = ORDER_LEN.fetch_add(1, Ordering::AcqRel);
        if let Some(slot) = ORDER.get(at) {
            slot.store(intid, Ordering::Release);
        }
    }
    if intid == SPI_ACTIVE {
        ACTIVE_IN_HANDLER.store(irqs().is_active(SPI_ACTIVE), Ordering::Release);
    }
}

/// Sleeps (taking interrupts) until `condition` holds or the timeout passes.
fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = timer::now().saturating_add(timer::ticks_from_ms(TIMEOUT_MS));
    while !condition() {
        if timer::now() >= deadline {
            return false;
        }
        timer::sleep_ms(1);
    }
    true
}

fn distributor() -> &'static Distributor {
    match gic::distributor() {
        Some(d) => d,
        None => {
            println!("vgic: FAIL the device tree names no GIC");
            psci::system_off()
        }
    }
}

fn irqs() -> &'static InterruptRegs {
    distributor().irqs()
}

/// Routes SPI `intid` to vCPU `vcpu` (IROUTER Aff0 or ITARGETSR bit).
fn route(intid: u32, vcpu: usize) {
    match distributor() {
        Distributor::V3 { gicd, .. } => gicd.route(intid, vcpu as u64),
        Distributor::V2(gicd) => gicd.irqs().set_targets(intid, 1 << vcpu),
    }
}

/// Routed to this vCPU, enabled, with `priority`.
fn prepare_spi(intid: u32, priority: u8) {
    gic::enable_interrupt(intid);
    irqs().set_priority(intid, priority);
}

fn identification() {
    match distributor() {
        Distributor::V3 { gicd, .. } => {
            let arch = (gicd.pidr2() >> 4) & 0xf;
            check(
                "GICD_PIDR2 says GICv3",
                arch == 3,
                format_args!("ArchRev {arch}"),
            );
            let ctlr = gicd.ctlr();
            check(
                "GICD_CTLR: ARE, DS, both groups enabled, no RWP",
                ctlr == (1 << 6 | 1 << 4 | 0b11),
                format_args!("{ctlr:#x}"),
            );
            check(
                "GICD_TYPER2 reads as zero",
                gicd.typer2() == 0,
                format_args!("{:#x}", gicd.typer2()),
            );
            let lines = ((gicd.typer() & 0x1f) + 1) * 32;
            check("GICD_TYPER lines", lines >= 96, format_args!("{lines}"));
            let frames: [(u64, bool); 2] = {
                let mut out = [(u64::MAX, false); 2];
                let mut walked = 0;
                for (slot, rd) in out.iter_mut().zip(distributor().redistributors()) {
                    let typer = rd.typer();
                    *slot = (
                        typer >> 32 | ((typer >> 8) & 0xffff) << 16,
                        typer & (1 << 4) != 0,
                    );
                    walked += 1;
                }
                check("two redistributors", walked == 2, format_args!("{walked}"));
                out
            };
            check(
                "GICR_TYPER affinity, Processor_Number and Last",
                frames == [(0, false), (1 | 1 << 16, true)],
                format_args!("{frames:x?}"),
            );
            let awake = gic::this_redistributor().map(|rd| rd.waker());
            check(
                "GICR_WAKER awake",
                awake == Some(0),
                format_args!("{awake:?}"),
            );
        }
        Distributor::V2(gicd) => {
            let arch = (gicd.pidr2() >> 4) & 0xf;
            check(
                "ICPIDR2 says GICv2",
                arch == 2,
                format_args!("ArchRev {arch}"),
            );
            let typer = gicd.typer();
            let lines = ((typer & 0x1f) + 1) * 32;
            check("GICD_TYPER lines", lines >= 96, format_args!("{lines}"));
            check(
                "GICD_TYPER CPUNumber",
                (typer >> 5) & 0x7 == 1,
                format_args!("{typer:#x}"),
            );
            check(
                "GICD_ITARGETSR0 names this CPU interface",
                gicd.cpu_mask() == 1,
                format_args!("{:#x}", gicd.cpu_mask()),
            );
        }
    }
}

fn registers() {
    irqs().set_priority(SPI_REMOTE, 0xff);
    let p = irqs().priority(SPI_REMOTE);
    check("five priority bits", p == 0xf8, format_args!("{p:#x}"));
    irqs().set_edge(SPI_REMOTE, true);
    let edge = irqs().is_edge(SPI_REMOTE);
    irqs().set_edge(SPI_REMOTE, false);
    check(
        "ICFGR edge sticks",
        edge && !irqs().is_edge(SPI_REMOTE),
        format_args!("{edge}"),
    );
    match distributor() {
        Distributor::V3 { gicd, .. } => {
            gicd.route(SPI_REMOTE, 1 << 31);
            let irm = gicd.routing(SPI_REMOTE);
            gicd.route(SPI_REMOTE, 1);
            let one = gicd.routing(SPI_REMOTE);
            check(
                "IROUTER reads back",
                irm == 1 << 31 && one == 1,
                format_args!("{irm:#x} {one:#x}"),
            );
        }
        Distributor::V2(gicd) => {
            gicd.irqs().set_targets(SPI_REMOTE, 0b10);
            let targets = gicd.irqs().targets(SPI_REMOTE);
            check(
                "ITARGETSR byte reads back",
                targets == 0b10,
                format_args!("{targets:#x}"),
            );
        }
    }
}

fn secondary(vcpu: usize) -> ! {
    for sgi in [SGI_TO_OTHER, SGI_SECONDARY_SELF] {
        gic::enable_interrupt(sgi);
    }
    SECONDARY_READY.store(true, Ordering::Release);
    while !SECONDARY_GO.load(Ordering::Acquire) {
        timer::sleep_ms(1);
    }
    gic::send_sgi(SGI_FROM_SECONDARY, SgiTarget::Others);
    gic::send_sgi(SGI_SECONDARY_SELF, SgiTarget::This);
    println!("vgic: vCPU {vcpu} sent its SGIs");
    // Take interrupts until the partition powers off.
    loop {
        timer::sleep_ms(5);
    }
}

fn sgis() {
    for sgi in [SGI_TO_SELF, SGI_FROM_SECONDARY] {
        gic::enable_interrupt(sgi);
    }
    if let Err(e) = smp::start_vcpu(1, secondary) {
        check("vCPU 1 starts", false, format_args!("{e:?}"));
        return;
    }
    if !wait_until(|| SECONDARY_READY.load(Ordering::Acquire)) {
        check("vCPU 1 starts", false, format_args!("it never got ready"));
        return;
    }
    gic::send_sgi(SGI_TO_OTHER, SgiTarget::Vcpus(0b10));
    gic::send_sgi(SGI_TO_SELF, SgiTarget::This);
    SECONDARY_GO.store(true, Ordering::Release);
    let arrived = wait_until(|| {
        count(1, SGI_TO_OTHER) == 1
            && count(0, SGI_TO_SELF) == 1
            && count(0, SGI_FROM_SECONDARY) == 1
            && count(1, SGI_SECONDARY_SELF) == 1
    });
    check(
        "SGIs to the other vCPU and to itself, from both",
        arrived && count(0, SGI_TO_OTHER) == 0 && count(1, SGI_TO_SELF) == 0,
        format_args!(
            "0->1 {}, 0->0 {}, 1->0 {}, 1->1 {}",
            count(1, SGI_TO_OTHER),
            count(0, SGI_TO_SELF),
            count(0, SGI_FROM_SECONDARY),
            count(1, SGI_SECONDARY_SELF)
        ),
    );
}

fn burst() {
    // Interrupts stay masked (the runtime unmasks only while sleeping): all
    // eight are pending before the first is taken.
    for (intid, &p) in (BURST_FIRST..).zip(BURST_PRIORITIES.iter()) {
        prepare_spi(intid, p);
    }
    for intid in BURST_FIRST..BURST_FIRST + 8 {
        irqs().set_pending(intid, true);
    }
    let all_pending = (BURST_FIRST..BURST_FIRST + 8).all(|i| irqs().is_pending(i));
    check(
        "eight SPIs pending through ISPENDR",
        all_pending,
        format_args!("not all read back"),
    );
    let arrived = wait_until(|| ORDER_LEN.load(Ordering::Acquire) >= 8);
    let mut order = [0u8; 8];
    for (slot, intid) in order.iter_mut().zip(ORDER.iter()) {
        let intid = intid.load(Ordering::Acquire);
        *slot = intid
            .checked_sub(BURST_FIRST)
            .and_then(|i| BURST_PRIORITIES.get(i as usize))
            .copied()
            .unwrap_or(0);
    }
    let mut sorted = BURST_PRIORITIES;
    sorted.sort_unstable();
    timer::sleep_ms(ARRIVAL_MS);
    let once = (BURST_FIRST..BURST_FIRST + 8).all(|i| count(0, i) == 1);
    check(
        "eight SPIs through four list registers, each once, by priority",
        arrived && once && order == sorted && ORDER_LEN.load(Ordering::Acquire) == 8,
        format_args!("priorities in arrival order {order:x?}"),
    );
}

fn enable_semantics() {
    prepare_spi(SPI_DISABLED, 0xa0);
    irqs().set_enabled(SPI_DISABLED, false);
    irqs().set_pending(SPI_DISABLED, true);
    timer::sleep_ms(ARRIVAL_MS);
    check(
        "a disabled SPI stays pending",
        count(0, SPI_DISABLED) == 0 && irqs().is_pending(SPI_DISABLED),
        format_args!("taken {} times", count(0, SPI_DISABLED)),
    );
    irqs().set_enabled(SPI_DISABLED, true);
    let arrived = wait_until(|| count(0, SPI_DISABLED) == 1);
    check(
        "enabling delivers it",
        arrived && !irqs().is_pending(SPI_DISABLED),
        format_args!("taken {} times", count(0, SPI_DISABLED)),
    );

    prepare_spi(SPI_CLEARED, 0xa0);
    irqs().set_enabled(SPI_CLEARED, false);
    irqs().set_pending(SPI_CLEARED, true);
    irqs().set_pending(SPI_CLEARED, false);
    irqs().set_enabled(SPI_CLEARED, true);
    timer::sleep_ms(ARRIVAL_MS);
    check(
        "ICPENDR withdraws a pending SPI",
        count(0, SPI_CLEARED) == 0 && !irqs().is_pending(SPI_CLEARED),
        format_args!("taken {} times", count(0, SPI_CLEARED)),
    );
}

fn active_semantics() {
    prepare_spi(SPI_ACTIVE, 0xa0);
    irqs().set_pending(SPI_ACTIVE, true);
    let arrived = wait_until(|| count(0, SPI_ACTIVE) == 1);
    check(
        "ISACTIVER shows the SPI active in its handler, not after EOI",
        arrived && ACTIVE_IN_HANDLER.load(Ordering::Acquire) && !irqs().is_active(SPI_ACTIVE),
        format_args!(
            "in handler {}, after {}",
            ACTIVE_IN_HANDLER.load(Ordering::Acquire),
            irqs().is_active(SPI_ACTIVE)
        ),
    );
}

fn remote_spi() {
    prepare_spi(SPI_REMOTE, 0xa0);
    route(SPI_REMOTE, 1);
    irqs().set_pending(SPI_REMOTE, true);
    let arrived = wait_until(|| count(1, SPI_REMOTE) == 1);
    check(
        "an SPI routed to the other vCPU arrives there",
        arrived && count(0, SPI_REMOTE) == 0,
        format_args!(
            "vCPU 0 {}, vCPU 1 {}",
            count(0, SPI_REMOTE),
            count(1, SPI_REMOTE)
        ),
    );
}

pub fn run() -> ! {
    irq::set_handler(on_interrupt);
    identification();
    registers();
    sgis();
    burst();
    enable_semantics();
    active_semantics();
    remote_spi();
    if FAILURES.load(Ordering::Relaxed) == 0 {
        println!("vgic: all ok");
    }
    psci::system_off()
}
