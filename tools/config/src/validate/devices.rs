//! Checks the device tables of one partition on their own: emulated device
//! windows (`[[partition.device]]`: window, interrupt, the endpoint behind it,
//! its badge) and passthrough MMIO (`[[partition.passthrough]]`: page-aligned
//! windows outside the board's RAM, with an optional physical SPI). Overlaps with the rest of the address
//! space are checked in [`super::address_space`].

use std::collections::HashMap;

use toml::Spanned;

use super::interrupts::{check_guest_intid, check_physical_spi};
use super::names::{Namespace, Symbols};
use super::window::{check_window, describe, Space};
use super::CheckedBoard;
use crate::diagnostics::Reporter;
use crate::schema::{RawDevice, RawPassthrough};
use crate::system::{spans_overlap, EmulatedDevice, Passthrough};

/// Checks every emulated device of partition `partition` (its config index).
pub(super) fn check_devices(
    raw: &[Spanned<RawDevice>],
    partition: usize,
    symbols: &Symbols,
    who: &str,
    report: &mut Reporter<'_>,
) -> Vec<EmulatedDevice> {
    let mut irqs_seen: HashMap<u32, usize> = HashMap::new();
    let mut devices = Vec::with_capacity(raw.len());
    for (index, spanned) in raw.iter().enumerate() {
        let line = report.line_of(spanned.span().start);
        let device = spanned.get_ref();
        let errors_before = report.count();
        let what = format!("{who}: {} device", device.kind.name());
        let window = check_window(&device.ipa, &device.size, Space::Ipa, &what, report);
        let this = match window {
            Some((ipa, size)) => format!("{what} {}", describe(ipa, size)),
            None => format!("{what} on line {line}"),
        };
        let irq = device.irq.as_ref().and_then(|irq| {
            let intid = check_guest_intid(irq, &this, report)?;
            let irq_line = report.line_of(irq.span().start);
            if let Some(first_line) = irqs_seen.insert(intid, irq_line) {
                report.at(
                    irq.span(),
                    format!(
                        "{this} has interrupt {intid}, which the device on line {first_line} already has"
                    ),
                );
            }
            Some(intid)
        });
        let endpoint = symbols.resolve(
            Namespace::Endpoint,
            &device.endpoint,
            &format!("{this} is emulated by"),
            report,
        );
        let badge = match &device.badge {
            None => Some(EmulatedDevice::assigned_badge(partition, index)),
            Some(badge) => {
                let value = u64::try_from(*badge.get_ref()).ok();
                if value.is_none() {
                    report.at(
                        badge.span(),
                        format!("{this} has badge {}, which is negative", badge.get_ref()),
                    );
                }
                value
            }
        };
        if report.count() != errors_before {
            continue;
        }
        if let (Some((ipa, size)), Some(endpoint), Some(badge)) = (window, endpoint, badge) {
            devices.push(EmulatedDevice {
                kind: device.kind,
                ipa,
                size,
                irq,
                endpoint,
                badge,
                line,
            });
        }
    }
    devices
}

/// Checks every passthrough window of one partition. The physical window
/// must lie outside the board's RAM and its GICv2 virtual CPU interface,
/// which the core owns; `board` is `None` when the board section was wrong.
pub(super) fn check_passthrough(
    raw: &[Spanned<RawPassthrough>],
    board: Option<&CheckedBoard>,
    who: &str,
    report: &mut Reporter<'_>,
) -> Vec<Passthrough> {
    let mut windows = Vec::with_capacity(raw.len());
    for spanned in raw {
        let line = report.line_of(spanned.span().start);
        let entry = spanned.get_ref();
        let what = format!("{who}: passthrough");
        let pa = check_window(&entry.pa, &entry.size, Space::Pa, &what, report);
        let ipa = check_window(&entry.ipa, &entry.size, Space::Ipa, &what, report);
        let irq = match &entry.irq {
            Some(irq) => match check_physical_spi(irq, &what, report) {
                Some(intid) => Some(intid),
                None => continue,
            },
            None => None,
        };
        let (Some((pa, size)), Some((ipa, _))) = (pa, ipa) else {
            continue;
        };
        if let Some(board) = board {
            if !check_not_core_owned(&entry.pa, pa, size, board, &what, report) {
                continue;
            }
        }
        windows.push(Passthrough {
            kind: entry.kind,
            pa,
            ipa,
            size,
            irq,
            line,
        });
    }
    windows
}

/// Physical memory a partition may never map as a device: the board's RAM
/// (partitions, the core, its heap) and the GICv2 virtual CPU interface.
fn check_not_core_owned(
    pa_value: &Spanned<i64>,
    pa: u64,
    size: u64,
    board: &CheckedBoard,
    what: &str,
    report: &mut Reporter<'_>,
) -> bool {
    let ram = (board.spec.ram_base, board.ram_size);
    if spans_overlap(pa, size, ram.0, ram.1) {
        report.at(
            pa_value.span(),
            format!(
                "{what} pa {} lies in the board's RAM {}: only device MMIO may be passed through",
                describe(pa, size),
                describe(ram.0, ram.1)
            ),
        );
        return false;
    }
    if let Some(gicv) = board.spec.gicv {
        let gicv_size = crate::guest_map::GICC_SIZE;
        if spans_overlap(pa, size, gicv, gicv_size) {
            report.at(
                pa_value.span(),
                format!(
                    "{what} pa {} overlaps the GIC virtual CPU interface {}, which the core owns",
                    describe(pa, size),
                    describe(gicv, gicv_size)
                ),
            );
            return false;
        }
    }
    true
}
