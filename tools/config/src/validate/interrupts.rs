//! Interrupt numbers as configs write them: a guest's interrupts (emulated
//! devices, doorbell notifications) are PPIs or SPIs other than the timer's,
//! and the physical interrupts a notification owns are SPIs.
//!
//! INTID ranges are from the GIC architecture (GICv3 spec 2.2 "INTIDs"):
//! 0..=15 SGIs, 16..=31 PPIs, 32..=1019 SPIs.

use kernel_core::manifest::MAX_INTID;
use toml::Spanned;

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
