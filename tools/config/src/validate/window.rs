//! Address windows as configs write them: a page-aligned base (`ipa` or `pa`)
//! and a non-zero whole number of 4 KiB pages, ending inside the address space
//! partitions may use. Memory regions, device windows, passthrough MMIO and
//! shared mappings are all checked here, so they are refused in the same words.

use toml::Spanned;

use super::size_value;
use crate::diagnostics::Reporter;
use crate::units::{format_size, KIB};

/// Stage-2 page size: every window is made of whole 4 KiB pages.
pub(super) const PAGE_SIZE: u64 = 4 * KIB;

/// End of the address space windows may use: 40 bits (1 TiB), which every
/// supported CPU can translate (Cortex-A72's ID_AA64MMFR0_EL1.PARange is 44
/// bits; Arm ARM D8.1.6 lets VTCR_EL2.T0SZ pick any smaller IPA size).
pub(super) const ADDRESS_LIMIT: u64 = 1 << 40;

/// Which address space a window's base lives in; named in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Space {
    /// The partition's intermediate physical addresses (`ipa`).
    Ipa,
    /// Host physical addresses (`pa`).
    Pa,
}

impl Space {
    /// The config key of a base in this space.
    fn key(self) -> &'static str {
        match self {
            Self::Ipa => "ipa",
            Self::Pa => "pa",
        }
    }

    /// The space, as a message names it.
    fn description(self) -> &'static str {
        match self {
            Self::Ipa => "IPA space",
            Self::Pa => "physical address space",
        }
    }
}

/// Checks a base address: not negative and page aligned. `what` starts the
/// message (e.g. `partition "a": memory region`).
pub(super) fn check_base(
    base: &Spanned<i64>,
    space: Space,
    what: &str,
    report: &mut Reporter<'_>,
) -> Option<u64> {
    let key = space.key();
    match u64::try_from(*base.get_ref()) {
        Ok(address) if address % PAGE_SIZE == 0 => Some(address),
        Ok(address) => {
            report.at(
                base.span(),
                format!("{what} {key} {address:#x} is misaligned: it must be a multiple of 4 KiB"),
            );
            None
        }
        Err(_) => {
            report.at(
                base.span(),
                format!("{what} {key} {} is negative", base.get_ref()),
            );
            None
        }
    }
}

/// Checks a size: a size value, non-zero, a whole number of pages.
pub(super) fn check_size(
    size: &Spanned<toml::Value>,
    what: &str,
    report: &mut Reporter<'_>,
) -> Option<u64> {
    match size_value(size, &format!("{what} size"), report)? {
        0 => {
            report.at(size.span(), format!("{what} size must not be 0"));
            None
        }
        bytes if bytes % PAGE_SIZE != 0 => {
            report.at(
                size.span(),
                format!(
                    "{what} size {} is not a multiple of 4 KiB",
                    format_size(bytes)
                ),
            );
            None
        }
        bytes => Some(bytes),
    }
}

/// Checks that `[base, base + size)` ends inside the usable address space;
/// reports at `base`'s span.
pub(super) fn check_end(
    base: &Spanned<i64>,
    (address, size): (u64, u64),
    space: Space,
    what: &str,
    report: &mut Reporter<'_>,
) -> bool {
    let fits = address
        .checked_add(size)
        .is_some_and(|end| end <= ADDRESS_LIMIT);
    if !fits {
        report.at(
            base.span(),
            format!(
                "{what} at {address:#x} of {} ends beyond the 1 TiB {}",
                format_size(size),
                space.description()
            ),
        );
    }
    fits
}

/// Checks a whole window: base, size and end. `None` if any part is wrong
/// (each problem is reported).
pub(super) fn check_window(
    base: &Spanned<i64>,
    size: &Spanned<toml::Value>,
    space: Space,
    what: &str,
    report: &mut Reporter<'_>,
) -> Option<(u64, u64)> {
    let address = check_base(base, space, what, report);
    let size = check_size(size, what, report);
    let window = (address?, size?);
    check_end(base, window, space, what, report).then_some(window)
}

/// `a..b` in hex, as messages show a window.
pub(super) fn describe(base: u64, size: u64) -> String {
    format!("{base:#x}..{:#x}", base.saturating_add(size))
}
