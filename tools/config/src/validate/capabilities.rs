//! Checks the `[[partition.cap]]` tables of one partition on their own: each
//! names exactly one declared object, sits in a free slot below 64, carries
//! rights that fit its kind of object, and a badge only if it may call.
//! Rules that relate capabilities to the rest of the system (who serves,
//! who supervises) are in [`super::ipc`].

use std::collections::HashMap;

use abi::ipc::{rights, ObjectKind};
use kernel_core::manifest::MAX_CAP_SLOTS;
use toml::Spanned;

use super::names::{Namespace, Symbols};
use crate::diagnostics::{join_and, Reporter};
use crate::schema::RawCap;
use crate::system::{CapObject, Capability};

/// Rights as configs write them.
const RIGHT_NAMES: [(&str, u32); 6] = [
    ("call", rights::CALL),
    ("recv", rights::RECV),
    ("signal", rights::SIGNAL),
    ("wait", rights::WAIT),
    ("control", rights::CONTROL),
    ("status", rights::STATUS),
];

/// The config word for a kind of object.
pub(super) fn kind_word(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Endpoint => "endpoint",
        ObjectKind::Notification => "notification",
        ObjectKind::Partition => "partition",
    }
}

/// The names of the rights valid on `kind`, quoted, as a sentence lists them.
fn valid_right_names(kind: ObjectKind) -> String {
    let names: Vec<String> = RIGHT_NAMES
        .iter()
        .filter(|(_, bit)| kind.valid_rights() & bit != 0)
        .map(|(name, _)| format!("\"{name}\""))
        .collect();
    join_and(&names)
}

/// Checks every capability of one partition; returns those that passed.
pub(super) fn check_caps(
    raw: &[Spanned<RawCap>],
    symbols: &Symbols,
    who: &str,
    report: &mut Reporter<'_>,
) -> Vec<Capability> {
    let mut slots_seen: HashMap<u16, usize> = HashMap::new();
    let mut caps = Vec::with_capacity(raw.len());
    for spanned in raw {
        let header_line = report.line_of(spanned.span().start);
        let errors_before = report.count();
        let cap = spanned.get_ref();
        let slot = check_slot(&cap.slot, &mut slots_seen, who, report);
        let this = match slot {
            Some(slot) => format!("{who}: capability in slot {slot}"),
            None => format!("{who}: capability on line {header_line}"),
        };
        let object = check_object(cap, header_line, symbols, &this, report);
        let rights = object.and_then(|(kind, _)| check_rights(cap, kind, &this, report));
        let badge = check_badge(cap, rights, &this, report);
        if report.count() != errors_before {
            continue;
        }
        if let (Some(slot), Some((_, object)), Some(rights), Some(badge)) =
            (slot, object, rights, badge)
        {
            caps.push(Capability {
                slot,
                object,
                rights,
                badge,
                line: header_line,
            });
        }
    }
    caps
}

/// A slot below [`MAX_CAP_SLOTS`], not used by an earlier capability.
fn check_slot(
    slot: &Spanned<i64>,
    seen: &mut HashMap<u16, usize>,
    who: &str,
    report: &mut Reporter<'_>,
) -> Option<u16> {
    let value = u16::try_from(*slot.get_ref())
        .ok()
        .filter(|&s| usize::from(s) < MAX_CAP_SLOTS);
    let Some(value) = value else {
        report.at(
            slot.span(),
            format!(
                "{who}: capability slot {} is out of range (0 to {})",
                slot.get_ref(),
                MAX_CAP_SLOTS - 1
            ),
        );
        return None;
    };
    let line = report.line_of(slot.span().start);
    if let Some(first_line) = seen.get(&value) {
        report.at(
            slot.span(),
            format!(
                "{who}: capability slot {value} is already used by the capability on line {first_line}"
            ),
        );
        return None;
    }
    seen.insert(value, line);
    Some(value)
}

/// Exactly one of `endpoint`, `notification` and `partition`, naming a
/// declared object. Returns the kind (known even when the name is not) and
/// the resolved object.
fn check_object(
    cap: &RawCap,
    header_line: usize,
    symbols: &Symbols,
    this: &str,
    report: &mut Reporter<'_>,
) -> Option<(ObjectKind, CapObject)> {
    let named: Vec<(Namespace, &Spanned<String>)> = [
        (Namespace::Endpoint, &cap.endpoint),
        (Namespace::Notification, &cap.notification),
        (Namespace::Partition, &cap.partition),
    ]
    .into_iter()
    .filter_map(|(namespace, name)| name.as_ref().map(|name| (namespace, name)))
    .collect();
    let (namespace, name) = match named.as_slice() {
        [] => {
            report.at_line(
                Some(header_line),
                format!(
                    "{this} names no object: give exactly one of endpoint, notification or partition"
                ),
            );
            return None;
        }
        [one] => *one,
        [_, (second, name), ..] => {
            report.at(
                name.span(),
                format!(
                    "{this} also names a {}: give exactly one of endpoint, notification or partition",
                    second.word()
                ),
            );
            return None;
        }
    };
    let index = symbols.resolve(namespace, name, &format!("{this} names"), report)?;
    let object = match namespace {
        Namespace::Endpoint => CapObject::Endpoint(index),
        Namespace::Notification => CapObject::Notification(index),
        Namespace::Partition => CapObject::Partition(index),
    };
    Some((object.kind(), object))
}

/// At least one right, each valid for `kind`.
fn check_rights(
    cap: &RawCap,
    kind: ObjectKind,
    this: &str,
    report: &mut Reporter<'_>,
) -> Option<u32> {
    let word = kind_word(kind);
    let valid = valid_right_names(kind);
    if cap.rights.get_ref().is_empty() {
        report.at(
            cap.rights.span(),
            format!("{this} has no rights: give at least one of {valid}"),
        );
        return None;
    }
    let mut bits = 0;
    let mut ok = true;
    for right in cap.rights.get_ref() {
        let bit = RIGHT_NAMES
            .iter()
            .find(|(name, _)| name == right.get_ref())
            .map(|&(_, bit)| bit)
            .filter(|bit| kind.valid_rights() & bit != 0);
        match bit {
            Some(bit) => bits |= bit,
            None => {
                report.at(
                    right.span(),
                    format!(
                        "{this} cannot have right \"{}\": the rights of a capability on {} {word} are {valid}",
                        right.get_ref(),
                        if kind == ObjectKind::Endpoint { "an" } else { "a" }
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(bits)
}

/// A badge is a non-negative integer, and only a capability that may call
/// carries one: the server sees it as the caller's identity.
fn check_badge(
    cap: &RawCap,
    rights: Option<u32>,
    this: &str,
    report: &mut Reporter<'_>,
) -> Option<u64> {
    let Some(badge) = &cap.badge else {
        return Some(0);
    };
    let Ok(value) = u64::try_from(*badge.get_ref()) else {
        report.at(
            badge.span(),
            format!("{this} has badge {}, which is negative", badge.get_ref()),
        );
        return None;
    };
    if rights.is_some_and(|bits| bits & rights::CALL == 0) {
        report.at(
            badge.span(),
            format!(
                "{this} has a badge, but only a capability with the \"call\" right carries one (the server sees it as the caller's identity)"
            ),
        );
        return None;
    }
    Some(value)
}
