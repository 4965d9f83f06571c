//! Interrupt numbers as configs write them: a guest's interrupts (emulated
//! devices, doorbell notifications) are PPIs or SPIs other than the timer's,
//! the physical interrupts a notification or a passthrough owns are SPIs,
//! each physical interrupt has one owner, and no guest INTID has two sources.
//!
//! INTID ranges are from the GIC architecture (GICv3 spec 2.2 "INTIDs"):
//! 0..=15 SGIs, 16..=31 PPIs, 32..=1019 SPIs.

use std::collections::HashMap;

use kernel_core::manifest::MAX_INTID;
use toml::Spanned;

use super::Checked;

use crate::devicetree::TIMER_PPIS;
use crate::diagnostics::{join_and, Reporter};

/// First PPI INTID.
pub(super) const FIRST_PPI: u32 = 16;
/// First SPI INTID.
pub(super) const FIRST_SPI: u32 = 32;
/// Last SPI INTID (1020..=1023 are special).
pub(super) const LAST_SPI: u32 = MAX_INTID - 1;

/// The timer's INTIDs in every guest's device tree (PPI number + 16).
fn timer_intids() -> impl Iterator<Item = u32> {
    TIMER_PPIS.iter().map(|ppi| ppi + FIRST_PPI)
}

/// The timer INTIDs, as a message lists them.
fn timer_list() -> String {
    let mut intids: Vec<u32> = timer_intids().collect();
    intids.sort_unstable();
    let words: Vec<String> = intids.iter().map(u32::to_string).collect();
    join_and(&words)
}

/// Checks a guest interrupt: a PPI or SPI that is not one of the timer's.
/// `what` starts the message (e.g. `partition "a": device at 0x9000000`).
pub(super) fn check_guest_intid(
    value: &Spanned<i64>,
    what: &str,
    report: &mut Reporter<'_>,
) -> Option<u32> {
    let intid = u32::try_from(*value.get_ref())
        .ok()
        .filter(|intid| (FIRST_PPI..=LAST_SPI).contains(intid));
    let Some(intid) = intid else {
        report.at(
            value.span(),
            format!(
                "{what} has interrupt {}, which is not a PPI or SPI ({FIRST_PPI} to {LAST_SPI})",
                value.get_ref()
            ),
        );
        return None;
    };
    if timer_intids().any(|timer| timer == intid) {
        report.at(
            value.span(),
            format!(
                "{what} has interrupt {intid}, which the guest's timer uses (INTIDs {})",
                timer_list()
            ),
        );
        return None;
    }
    Some(intid)
}

/// Checks a physical interrupt bound to a notification: an SPI. PPIs are
/// per CPU and the core owns those it uses (its timer, the GIC maintenance
/// interrupt), so none is handed to a partition.
pub(super) fn check_physical_spi(
    value: &Spanned<i64>,
    what: &str,
    report: &mut Reporter<'_>,
) -> Option<u32> {
    let intid = u32::try_from(*value.get_ref())
        .ok()
        .filter(|intid| (FIRST_SPI..=LAST_SPI).contains(intid));
    if intid.is_none() {
        report.at(
            value.span(),
            format!(
                "{what} is bound to IRQ {}, which is not an SPI ({FIRST_SPI} to {LAST_SPI}): only shared peripheral interrupts can be given to a partition",
                value.get_ref()
            ),
        );
    }
    intid
}

/// Whole-system interrupt rules, over the declarations that passed their own
/// checks: a physical SPI is owned by one notification or one passthrough
/// (notifications among themselves are checked with them), and inside a
/// partition a passed-through SPI is not also an emulated device's or a
/// doorbell's interrupt.
pub(super) fn check_owners(checked: &Checked<'_>, report: &mut Reporter<'_>) {
    let mut owners: HashMap<u32, (String, usize)> = HashMap::new();
    for (_, notification) in checked.notifications() {
        if let Some(intid) = notification.irq {
            owners.entry(intid).or_insert((
                format!("notification \"{}\"", notification.name),
                notification.line,
            ));
        }
    }
    for (index, partition) in checked.partitions() {
        let who = format!("partition \"{}\"", partition.name);
        for passthrough in &partition.passthrough {
            let Some(intid) = passthrough.irq else {
                continue;
            };
            match owners.get(&intid) {
                Some((owner, line)) => report.at_line(
                    Some(passthrough.line),
                    format!(
                        "{who}: passthrough IRQ {intid} is already owned by {owner} on line {line}: each IRQ is owned once"
                    ),
                ),
                None => {
                    owners.insert(intid, (who.clone(), passthrough.line));
                }
            }
            let device = partition.devices.iter().find(|d| d.irq == Some(intid));
            let doorbell = checked.notifications().find(|(_, n)| {
                n.virq
                    .is_some_and(|v| v.partition == index && v.intid == intid)
            });
            let clash = device
                .map(|d| format!("its emulated device on line {}", d.line))
                .or_else(|| doorbell.map(|(_, n)| format!("notification \"{}\"'s virq", n.name)));
            if let Some(clash) = clash {
                report.at_line(
                    Some(passthrough.line),
                    format!(
                        "{who}: passthrough IRQ {intid} is also {clash}: the guest would see one INTID for two devices"
                    ),
                );
            }
        }
    }
}
