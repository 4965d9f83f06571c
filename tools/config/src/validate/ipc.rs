//! Whole-system rules of capability IPC: who may serve an endpoint and from
//! which CPUs it can be called, who supervises, and who may touch the fault
//! notification.
//!
//! The fast-path rule: a call (or a guest's access to an emulated device)
//! runs the endpoint's server on the caller's own CPU, in the server's first
//! vCPU that has that CPU as its home (further vCPUs on the CPU are free for
//! other work, such as waiting for input). So the server needs a vCPU on
//! every CPU any of its callers runs on, and a partition never calls an
//! endpoint it serves itself (it would wait for itself).

use std::collections::{BTreeSet, HashMap};

use abi::ipc::rights;

use super::Checked;
use crate::diagnostics::{join_and, Reporter};
use crate::system::{CapObject, Capability, Endpoint, Partition};

/// Runs every IPC rule.
pub(super) fn check(checked: &Checked<'_>, report: &mut Reporter<'_>) {
    check_servers(checked, report);
    check_receivers(checked, report);
    check_callers(checked, report);
    check_device_badges(checked, report);
    let supervisor = check_supervisor(checked, report);
    check_fault_notification(checked, supervisor, report);
}

/// The capabilities of `partition` on endpoint `endpoint` with every right in `bits`.
fn caps_on(
    partition: &Partition,
    object: CapObject,
    bits: u32,
) -> impl Iterator<Item = &Capability> + '_ {
    partition
        .caps
        .iter()
        .filter(move |cap| cap.object == object && cap.has(bits))
}

/// "CPU 1" or "CPUs 1 and 2".
fn cpu_list(cpus: &BTreeSet<u32>) -> String {
    let numbers: Vec<String> = cpus.iter().map(u32::to_string).collect();
    let plural = if cpus.len() == 1 { "CPU" } else { "CPUs" };
    format!("{plural} {}", join_and(&numbers))
}

/// A server holds a capability to receive on each endpoint it serves.
fn check_servers(checked: &Checked<'_>, report: &mut Reporter<'_>) {
    for (index, endpoint) in checked.endpoints() {
        let Some(server) = checked.partition(endpoint.server) else {
            continue;
        };
        if caps_on(server, CapObject::Endpoint(index), rights::RECV)
            .next()
            .is_none()
        {
            report.at_line(
                Some(endpoint.line),
                format!(
                    "endpoint \"{}\" is served by partition \"{}\", which holds no capability with the \"recv\" right on it, so no call to it could ever be answered",
                    endpoint.name, server.name
                ),
            );
        }
    }
}

/// Only an endpoint's server may receive on it.
fn check_receivers(checked: &Checked<'_>, report: &mut Reporter<'_>) {
    for (index, partition) in checked.partitions() {
        for cap in &partition.caps {
            let CapObject::Endpoint(endpoint_index) = cap.object else {
                continue;
            };
            let Some(endpoint) = checked.endpoint(endpoint_index) else {
                continue;
            };
            if cap.has(rights::RECV) && endpoint.server != index {
                report.at_line(
                    Some(cap.line),
                    format!(
                        "partition \"{}\": capability in slot {} has the \"recv\" right on endpoint \"{}\", which partition \"{}\" serves: only an endpoint's server receives on it",
                        partition.name,
                        cap.slot,
                        endpoint.name,
                        checked.partition_name(endpoint.server)
                    ),
                );
            }
        }
    }
}

/// Every caller (a capability with the call right, or an emulated device)
/// runs only on CPUs where the endpoint's server has a vCPU, and is not the
/// server itself.
fn check_callers(checked: &Checked<'_>, report: &mut Reporter<'_>) {
    for (index, partition) in checked.partitions() {
        let calls = partition
            .caps
            .iter()
            .filter(|cap| cap.has(rights::CALL))
            .filter_map(|cap| match cap.object {
                CapObject::Endpoint(endpoint) => Some((
                    endpoint,
                    cap.line,
                    format!("capability in slot {} calls", cap.slot),
                )),
                _ => None,
            });
        let devices = partition.devices.iter().map(|device| {
            (
                device.endpoint,
                device.line,
                format!(
                    "{} device at {:#x} is emulated by",
                    device.kind.name(),
                    device.ipa
                ),
            )
        });
        for (endpoint_index, line, uses) in calls.chain(devices).collect::<Vec<_>>() {
            let Some(endpoint) = checked.endpoint(endpoint_index) else {
                continue;
            };
            check_caller(checked, index, partition, endpoint, line, &uses, report);
        }
    }
}

/// One caller of `endpoint`: partition `index`, through what `uses` says.
fn check_caller(
    checked: &Checked<'_>,
    index: usize,
    partition: &Partition,
    endpoint: &Endpoint,
    line: usize,
    uses: &str,
    report: &mut Reporter<'_>,
) {
    let who = format!("partition \"{}\"", partition.name);
    if endpoint.server == index {
        report.at_line(
            Some(line),
            format!(
                "{who}: {uses} endpoint \"{}\", which the partition serves itself: the call would wait for itself",
                endpoint.name
            ),
        );
        return;
    }
    let Some(server) = checked.partition(endpoint.server) else {
        return;
    };
    let missing: BTreeSet<u32> = partition
        .cpus()
        .filter(|&cpu| !server.runs_on(cpu))
        .collect();
    if !missing.is_empty() {
        let cpus = cpu_list(&missing);
        report.at_line(
            Some(line),
            format!(
                "{who}: {uses} endpoint \"{}\" from {cpus}, where its server \"{}\" has no vCPU: a call runs the server on the caller's CPU, so give \"{}\" a vCPU on {cpus}",
                endpoint.name, server.name, server.name
            ),
        );
    }
}

/// The devices behind one endpoint have distinct badges: the badge is all
/// the service learns about which device was accessed.
fn check_device_badges(checked: &Checked<'_>, report: &mut Reporter<'_>) {
    let mut seen: HashMap<(usize, u64), (String, usize)> = HashMap::new();
    for (_, partition) in checked.partitions() {
        for device in &partition.devices {
            let key = (device.endpoint, device.badge);
            match seen.get(&key) {
                Some((owner, line)) => report.at_line(
                    Some(device.line),
                    format!(
                        "partition \"{}\": {} device at {:#x} has badge {:#x}, which the device of partition \"{owner}\" on line {line} already has on endpoint \"{}\": the service could not tell them apart",
                        partition.name,
                        device.kind.name(),
                        device.ipa,
                        device.badge,
                        checked.endpoint(device.endpoint).map_or("?", |e| e.name.as_str())
                    ),
                ),
                None => {
                    seen.insert(key, (partition.name.clone(), device.line));
                }
            }
        }
    }
}

/// At most one supervisor; with one, the core starts only it, so it must
/// hold the "control" right on every other partition. Returns its index.
fn check_supervisor(checked: &Checked<'_>, report: &mut Reporter<'_>) -> Option<usize> {
    let mut supervisors = checked.partitions().filter(|(_, p)| p.supervisor);
    let (index, supervisor) = supervisors.next()?;
    let mut extra = false;
    for (_, other) in supervisors {
        extra = true;
        report.at_line(
            Some(other.line),
            format!(
                "partition \"{}\" is a supervisor, but partition \"{}\" on line {} already is: a system has at most one",
                other.name, supervisor.name, supervisor.line
            ),
        );
    }
    if extra {
        return None;
    }
    for (other_index, other) in checked.partitions() {
        if other_index == index {
            continue;
        }
        if caps_on(
            supervisor,
            CapObject::Partition(other_index),
            rights::CONTROL,
        )
        .next()
        .is_none()
        {
            report.at_line(
                Some(supervisor.line),
                format!(
                    "partition \"{}\" is the supervisor, so the core starts only it, but it holds no capability with the \"control\" right on partition \"{}\", which would never start",
                    supervisor.name, other.name
                ),
            );
        }
    }
    Some(index)
}

/// The fault notification goes to the supervisor alone: it waits on it, and
/// no one else holds it (a second waiter would consume fault reports, a
/// signaller could forge them).
fn check_fault_notification(
    checked: &Checked<'_>,
    supervisor: Option<usize>,
    report: &mut Reporter<'_>,
) {
    let Some((index, notification)) = checked.notifications().find(|(_, n)| n.faults) else {
        return;
    };
    if supervisor.is_none() && checked.supervisor_declared {
        // The supervisor has problems of its own (or there are two):
        // who should hold the notification is not known.
        return;
    }
    let object = CapObject::Notification(index);
    let who = format!("notification \"{}\"", notification.name);
    match supervisor.and_then(|s| checked.partition(s)) {
        None => report.at_line(
            Some(notification.line),
            format!(
                "{who} carries fault reports, but no partition is the supervisor (supervisor = true) to receive them"
            ),
        ),
        Some(supervisor) if caps_on(supervisor, object, rights::WAIT).next().is_none() => report
            .at_line(
                Some(notification.line),
                format!(
                    "{who} carries fault reports, but the supervisor \"{}\" holds no capability with the \"wait\" right on it",
                    supervisor.name
                ),
            ),
        _ => {}
    }
    for (holder_index, holder) in checked.partitions() {
        for cap in holder.caps.iter().filter(|cap| cap.object == object) {
            let is_supervisor = supervisor == Some(holder_index);
            let why = if !is_supervisor {
                "only the supervisor may hold it"
            } else if cap.has(rights::SIGNAL) {
                "only the core signals it"
            } else {
                continue;
            };
            report.at_line(
                Some(cap.line),
                format!(
                    "partition \"{}\": capability in slot {} is on {}, which carries fault reports: {why}",
                    holder.name,
                    cap.slot,
                    who
                ),
            );
        }
    }
}
