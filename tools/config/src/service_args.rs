//! Boot arguments the tool appends to each service partition's
//! `/chosen/bootargs`, so a service learns which of its capability slots does
//! what from the config itself, never from numbers copied by hand.
//!
//! Each is a `key=value` word, added after the config's own `bootargs` and
//! only when it has a value (lists are comma-separated, badges and addresses
//! hexadecimal with `0x`, slots decimal):
//!
//! - `partitions=<slot>:<name>:<policy>,…`: each partition (other than
//!   itself) on which it holds the `control` right, in config order, which is
//!   start order; `<policy>` is `never`, `always` or
//!   `on-crash:<max_restarts>:<restart_window in ms>`.
//! - `faults=<slot>`: its `wait` capability on the fault notification.
//! - `control=<slot>`: the supervisor's first `recv` capability (the
//!   endpoint it takes requests on).
//! - `endpoint_slot=<slot>`: any other service's first `recv` capability
//!   (the endpoint it serves).
//! - `devices=<badge>:<partition>,…`: every emulated device behind an
//!   endpoint it serves, with the name of the partition that has it.
//! - `doorbells=<badge>:<slot>,…`: for those devices with an interrupt, its
//!   `signal` capability on a notification that raises that interrupt in
//!   that partition.
//! - `irq_slot=<slot>`: its first `wait` capability on a notification bound
//!   to a physical IRQ.
//! - `uart=<ipa>`: its first passthrough window of kind `pl011`.

use abi::ipc::rights;

use crate::system::{
    CapObject, Capability, DeviceKind, Partition, PartitionKind, RestartPolicy, System, VirtualIrq,
};

/// Every key this module generates.
pub const GENERATED_KEYS: [&str; 8] = [
    "partitions",
    "faults",
    "control",
    "endpoint_slot",
    "devices",
    "doorbells",
    "irq_slot",
    "uart",
];

/// The generated keys that `bootargs` already sets (as `key=` words).
pub(crate) fn generated_keys_in(bootargs: &str) -> Vec<&'static str> {
    GENERATED_KEYS
        .into_iter()
        .filter(|key| {
            bootargs
                .split_whitespace()
                .any(|word| word.split_once('=').is_some_and(|(k, _)| k == *key))
        })
        .collect()
}

/// The words generated for partition `index` (empty for a guest).
pub fn service_bootargs(system: &System, index: usize) -> Vec<String> {
    let Some(partition) = system.partitions.get(index) else {
        return Vec::new();
    };
    if partition.kind != PartitionKind::Service {
        return Vec::new();
    }
    let mut words = Vec::new();
    let mut push = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            words.push(format!("{key}={value}"));
        }
    };
    push("partitions", Some(partitions(system, index, partition)));
    push("faults", faults(system, partition));
    let served = first_recv_slot(system, partition);
    if partition.supervisor {
        push("control", served);
    } else {
        push("endpoint_slot", served);
    }
    push("devices", Some(devices(system, index)));
    push("doorbells", Some(doorbells(system, index, partition)));
    push("irq_slot", irq_slot(system, partition));
    push("uart", uart(partition));
    words
}

/// Appends the generated words to every service partition's bootargs.
pub(crate) fn add_service_bootargs(system: &mut System) {
    let generated: Vec<Vec<String>> = (0..system.partitions.len())
        .map(|index| service_bootargs(system, index))
        .collect();
    for (partition, words) in system.partitions.iter_mut().zip(generated) {
        if words.is_empty() {
            continue;
        }
        let own = partition.bootargs.take().filter(|b| !b.trim().is_empty());
        let all: Vec<String> = own.into_iter().chain(words).collect();
        partition.bootargs = Some(all.join(" "));
    }
}

/// The first capability of `partition` on `object` with every right in `bits`.
fn slot_on(partition: &Partition, object: CapObject, bits: u32) -> Option<&Capability> {
    partition
        .caps
        .iter()
        .find(|cap| cap.object == object && cap.has(bits))
}

fn policy(partition: &Partition) -> String {
    match partition.restart {
        RestartPolicy::Never => "never".into(),
        RestartPolicy::Always => "always".into(),
        RestartPolicy::OnCrash => format!(
            "on-crash:{}:{}",
            partition.max_restarts, partition.restart_window_ms
        ),
    }
}

fn partitions(system: &System, index: usize, partition: &Partition) -> String {
    let entries: Vec<String> = system
        .partitions
        .iter()
        .enumerate()
        .filter(|&(target, _)| target != index)
        .filter_map(|(target, other)| {
            let cap = slot_on(partition, CapObject::Partition(target), rights::CONTROL)?;
            Some(format!("{}:{}:{}", cap.slot, other.name, policy(other)))
        })
        .collect();
    entries.join(",")
}

fn faults(system: &System, partition: &Partition) -> Option<String> {
    let notification = system.fault_notification()?;
    let cap = slot_on(
        partition,
        CapObject::Notification(notification),
        rights::WAIT,
    )?;
    Some(cap.slot.to_string())
}

fn first_recv_slot(system: &System, partition: &Partition) -> Option<String> {
    let cap = partition.caps.iter().find(|cap| {
        matches!(cap.object, CapObject::Endpoint(e) if system.endpoints.get(e).is_some())
            && cap.has(rights::RECV)
    })?;
    Some(cap.slot.to_string())
}

/// Every device behind an endpoint partition `index` serves, with its
/// partition's index.
fn served_devices(
    system: &System,
    index: usize,
) -> impl Iterator<Item = (usize, &crate::system::EmulatedDevice)> + '_ {
    system
        .partitions
        .iter()
        .enumerate()
        .flat_map(|(owner, p)| p.devices.iter().map(move |d| (owner, d)))
        .filter(move |(_, d)| {
            system
                .endpoints
                .get(d.endpoint)
                .is_some_and(|e| e.server == index)
        })
}

fn devices(system: &System, index: usize) -> String {
    let entries: Vec<String> = served_devices(system, index)
        .filter_map(|(owner, device)| {
            let name = &system.partitions.get(owner)?.name;
            Some(format!("{:#x}:{name}", device.badge))
        })
        .collect();
    entries.join(",")
}

fn doorbells(system: &System, index: usize, partition: &Partition) -> String {
    let entries: Vec<String> = served_devices(system, index)
        .filter_map(|(owner, device)| {
            let virq = VirtualIrq {
                partition: owner,
                intid: device.irq?,
            };
            let cap = partition.caps.iter().find(|cap| {
                let CapObject::Notification(n) = cap.object else {
                    return false;
                };
                cap.has(rights::SIGNAL)
                    && system
                        .notifications
                        .get(n)
                        .is_some_and(|n| n.virq == Some(virq))
            })?;
            Some(format!("{:#x}:{}", device.badge, cap.slot))
        })
        .collect();
    entries.join(",")
}

fn irq_slot(system: &System, partition: &Partition) -> Option<String> {
    let cap = partition.caps.iter().find(|cap| {
        let CapObject::Notification(n) = cap.object else {
            return false;
        };
        cap.has(rights::WAIT) && system.notifications.get(n).is_some_and(|n| n.irq.is_some())
    })?;
    Some(cap.slot.to_string())
}

fn uart(partition: &Partition) -> Option<String> {
    partition
        .passthrough
        .iter()
        .find(|p| p.kind == DeviceKind::Pl011)
        .map(|p| format!("{:#x}", p.ipa))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_found_as_whole_keys() {
        assert_eq!(generated_keys_in("faults=1 x=2"), ["faults"]);
        assert_eq!(generated_keys_in("faultsy=1 uart"), Vec::<&str>::new());
        assert_eq!(
            generated_keys_in("uart=0x1 devices=0x100:a"),
            ["devices", "uart"]
        );
    }
}
