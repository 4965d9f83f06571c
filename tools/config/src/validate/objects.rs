//! Checks the system-wide object declarations on their own: `[[endpoint]]`
//! (served by a service partition), `[[notification]]` (its physical IRQ, the
//! guest interrupt it raises, whether it carries fault reports) and
//! `[[shared]]` (size, perms and the partitions it is mapped into). Their
//! names share one namespace.

use std::collections::HashMap;

use toml::Spanned;

use super::interrupts::{check_guest_intid, check_physical_spi};
use super::names::{check_name, Namespace, SeenNames, Symbols};
use super::window::{check_base, check_end, check_size, Space};
use crate::diagnostics::Reporter;
use crate::schema::{RawEndpoint, RawNotification, RawShared, RawSharedMap};
use crate::system::{Endpoint, Notification, Perms, SharedMapping, SharedRegion, VirtualIrq};

/// Checks every endpoint; the result is indexed like the config's list,
/// `None` where an endpoint has a problem.
pub(super) fn check_endpoints(
    raw: &[Spanned<RawEndpoint>],
    symbols: &Symbols,
    names: &mut SeenNames,
    report: &mut Reporter<'_>,
) -> Vec<Option<Endpoint>> {
    raw.iter()
        .map(|spanned| {
            let line = report.line_of(spanned.span().start);
            let endpoint = spanned.get_ref();
            let errors_before = report.count();
            check_name("endpoint", &endpoint.name, names, report);
            let who = format!("endpoint \"{}\"", endpoint.name.get_ref());
            let server = symbols.resolve(
                Namespace::Partition,
                &endpoint.server,
                &format!("{who} is served by"),
                report,
            );
            if let Some(server) = server {
                if !symbols.is_service(server) {
                    report.at(
                        endpoint.server.span(),
                        format!(
                            "{who} is served by partition \"{}\", which is a guest: only a service partition (kind = \"service\") can serve an endpoint",
                            endpoint.server.get_ref()
                        ),
                    );
                }
            }
            let server = server?;
            (report.count() == errors_before).then(|| Endpoint {
                name: endpoint.name.get_ref().clone(),
                server,
                line,
            })
        })
        .collect()
}

/// Checks every notification: a bound IRQ is an SPI that no other
/// notification owns; a virtual IRQ names a partition and a guest interrupt;
/// at most one carries fault reports, and that one is bound to nothing (only
/// the core signals it).
pub(super) fn check_notifications(
    raw: &[Spanned<RawNotification>],
    symbols: &Symbols,
    names: &mut SeenNames,
    report: &mut Reporter<'_>,
) -> Vec<Option<Notification>> {
    let mut irq_owners: HashMap<u32, (String, usize)> = HashMap::new();
    let mut fault_notification: Option<(String, usize)> = None;
    raw.iter()
        .map(|spanned| {
            let line = report.line_of(spanned.span().start);
            let notification = spanned.get_ref();
            let errors_before = report.count();
            check_name("notification", &notification.name, names, report);
            let name = notification.name.get_ref().clone();
            let who = format!("notification \"{name}\"");

            let irq = notification.irq.as_ref().and_then(|irq| {
                let intid = check_physical_spi(irq, &who, report)?;
                match irq_owners.get(&intid) {
                    Some((owner, owner_line)) => report.at(
                        irq.span(),
                        format!(
                            "{who} is bound to IRQ {intid}, which notification \"{owner}\" on line {owner_line} already owns: each IRQ is owned once"
                        ),
                    ),
                    None => {
                        irq_owners.insert(intid, (name.clone(), report.line_of(irq.span().start)));
                    }
                }
                Some(intid)
            });

            let virq = notification.virq.as_ref().and_then(|virq| {
                let virq = virq.get_ref();
                let partition = symbols.resolve(
                    Namespace::Partition,
                    &virq.partition,
                    &format!("{who} raises an interrupt in"),
                    report,
                );
                let intid = check_guest_intid(&virq.irq, &format!("{who}'s virq"), report);
                Some(VirtualIrq {
                    partition: partition?,
                    intid: intid?,
                })
            });

            let faults = match &notification.faults {
                Some(faults) if *faults.get_ref() => {
                    if let Some((first, first_line)) = &fault_notification {
                        report.at(
                            faults.span(),
                            format!(
                                "{who} carries fault reports, but notification \"{first}\" on line {first_line} already does: a system has one fault notification"
                            ),
                        );
                    } else {
                        fault_notification = Some((name.clone(), line));
                    }
                    if notification.irq.is_some() || notification.virq.is_some() {
                        report.at(
                            faults.span(),
                            format!(
                                "{who} carries fault reports, so it cannot also be bound to an interrupt: only the core signals it"
                            ),
                        );
                    }
                    true
                }
                _ => false,
            };

            (report.count() == errors_before).then_some(Notification {
                name,
                irq,
                virq,
                faults,
                line,
            })
        })
        .collect()
}

/// Checks every shared region: size, and its mappings (a declared partition,
/// at most once each, at a page-aligned IPA, `r` or `rw`).
pub(super) fn check_shared(
    raw: &[Spanned<RawShared>],
    symbols: &Symbols,
    names: &mut SeenNames,
    report: &mut Reporter<'_>,
) -> Vec<Option<SharedRegion>> {
    raw.iter()
        .map(|spanned| {
            let line = report.line_of(spanned.span().start);
            let shared = spanned.get_ref();
            let errors_before = report.count();
            check_name("shared region", &shared.name, names, report);
            let who = format!("shared region \"{}\"", shared.name.get_ref());
            let size = check_size(&shared.size, &who, report);
            if shared.map.is_empty() {
                report.at_line(
                    Some(line),
                    format!("{who} is mapped into no partition: add a [[shared.map]] table"),
                );
            }
            let mut mapped: HashMap<usize, usize> = HashMap::new();
            let mappings: Vec<SharedMapping> = shared
                .map
                .iter()
                .filter_map(|map| check_mapping(map, size, symbols, &who, &mut mapped, report))
                .collect();
            let size = size?;
            (report.count() == errors_before).then(|| SharedRegion {
                name: shared.name.get_ref().clone(),
                size,
                mappings,
                line,
            })
        })
        .collect()
}

/// One `[[shared.map]]`; `mapped` holds the partitions mapped so far, with
/// the line of their mapping.
fn check_mapping(
    spanned: &Spanned<RawSharedMap>,
    size: Option<u64>,
    symbols: &Symbols,
    who: &str,
    mapped: &mut HashMap<usize, usize>,
    report: &mut Reporter<'_>,
) -> Option<SharedMapping> {
    let line = report.line_of(spanned.span().start);
    let map = spanned.get_ref();
    let partition = symbols.resolve(
        Namespace::Partition,
        &map.partition,
        &format!("{who} is mapped into"),
        report,
    );
    let into = format!(
        "{who}'s mapping into partition \"{}\"",
        map.partition.get_ref()
    );
    if let Some(partition) = partition {
        if let Some(first_line) = mapped.insert(partition, line) {
            report.at(
                map.partition.span(),
                format!(
                    "{who} is mapped into partition \"{}\" twice (first on line {first_line}): map it once per partition",
                    map.partition.get_ref()
                ),
            );
            return None;
        }
    }
    let ipa = check_base(&map.ipa, Space::Ipa, &into, report);
    let perms = match Perms::parse(map.perms.get_ref()) {
        Some(perms) if !perms.exec => Some(perms),
        _ => {
            report.at(
                map.perms.span(),
                format!(
                    "{into} has perms \"{}\": shared memory is \"r\" or \"rw\"",
                    map.perms.get_ref()
                ),
            );
            None
        }
    };
    let (ipa, size) = (ipa?, size?);
    if !check_end(&map.ipa, (ipa, size), Space::Ipa, &into, report) {
        return None;
    }
    Some(SharedMapping {
        partition: partition?,
        ipa,
        perms: perms?,
        line,
    })
}
