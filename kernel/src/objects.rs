//! Kernel objects other than partitions, created once at boot from the
//! manifest: endpoints (with their server context on each CPU) and
//! notifications (a word of bits, a waiter, optional interrupt bindings).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel_core::manifest::{Manifest, NO_INDEX};
use kernel_core::MAX_CPUS;
use spin::{Mutex, Once};

use crate::partition::{self, Request};

/// An endpoint.
pub struct Endpoint {
    /// The serving partition.
    pub server: usize,
    /// The server's vCPU homed on each CPU (its context there), if any.
    pub server_vcpu: [Option<u16>; MAX_CPUS],
}

/// A notification.
pub struct Notification {
    /// Pending bits.
    pub word: AtomicU64,
    /// The vCPU blocked in WAIT on it, if any.
    pub waiter: Mutex<Option<usize>>,
    /// Physical interrupt that signals bit 0 (0 = none).
    pub irq: u32,
    /// Guest virtual interrupt raised by a signal: (partition, INTID).
    pub virq: Option<(usize, u32)>,
}

/// All endpoints and notifications.
pub struct Objects {
    /// Endpoints, by manifest index.
    pub endpoints: Vec<Endpoint>,
    /// Notifications, by manifest index.
    pub notifications: Vec<Notification>,
    /// The supervising partition, if any.
    pub supervisor: Option<usize>,
    /// The notification signalled on faults, if any.
    pub fault_notification: Option<usize>,
}

static OBJECTS: Once<Objects> = Once::new();

/// Builds the objects (after the partitions exist).
pub fn build(manifest: &Manifest<'_>) {
    let system = partition::system();
    let endpoints = (0..manifest.endpoint_count())
        .map(|i| {
            let server = manifest.endpoint(i).server as usize;
            let mut server_vcpu = [None; MAX_CPUS];
            if let Some(p) = system.partitions.get(server) {
                for id in p.first_vcpu..p.first_vcpu + p.vcpu_count {
                    if let Some(v) = system.vcpus.get(id) {
                        if let Some(slot) = server_vcpu.get_mut(v.home) {
                            slot.get_or_insert(id as u16);
                        }
                    }
                }
            }
            Endpoint {
                server,
                server_vcpu,
            }
        })
        .collect();
    let notifications = (0..manifest.notification_count())
        .map(|i| {
            let n = manifest.notification(i);
            Notification {
                word: AtomicU64::new(0),
                waiter: Mutex::new(None),
                irq: n.irq,
                virq: (n.virq_partition != NO_INDEX).then_some((n.virq_partition as usize, n.virq)),
            }
        })
        .collect();
    OBJECTS.call_once(|| Objects {
        endpoints,
        notifications,
        supervisor: manifest.supervisor().map(|s| s as usize),
        fault_notification: manifest.fault_notification().map(|n| n as usize),
    });
}

/// The objects; empty before boot built them.
pub fn objects() -> &'static Objects {
    OBJECTS.call_once(|| Objects {
        endpoints: Vec::new(),
        notifications: Vec::new(),
        supervisor: None,
        fault_notification: None,
    })
}

/// Endpoint `index`.
pub fn endpoint(index: u32) -> Option<&'static Endpoint> {
    objects().endpoints.get(index as usize)
}

/// Notification `index`.
pub fn notification(index: u32) -> Option<&'static Notification> {
    objects().notifications.get(index as usize)
}

/// The notification bound to physical interrupt `intid`, if any.
pub fn notification_for_irq(intid: u32) -> Option<&'static Notification> {
    objects()
        .notifications
        .iter()
        .find(|n| n.irq != 0 && n.irq == intid)
}

/// ORs `bits` into a notification: wakes its waiter (on the waiter's home
/// CPU) and makes its bound guest interrupt pending in the guest's vGIC.
pub fn signal(n: &Notification, bits: u64) {
    n.word.fetch_or(bits, Ordering::AcqRel);
    if let Some(waiter) = n.waiter.lock().take() {
        if let Some(v) = partition::vcpu(waiter) {
            crate::lifecycle::post(v, Request::Notified);
        }
    }
    if let Some((target, intid)) = n.virq {
        crate::vgic::ring_doorbell(target, intid);
    }
}
