//! Boot of the core: discover the machine from the device tree, turn on the EL2
//! MMU, verify the appended manifest, build partitions, bring every CPU online
//! and start the partitions. Secondary CPUs join through `secondary_main`.

use aarch64_cpu::registers::*;
use kernel_core::cpu_boot::{self, BootOps, Conduit, EnableMethod};
use kernel_core::manifest::{Manifest, CORE_RESERVED_BYTES, END_MARKER};
use kernel_core::{pagetable, MAX_CPUS};
use platform::machine::{FixedVec, GicFrames, Machine, MachineError};
use spin::Once;

use crate::arch::{cache, firmware, percpu, sysreg::isb};
use crate::console::{error, info};
use crate::mm;
use crate::{cpu, gic, lifecycle, objects, partition, timer};
use platform::machine::MemRange as Range;

static MACHINE: Once<Machine> = Once::new();

/// Physical ranges collected at boot (RAM, device frames).
type Ranges = FixedVec<Range, 16>;

/// HCR_EL2 for running partitions (Arm ARM D17.2.48): VM (stage 2), SWIO,
/// FMO/IMO/AMO (physical interrupts to EL2, virtual ones to the guest), FB and
/// BSU=inner shareable (broadcast maintenance for SMP guests), TWI/TWE (WFI
/// and WFE trap), TSC (SMC traps), TIDCP (implementation-defined registers
/// trap), TID3 (ID registers trap, to be sanitized: `sysreg_trap`), TSW
/// (set/way cache maintenance traps), TACR (ACTLR_EL1 traps, so it is never
/// switched: `sysreg_trap`), RW (EL1 is AArch64).
const HCR_EL2_GUEST: u64 = 1 << 0
    | 1 << 1
    | 1 << 3
    | 1 << 4
    | 1 << 5
    | 1 << 9
    | 1 << 10
    | 1 << 13
    | 1 << 14
    | 1 << 18
    | 1 << 19
    | 1 << 20
    | 1 << 21
    | 1 << 22
    | 1 << 31;

fn pa_bits() -> u8 {
    let parange = (ID_AA64MMFR0_EL1.get() & 0xf) as u8;
    pagetable::pa_range_bits(parange).unwrap_or(40)
}

/// Size of the system image as loaded: the header's `image_size`, which the
/// packer sets to the file length.
fn loaded_image_size(start: u64) -> u64 {
    // SAFETY: the first 64 bytes of the image are the header (boot.rs), mapped RO.
    unsafe { core::ptr::read_volatile((start + 16) as *const u64) }
}

/// The board this core was built for (the `board-rpi4` feature picks the
/// Pi), for what must work before the device tree is read.
#[cfg(feature = "board-rpi4")]
const BOARD: &platform::board::BoardSpec = &platform::board::RPI4;
#[cfg(not(feature = "board-rpi4"))]
const BOARD: &platform::board::BoardSpec = &platform::board::QEMU_VIRT;

/// The tree in x0 cannot be used, so neither the console nor the power-off
/// method is known: say why on the board's fallback console (the MMU is
/// still off, so the access is Device-nGnRnE) and stop this CPU.
fn unreadable_device_tree(why: core::fmt::Arguments<'_>) -> ! {
    crate::console::init(BOARD.fallback_console as usize);
    error!("refusing to boot: {why}");
    if cfg!(feature = "board-rpi4") {
        error!(
            "the Raspberry Pi firmware passes its tree when bcm2711-rpi-4-b.dtb is on the boot partition; QEMU raspi4b needs -dtb bcm2711-rpi-4-b.dtb"
        );
    }
    error!("stopping");
    firmware::halt()
}

fn stop_boot(why: core::fmt::Arguments<'_>) -> ! {
    error!("refusing to boot: {why}");
    error!("stopping");
    firmware::system_off()
}

/// Rust entry of the boot CPU, with the device tree and the exception level we
/// were entered at.
#[no_mangle]
extern "C" fn rust_primary_main(dtb: usize, el: u64) -> ! {
    let machine = match firmware_device_tree(dtb) {
        Ok(m) => MACHINE.call_once(|| m),
        Err(e) => unreadable_device_tree(format_args!("{e}")),
    };
    firmware::set_power_off(machine.psci, machine.pm_watchdog.map(|pm| pm.base));
    if el != 2 {
        if let Some(uart) = machine.uart {
            crate::console::init(uart.base as usize);
        }
        error!(
            "entered at EL{el}: the loader must enter Bulkhead at EL2 (it cannot run as a guest)"
        );
        // Power off through the tree's PSCI conduit so an emulator run ends.
        match machine.psci {
            Some(Conduit::Hvc) => firmware::hvc(abi::psci::SYSTEM_OFF),
            Some(Conduit::Smc) => firmware::smc(abi::psci::SYSTEM_OFF, 0, 0, 0),
            None => 0,
        };
        firmware::halt();
    }
    let mut ram = Ranges::new();
    for m in machine.memory.as_slice() {
        let _ = ram.push(Range {
            base: m.base,
            size: m.size,
        });
    }
    let mut devices = Ranges::new();
    if let Some(uart) = machine.uart {
        let _ = devices.push(Range {
            base: uart.base,
            size: 0x1000,
        });
    }
    if let Some(pm) = machine.pm_watchdog {
        let _ = devices.push(Range {
            base: pm.base,
            size: pm.size.max(0x1000),
        });
    }
    match machine.gic.frames {
        GicFrames::V2 {
            gicd, gicc, gich, ..
        } => {
            let _ = devices.push(Range {
                base: gicd.base,
                size: gicd.size.max(0x1000),
            });
            let _ = devices.push(Range {
                base: gicc.base,
                size: gicc.size.max(0x2000),
            });
            if let Some(h) = gich {
                let _ = devices.push(Range {
                    base: h.base,
                    size: h.size.max(0x1000),
                });
            }
        }
        GicFrames::V3 { gicd, gicr, .. } => {
            let _ = devices.push(Range {
                base: gicd.base,
                size: gicd.size.max(0x1_0000),
            });
            let _ = devices.push(Range {
                base: gicr.base,
                size: gicr.size,
            });
        }
    }
    if mm::build_el2_map(ram.as_slice(), devices.as_slice(), pa_bits()).is_err() {
        firmware::halt();
    }
    mm::enable_el2_mmu();
    percpu::init_this_cpu(0);
    percpu::mark_online();
    VBAR_EL2.set(core::ptr::addr_of!(crate::arch::vectors::el2_vectors) as u64);
    isb();
    if let Some(uart) = machine.uart {
        crate::console::init(uart.base as usize);
    }
    let mpidr = MPIDR_EL1.get() & 0xff_00ff_ffff;
    info!(
        "Bulkhead {} starting on CPU 0 (MPIDR {mpidr:#x}) at EL2: {} CPUs, {} MiB RAM, GICv{}",
        env!("CARGO_PKG_VERSION"),
        machine.cpus.as_slice().len(),
        machine
            .memory
            .as_slice()
            .iter()
            .map(|m| m.size)
            .sum::<u64>()
            >> 20,
        if machine.gic.version() == 3 { 3 } else { 2 },
    );
    info!(
        "generic timer: {} kHz (CNTFRQ_EL0)",
        timer::frequency() / 1000
    );

    // The manifest follows the kernel; the header says how much was loaded.
    let layout = mm::kernel_layout();
    let image_size = loaded_image_size(layout.start);
    let file_end = layout.start.saturating_add(image_size);
    if image_size < (layout.end - layout.start) + END_MARKER.len() as u64
        || !ram
            .as_slice()
            .iter()
            .any(|r| file_end <= r.base + r.size && layout.start >= r.base)
    {
        stop_boot(format_args!("image truncated: the image header says {image_size} bytes, too few for a kernel and a manifest"));
    }
    let marker_at = file_end - END_MARKER.len() as u64;
    // SAFETY: `[layout.end, file_end)` lies in RAM (checked above) and is
    // mapped RW-NX by the EL2 map; the loader put the image there.
    let marker = unsafe { core::slice::from_raw_parts(marker_at as *const u8, END_MARKER.len()) };
    if marker != END_MARKER {
        stop_boot(format_args!(
            "image truncated: the end marker is missing at offset {:#x}; the file was cut short or damaged",
            image_size - END_MARKER.len() as u64
        ));
    }
    // SAFETY: as above; the bytes stay untouched for the life of the core
    // (nothing maps or allocates them), so a 'static borrow is sound.
    let bytes: &'static [u8] = unsafe {
        core::slice::from_raw_parts(layout.end as *const u8, (marker_at - layout.end) as usize)
    };
    let manifest = match Manifest::parse(bytes) {
        Ok(m) => m,
        Err(e) => stop_boot(format_args!("{e}")),
    };
    let gic_version = if machine.gic.version() == 3 { 3 } else { 2 };
    if manifest.board().gic_version() != gic_version {
        stop_boot(format_args!(
            "the image was built for GICv{} but this machine has GICv{gic_version}",
            manifest.board().gic_version()
        ));
    }
    let cpu_count = machine.cpus.as_slice().len().min(MAX_CPUS);
    if let Some(v) = (0..manifest.vcpu_count())
        .map(|i| manifest.vcpu(i))
        .find(|v| v.cpu as usize >= cpu_count)
    {
        stop_boot(format_args!(
            "a vCPU is homed on CPU {} but this machine has {cpu_count} CPUs",
            v.cpu
        ));
    }
    info!(
        "manifest verified: {} partitions, {} vCPUs, {} KiB",
        manifest.partition_count(),
        manifest.vcpu_count(),
        manifest.len() / 1024
    );

    // The boot heap sits right after the loaded file.
    let heap_start = (file_end + 0x1f_ffff) & !0x1f_ffff;
    let heap_end = heap_start + CORE_RESERVED_BYTES;
    if !ram
        .as_slice()
        .iter()
        .any(|r| heap_start >= r.base && heap_end <= r.base + r.size)
    {
        stop_boot(format_args!(
            "no room for the core's {} MiB heap after the image",
            CORE_RESERVED_BYTES >> 20
        ));
    }
    mm::init_heap(heap_start as usize, CORE_RESERVED_BYTES as usize);

    let core_range = (layout.start, heap_end);
    let ram_ok = |pa: u64, size: u64| {
        let end = pa.saturating_add(size);
        let inside = ram
            .as_slice()
            .iter()
            .any(|r| pa >= r.base && end <= r.base + r.size);
        let overlaps = |(a, b): (u64, u64)| pa < b && a < end;
        inside
            && !overlaps(core_range)
            && !machine
                .reserved
                .as_slice()
                .iter()
                .any(|r| overlaps((r.base, r.base + r.size)))
    };
    if let Err(e) = partition::build(&manifest, pa_bits(), ram_ok) {
        stop_boot(format_args!("{e}"));
    }
    objects::build(&manifest);
    crate::posted_mmio::build();

    let mut mpidrs = FixedVec::<u64, MAX_CPUS>::new();
    for c in machine.cpus.as_slice() {
        let _ = mpidrs.push(c.mpidr);
    }
    gic::init(
        gic_frames(machine),
        mpidrs.as_slice(),
        machine.gic.maintenance_irq,
    );
    percpu::publish_mpidrs(mpidrs.as_slice());
    init_el2_for_guests();
    cpu::init_pmu_counters();
    init_cpu_for_guests(0);

    bind_device_interrupts();
    pass_interrupts_through(&manifest);
    // With a supervisor (the vmm), only it starts: it starts the others.
    // Otherwise every partition starts, all loaded first so they start together.
    let supervisor = objects::objects().supervisor;
    let starting = || {
        partition::system()
            .partitions
            .iter()
            .filter(move |p| supervisor.is_none_or(|s| s == p.id))
    };
    for p in starting() {
        p.load();
    }
    start_secondaries(machine, cpu_count);
    for p in starting() {
        let vcpus = partition::system()
            .vcpus
            .get(p.first_vcpu..p.first_vcpu + p.vcpu_count)
            .unwrap_or(&[]);
        info!(
            "starting partition \"{}\": {} vCPU{} on CPU {}, {} KiB RAM{}",
            p.name(),
            p.vcpu_count,
            if p.vcpu_count == 1 { "" } else { "s" },
            HomeCpus(vcpus),
            p.regions
                .iter()
                .filter(|r| r.is_ram())
                .map(|r| r.size)
                .sum::<u64>()
                / 1024,
            if supervisor == Some(p.id) {
                " (supervisor)"
            } else {
                ""
            }
        );
        lifecycle::launch(p);
    }
    cpu::run()
}

/// Enables each physical interrupt bound to a notification, routed to the
/// home CPU of the first vCPU of the partition that waits on it.
fn bind_device_interrupts() {
    use abi::ipc::{rights, ObjectKind};
    let system = partition::system();
    for (index, n) in objects::objects().notifications.iter().enumerate() {
        if n.irq < 32 {
            continue;
        }
        let holder = system.partitions.iter().find(|p| {
            p.caps
                .of_kind(ObjectKind::Notification)
                .any(|(_, c)| c.object as usize == index && c.rights & rights::WAIT != 0)
        });
        let cpu = holder
            .and_then(|p| system.vcpus.get(p.first_vcpu))
            .map_or(0, |v| v.home);
        gic::enable_spi(n.irq, cpu);
    }
}

/// Passes each partition's `[[partition.passthrough]] irq` through to its
/// virtual GIC (linked with the HW bit; enabled when the guest enables it).
fn pass_interrupts_through(manifest: &Manifest<'_>) {
    for p in &partition::system().partitions {
        for interrupt in manifest.interrupts_of(&p.desc) {
            if let Err(why) = crate::vgic::attach_passthrough(p, interrupt.intid) {
                stop_boot(format_args!(
                    "partition \"{}\": interrupt {} {why}",
                    p.name(),
                    interrupt.intid
                ));
            }
        }
    }
}

/// Prints the home CPUs of some vCPUs as `0,1`.
struct HomeCpus<'a>(&'a [partition::Vcpu]);

impl core::fmt::Display for HomeCpus<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            write!(f, "{}{}", if i == 0 { "" } else { "," }, v.home)?;
        }
        Ok(())
    }
}

/// Reads the device tree the loader passed at `dtb` (x0), after taking out
/// the FDT_NOP tokens that firmware edits leave (QEMU raspi4b, the Pi
/// firmware). Without a tree there is nothing to read at all.
fn firmware_device_tree(dtb: usize) -> Result<Machine, MachineError> {
    if dtb == 0 || !dtb.is_multiple_of(8) {
        unreadable_device_tree(format_args!(
            "the loader passed no device tree (x0 = {dtb:#x})"
        ));
    }
    // SAFETY: a non-null, aligned x0 from the loader points at a device tree
    // whose 8-byte header (magic, totalsize) is readable.
    let header = unsafe { core::slice::from_raw_parts(dtb as *const u8, 8) };
    let len = platform::machine::blob_size(header)?;
    // SAFETY: the header says the blob is `len` bytes, at most 2 MiB, in RAM
    // that the core now owns and nothing else touches; `remove_nops` and
    // `Machine::from_fdt` bound every access by the blob's own offsets.
    let blob = unsafe { core::slice::from_raw_parts_mut(dtb as *mut u8, len) };
    platform::machine::remove_nops(blob)?;
    Machine::from_fdt(blob)
}

fn gic_frames(machine: &Machine) -> gic::Frames {
    match machine.gic.frames {
        GicFrames::V2 {
            gicd, gicc, gich, ..
        } => gic::Frames::V2 {
            gicd: gicd.base as usize,
            gicc: gicc.base as usize,
            gich: gich.map_or(0, |h| h.base as usize),
        },
        GicFrames::V3 { gicd, gicr, .. } => gic::Frames::V3 {
            gicd: gicd.base as usize,
            gicr: gicr.base as usize,
            gicr_size: gicr.size as usize,
        },
    }
}

/// EL2 configuration every CPU applies before running guests.
fn init_el2_for_guests() {
    HCR_EL2.set(HCR_EL2_GUEST);
    VTCR_EL2.set(partition::system().vtcr);
    // Guests see their own MIDR; VPIDR_EL2 mirrors it.
    crate::arch::sysreg::write_sysreg!("vpidr_el2", MIDR_EL1.get());
    isb();
}

/// Per-CPU setup once EL2 is configured: the GIC's CPU interfaces, the EL2
/// timer, the EL1 registers no vCPU switch touches (and which optional ones
/// this CPU switches), and the vCPUs homed here.
fn init_cpu_for_guests(index: usize) {
    let sre_switched = gic::init_cpu(
        index,
        &[cpu::VTIMER_INTID, cpu::HYP_TIMER_INTID, gic::SGI_RESCHEDULE],
    );
    timer::init_cpu();
    cpu::init_switching(crate::arch::context::init_cpu(sre_switched));
    cpu::register_vcpus(index);
}

struct HardwareBootOps;

impl BootOps for HardwareBootOps {
    fn psci_cpu_on(&mut self, conduit: Conduit, mpidr: u64, entry_pa: u64, context: u64) -> i64 {
        match conduit {
            Conduit::Smc => firmware::smc(abi::psci::CPU_ON_64, mpidr, entry_pa, context),
            // An HVC from EL2 would trap to ourselves: no firmware behind it.
            Conduit::Hvc => abi::psci::ret::NOT_SUPPORTED,
        }
    }

    fn write_release_addr(&mut self, addr: u64, entry_pa: u64) {
        // SAFETY: the release address comes from the device tree's
        // cpu-release-addr, inside RAM that the EL2 map covers; the spinning
        // CPU only reads it.
        unsafe { core::ptr::write_volatile(addr as *mut u64, entry_pa) };
    }

    fn clean_dcache_to_poc(&mut self, addr: u64, len: u64) {
        cache::clean_invalidate_to_poc(addr, len);
    }

    fn send_event(&mut self) {
        // SAFETY: SEV only signals an event to other CPUs.
        unsafe { core::arch::asm!("sev", options(nostack)) };
    }
}

extern "C" {
    fn secondary_entry();
}

fn start_secondaries(machine: &Machine, count: usize) {
    let entry = secondary_entry as *const () as u64;
    for (index, c) in machine
        .cpus
        .as_slice()
        .iter()
        .enumerate()
        .take(count)
        .skip(1)
    {
        let method: EnableMethod = c.enable_method;
        if let Err(e) = cpu_boot::start_secondary(
            &mut HardwareBootOps,
            method,
            machine.psci,
            c.mpidr,
            entry,
            index as u64,
        ) {
            error!("CPU {index} (MPIDR {:#x}) did not start: {e}", c.mpidr);
            continue;
        }
        // Wait (bounded) for it to come online so the log stays in order.
        let deadline = timer::now() + timer::ms_to_ticks(1000);
        while !percpu::is_online(index) && timer::now() < deadline {
            core::hint::spin_loop();
        }
        if !percpu::is_online(index) {
            error!("CPU {index} (MPIDR {:#x}) did not come online", c.mpidr);
        }
    }
}

/// Rust entry of a secondary CPU, with its logical index.
#[no_mangle]
extern "C" fn rust_secondary_main(index: usize) -> ! {
    mm::enable_el2_mmu();
    percpu::init_this_cpu(index);
    VBAR_EL2.set(core::ptr::addr_of!(crate::arch::vectors::el2_vectors) as u64);
    isb();
    init_el2_for_guests();
    init_cpu_for_guests(index);
    info!(
        "CPU {index} online (MPIDR {:#x})",
        MPIDR_EL1.get() & 0xff_00ff_ffff
    );
    percpu::mark_online();
    cpu::run()
}
