//! The Bulkhead hypercall ABI: SMCCC function ids, PSCI ids, error codes and the
//! register layout of every call, shared by the core, partitions and host tools.
//!
//! Calls are SMCCC-compliant `HVC #0` (or `SMC #0`, which the core traps and routes
//! the same way): function id in w0, arguments in x1–x6, results in x0–x3.
//! Bulkhead's own calls live in the SMCCC *vendor-specific hypervisor service*
//! range (owner 6), fast calls, SMC64 convention. See `docs/abi.md`.
#![no_std]
#![forbid(unsafe_code)]

pub mod ipc;
pub mod posted_mmio;
pub mod psci;
pub mod smccc;

/// Bulkhead vendor-hypervisor calls (SMCCC owner 6, fast, SMC64).
pub mod hvc {
    /// Base of the Bulkhead range: fast call (bit 31), SMC64 (bit 30), owner 6.
    pub const BASE: u32 = 0xC600_0000;
    /// Does nothing and returns `SUCCESS`: the cheapest round trip, used to
    /// measure trap overhead.
    pub const NULL: u32 = BASE;
    /// Writes bytes to the partition's console line. x1 = byte count (0..=40),
    /// x2..x6 = the bytes, little-endian, 8 per register. The core prints whole
    /// lines prefixed with `[<partition name>] `.
    pub const CONSOLE_WRITE: u32 = BASE + 1;
    /// Returns x0 = SUCCESS, x1 = partition id, x2 = calling vCPU index,
    /// x3 = how many times the partition has been restarted since boot.
    pub const PARTITION_INFO: u32 = BASE + 2;
    /// The partition declares itself crashed: x1 = reason ([`ABORT_PANIC`] or
    /// [`ABORT_EXCEPTION`]); with `ABORT_EXCEPTION`, x2 = ESR_EL1, x3 = ELR_EL1,
    /// x4 = FAR_EL1 of the exception its own vectors could not handle. The core
    /// reports a fault naming the cause, as for a trapped exception, and applies
    /// the partition's restart policy. Does not return.
    pub const ABORT: u32 = BASE + 3;
    /// The partition is about to print on the board UART the core logs on,
    /// which it holds as a passed-through device (the console service):
    /// until `UART_RELEASE`, the core keeps its own lines back instead of
    /// writing them in the middle of the partition's. `SUCCESS`, or
    /// `DENIED` if the partition does not hold that UART or another does
    /// the claiming.
    pub const UART_CLAIM: u32 = BASE + 4;
    /// Ends a `UART_CLAIM`: the core prints the lines it kept back. Always
    /// `SUCCESS`; nothing happens without a claim. A claim also ends when
    /// the partition stops.
    pub const UART_RELEASE: u32 = BASE + 5;

    /// `ABORT` reason: the partition's program panicked.
    pub const ABORT_PANIC: u64 = 0;
    /// `ABORT` reason: an exception the partition's own vectors cannot handle.
    pub const ABORT_EXCEPTION: u64 = 1;

    /// Most bytes one `CONSOLE_WRITE` carries (x2..x6).
    pub const CONSOLE_WRITE_MAX: usize = 40;

    /// SMCCC standard query: number of calls in the range (SMC32, owner 6).
    pub const CALL_COUNT: u32 = 0x8600_FF00;
    /// SMCCC standard query: the UID of the hypervisor (SMC32, owner 6).
    pub const CALL_UID: u32 = 0x8600_FF01;
    /// SMCCC standard query: the revision of the ABI (SMC32, owner 6).
    pub const REVISION: u32 = 0x8600_FF03;

    /// Bulkhead's UID as returned by `CALL_UID` in w0..w3.
    pub const UID: [u32; 4] = [0x6b6c_7542, 0x6461_6568, 0x0001_0000, 0x4248_4b48];
    /// ABI revision (major, minor).
    pub const ABI_REVISION: (u32, u32) = (0, 4);
    /// Number of calls implemented in the Bulkhead range.
    pub const IMPLEMENTED_CALLS: u32 = 17;

    /// Packs up to [`CONSOLE_WRITE_MAX`] bytes into the five argument words of
    /// `CONSOLE_WRITE`; returns the words and how many bytes were taken.
    pub fn pack_console_bytes(bytes: &[u8]) -> ([u64; 5], usize) {
        let n = bytes.len().min(CONSOLE_WRITE_MAX);
        let mut words = [0u64; 5];
        for (i, b) in bytes.iter().take(n).enumerate() {
            words[i / 8] |= u64::from(*b) << ((i % 8) * 8);
        }
        (words, n)
    }

    /// Unpacks the bytes of a `CONSOLE_WRITE`; `len` is clamped to the maximum.
    pub fn unpack_console_bytes(
        len: u64,
        words: [u64; 5],
        out: &mut [u8; CONSOLE_WRITE_MAX],
    ) -> usize {
        let n = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(CONSOLE_WRITE_MAX);
        for (i, slot) in out.iter_mut().take(n).enumerate() {
            *slot = (words[i / 8] >> ((i % 8) * 8)) as u8;
        }
        n
    }
}

/// Error codes returned in x0. They follow SMCCC/PSCI numbering where the
/// meaning matches, so a PSCI caller and a Bulkhead caller read them alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum Error {
    /// The function id is unknown or not offered to this partition.
    NotSupported = -1,
    /// An argument is out of range or malformed.
    InvalidParameter = -2,
    /// The caller may not do this.
    Denied = -3,
    /// The target is already on (PSCI `CPU_ON`).
    AlreadyOn = -4,
    /// The target is being turned on (PSCI `CPU_ON`).
    OnPending = -5,
    /// The core failed internally; the call had no effect.
    InternalFailure = -6,
    /// The named object does not exist.
    NotPresent = -7,
    /// The address is not in the caller's memory (PSCI `INVALID_ADDRESS`).
    InvalidAddress = -9,
    /// The capability slot is empty or names the wrong kind of object.
    BadCapability = -32,
    /// The capability lacks the right the call needs.
    MissingRight = -33,
    /// The object is in the wrong state for the call.
    WrongState = -34,
}

/// x0 value for success.
pub const SUCCESS: i64 = 0;

impl Error {
    /// The value placed in x0.
    pub const fn code(self) -> i64 {
        self as i64
    }

    /// Decodes an x0 value; `None` for success or an unknown code.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            -1 => Self::NotSupported,
            -2 => Self::InvalidParameter,
            -3 => Self::Denied,
            -4 => Self::AlreadyOn,
            -5 => Self::OnPending,
            -6 => Self::InternalFailure,
            -7 => Self::NotPresent,
            -9 => Self::InvalidAddress,
            -32 => Self::BadCapability,
            -33 => Self::MissingRight,
            -34 => Self::WrongState,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_bytes_round_trip() {
        let text = b"hello, bulkhead: forty bytes at most!!!!xyz";
        let (words, n) = hvc::pack_console_bytes(text);
        assert_eq!(n, 40);
        let mut out = [0u8; 40];
        assert_eq!(hvc::unpack_console_bytes(n as u64, words, &mut out), 40);
        assert_eq!(&out[..], &text[..40]);
    }

    #[test]
    fn console_length_is_clamped() {
        let mut out = [0u8; 40];
        assert_eq!(hvc::unpack_console_bytes(u64::MAX, [0; 5], &mut out), 40);
    }

    #[test]
    fn error_codes_round_trip() {
        for e in [
            Error::NotSupported,
            Error::InvalidParameter,
            Error::Denied,
            Error::AlreadyOn,
            Error::OnPending,
            Error::InternalFailure,
            Error::NotPresent,
            Error::InvalidAddress,
            Error::BadCapability,
            Error::MissingRight,
            Error::WrongState,
        ] {
            assert_eq!(Error::from_code(e.code()), Some(e));
        }
        assert_eq!(Error::from_code(SUCCESS), None);
    }
}
