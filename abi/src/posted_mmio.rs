//! Posted MMIO: the register layout of `MMIO_PUBLISH` and `MMIO_DRAIN`
//! ([`crate::ipc::MMIO_PUBLISH`], [`crate::ipc::MMIO_DRAIN`]), with which the
//! service behind an emulated device window lets the core answer some of the
//! guest's accesses without a switch to the service — KVM's coalesced MMIO,
//! capability-checked and per window.
//!
//! - A register published [`kind::READ`] with a 32-bit value: the core
//!   completes the guest's loads of 1, 2 or 4 bytes inside that word from
//!   the value, truncated and sign-extended as the instruction asks. The
//!   service republishes whenever the value changes; the value must not
//!   depend on writes still queued (they have, for the guest, already
//!   happened).
//! - A register published [`kind::POSTED`]: the core queues the guest's
//!   stores of 1, 2 or 4 bytes at exactly that offset, in order, and the
//!   guest goes on. The service takes them with `MMIO_DRAIN`, five at a
//!   time, as [`PostedWrite`]s. While the queue is full, a store takes the
//!   synchronous path; the service drains the queue before it handles any
//!   synchronous access from that window, so queued writes happen first.
//! - [`kind::NONE`] forgets a register.
//! - [`kind::MAP_READS`] (a window of exactly one [`REGISTER_PAGE`]): the
//!   core maps the window's register page — the published `READ` values,
//!   zero at every other offset — read-only into the guest, so its loads
//!   anywhere in the window complete without even a trap; stores still trap
//!   (posted or synchronous). The service promises that every register a
//!   guest may read is published and that no load has a side effect (a
//!   receive FIFO to pop): before that changes it sends
//!   [`kind::TRAP_READS`], and once that returns every load of the guest's
//!   traps again (the core invalidated the guest's translations of the
//!   page on every CPU). A republished value reaches the page at once; a
//!   guest load racing it reads the old word or the new one.
//!
//! `READ` values are kept in the register page, so they can be published
//! only below [`REGISTER_PAGE`]; `POSTED` registers take one of
//! [`MAX_REGISTERS`] entries.
//!
//! Everything else in the window (other offsets, other widths, 8-byte
//! accesses, a load of a posted register) stays a synchronous message,
//! except that while reads are mapped every load is served by the page.
//!
//! Registers (SMC64; both calls need the `recv` right on the endpoint behind
//! the window, and name the window by the badge the configuration gave it):
//!
//! | call | arguments | results |
//! |---|---|---|
//! | `MMIO_PUBLISH` | x1 = endpoint slot, x2 = window badge, x3 = offset, x4 = [`kind`], x5 = value (`READ`) | x0 = status |
//! | `MMIO_DRAIN` | x1 = endpoint slot, x2 = window badge, x3 = notification slot, x4 = bits (0: none) | x0 = status, x1 = [`DrainStatus`], x2..x6 = [`PostedWrite`]s |

/// Registers a window can have declared `POSTED` at once.
pub const MAX_REGISTERS: usize = 8;

/// Bytes of a window's register page: `READ` offsets lie below it, and
/// [`kind::MAP_READS`] needs a window of exactly this size (4 KiB, the
/// stage-2 page).
pub const REGISTER_PAGE: u64 = 4096;

/// Writes the core queues per window before a posted store takes the
/// synchronous path (8 KiB a window): a screenful of text, so a service
/// that drains a few milliseconds after it is woken takes a whole burst at
/// once.
pub const QUEUE_CAPACITY: usize = 1024;

/// Writes one `MMIO_DRAIN` returns at most (x2..x6).
pub const DRAIN_MAX: usize = 5;

/// Offsets a register can be published at: below this (and inside the
/// window), 4-byte aligned. The limit is what a [`PostedWrite`] word holds.
pub const OFFSET_LIMIT: u64 = 1 << 20;

/// `MMIO_PUBLISH` kinds (x4).
pub mod kind {
    /// Forget the register: its accesses are synchronous messages again.
    pub const NONE: u64 = 0;
    /// Loads inside the word read x5; the core answers them.
    pub const READ: u64 = 1;
    /// Stores at the offset are queued for `MMIO_DRAIN`.
    pub const POSTED: u64 = 2;
    /// Offset 0: map the register page read-only into the guest; its loads
    /// stop trapping.
    pub const MAP_READS: u64 = 3;
    /// Offset 0: unmap the register page; the guest's loads trap again.
    pub const TRAP_READS: u64 = 4;
}

/// One store the core queued: packed into one word as value (bits 31:0),
/// offset in the window (bits 51:32), size in bytes (bits 55:52: 1, 2 or 4)
/// and the index of the guest vCPU that made it (bits 63:56).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostedWrite {
    /// The value stored, zero-extended from `size` bytes.
    pub value: u32,
    /// Offset of the store in the window (below [`OFFSET_LIMIT`]).
    pub offset: u32,
    /// Bytes stored: 1, 2 or 4.
    pub size: u8,
    /// The guest vCPU that stored it.
    pub vcpu: u8,
}

impl PostedWrite {
    /// The packed word.
    pub const fn to_word(self) -> u64 {
        self.value as u64
            | ((self.offset as u64) & (OFFSET_LIMIT - 1)) << 32
            | ((self.size as u64) & 0xF) << 52
            | (self.vcpu as u64) << 56
    }

    /// Unpacks a word; `None` if its size is not 1, 2 or 4 (an unused word).
    pub fn from_word(word: u64) -> Option<Self> {
        let size = ((word >> 52) & 0xF) as u8;
        matches!(size, 1 | 2 | 4).then_some(Self {
            value: word as u32,
            offset: ((word >> 32) & (OFFSET_LIMIT - 1)) as u32,
            size,
            vcpu: (word >> 56) as u8,
        })
    }

    /// The store as the synchronous message would have carried it, so a
    /// service handles drained and synchronous stores alike.
    pub fn to_access(self) -> crate::ipc::mmio::Access {
        crate::ipc::mmio::Access {
            write: true,
            size: self.size,
            offset: u64::from(self.offset),
            value: u64::from(self.value),
            vcpu: u32::from(self.vcpu),
        }
    }
}

/// x1 of an `MMIO_DRAIN` result: how many of x2..x6 hold writes (bits 7:0),
/// whether more writes remain queued (bit 8) and whether the notification
/// was armed (bit 9: the queue is empty and the next queued write signals
/// it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainStatus {
    /// Writes returned, 0..=[`DRAIN_MAX`].
    pub count: u8,
    /// More writes wait: drain again.
    pub more: bool,
    /// The notification named in x3/x4 is armed.
    pub armed: bool,
}

impl DrainStatus {
    const MORE: u64 = 1 << 8;
    const ARMED: u64 = 1 << 9;

    /// The packed x1.
    pub const fn to_word(self) -> u64 {
        self.count as u64
            | if self.more { Self::MORE } else { 0 }
            | if self.armed { Self::ARMED } else { 0 }
    }

    /// Unpacks x1; `None` for a count above [`DRAIN_MAX`] or unknown bits.
    pub fn from_word(word: u64) -> Option<Self> {
        let count = (word & 0xFF) as u8;
        (usize::from(count) <= DRAIN_MAX && word & !(0xFF | Self::MORE | Self::ARMED) == 0)
            .then_some(Self {
                count,
                more: word & Self::MORE != 0,
                armed: word & Self::ARMED != 0,
            })
    }
}

/// What one `MMIO_DRAIN` returned: its status and up to five writes, oldest
/// first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Count, more, armed.
    pub status: DrainStatus,
    /// x2..x6 as returned; the first `status.count` hold writes.
    pub words: [u64; DRAIN_MAX],
}

impl Drained {
    /// Decodes x1..x6; `None` if x1 is malformed or a counted word holds no
    /// write (the core broke the ABI).
    pub fn from_registers(x1: u64, words: [u64; DRAIN_MAX]) -> Option<Self> {
        let status = DrainStatus::from_word(x1)?;
        let drained = Self { status, words };
        drained
            .counted()
            .iter()
            .all(|&word| PostedWrite::from_word(word).is_some())
            .then_some(drained)
    }

    fn counted(&self) -> &[u64] {
        self.words
            .get(..usize::from(self.status.count))
            .unwrap_or(&[])
    }

    /// The writes, oldest first.
    pub fn writes(&self) -> impl Iterator<Item = PostedWrite> + '_ {
        self.counted()
            .iter()
            .filter_map(|&word| PostedWrite::from_word(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_writes_round_trip() {
        for write in [
            PostedWrite {
                value: 0xdead_beef,
                offset: 0xF_FFFC,
                size: 4,
                vcpu: 7,
            },
            PostedWrite {
                value: 0x41,
                offset: 0,
                size: 1,
                vcpu: 0,
            },
            PostedWrite {
                value: 0xFFFF,
                offset: 0x18,
                size: 2,
                vcpu: 255,
            },
        ] {
            assert_eq!(PostedWrite::from_word(write.to_word()), Some(write));
        }
        assert_eq!(PostedWrite::from_word(0), None, "an unused word");
        assert_eq!(
            PostedWrite::from_word(8 << 52),
            None,
            "8 bytes are never posted"
        );
    }

    #[test]
    fn a_posted_write_is_the_access_it_replaces() {
        let write = PostedWrite {
            value: 0x41,
            offset: 0,
            size: 1,
            vcpu: 1,
        };
        let access = write.to_access();
        assert!(access.write);
        assert_eq!(
            (access.size, access.offset, access.value, access.vcpu),
            (1, 0, 0x41, 1)
        );
    }

    #[test]
    fn drain_status_round_trips_and_rejects_garbage() {
        for status in [
            DrainStatus::default(),
            DrainStatus {
                count: 5,
                more: true,
                armed: false,
            },
            DrainStatus {
                count: 0,
                more: false,
                armed: true,
            },
        ] {
            assert_eq!(DrainStatus::from_word(status.to_word()), Some(status));
        }
        assert_eq!(DrainStatus::from_word(6), None);
        assert_eq!(DrainStatus::from_word(1 << 10), None);
    }

    #[test]
    fn drained_words_are_checked() {
        let write = PostedWrite {
            value: 0x61,
            offset: 0,
            size: 1,
            vcpu: 0,
        };
        let drained =
            Drained::from_registers(2, [write.to_word(), write.to_word(), 0, 0, 0]).unwrap();
        assert_eq!(drained.writes().count(), 2);
        // A counted word with no write in it.
        assert_eq!(
            Drained::from_registers(3, [write.to_word(), write.to_word(), 0, 0, 0]),
            None
        );
    }
}
