//! Sharing the board UART between the core's log and the partition that
//! prints on it (the console service, which holds it as a passed-through
//! device). While that partition claims the UART (`UART_CLAIM`, around each
//! burst it prints), the core keeps its own lines back in a bounded buffer
//! and prints them when the claim ends, so neither splits the other's line.
//! The core never waits for the partition: a line that does not fit, a
//! partition that stops holding the claim, and a fatal report all print at
//! once, as if there were no claim.

use crate::manifest::RegionDesc;

/// Bytes of core output kept back during a claim.
pub const HELD_BYTES: usize = 4096;

/// May a partition with `regions` claim the UART at physical `uart`? Only
/// one that has it passed through: a device region holding its address.
pub fn holds_uart(regions: &[RegionDesc], uart: u64) -> bool {
    regions
        .iter()
        .any(|r| !r.is_ram() && uart.wrapping_sub(r.pa) < r.size)
}

/// Who claims the UART, and the core's lines kept back meanwhile.
#[derive(Debug)]
pub struct UartClaim {
    holder: Option<usize>,
    held: [u8; HELD_BYTES],
    len: usize,
}

impl Default for UartClaim {
    fn default() -> Self {
        Self::new()
    }
}

/// What a claim request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimResult {
    /// The partition holds the claim (now or already).
    Claimed,
    /// Another partition holds it.
    Busy,
}

impl UartClaim {
    /// Nobody claims the UART; nothing is kept back.
    pub const fn new() -> Self {
        Self {
            holder: None,
            held: [0; HELD_BYTES],
            len: 0,
        }
    }

    /// Partition `id` claims the UART.
    pub fn claim(&mut self, id: usize) -> ClaimResult {
        match self.holder {
            None => {
                self.holder = Some(id);
                ClaimResult::Claimed
            }
            Some(holder) if holder == id => ClaimResult::Claimed,
            Some(_) => ClaimResult::Busy,
        }
    }

    /// Ends partition `id`'s claim, if it holds one; returns the lines kept
    /// back, to print now (empty without a claim), and forgets them.
    pub fn release(&mut self, id: usize) -> &[u8] {
        if self.holder != Some(id) {
            return &[];
        }
        self.end()
    }

    /// Ends any claim (a fatal report must get out); returns the lines kept
    /// back, to print first, and forgets them.
    pub fn end(&mut self) -> &[u8] {
        self.holder = None;
        let len = core::mem::take(&mut self.len);
        &self.held[..len]
    }

    /// Is the UART claimed, so core output must be kept back?
    pub fn claimed(&self) -> bool {
        self.holder.is_some()
    }

    /// Keeps `line` back whole, after the lines kept already; false, keeping
    /// nothing, if it does not fit (the caller prints it at once).
    pub fn hold(&mut self, line: &[u8]) -> bool {
        let end = self.len + line.len();
        match self.held.get_mut(self.len..end) {
            Some(space) => {
                space.copy_from_slice(line);
                self.len = end;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::region_flags;

    fn region(pa: u64, size: u64, flags: u32) -> RegionDesc {
        RegionDesc {
            ipa: pa,
            pa,
            size,
            flags,
        }
    }

    #[test]
    fn only_a_partition_with_the_uart_passed_through_may_claim_it() {
        let ram = region(
            0x4000_0000,
            0x100_0000,
            region_flags::READ | region_flags::WRITE,
        );
        let uart = region(
            0x0900_0000,
            0x1000,
            region_flags::READ | region_flags::WRITE | region_flags::DEVICE,
        );
        assert!(holds_uart(&[ram, uart], 0x0900_0000));
        assert!(!holds_uart(&[ram], 0x0900_0000));
        // RAM over the address does not count, nor a device elsewhere.
        let ram_there = region(
            0x0900_0000,
            0x1000,
            region_flags::READ | region_flags::WRITE,
        );
        assert!(!holds_uart(&[ram_there], 0x0900_0000));
        assert!(!holds_uart(&[uart], 0x0900_1000));
    }

    #[test]
    fn lines_kept_back_come_out_in_order_when_the_holder_releases() {
        let mut claim = UartClaim::new();
        assert!(!claim.claimed());
        assert_eq!(claim.claim(2), ClaimResult::Claimed);
        assert_eq!(claim.claim(2), ClaimResult::Claimed);
        assert_eq!(claim.claim(3), ClaimResult::Busy);
        assert!(claim.claimed());
        assert!(claim.hold(b"one\n"));
        assert!(claim.hold(b"two\n"));
        // Another partition's release changes nothing.
        assert_eq!(claim.release(3), b"");
        assert!(claim.claimed());
        assert_eq!(claim.release(2), b"one\ntwo\n");
        assert!(!claim.claimed());
        assert_eq!(claim.release(2), b"");
        assert_eq!(claim.claim(3), ClaimResult::Claimed);
    }

    #[test]
    fn a_line_that_does_not_fit_is_not_kept_and_the_rest_stays() {
        let mut claim = UartClaim::new();
        claim.claim(1);
        let big = [b'x'; HELD_BYTES - 2];
        assert!(claim.hold(&big));
        assert!(!claim.hold(b"abc"));
        assert!(claim.hold(b"ab"));
        assert!(!claim.hold(b"c"));
        let out = claim.end();
        assert_eq!(out.len(), HELD_BYTES);
        assert_eq!(&out[HELD_BYTES - 2..], b"ab");
        assert!(!claim.claimed());
        assert_eq!(claim.end(), b"");
    }
}
