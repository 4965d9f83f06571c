//! Capability-checked IPC: function ids, rights, message layout and status
//! words of the calls partitions use to talk to each other and to the core.
//!
//! Every call names a capability by its slot in the caller's capability table
//! (x1). A capability is (object, rights, badge): the core checks the slot
//! holds an object of the right kind and the right the call needs, and tells a
//! server who called only through the badge the configuration gave the
//! caller's capability, never through anything the caller claims.
//!
//! Register use (SMC64 convention; results may use x0–x5, as SMCCC 1.2
//! allows for SMC64/HVC64 calls):
//!
//! | call | arguments | results |
//! |---|---|---|
//! | `CALL` | x1 = endpoint slot, x2..x6 = message | x0 = status, x1..x5 = reply |
//! | `RECV` | x1 = endpoint slot | x0 = status, x1 = badge, x2..x6 = message |
//! | `REPLY_RECV` | x1 = endpoint slot, x2..x6 = reply to the last message | as `RECV` |
//! | `MMIO_PUBLISH` | x1 = endpoint slot, x2 = device badge, x3 = offset, x4 = kind, x5 = value | x0 = status |
//! | `MMIO_DRAIN` | x1 = endpoint slot, x2 = device badge, x3 = notification slot, x4 = bits | x0 = status, x1 = count and flags, x2..x6 = writes |
//! | `SIGNAL` | x1 = notification slot, x2 = bits | x0 = status |
//! | `WAIT` | x1 = notification slot | x0 = status, x1 = bits (now cleared) |
//! | `POLL` | x1 = notification slot | x0 = status, x1 = bits (now cleared) |
//! | `IRQ_ACK` | x1 = notification slot | x0 = status |
//! | `PARTITION_CONTROL` | x1 = partition slot, x2 = [`control`] op | x0 = status |
//! | `PARTITION_STATUS` | x1 = partition slot | x0 = status, x1..x5 = [`PartitionStatus`] words |

use crate::hvc::BASE;

/// Sends a message on an endpoint and waits for the reply.
pub const CALL: u32 = BASE + 0x10;
/// Waits for a message on an endpoint the caller serves.
pub const RECV: u32 = BASE + 0x11;
/// Replies to the message being handled, then waits for the next one.
pub const REPLY_RECV: u32 = BASE + 0x12;
/// The service behind an emulated device window publishes a register's
/// value (the core answers loads) or declares it posted (the core queues
/// stores); see [`crate::posted_mmio`].
pub const MMIO_PUBLISH: u32 = BASE + 0x13;
/// The service behind an emulated device window takes the stores the core
/// queued, and may arm a notification for the next one; see
/// [`crate::posted_mmio`].
pub const MMIO_DRAIN: u32 = BASE + 0x14;
/// ORs bits into a notification, waking its waiter.
pub const SIGNAL: u32 = BASE + 0x18;
/// Waits until a notification has bits set; returns and clears them.
pub const WAIT: u32 = BASE + 0x19;
/// Returns and clears a notification's bits without waiting.
pub const POLL: u32 = BASE + 0x1A;
/// Re-enables the physical interrupt bound to a notification, after the
/// holder has serviced the device.
pub const IRQ_ACK: u32 = BASE + 0x1B;
/// Starts, stops or restarts a partition.
pub const PARTITION_CONTROL: u32 = BASE + 0x20;
/// Reads a partition's state and counters.
pub const PARTITION_STATUS: u32 = BASE + 0x21;

/// Words in a message or a reply (x2..x6 on the way in, x1..x5 / x2..x6 out).
pub const MESSAGE_WORDS: usize = 5;

/// Capability rights, as bits.
pub mod rights {
    /// Endpoint: may `CALL`.
    pub const CALL: u32 = 1 << 0;
    /// Endpoint: may `RECV` / `REPLY_RECV` (serve it).
    pub const RECV: u32 = 1 << 1;
    /// Notification: may `SIGNAL`.
    pub const SIGNAL: u32 = 1 << 2;
    /// Notification: may `WAIT`, `POLL` and `IRQ_ACK`.
    pub const WAIT: u32 = 1 << 3;
    /// Partition: may start, stop and restart it.
    pub const CONTROL: u32 = 1 << 4;
    /// Partition: may read its state and counters.
    pub const STATUS: u32 = 1 << 5;
    /// Every defined right.
    pub const ALL: u32 = CALL | RECV | SIGNAL | WAIT | CONTROL | STATUS;
}

/// Kinds of object a capability can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ObjectKind {
    /// A synchronous endpoint.
    Endpoint = 1,
    /// A notification word.
    Notification = 2,
    /// A partition (for the vmm).
    Partition = 3,
}

impl ObjectKind {
    /// Decodes a manifest byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Endpoint,
            2 => Self::Notification,
            3 => Self::Partition,
            _ => return None,
        })
    }

    /// The rights that make sense on this kind of object.
    pub fn valid_rights(self) -> u32 {
        match self {
            Self::Endpoint => rights::CALL | rights::RECV,
            Self::Notification => rights::SIGNAL | rights::WAIT,
            Self::Partition => rights::CONTROL | rights::STATUS,
        }
    }
}

/// `PARTITION_CONTROL` operations (x2).
pub mod control {
    /// Start a stopped partition from its pristine image.
    pub const START: u64 = 1;
    /// Stop a running partition.
    pub const STOP: u64 = 2;
    /// Stop it if running, then start it again from its pristine image.
    pub const RESTART: u64 = 3;
}

/// Lifecycle state as `PARTITION_STATUS` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PartitionState {
    /// Its vCPUs run.
    Running = 0,
    /// Being stopped or restarted.
    Stopping = 1,
    /// Stopped: powered off, or stopped by the vmm.
    Stopped = 2,
    /// Stopped after a fault; waiting for its supervisor.
    Faulted = 3,
}

impl PartitionState {
    /// Decodes a status word byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Running,
            1 => Self::Stopping,
            2 => Self::Stopped,
            3 => Self::Faulted,
            _ => return None,
        })
    }

    /// Lower-case name for status tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Faulted => "faulted",
        }
    }
}

/// What `PARTITION_STATUS` returns, packed into x1..x5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionStatus {
    /// Lifecycle state.
    pub state: PartitionState,
    /// Restarts since boot.
    pub restarts: u32,
    /// Faults since boot.
    pub faults: u32,
    /// Exceptions the core handled for it (hypercalls, aborts, WFx, IRQs).
    pub traps: u64,
    /// Virtual interrupts the core injected into it.
    pub injected_irqs: u64,
    /// IPC calls it made.
    pub ipc_calls: u64,
}

impl PartitionStatus {
    /// Packs into x1..x5: x1 = state | restarts << 8 (24 bits) | faults << 32,
    /// x2 = traps, x3 = injected IRQs, x4 = IPC calls, x5 = 0.
    pub fn to_words(self) -> [u64; MESSAGE_WORDS] {
        [
            self.state as u64
                | u64::from(self.restarts & 0xff_ffff) << 8
                | u64::from(self.faults) << 32,
            self.traps,
            self.injected_irqs,
            self.ipc_calls,
            0,
        ]
    }

    /// Unpacks x1..x5; `None` for an unknown state.
    pub fn from_words(w: [u64; MESSAGE_WORDS]) -> Option<Self> {
        Some(Self {
            state: PartitionState::from_u8((w[0] & 0xff) as u8)?,
            restarts: ((w[0] >> 8) & 0xff_ffff) as u32,
            faults: (w[0] >> 32) as u32,
            traps: w[1],
            injected_irqs: w[2],
            ipc_calls: w[3],
        })
    }
}

/// Emulated-device accesses arrive at the backing service as messages on its
/// endpoint, with the badge the config gave the device, laid out as follows.
pub mod mmio {
    use super::MESSAGE_WORDS;

    /// Tag in the top 32 bits of word 0 that marks an MMIO access message.
    pub const TAG: u64 = 0x4D4D_494F << 32; // "MMIO"

    /// One access by a guest to an emulated device window.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Access {
        /// Store (true) or load.
        pub write: bool,
        /// Access size in bytes: 1, 2, 4 or 8.
        pub size: u8,
        /// Offset of the access inside the device window.
        pub offset: u64,
        /// The value stored (for a write), zero-extended.
        pub value: u64,
        /// Index of the guest vCPU that made the access.
        pub vcpu: u32,
    }

    impl Access {
        /// Packs: word 0 = TAG | write << 8 | size, word 1 = offset,
        /// word 2 = value, word 3 = vCPU index.
        pub fn to_words(self) -> [u64; MESSAGE_WORDS] {
            [
                TAG | u64::from(self.write) << 8 | u64::from(self.size),
                self.offset,
                self.value,
                u64::from(self.vcpu),
                0,
            ]
        }

        /// Unpacks a message; `None` if it is not an MMIO access.
        pub fn from_words(w: [u64; MESSAGE_WORDS]) -> Option<Self> {
            if w[0] & 0xFFFF_FFFF_0000_0000 != TAG {
                return None;
            }
            let size = (w[0] & 0xff) as u8;
            if !matches!(size, 1 | 2 | 4 | 8) {
                return None;
            }
            Some(Self {
                write: w[0] & (1 << 8) != 0,
                size,
                offset: w[1],
                value: w[2],
                vcpu: w[3] as u32,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        let s = PartitionStatus {
            state: PartitionState::Faulted,
            restarts: 7,
            faults: 9,
            traps: 123_456,
            injected_irqs: 42,
            ipc_calls: 1000,
        };
        assert_eq!(PartitionStatus::from_words(s.to_words()), Some(s));
        assert_eq!(PartitionStatus::from_words([0xff, 0, 0, 0, 0]), None);
    }

    #[test]
    fn mmio_access_round_trips() {
        let a = mmio::Access {
            write: true,
            size: 4,
            offset: 0x18,
            value: 0xdead_beef,
            vcpu: 1,
        };
        assert_eq!(mmio::Access::from_words(a.to_words()), Some(a));
        assert_eq!(mmio::Access::from_words([1, 2, 3, 4, 5]), None);
        assert_eq!(mmio::Access::from_words([mmio::TAG | 3, 0, 0, 0, 0]), None);
    }

    #[test]
    fn rights_fit_kinds() {
        assert_eq!(ObjectKind::Endpoint.valid_rights() & rights::SIGNAL, 0);
        for k in [1u8, 2, 3] {
            let kind = ObjectKind::from_u8(k).unwrap();
            assert_eq!(kind.valid_rights() & !rights::ALL, 0);
        }
        assert_eq!(ObjectKind::from_u8(0), None);
    }
}
