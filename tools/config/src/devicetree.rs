//! Generates each partition's device tree: its RAM, vCPUs, PSCI, timer, GIC,
//! PL011 UARTs and boot arguments, at the guest-visible addresses of
//! [`crate::guest_map`] and the config.
//!
//! Bindings followed (Linux Documentation/devicetree/bindings): `memory.yaml`
//! (dt-schema), `arm/cpus.yaml`, `arm/psci.yaml`, `timer/arm,arch_timer.yaml`,
//! `interrupt-controller/arm,gic.yaml` and `arm,gic-v3.yaml`, `chosen.yaml`,
//! `serial/pl011.yaml`, `clock/fixed-clock.yaml`.

use std::fmt;
use std::ops::Range;

use vm_fdt::FdtWriter;

use crate::guest_map::{
    GICC_IPA, GICC_SIZE, GICD_IPA, GICD_V2_SIZE, GICD_V3_SIZE, GICR_FRAME_SIZE, GICR_IPA,
};
use crate::system::{DeviceKind, Partition};

/// The GIC's phandle.
const GIC_PHANDLE: u32 = 1;

/// The PL011s' clock's phandle.
const UART_CLOCK_PHANDLE: u32 = 2;

/// The PL011 reference and bus clock: 24 MHz, as on QEMU `virt` (hw/arm/virt.c
/// `create_clock_node`); the emulated UART ignores baud rates, so any fixed
/// rate Linux accepts would do.
const UART_CLOCK_HZ: u32 = 24_000_000;

/// First cell of a GIC interrupt specifier: 0 = SPI, 1 = PPI (arm,gic.yaml).
const GIC_SPI: u32 = 0;
/// See [`GIC_SPI`].
const GIC_PPI: u32 = 1;

/// First PPI INTID; a PPI specifier holds INTID − 16.
const FIRST_PPI_INTID: u32 = 16;
/// First SPI INTID; an SPI specifier holds INTID − 32.
const FIRST_SPI_INTID: u32 = 32;

/// Third cell of a GIC interrupt specifier: level-sensitive, active high.
const IRQ_LEVEL_HIGH: u32 = 0x4;

/// Architected timer PPIs, in the order `arm,armv8-timer` lists them: secure
/// EL1 physical, non-secure EL1 physical, EL1 virtual, EL2 physical. These are
/// PPI numbers (INTID − 16): INTIDs 29, 30, 27, 26 (Arm BSA, "PPI assignments").
pub(crate) const TIMER_PPIS: [u32; 4] = [13, 14, 11, 10];

/// The device-tree writer refused a node or property (a bug or an impossible
/// value such as a NUL inside a string).
#[derive(Debug)]
pub struct DeviceTreeError(vm_fdt::Error);

impl fmt::Display for DeviceTreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot generate the device tree: {}", self.0)
    }
}

impl From<vm_fdt::Error> for DeviceTreeError {
    fn from(error: vm_fdt::Error) -> Self {
        Self(error)
    }
}

/// Builds the flattened device tree a partition boots with; `initrd` is where
/// its initrd lies, if it has one. The tree depends only on the partition's
/// IPAs, never on the PAs behind them.
pub fn guest_device_tree(
    partition: &Partition,
    gic_version: u8,
    initrd: Option<Range<u64>>,
) -> Result<Vec<u8>, DeviceTreeError> {
    let uarts = uarts(partition);
    let mut fdt = FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_string("compatible", "linux,dummy-virt")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_u32("interrupt-parent", GIC_PHANDLE)?;

    let chosen = fdt.begin_node("chosen")?;
    if let Some(bootargs) = &partition.bootargs {
        fdt.property_string("bootargs", bootargs)?;
    }
    if let Some(console) = uarts.first() {
        fdt.property_string("stdout-path", &format!("/{}", console.node_name()))?;
    }
    if let Some(initrd) = initrd {
        // chosen.yaml: start inclusive, end exclusive; 64-bit values.
        fdt.property_u64("linux,initrd-start", initrd.start)?;
        fdt.property_u64("linux,initrd-end", initrd.end)?;
    }
    fdt.end_node(chosen)?;

    for region in &partition.memory {
        let memory = fdt.begin_node(&format!("memory@{:x}", region.ipa))?;
        fdt.property_string("device_type", "memory")?;
        fdt.property_array_u64("reg", &[region.ipa, region.size])?;
        fdt.end_node(memory)?;
    }

    write_cpus(&mut fdt, partition.vcpus.len())?;
    write_psci(&mut fdt)?;
    write_timer(&mut fdt, partition.vcpus.len(), gic_version)?;
    write_gic(&mut fdt, partition.vcpus.len(), gic_version)?;
    if !uarts.is_empty() {
        write_uart_clock(&mut fdt)?;
    }
    for uart in &uarts {
        write_pl011(&mut fdt, uart, partition.vcpus.len(), gic_version)?;
    }

    fdt.end_node(root)?;
    Ok(fdt.finish()?)
}

/// A PL011 the partition sees: emulated, or passed through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Uart {
    ipa: u64,
    size: u64,
    /// Its interrupt as a guest INTID, if it has one.
    irq: Option<u32>,
}

impl Uart {
    fn node_name(&self) -> String {
        format!("pl011@{:x}", self.ipa)
    }
}

/// The partition's PL011s: emulated devices first, then passthrough, each in
/// config order. The first is the console (`/chosen/stdout-path`).
fn uarts(partition: &Partition) -> Vec<Uart> {
    let emulated = partition
        .devices
        .iter()
        .filter(|d| d.kind == DeviceKind::Pl011)
        .map(|d| Uart {
            ipa: d.ipa,
            size: d.size,
            irq: d.irq,
        });
    let passed_through = partition
        .passthrough
        .iter()
        .filter(|p| p.kind == DeviceKind::Pl011)
        .map(|p| Uart {
            ipa: p.ipa,
            size: p.size,
            irq: p.irq,
        });
    emulated.chain(passed_through).collect()
}

/// `/apb-pclk`: the fixed clock both PL011 clock inputs use (fixed-clock.yaml).
fn write_uart_clock(fdt: &mut FdtWriter) -> Result<(), DeviceTreeError> {
    let clock = fdt.begin_node("apb-pclk")?;
    fdt.property_string("compatible", "fixed-clock")?;
    fdt.property_u32("#clock-cells", 0)?;
    fdt.property_u32("clock-frequency", UART_CLOCK_HZ)?;
    fdt.property_string("clock-output-names", "clk24mhz")?;
    fdt.property_phandle(UART_CLOCK_PHANDLE)?;
    fdt.end_node(clock)?;
    Ok(())
}

/// `/pl011@<ipa>` (pl011.yaml): an Arm PrimeCell UART. `clocks` names the
/// UART reference clock, then the APB bus clock, as `clock-names` says.
fn write_pl011(
    fdt: &mut FdtWriter,
    uart: &Uart,
    vcpu_count: usize,
    gic_version: u8,
) -> Result<(), DeviceTreeError> {
    let node = fdt.begin_node(&uart.node_name())?;
    fdt.property_string_list(
        "compatible",
        vec!["arm,pl011".to_string(), "arm,primecell".to_string()],
    )?;
    fdt.property_array_u64("reg", &[uart.ipa, uart.size])?;
    if let Some(intid) = uart.irq {
        let specifier = if intid >= FIRST_SPI_INTID {
            [GIC_SPI, intid - FIRST_SPI_INTID, IRQ_LEVEL_HIGH]
        } else {
            [
                GIC_PPI,
                intid.saturating_sub(FIRST_PPI_INTID),
                ppi_flags(vcpu_count, gic_version),
            ]
        };
        fdt.property_array_u32("interrupts", &specifier)?;
    }
    fdt.property_array_u32("clocks", &[UART_CLOCK_PHANDLE, UART_CLOCK_PHANDLE])?;
    fdt.property_string_list(
        "clock-names",
        vec!["uartclk".to_string(), "apb_pclk".to_string()],
    )?;
    fdt.end_node(node)?;
    Ok(())
}

/// `/cpus`: one `cpu@N` per vCPU; `reg` is the vCPU's MPIDR affinity, which
/// the core presents as Aff0 = vCPU index (cpus.yaml: one address cell, no size).
fn write_cpus(fdt: &mut FdtWriter, vcpu_count: usize) -> Result<(), DeviceTreeError> {
    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    for index in 0..vcpu_count {
        let cpu = fdt.begin_node(&format!("cpu@{index:x}"))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_string("compatible", "arm,armv8")?;
        fdt.property_u32("reg", u32::try_from(index).unwrap_or(u32::MAX))?;
        fdt.property_string("enable-method", "psci")?;
        fdt.end_node(cpu)?;
    }
    fdt.end_node(cpus)?;
    Ok(())
}

/// `/psci`: the core emulates PSCI on the HVC conduit. The 0.1 function ids
/// are listed for guests that only know `arm,psci`.
fn write_psci(fdt: &mut FdtWriter) -> Result<(), DeviceTreeError> {
    let psci = fdt.begin_node("psci")?;
    fdt.property_string_list(
        "compatible",
        vec![
            "arm,psci-1.0".to_string(),
            "arm,psci-0.2".to_string(),
            "arm,psci".to_string(),
        ],
    )?;
    fdt.property_string("method", "hvc")?;
    fdt.property_u32("cpu_suspend", abi::psci::CPU_SUSPEND_64)?;
    fdt.property_u32("cpu_off", abi::psci::CPU_OFF)?;
    fdt.property_u32("cpu_on", abi::psci::CPU_ON_64)?;
    fdt.end_node(psci)?;
    Ok(())
}

/// Flags cell of a PPI specifier. GICv2 puts a mask of the CPUs that receive
/// the PPI in bits [15:8] (arm,gic.yaml); GICv3 has no such mask (arm,gic-v3.yaml).
fn ppi_flags(vcpu_count: usize, gic_version: u8) -> u32 {
    if gic_version == 2 {
        let cpu_mask = (1u32 << vcpu_count.min(8)) - 1;
        (cpu_mask << 8) | IRQ_LEVEL_HIGH
    } else {
        IRQ_LEVEL_HIGH
    }
}

/// `/timer`: the architected timer; "always-on" because the core keeps it
/// running while the vCPU is descheduled.
fn write_timer(
    fdt: &mut FdtWriter,
    vcpu_count: usize,
    gic_version: u8,
) -> Result<(), DeviceTreeError> {
    let flags = ppi_flags(vcpu_count, gic_version);
    let interrupts: Vec<u32> = TIMER_PPIS
        .iter()
        .flat_map(|&ppi| [GIC_PPI, ppi, flags])
        .collect();
    let timer = fdt.begin_node("timer")?;
    fdt.property_string("compatible", "arm,armv8-timer")?;
    fdt.property_array_u32("interrupts", &interrupts)?;
    fdt.property_null("always-on")?;
    fdt.end_node(timer)?;
    Ok(())
}

/// The interrupt controller. GICv3: distributor plus one redistributor frame
/// per vCPU. GICv2: distributor plus CPU interface (the core maps the board's
/// GICV frame there).
fn write_gic(
    fdt: &mut FdtWriter,
    vcpu_count: usize,
    gic_version: u8,
) -> Result<(), DeviceTreeError> {
    let gic = fdt.begin_node(&format!("intc@{GICD_IPA:x}"))?;
    if gic_version == 3 {
        let redistributors = GICR_FRAME_SIZE * vcpu_count as u64;
        fdt.property_string("compatible", "arm,gic-v3")?;
        fdt.property_array_u64("reg", &[GICD_IPA, GICD_V3_SIZE, GICR_IPA, redistributors])?;
    } else {
        fdt.property_string("compatible", "arm,cortex-a15-gic")?;
        fdt.property_array_u64("reg", &[GICD_IPA, GICD_V2_SIZE, GICC_IPA, GICC_SIZE])?;
    }
    fdt.property_u32("#interrupt-cells", 3)?;
    // No child nodes (no ITS, no v2m frame); dtc's interrupt_provider check
    // wants the cell count stated anyway, for interrupt-map parents.
    fdt.property_u32("#address-cells", 0)?;
    fdt.property_null("interrupt-controller")?;
    fdt.property_phandle(GIC_PHANDLE)?;
    fdt.end_node(gic)?;
    Ok(())
}
