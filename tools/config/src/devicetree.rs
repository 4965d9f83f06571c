//! Generates each partition's device tree: its RAM, vCPUs, PSCI, timer, GIC and
//! boot arguments, at the guest-visible addresses of [`crate::guest_map`].
//!
//! Bindings followed (Linux Documentation/devicetree/bindings): `memory.yaml`
//! (dt-schema), `arm/cpus.yaml`, `arm/psci.yaml`, `timer/arm,arch_timer.yaml`,
//! `interrupt-controller/arm,gic.yaml` and `arm,gic-v3.yaml`, `chosen.yaml`.

use std::fmt;

use vm_fdt::FdtWriter;

use crate::guest_map::{
    GICC_IPA, GICC_SIZE, GICD_IPA, GICD_V2_SIZE, GICD_V3_SIZE, GICR_FRAME_SIZE, GICR_IPA,
};
use crate::system::Partition;

/// The GIC's phandle; it is the only node others refer to.
const GIC_PHANDLE: u32 = 1;

/// First cell of a GIC interrupt specifier: 1 = PPI (arm,gic.yaml).
const GIC_PPI: u32 = 1;

/// Third cell of a GIC interrupt specifier: level-sensitive, active high.
const IRQ_LEVEL_HIGH: u32 = 0x4;

/// Architected timer PPIs, in the order `arm,armv8-timer` lists them: secure
/// EL1 physical, non-secure EL1 physical, EL1 virtual, EL2 physical. These are
/// PPI numbers (INTID − 16): INTIDs 29, 30, 27, 26 (Arm BSA, "PPI assignments").
const TIMER_PPIS: [u32; 4] = [13, 14, 11, 10];

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

/// Builds the flattened device tree a partition boots with. The tree depends
/// only on the partition's IPAs, never on the PAs behind them.
pub fn guest_device_tree(
    partition: &Partition,
    gic_version: u8,
) -> Result<Vec<u8>, DeviceTreeError> {
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

    fdt.end_node(root)?;
    Ok(fdt.finish()?)
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
