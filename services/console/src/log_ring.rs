//! A partition's bounded output log: the last [`LOG_CAPACITY`] bytes it
//! printed, kept in a ring so a long-running guest costs a fixed amount of
//! memory, and dumped on request (see the crate docs, "Input").

/// Bytes each partition's log keeps.
pub const LOG_CAPACITY: usize = 4096;

/// The most recent output of one partition.
#[derive(Clone, Copy, Debug)]
pub struct LogRing {
    bytes: [u8; LOG_CAPACITY],
    /// Index of the oldest byte.
    start: usize,
    len: usize,
    /// Bytes dropped to make room since the log was last cleared.
    dropped: u64,
}

impl Default for LogRing {
    fn default() -> Self {
        Self::new()
    }
}

impl LogRing {
    /// An empty log.
    pub const fn new() -> Self {
        Self {
            bytes: [0; LOG_CAPACITY],
            start: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been logged (or all was cleared).
    pub fn is_empty(&self) -> bool {
        self.len == 0
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
            let end = (self.start + self.len) % LOG_CAPACITY;
            if let Some(slot) = self.bytes.get_mut(end) {
                *slot = byte;
            }
            if self.len == LOG_CAPACITY {
                self.start = (self.start + 1) % LOG_CAPACITY;
                self.dropped = self.dropped.saturating_add(1);
            } else {
                self.len += 1;
            }
        }
    }

    /// The contents, oldest first, as two slices (the ring may wrap).
    pub fn contents(&self) -> (&[u8], &[u8]) {
        let first_len = self.len.min(LOG_CAPACITY - self.start);
        let first = self
            .bytes
            .get(self.start..self.start + first_len)
            .unwrap_or(&[]);
        let second = self.bytes.get(..self.len - first_len).unwrap_or(&[]);
        (first, second)
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
