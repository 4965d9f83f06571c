//! A partition's bounded output log: the last [`LOG_CAPACITY`] bytes it
//! printed, kept in a ring so a long-running guest costs a fixed amount of
//! memory, and dumped on request (see the crate docs, "Input").

use crate::byte_ring::ByteRing;

/// Bytes each partition's log keeps.
pub const LOG_CAPACITY: usize = 4096;

/// The most recent output of one partition.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogRing {
    ring: ByteRing<LOG_CAPACITY>,
    /// Bytes dropped to make room since the log was last cleared.
    dropped: u64,
}

impl LogRing {
    /// An empty log.
    pub const fn new() -> Self {
        Self {
            ring: ByteRing::new(),
            dropped: 0,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// True when nothing has been logged (or all was cleared).
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Bytes that were pushed out by newer output.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// Appends `data`, dropping the oldest bytes when full.
    pub fn push(&mut self, data: &[u8]) {
        for &byte in data {
            if self.ring.push_overwriting(byte) {
                self.dropped = self.dropped.saturating_add(1);
            }
        }
    }

    /// The contents, oldest first, as two slices (the ring may wrap).
    pub fn contents(&self) -> (&[u8], &[u8]) {
        self.ring.as_slices()
    }

    /// Copies the contents, oldest first, into `out`; returns the length.
    pub fn copy_to(&self, out: &mut [u8; LOG_CAPACITY]) -> usize {
        let (first, second) = self.contents();
        let mut written = 0;
        for (slot, &byte) in out.iter_mut().zip(first.iter().chain(second)) {
            *slot = byte;
            written += 1;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(log: &LogRing) -> Vec<u8> {
        let (a, b) = log.contents();
        [a, b].concat()
    }

    #[test]
    fn keeps_everything_below_capacity() {
        let mut log = LogRing::new();
        assert!(log.is_empty());
        log.push(b"one\n");
        log.push(b"two\n");
        assert_eq!(text(&log), b"one\ntwo\n");
        assert_eq!(log.len(), 8);
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn keeps_the_last_4_kib() {
        let mut log = LogRing::new();
        let all: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in all.chunks(37) {
            log.push(chunk);
        }
        assert_eq!(log.len(), LOG_CAPACITY);
        assert_eq!(text(&log), &all[all.len() - LOG_CAPACITY..]);
        assert_eq!(log.dropped(), (all.len() - LOG_CAPACITY) as u64);
        let mut out = [0u8; LOG_CAPACITY];
        assert_eq!(log.copy_to(&mut out), LOG_CAPACITY);
        assert_eq!(&out[..], &all[all.len() - LOG_CAPACITY..]);
    }

    #[test]
    fn exactly_full_and_clear() {
        let mut log = LogRing::new();
        log.push(&[7; LOG_CAPACITY]);
        assert_eq!(log.len(), LOG_CAPACITY);
        assert_eq!(log.dropped(), 0);
        log.push(b"x");
        assert_eq!(log.dropped(), 1);
        assert_eq!(text(&log).last(), Some(&b'x'));
        log.clear();
        assert!(log.is_empty());
        assert_eq!(text(&log), b"");
    }
}
