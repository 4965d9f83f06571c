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

/// One slot as stored: the capability, and the word the core's IPC fast
/// path checks instead of decoding it ([`layout`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
struct Slot {
    object: u32,
    /// Bit [`layout::access_bit`]`(kind, right)` for each right held; 0 in
    /// an empty slot.
    access: u32,
    badge: u64,
    rights: u32,
    /// `ObjectKind` as a byte; 0 in an empty slot.
    kind: u8,
    _reserved: [u8; 11],
}

impl Slot {
    fn new(kind: ObjectKind, object: u32, rights: u32, badge: u64) -> Self {
        Self {
            object,
            access: (rights & 0xff) << layout::kind_shift(kind),
            badge,
            rights,
            kind: kind as u8,
            _reserved: [0; 11],
        }
    }

    fn cap(&self) -> Option<Cap> {
        Some(Cap {
            kind: ObjectKind::from_u8(self.kind)?,
            object: self.object,
            rights: self.rights,
            badge: self.badge,
        })
    }
}

/// Where the core's IPC fast path (hand-written assembly, `kernel/src/arch/
/// ipc_fast.rs`) finds a capability: slot `n` is `1 << SLOT_SHIFT` bytes at
/// `SLOTS + (n << SLOT_SHIFT)`; its 64-bit word at `OBJECT` holds the object
/// index (low half) and the access bits (high half), and a kind with one
/// right is one access bit, so a single bit test checks both.
pub mod layout {
    use super::{CapTable, ObjectKind, Slot};

    /// The slots' offset in a [`CapTable`].
    pub const SLOTS: usize = core::mem::offset_of!(CapTable, slots);
    /// log2 of a slot's size.
    pub const SLOT_SHIFT: u32 = 5;
    /// The object index (`u32`), followed by the access bits (`u32`).
    pub const OBJECT: usize = core::mem::offset_of!(Slot, object);
    /// The badge (`u64`).
    pub const BADGE: usize = core::mem::offset_of!(Slot, badge);

    pub(super) const fn kind_shift(kind: ObjectKind) -> u32 {
        8 * (kind as u32 - 1)
    }

    /// The access bit of `right` (one right, below 1 << 8) on `kind`.
    pub const fn access_bit(kind: ObjectKind, right: u32) -> u32 {
        kind_shift(kind) + right.trailing_zeros()
    }

    const _: () = assert!(core::mem::size_of::<Slot>() == 1 << SLOT_SHIFT);
    const _: () = assert!(core::mem::offset_of!(Slot, access) == OBJECT + 4);
    const _: () = assert!(OBJECT.is_multiple_of(8));
}

/// The capabilities of one partition.
#[derive(Clone, Debug)]
pub struct CapTable {
    slots: [Slot; MAX_CAP_SLOTS],
}

impl Default for CapTable {
    fn default() -> Self {
        Self {
            slots: [Slot::default(); MAX_CAP_SLOTS],
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
                *slot = Slot::new(d.kind, d.object, d.rights, d.badge);
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
            .and_then(Slot::cap)
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
            .filter_map(move |(i, s)| s.cap().filter(|c| c.kind == kind).map(|c| (i, c)))
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

    /// What the fast path's bit test answers for `slot`.
    fn access_grants(t: &CapTable, slot: usize, kind: ObjectKind, right: u32) -> bool {
        t.slots[slot].access & 1 << layout::access_bit(kind, right) != 0
    }

    #[test]
    fn the_access_bit_answers_as_lookup_does() {
        let t = table();
        let kinds = [
            ObjectKind::Endpoint,
            ObjectKind::Notification,
            ObjectKind::Partition,
        ];
        for slot in [0, 1, 3, 63] {
            for kind in kinds {
                for right in (0..6).map(|b| 1 << b) {
                    assert_eq!(
                        access_grants(&t, slot, kind, right),
                        t.lookup(slot as u64, kind, right).is_ok(),
                        "slot {slot}, {kind:?}, right {right:#x}"
                    );
                }
            }
        }
        // Rights past the low byte never reach another kind's bits.
        let odd = CapTable::from_descs(
            [CapDesc {
                slot: 0,
                kind: ObjectKind::Endpoint,
                rights: 0xff00 | rights::CALL,
                object: 1,
                badge: 0,
            }]
            .into_iter(),
        );
        assert!(access_grants(&odd, 0, ObjectKind::Endpoint, rights::CALL));
        assert!(!access_grants(
            &odd,
            0,
            ObjectKind::Notification,
            rights::CALL
        ));
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
