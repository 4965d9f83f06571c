//! The device tree the core generates for the partition and hands vCPU 0 in
//! x0: where it is, and the few things the runtime and programs read from it
//! (boot arguments, RAM, the GIC, a UART for bare-metal runs).

use crate::bootargs::BootArgs;
use crate::memory_map::IpaRange;
use core::sync::atomic::{AtomicUsize, Ordering};
use fdt::{node::FdtNode, Fdt};

/// The IPA of the device tree blob (0: none recorded).
static ADDRESS: AtomicUsize = AtomicUsize::new(0);

/// The device tree specification requires 8-byte alignment of the blob.
const BLOB_ALIGNMENT: usize = 8;

/// Records x0 of vCPU 0.
pub(crate) fn record(address: usize) {
    ADDRESS.store(address, Ordering::Relaxed);
}

/// The IPA vCPU 0 was given, if any.
pub fn address() -> Option<usize> {
    Some(ADDRESS.load(Ordering::Relaxed)).filter(|&address| address != 0)
}

/// The parsed device tree; `None` if there is none or its header is bad.
pub fn get() -> Option<Fdt<'static>> {
    let address = address().filter(|address| address.is_multiple_of(BLOB_ALIGNMENT))?;
    // SAFETY: by the boot contract x0 is the IPA of a flattened device tree in
    // the partition's RAM, identity mapped by the runtime; the core never
    // changes it and the runtime never writes it (the RAM test skips it).
    unsafe { Fdt::from_ptr(address as *const u8) }.ok()
}

/// Where the blob lies, for code that must not overwrite it.
pub fn blob_range() -> Option<IpaRange> {
    let tree = get()?;
    IpaRange::from_start_size(address()? as u64, tree.total_size() as u64)
}

/// `/chosen/bootargs`, or an empty command line.
pub fn bootargs() -> BootArgs<'static> {
    let text = get().and_then(|tree| tree.find_node("/chosen")?.property("bootargs")?.as_str());
    BootArgs::new(text.unwrap_or(""))
}

/// The value of `key=value` in the boot arguments.
pub fn bootarg_value(key: &str) -> Option<&'static str> {
    bootargs().value(key)
}

/// Calls `visit` with each RAM region of the `/memory` nodes; false when
/// there is no device tree.
pub fn for_each_memory_region(mut visit: impl FnMut(IpaRange)) -> bool {
    let Some(tree) = get() else {
        return false;
    };
    let memory_nodes = tree
        .all_nodes()
        .filter(|node| node.name == "memory" || node.name.starts_with("memory@"));
    for node in memory_nodes {
        for region in node.reg().into_iter().flatten() {
            let start = region.starting_address as u64;
            if let Some(range) = IpaRange::from_start_size(start, region.size.unwrap_or(0) as u64) {
                visit(range);
            }
        }
    }
    true
}

/// Calls `visit` with each `/memreserve/` entry of the blob.
pub fn for_each_reservation(mut visit: impl FnMut(IpaRange)) {
    if let Some(tree) = get() {
        for reservation in tree.memory_reservations() {
            let start = reservation.address() as u64;
            if let Some(range) = IpaRange::from_start_size(start, reservation.size() as u64) {
                visit(range);
            }
        }
    }
}

/// Compatible strings of a GICv3.
const GIC_V3: &[&str] = &["arm,gic-v3"];
/// Compatible strings of a GICv2 (the generated tree says cortex-a15-gic; the
/// Pi's GIC-400 and older cores' GICs use the others).
const GIC_V2: &[&str] = &[
    "arm,cortex-a15-gic",
    "arm,gic-400",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
];

/// The interrupt controller the device tree describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicDescription {
    /// GICv3: the CPU interface is system registers.
    V3,
    /// GICv2: the CPU interface (GICC) is memory mapped at this IPA, the
    /// second `reg` entry of the GIC node.
    V2 {
        /// IPA of the GICC frame.
        cpu_interface: usize,
    },
}

/// The GIC node, if the tree has one the runtime knows.
pub fn gic() -> Option<GicDescription> {
    let tree = get()?;
    if tree.find_compatible(GIC_V3).is_some() {
        return Some(GicDescription::V3);
    }
    let node = tree.find_compatible(GIC_V2)?;
    let cpu_interface = node.reg()?.nth(1)?.starting_address as usize;
    Some(GicDescription::V2 { cpu_interface })
}

/// The IPA of the PL011 `/chosen/stdout-path` names, if it names one.
pub fn stdout_pl011() -> Option<usize> {
    let tree = get()?;
    let path = tree
        .find_node("/chosen")?
        .property("stdout-path")?
        .as_str()?;
    // "serial0:115200n8": options follow a colon.
    let path = path.split(':').next()?;
    let node: FdtNode<'_, '_> = tree.find_node(path)?;
    if !node.compatible()?.all().any(|c| c == "arm,pl011") {
        return None;
    }
    Some(node.reg()?.next()?.starting_address as usize)
}
