//! A fixed-capacity ring of bytes, stored inline (partition programs have no
//! heap): the console service's emulated receive FIFO, each guest's queue
//! of typed input and each guest's log, and the queue between a program and
//! its interrupt-driven mini UART transmitter ([`crate::mini_uart`]) are all
//! one of these.

/// Up to `N` bytes, oldest first.
#[derive(Clone, Copy, Debug)]
pub struct ByteRing<const N: usize> {
    bytes: [u8; N],
    /// Index of the oldest byte.
    start: usize,
    len: usize,
}

impl<const N: usize> Default for ByteRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ByteRing<N> {
    /// An empty ring.
    pub const fn new() -> Self {
        Self {
            bytes: [0; N],
            start: 0,
            len: 0,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when it holds `N` bytes.
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Appends `byte`; returns false (and keeps nothing) when full.
    pub fn push(&mut self, byte: u8) -> bool {
        if self.is_full() {
            return false;
        }
        if let Some(slot) = self.bytes.get_mut((self.start + self.len) % N) {
            *slot = byte;
            self.len += 1;
        }
        true
    }

    /// Appends `byte`, dropping the oldest byte when full; returns true if
    /// one was dropped.
    pub fn push_overwriting(&mut self, byte: u8) -> bool {
        let dropped = self.is_full() && self.pop().is_some();
        self.push(byte);
        dropped
    }

    /// The oldest byte, left in the ring.
    pub fn peek(&self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        self.bytes.get(self.start).copied()
    }

    /// Takes the oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.start = (self.start + 1) % N;
        self.len -= 1;
        Some(byte)
    }

    /// The contents, oldest first, as two slices (the ring may wrap).
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        let first_len = self.len.min(N - self.start);
        let first = self
            .bytes
            .get(self.start..self.start + first_len)
            .unwrap_or(&[]);
        let second = self.bytes.get(..self.len - first_len).unwrap_or(&[]);
        (first, second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents<const N: usize>(ring: &ByteRing<N>) -> Vec<u8> {
        let (a, b) = ring.as_slices();
        [a, b].concat()
    }

    #[test]
    fn fifo_order_and_refusal_when_full() {
        let mut ring: ByteRing<3> = ByteRing::new();
        assert!(ring.is_empty());
        assert!(ring.push(1) && ring.push(2) && ring.push(3));
        assert!(ring.is_full());
        assert!(!ring.push(4));
        assert_eq!(contents(&ring), [1, 2, 3]);
        assert_eq!(ring.peek(), Some(1));
        assert_eq!(ring.len(), 3, "peeking leaves the byte");
        assert_eq!(ring.pop(), Some(1));
        assert!(ring.push(5));
        // Wrapped: the slices split.
        assert_eq!(ring.as_slices(), (&[2u8, 3][..], &[5u8][..]));
        assert_eq!(
            (ring.pop(), ring.pop(), ring.pop(), ring.pop()),
            (Some(2), Some(3), Some(5), None)
        );
        assert_eq!(ring.len(), 0);
        assert_eq!(ring.peek(), None);
    }

    #[test]
    fn overwriting_drops_the_oldest() {
        let mut ring: ByteRing<2> = ByteRing::new();
        assert!(!ring.push_overwriting(1));
        assert!(!ring.push_overwriting(2));
        assert!(ring.push_overwriting(3));
        assert_eq!(contents(&ring), [2, 3]);
    }
}
