//! What the device tree says about the machine, read once at boot from the
//! blob the loader passes in x0: RAM and reserved ranges, CPUs and how to start
//! them, PSCI, the GIC, the console PL011 and the generic timer.
//!
//! Runs before any allocator exists, so every list has a fixed capacity, and on
//! input the core cannot trust: a malformed blob is refused with a
//! [`MachineError`], never a panic. All addresses are CPU physical addresses,
//! translated through each parent bus's `ranges` (on the Raspberry Pi the tree
//! uses VideoCore bus addresses).
#![forbid(unsafe_code)]

mod blob;
mod fixed_vec;
mod tree;

use core::fmt;

use fdt::Fdt;
pub use fixed_vec::{FixedVec, Full};
use kernel_core::cpu_boot::{Conduit, EnableMethod};
use tree::{InterruptController, Located};

/// Most RAM ranges kept.
pub const MAX_MEMORY_RANGES: usize = 8;
/// Most reserved ranges kept (including the device tree blob itself).
pub const MAX_RESERVED_RANGES: usize = 16;
/// Most CPUs kept: as many as the core drives.
pub const MAX_CPUS: usize = kernel_core::MAX_CPUS;

/// `compatible` strings of GICv3 distributors.
const GIC_V3_COMPATIBLE: &[&str] = &["arm,gic-v3"];
/// `compatible` strings of GICv2 implementations with the virtualization
/// extensions (GICH/GICV frames), which the core needs.
const GIC_V2_COMPATIBLE: &[&str] = &["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a7-gic"];
/// GICs Bulkhead recognises but cannot use: no virtualization extensions.
const GIC_UNSUPPORTED_COMPATIBLE: &[&str] = &[
    "arm,cortex-a9-gic",
    "arm,arm11mp-gic",
    "arm,arm1176jzf-devchip-gic",
    "arm,eb11mp-gic",
    "arm,pl390",
    "arm,tc11mp-gic",
];
/// PSCI 0.2 and later use the standard function ids in `abi::psci`; plain
/// `"arm,psci"` (0.1) has firmware-chosen ids and is not used.
const PSCI_COMPATIBLE: &[&str] = &["arm,psci-1.0", "arm,psci-0.2"];
const PL011_COMPATIBLE: &[&str] = &["arm,pl011"];
const TIMER_COMPATIBLE: &[&str] = &["arm,armv8-timer"];
/// The BCM2835-family PM watchdog (Raspberry Pi), which resets or halts a
/// machine without PSCI (`platform::bcm2835_pm`).
const PM_WATCHDOG_COMPATIBLE: &[&str] = &["brcm,bcm2835-pm-wdt", "brcm,bcm2835-pm"];

/// A range of CPU physical addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemRange {
    /// First address.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl MemRange {
    /// One past the last address (saturating at the top of the address space).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// Whether `address` is inside.
    pub fn contains(&self, address: u64) -> bool {
        address >= self.base && address < self.end()
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &MemRange) -> bool {
        self.base < other.end() && other.base < self.end()
    }
}

/// One CPU from `/cpus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// The CPU's affinity as its `reg` gives it: MPIDR_EL1 bits 39:32 and 23:0
    /// (compare with `MPIDR_EL1 & 0xff_00ff_ffff`).
    pub mpidr: u64,
    /// How it is started.
    pub enable_method: EnableMethod,
}

impl Default for Cpu {
    /// Placeholder for unused [`FixedVec`] slots only.
    fn default() -> Self {
        Self {
            mpidr: 0,
            enable_method: EnableMethod::Psci,
        }
    }
}

/// The GIC's register frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicFrames {
    /// GICv2 (`arm,gic-400`, `arm,cortex-a15-gic`): `reg` = GICD, GICC, GICH, GICV.
    V2 {
        /// Distributor.
        gicd: MemRange,
        /// Physical CPU interface.
        gicc: MemRange,
        /// Virtual interface control (hypervisor) frame.
        gich: Option<MemRange>,
        /// Virtual CPU interface, mapped at a guest's GICC.
        gicv: Option<MemRange>,
    },
    /// GICv3 (`arm,gic-v3`): `reg` = GICD, then the redistributor regions.
    V3 {
        /// Distributor.
        gicd: MemRange,
        /// The first redistributor region (`#redistributor-regions` beyond one
        /// are not used: the core drives at most [`MAX_CPUS`] CPUs, which fit
        /// in the first region on every supported board).
        gicr: MemRange,
    },
}

/// The interrupt controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gic {
    /// Version and register frames.
    pub frames: GicFrames,
    /// INTID of the virtual-interface maintenance interrupt (a PPI), from the
    /// GIC node's `interrupts`.
    pub maintenance_irq: Option<u32>,
}

impl Gic {
    /// The architecture version, 2 or 3.
    pub fn version(&self) -> u8 {
        match self.frames {
            GicFrames::V2 { .. } => 2,
            GicFrames::V3 { .. } => 3,
        }
    }

    /// The distributor frame.
    pub fn distributor(&self) -> MemRange {
        match self.frames {
            GicFrames::V2 { gicd, .. } | GicFrames::V3 { gicd, .. } => gicd,
        }
    }
}

/// The PL011 the core uses as its console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uart {
    /// Register frame base.
    pub base: u64,
    /// Register frame size.
    pub size: u64,
    /// INTID of its interrupt, if it is wired to the GIC.
    pub irq: Option<u32>,
}

/// INTIDs of the generic timer's PPIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerIrqs {
    /// EL1 physical timer (CNTP), non-secure.
    pub el1_phys: u32,
    /// EL1 virtual timer (CNTV), which guests use.
    pub el1_virt: u32,
    /// EL2 physical timer (CNTHP), the core's scheduler tick.
    pub el2_phys: u32,
}

impl Default for TimerIrqs {
    /// The Arm Base System Architecture assignment (PPIs 14, 11, 10), which
    /// QEMU and the BCM2711 both follow.
    fn default() -> Self {
        Self {
            el1_phys: 30,
            el1_virt: 27,
            el2_phys: 26,
        }
    }
}

/// A node path for error messages, truncated to 63 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NodeName {
    bytes: [u8; 63],
    len: u8,
}

impl Default for NodeName {
    fn default() -> Self {
        Self {
            bytes: [0; 63],
            len: 0,
        }
    }
}

impl NodeName {
    /// The path as text.
    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        core::str::from_utf8(bytes).unwrap_or("?")
    }

    fn push(&mut self, c: char) {
        let mut utf8 = [0; 4];
        self.push_str(c.encode_utf8(&mut utf8));
    }

    /// Appends whole characters while they fit.
    fn push_str(&mut self, text: &str) {
        for c in text.chars() {
            let start = usize::from(self.len);
            let Some(slot) = self.bytes.get_mut(start..start + c.len_utf8()) else {
                return;
            };
            c.encode_utf8(slot);
            self.len += c.len_utf8() as u8;
        }
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the device tree could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineError {
    /// The blob itself is broken; the text completes "the device tree ...".
    MalformedBlob(&'static str),
    /// No node with `device_type = "memory"`.
    NoMemoryNode,
    /// Memory nodes exist but all are empty (the loader did not fill them in).
    NoUsableMemory,
    /// No `/cpus` node, or no CPU in it.
    NoCpus,
    /// No interrupt controller Bulkhead knows.
    NoGic,
    /// A GIC without the virtualization extensions.
    UnsupportedGic,
    /// More entries of a kind than the fixed capacity.
    TooMany {
        /// What overflowed: "memory ranges", "reserved ranges", "CPUs".
        what: &'static str,
        /// How many are kept.
        capacity: usize,
    },
    /// A `reg` that does not match the parent's cell sizes.
    BadReg {
        /// The node.
        node: NodeName,
    },
    /// A property with the wrong length or a value out of range.
    BadProperty {
        /// The node.
        node: NodeName,
        /// The property.
        property: &'static str,
    },
    /// A `reg` address no chain of `ranges` maps into CPU physical space.
    Untranslatable {
        /// The node.
        node: NodeName,
    },
    /// A CPU without `enable-method` on a machine without PSCI.
    MissingEnableMethod {
        /// The CPU node.
        node: NodeName,
    },
    /// A CPU `enable-method` other than `psci` or `spin-table`.
    UnsupportedEnableMethod {
        /// The CPU node.
        node: NodeName,
    },
    /// `/psci` `method` is neither `smc` nor `hvc`.
    BadPsciMethod,
}

impl fmt::Display for MachineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedBlob(what) => write!(f, "the device tree {what}"),
            Self::NoMemoryNode => write!(f, "the device tree has no memory node"),
            Self::NoUsableMemory => {
                write!(f, "the device tree's memory nodes are all empty; the loader did not fill them in")
            }
            Self::NoCpus => write!(f, "the device tree lists no CPUs under /cpus"),
            Self::NoGic => write!(f, "the device tree has no GICv2 or GICv3 interrupt controller"),
            Self::UnsupportedGic => write!(
                f,
                "the interrupt controller has no virtualization extensions; Bulkhead needs a GIC-400, GICv2 with GICH/GICV, or GICv3"
            ),
            Self::TooMany { what, capacity } => {
                write!(f, "the device tree lists more {what} than the {capacity} Bulkhead keeps")
            }
            Self::BadReg { node } => {
                write!(f, "the reg property of {node} does not match its parent's #address-cells/#size-cells")
            }
            Self::BadProperty { node, property } => {
                write!(f, "the {property} property of {node} is malformed")
            }
            Self::Untranslatable { node } => write!(
                f,
                "the address of {node} is not mapped into the CPU's address space by its parents' ranges"
            ),
            Self::MissingEnableMethod { node } => write!(
                f,
                "CPU {node} has no enable-method and the machine has no PSCI, so it cannot be started"
            ),
            Self::UnsupportedEnableMethod { node } => write!(
                f,
                "CPU {node} has an enable-method other than psci or spin-table, so Bulkhead cannot start it"
            ),
            Self::BadPsciMethod => write!(f, "the /psci node's method is neither \"smc\" nor \"hvc\""),
        }
    }
}

/// Everything the core learns from the device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machine {
    /// RAM, from the `device_type = "memory"` nodes; empty entries skipped.
    pub memory: FixedVec<MemRange, MAX_MEMORY_RANGES>,
    /// Memory nobody else may use: `/memreserve/` entries, enabled
    /// `/reserved-memory` children with a `reg`, and the blob itself.
    pub reserved: FixedVec<MemRange, MAX_RESERVED_RANGES>,
    /// The CPUs, in tree order.
    pub cpus: FixedVec<Cpu, MAX_CPUS>,
    /// The PSCI conduit, if there is a PSCI 0.2+ node.
    pub psci: Option<Conduit>,
    /// The interrupt controller.
    pub gic: Gic,
    /// The console PL011, if there is one.
    pub uart: Option<Uart>,
    /// Timer PPIs (the architectural defaults when the tree has no timer node).
    pub timer: TimerIrqs,
    /// The timer node's `clock-frequency`, for firmware that leaves CNTFRQ_EL0 unset.
    pub timer_frequency: Option<u32>,
    /// The PM watchdog's register frame (its first `reg`), if the tree has an
    /// enabled one: how a machine without PSCI powers off.
    pub pm_watchdog: Option<MemRange>,
}

impl Machine {
    /// Reads the tree in `dtb`. The core runs identity-mapped when it calls
    /// this, so the slice's address is the blob's physical address, which is
    /// added to [`Machine::reserved`].
    pub fn from_fdt(dtb: &[u8]) -> Result<Machine, MachineError> {
        Self::from_fdt_at(dtb, dtb.as_ptr() as usize as u64)
    }

    /// Reads the tree in `dtb`, which sits at physical address `blob_pa`.
    pub fn from_fdt_at(dtb: &[u8], blob_pa: u64) -> Result<Machine, MachineError> {
        let blob = blob::check(dtb).map_err(MachineError::MalformedBlob)?;
        let fdt = Fdt::new(blob)
            .map_err(|_| MachineError::MalformedBlob("is not a flattened device tree"))?;

        let psci = psci_conduit(&fdt)?;
        let gic_node = find_gic(&fdt)?;
        let controller = InterruptController {
            phandle: gic_node.phandle(),
            cells: gic_node
                .node()
                .interrupt_cells()
                .filter(|&cells| (2..=4).contains(&cells))
                .ok_or(MachineError::BadProperty {
                    node: gic_node.name(),
                    property: "#interrupt-cells",
                })?,
        };
        let (timer, timer_frequency) = timer(&fdt, controller)?;
        Ok(Machine {
            memory: memory(&fdt)?,
            reserved: reserved(
                &fdt,
                MemRange {
                    base: blob_pa,
                    size: blob.len() as u64,
                },
            )?,
            cpus: cpus(&fdt, psci)?,
            psci,
            gic: gic(&fdt, &gic_node, controller)?,
            uart: console_uart(&fdt, controller)?,
            timer,
            timer_frequency,
            pm_watchdog: pm_watchdog(&fdt)?,
        })
    }

    /// RAM, or [`MachineError::NoUsableMemory`] if the tree had only empty
    /// memory nodes (a stock Pi tree the loader did not fill in).
    pub fn usable_memory(&self) -> Result<&[MemRange], MachineError> {
        if self.memory.is_empty() {
            Err(MachineError::NoUsableMemory)
        } else {
            Ok(self.memory.as_slice())
        }
    }

    /// The CPU whose MPIDR_EL1 is `mpidr` (affinity fields compared).
    pub fn cpu_by_mpidr(&self, mpidr: u64) -> Option<&Cpu> {
        const AFFINITY: u64 = 0xff_00ff_ffff;
        self.cpus
            .iter()
            .find(|cpu| cpu.mpidr & AFFINITY == mpidr & AFFINITY)
    }
}

/// Largest device tree accepted: arm64 boot protocol limit (Linux
/// Documentation/arch/arm64/booting.rst: "must not exceed 2 megabytes").
pub const MAX_BLOB_SIZE: usize = 2 << 20;

/// The size of the blob whose first bytes are `header` (at least 8: magic and
/// `totalsize`), so the core can make a slice of exactly the blob from the
/// pointer in x0 before calling [`Machine::from_fdt`].
pub fn blob_size(header: &[u8]) -> Result<usize, MachineError> {
    let word = |at: usize| {
        header
            .get(at..at + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map(u32::from_be_bytes)
            .ok_or(MachineError::MalformedBlob("is shorter than its header"))
    };
    if word(0)? != blob::FDT_MAGIC {
        return Err(MachineError::MalformedBlob(
            "does not start with the FDT magic 0xd00dfeed",
        ));
    }
    match usize::try_from(word(4)?) {
        Ok(size) if size <= MAX_BLOB_SIZE => Ok(size),
        _ => Err(MachineError::MalformedBlob(
            "is larger than the 2 MiB the boot protocol allows",
        )),
    }
}

/// Takes the `FDT_NOP` tokens out of the tree at the start of `dtb`, in
/// place, so that [`Machine::from_fdt`] accepts a tree that firmware edited
/// (QEMU `raspi4b` and the Raspberry Pi firmware leave NOPs where they removed
/// nodes); returns how many were removed. The blob keeps its place and
/// `totalsize`.
pub fn remove_nops(dtb: &mut [u8]) -> Result<usize, MachineError> {
    blob::remove_nops(dtb).map_err(MachineError::MalformedBlob)
}

fn too_many(what: &'static str, capacity: usize) -> impl Fn(Full) -> MachineError {
    move |_| MachineError::TooMany { what, capacity }
}

/// RAM from every enabled `device_type = "memory"` node under the root.
fn memory(fdt: &Fdt<'_>) -> Result<FixedVec<MemRange, MAX_MEMORY_RANGES>, MachineError> {
    let root = Located::root(fdt).ok_or(MachineError::MalformedBlob("has no root node"))?;
    let mut ranges = FixedVec::new();
    let mut found_node = false;
    for child in root.node().children() {
        let Some(node) = root.child(child) else {
            continue;
        };
        if node.str_property("device_type") != Some("memory") || !node.is_enabled() {
            continue;
        }
        found_node = true;
        node.for_each_reg(|range| {
            ranges
                .push(range)
                .map_err(too_many("memory ranges", MAX_MEMORY_RANGES))
        })?;
    }
    if found_node {
        Ok(ranges)
    } else {
        Err(MachineError::NoMemoryNode)
    }
}

/// `/memreserve/` entries, `/reserved-memory` children and the blob.
fn reserved(
    fdt: &Fdt<'_>,
    blob: MemRange,
) -> Result<FixedVec<MemRange, MAX_RESERVED_RANGES>, MachineError> {
    let mut ranges = FixedVec::new();
    let mut add = |range: MemRange| {
        ranges
            .push(range)
            .map_err(too_many("reserved ranges", MAX_RESERVED_RANGES))
    };
    for reservation in fdt.memory_reservations() {
        if reservation.size() != 0 {
            add(MemRange {
                base: reservation.address() as usize as u64,
                size: reservation.size() as u64,
            })?;
        }
    }
    if let Some(parent) = tree::find_path(fdt, "/reserved-memory") {
        for child in parent.node().children() {
            // Children with only `size` are pools Linux allocates anywhere;
            // they reserve nothing fixed.
            if let Some(node) = parent.child(child).filter(|n| n.is_enabled()) {
                node.for_each_reg(&mut add)?;
            }
        }
    }
    add(blob)?;
    Ok(ranges)
}

/// The CPUs under `/cpus` (`device_type = "cpu"`, status not `"fail"`: a
/// `"disabled"` CPU is one waiting in its enable method, Devicetree
/// Specification §3.8.1).
fn cpus(fdt: &Fdt<'_>, psci: Option<Conduit>) -> Result<FixedVec<Cpu, MAX_CPUS>, MachineError> {
    let parent = tree::find_path(fdt, "/cpus").ok_or(MachineError::NoCpus)?;
    let address_cells = parent.node().cell_sizes().address_cells;
    let mut cpus = FixedVec::new();
    for child in parent.node().children() {
        let Some(node) = parent.child(child) else {
            continue;
        };
        if node.str_property("device_type") != Some("cpu")
            || node.str_property("status") == Some("fail")
        {
            continue;
        }
        let bad = |property| MachineError::BadProperty {
            node: node.name(),
            property,
        };
        let reg = node.node().property("reg").ok_or(bad("reg"))?;
        let mpidr = match (address_cells, reg.value) {
            (1, [a, b, c, d, ..]) => u64::from(u32::from_be_bytes([*a, *b, *c, *d])),
            (2, [a, b, c, d, e, f, g, h, ..]) => {
                u64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h])
            }
            _ => return Err(bad("reg")),
        };
        let enable_method = match node.str_property("enable-method") {
            Some("psci") => EnableMethod::Psci,
            Some("spin-table") => {
                let release = node
                    .node()
                    .property("cpu-release-addr")
                    .ok_or(bad("cpu-release-addr"))?;
                let release_addr = match release.value {
                    [a, b, c, d, e, f, g, h] => {
                        u64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h])
                    }
                    [a, b, c, d] => u64::from(u32::from_be_bytes([*a, *b, *c, *d])),
                    _ => return Err(bad("cpu-release-addr")),
                };
                EnableMethod::SpinTable { release_addr }
            }
            Some(_) => return Err(MachineError::UnsupportedEnableMethod { node: node.name() }),
            // Firmware may leave the boot CPU's method out; PSCI is the arm64 default.
            None if psci.is_some() => EnableMethod::Psci,
            None => return Err(MachineError::MissingEnableMethod { node: node.name() }),
        };
        cpus.push(Cpu {
            mpidr,
            enable_method,
        })
        .map_err(too_many("CPUs", MAX_CPUS))?;
    }
    if cpus.is_empty() {
        return Err(MachineError::NoCpus);
    }
    Ok(cpus)
}

/// The conduit of the first enabled PSCI 0.2+ node.
fn psci_conduit(fdt: &Fdt<'_>) -> Result<Option<Conduit>, MachineError> {
    let Some(node) = tree::find(fdt, |n| n.is_compatible(PSCI_COMPATIBLE) && n.is_enabled()) else {
        return Ok(None);
    };
    match node.str_property("method") {
        Some("smc") => Ok(Some(Conduit::Smc)),
        Some("hvc") => Ok(Some(Conduit::Hvc)),
        _ => Err(MachineError::BadPsciMethod),
    }
}

/// The first enabled GICv2/GICv3 node.
fn find_gic<'b, 'a>(fdt: &'b Fdt<'a>) -> Result<Located<'b, 'a>, MachineError> {
    let usable = |n: &Located<'_, '_>| {
        n.is_enabled() && (n.is_compatible(GIC_V3_COMPATIBLE) || n.is_compatible(GIC_V2_COMPATIBLE))
    };
    if let Some(gic) = tree::find(fdt, usable) {
        return Ok(gic);
    }
    if tree::find(fdt, |n| {
        n.is_enabled() && n.is_compatible(GIC_UNSUPPORTED_COMPATIBLE)
    })
    .is_some()
    {
        return Err(MachineError::UnsupportedGic);
    }
    Err(MachineError::NoGic)
}

/// The GIC's frames and maintenance interrupt.
fn gic(
    fdt: &Fdt<'_>,
    node: &Located<'_, '_>,
    controller: InterruptController,
) -> Result<Gic, MachineError> {
    let required = |index| {
        node.reg(index)?
            .ok_or(MachineError::BadReg { node: node.name() })
    };
    let frames = if node.is_compatible(GIC_V3_COMPATIBLE) {
        GicFrames::V3 {
            gicd: required(0)?,
            gicr: required(1)?,
        }
    } else {
        GicFrames::V2 {
            gicd: required(0)?,
            gicc: required(1)?,
            gich: node.reg(2)?,
            gicv: node.reg(3)?,
        }
    };
    Ok(Gic {
        frames,
        maintenance_irq: node.gic_interrupt(fdt, controller, 0)?,
    })
}

/// The console: the `stdout-path` node if it is an enabled PL011, else the
/// first enabled PL011 (the Pi's stock `stdout-path` names the mini UART).
fn console_uart(
    fdt: &Fdt<'_>,
    controller: InterruptController,
) -> Result<Option<Uart>, MachineError> {
    let is_pl011 = |n: &Located<'_, '_>| n.is_enabled() && n.is_compatible(PL011_COMPATIBLE);
    let chosen = tree::find_stdout(fdt).filter(|n| is_pl011(n));
    let Some(node) = chosen.or_else(|| tree::find(fdt, is_pl011)) else {
        return Ok(None);
    };
    let registers = node
        .reg(0)?
        .ok_or(MachineError::BadReg { node: node.name() })?;
    Ok(Some(Uart {
        base: registers.base,
        size: registers.size,
        irq: node.gic_interrupt(fdt, controller, 0)?,
    }))
}

/// The first enabled BCM2835-family PM watchdog's register frame.
fn pm_watchdog(fdt: &Fdt<'_>) -> Result<Option<MemRange>, MachineError> {
    let Some(node) = tree::find(fdt, |n| {
        n.is_enabled() && n.is_compatible(PM_WATCHDOG_COMPATIBLE)
    }) else {
        return Ok(None);
    };
    node.reg(0)?
        .map(Some)
        .ok_or(MachineError::BadReg { node: node.name() })
}

/// Timer PPIs from the `arm,armv8-timer` node: `interrupts` lists the secure
/// physical, non-secure physical, virtual and hypervisor timers, in that order
/// (Linux binding `arm,arch_timer.yaml`).
fn timer(
    fdt: &Fdt<'_>,
    controller: InterruptController,
) -> Result<(TimerIrqs, Option<u32>), MachineError> {
    let Some(node) = tree::find(fdt, |n| n.is_enabled() && n.is_compatible(TIMER_COMPATIBLE))
    else {
        return Ok((TimerIrqs::default(), None));
    };
    let frequency = node.u32_property("clock-frequency")?;
    let has_interrupts = node.node().property("interrupts").is_some()
        || node.node().property("interrupts-extended").is_some();
    if !has_interrupts {
        return Ok((TimerIrqs::default(), frequency));
    }
    let ppi = |index| {
        node.gic_interrupt(fdt, controller, index)?
            .ok_or(MachineError::BadProperty {
                node: node.name(),
                property: "interrupts",
            })
    };
    Ok((
        TimerIrqs {
            el1_phys: ppi(1)?,
            el1_virt: ppi(2)?,
            el2_phys: ppi(3)?,
        },
        frequency,
    ))
}
