//! A partition's capability table: slot → (object, rights, badge), built once
//! from the manifest and checked on every IPC hypercall.

use abi::ipc::ObjectKind;
use abi::Error;

use crate::manifest::{CapDesc, MAX_CAP_SLOTS};

/// One capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    /// Kind of the object.
    pub kind: ObjectKind,
    /// Index of the object in its table.
    pub object: u32,
    /// `abi::ipc::rights` bits.
    pub rights: u32,
    /// What a server sees as the holder's identity.
    pub badge: u64,
}

/// The capabilities of one partition.
#[derive(Clone, Debug)]
pub struct CapTable {
    slots: [Option<Cap>; MAX_CAP_SLOTS],
}

impl Default for CapTable {
    fn default() -> Self {
        Self {
            slots: [None; MAX_CAP_SLOTS],
        }
    }
}

impl CapTable {
    /// Builds a table from manifest records (already validated: slots are in
    /// range and unique).
    pub fn from_descs(descs: impl Iterator<Item = CapDesc>) -> Self {
        let mut table = Self::default();
        for d in descs {
            if let Some(slot) = table.slots.get_mut(usize::from(d.slot)) {
                *slot = Some(Cap {
                    kind: d.kind,
                    object: d.object,
                    rights: d.rights,
                    badge: d.badge,
                });
            }
        }
        table
    }

    /// The capability in `slot` if it names an object of `kind` and carries
    /// every bit of `right`. `slot` is the raw register value the partition
    /// passed.
    #[inline(always)]
    pub fn lookup(&self, slot: u64, kind: ObjectKind, right: u32) -> Result<Cap, Error> {
        let cap = usize::try_from(slot)
            .ok()
            .and_then(|s| self.slots.get(s))
            .copied()
            .flatten()
            .filter(|c| c.kind == kind)
            .ok_or(Error::BadCapability)?;
        if cap.rights & right != right {
            return Err(Error::MissingRight);
        }
        Ok(cap)
    }

    /// Every capability naming `kind`, with its slot.
    pub fn of_kind(&self, kind: ObjectKind) -> impl Iterator<Item = (usize, Cap)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(move |(i, c)| c.filter(|c| c.kind == kind).map(|c| (i, c)))
    }
}

#[cfg(test)]
mod tests {
    use abi::ipc::rights;

    use super::*;

    fn table() -> CapTable {
        CapTable::from_descs(
            [
                CapDesc {
                    slot: 0,
                    kind: ObjectKind::Endpoint,
                    rights: rights::CALL,
                    object: 2,
                    badge: 9,
                },
                CapDesc {
                    slot: 3,
                    kind: ObjectKind::Notification,
                    rights: rights::SIGNAL,
                    object: 1,
                    badge: 0,
                },
                CapDesc {
                    slot: 63,
                    kind: ObjectKind::Partition,
                    rights: rights::CONTROL | rights::STATUS,
                    object: 4,
                    badge: 0,
                },
            ]
            .into_iter(),
        )
    }

    #[test]
    fn lookup_finds_a_capability_with_its_badge() {
        let t = table();
        let c = t.lookup(0, ObjectKind::Endpoint, rights::CALL).unwrap();
        assert_eq!((c.object, c.badge), (2, 9));
        assert_eq!(
            t.lookup(63, ObjectKind::Partition, rights::STATUS)
                .unwrap()
                .object,
            4
        );
    }

    #[test]
    fn every_error_path() {
        let t = table();
        // Empty slot, slot past the table, absurd slot values.
        assert_eq!(
            t.lookup(1, ObjectKind::Endpoint, rights::CALL),
            Err(Error::BadCapability)
        );
        assert_eq!(
            t.lookup(64, ObjectKind::Endpoint, rights::CALL),
            Err(Error::BadCapability)
        );
        assert_eq!(
            t.lookup(u64::MAX, ObjectKind::Endpoint, rights::CALL),
            Err(Error::BadCapability)
        );
        // Wrong kind of object.
        assert_eq!(
            t.lookup(3, ObjectKind::Endpoint, rights::CALL),
            Err(Error::BadCapability)
        );
        // Right missing, or only part of the rights asked for.
        assert_eq!(
            t.lookup(0, ObjectKind::Endpoint, rights::RECV),
            Err(Error::MissingRight)
        );
        assert_eq!(
            t.lookup(3, ObjectKind::Notification, rights::WAIT),
            Err(Error::MissingRight)
        );
        assert_eq!(
            t.lookup(0, ObjectKind::Endpoint, rights::CALL | rights::RECV),
            Err(Error::MissingRight)
        );
    }

    #[test]
    fn kinds_can_be_listed() {
        let t = table();
        let parts: Vec<_> = t
            .of_kind(ObjectKind::Partition)
            .map(|(slot, _)| slot)
            .collect();
        assert_eq!(parts, [63]);
    }
}
