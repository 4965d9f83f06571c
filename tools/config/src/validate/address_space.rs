//! Whole-system checks of address spaces: inside each partition, its memory,
//! emulated device windows, passthrough windows and shared mappings never
//! overlap each other or the guest's GIC window; across partitions, each
//! physical device window is passed through to one partition only.

use super::window::describe;
use super::Checked;
use crate::diagnostics::Reporter;
use crate::guest_map::GIC_WINDOW;
use crate::system::{spans_overlap, Partition};

/// One window of a partition's address space, for overlap messages.
struct Window {
    ipa: u64,
    size: u64,
    /// How a message names it, e.g. `memory region 0x40000000..0x41000000`.
    what: String,
    /// Line reported when it is the later of two overlapping windows.
    line: usize,
    /// Memory regions were checked against each other (and the GIC window)
    /// with the partition.
    is_memory: bool,
}

/// Every window of partition `index`, memory first, then devices,
/// passthrough and shared mappings in config order.
fn windows(checked: &Checked<'_>, index: usize, partition: &Partition) -> Vec<Window> {
    let memory = partition.memory.iter().map(|r| Window {
        ipa: r.ipa,
        size: r.size,
        what: format!("memory region {}", describe(r.ipa, r.size)),
        line: partition.line,
        is_memory: true,
    });
    let devices = partition.devices.iter().map(|d| Window {
        ipa: d.ipa,
        size: d.size,
        what: format!("{} device {}", d.kind.name(), describe(d.ipa, d.size)),
        line: d.line,
        is_memory: false,
    });
    let passthrough = partition.passthrough.iter().map(|p| Window {
        ipa: p.ipa,
        size: p.size,
        what: format!("passthrough {}", describe(p.ipa, p.size)),
        line: p.line,
        is_memory: false,
    });
    let shared = checked.shared_regions().flat_map(|region| {
        region
            .mappings
            .iter()
            .filter(|m| m.partition == index)
            .map(|m| Window {
                ipa: m.ipa,
                size: region.size,
                what: format!(
                    "shared region \"{}\" at {}",
                    region.name,
                    describe(m.ipa, region.size)
                ),
                line: m.line,
                is_memory: false,
            })
    });
    memory
        .chain(devices)
        .chain(passthrough)
        .chain(shared)
        .collect()
}

/// Runs every address-space check.
pub(super) fn check(checked: &Checked<'_>, report: &mut Reporter<'_>) {
    for (index, partition) in checked.partitions() {
        check_partition(checked, index, partition, report);
    }
    check_passthrough_owned_once(checked, report);
}

/// No two windows of one partition overlap, and none but memory (checked
/// with the partition) reaches into the GIC window.
fn check_partition(
    checked: &Checked<'_>,
    index: usize,
    partition: &Partition,
    report: &mut Reporter<'_>,
) {
    let who = format!("partition \"{}\"", partition.name);
    let windows = windows(checked, index, partition);
    for (position, window) in windows.iter().enumerate() {
        if window.is_memory {
            continue;
        }
        let gic_size = GIC_WINDOW.end - GIC_WINDOW.start;
        if spans_overlap(window.ipa, window.size, GIC_WINDOW.start, gic_size) {
            report.at_line(
                Some(window.line),
                format!(
                    "{who}: {} overlaps the guest's GIC window {}",
                    window.what,
                    describe(GIC_WINDOW.start, gic_size)
                ),
            );
        }
        for earlier in windows.iter().take(position) {
            if spans_overlap(window.ipa, window.size, earlier.ipa, earlier.size) {
                report.at_line(
                    Some(window.line),
                    format!("{who}: {} overlaps {}", window.what, earlier.what),
                );
            }
        }
    }
}

/// Each physical window is passed through once: two partitions (or two
/// entries of one) mapping the same device would both drive it.
fn check_passthrough_owned_once(checked: &Checked<'_>, report: &mut Reporter<'_>) {
    let all: Vec<(&Partition, &crate::system::Passthrough)> = checked
        .partitions()
        .flat_map(|(_, p)| p.passthrough.iter().map(move |entry| (p, entry)))
        .collect();
    for (position, (partition, entry)) in all.iter().enumerate() {
        let earlier = all
            .iter()
            .take(position)
            .find(|(_, other)| spans_overlap(entry.pa, entry.size, other.pa, other.size));
        if let Some((owner, other)) = earlier {
            report.at_line(
                Some(entry.line),
                format!(
                    "partition \"{}\": passthrough pa {} overlaps pa {} already passed through to partition \"{}\" on line {}: each device is owned once",
                    partition.name,
                    describe(entry.pa, entry.size),
                    describe(other.pa, other.size),
                    owner.name,
                    other.line
                ),
            );
        }
    }
}
