//! Sets of interrupt indices the delivery logic walks: which SPIs and which
//! SGIs/PPIs of a vCPU may be busy. A walk costs in proportion to the busy
//! ones, not to the 988 SPIs a distributor can have: a summary word says
//! which 32-bit words have any bit set.

use super::MAX_SPIS;

/// Words of one bit per SPI.
const WORDS: usize = MAX_SPIS.div_ceil(32);
const _: () = assert!(WORDS <= u32::BITS as usize);

/// A set of SPI indices (INTID - 32).
#[derive(Clone, Copy, Debug)]
pub(super) struct SpiSet {
    words: [u32; WORDS],
    /// Bit `w` set when `words[w]` is not zero.
    summary: u32,
}

impl SpiSet {
    /// The empty set.
    pub(super) const fn new() -> Self {
        Self {
            words: [0; WORDS],
            summary: 0,
        }
    }

    /// Adds `index`.
    pub(super) fn insert(&mut self, index: usize) {
        if let Some(word) = self.words.get_mut(index / 32) {
            *word |= 1 << (index % 32);
            self.summary |= 1 << (index / 32);
        }
    }

    /// Removes `index`.
    pub(super) fn remove(&mut self, index: usize) {
        if let Some(word) = self.words.get_mut(index / 32) {
            *word &= !(1 << (index % 32));
            if *word == 0 {
                self.summary &= !(1 << (index / 32));
            }
        }
    }

    /// The indices in the set now, lowest first (later changes to the set
    /// do not affect the walk).
    pub(super) fn iter(&self) -> Indices {
        Indices {
            set: *self,
            current: 0,
            base: 0,
        }
    }
}

/// A walk over an [`SpiSet`] snapshot.
pub(super) struct Indices {
    set: SpiSet,
    /// Bits of the word being walked that are left.
    current: u32,
    /// Index of that word's bit 0.
    base: usize,
}

impl Iterator for Indices {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.current == 0 {
            if self.set.summary == 0 {
                return None;
            }
            let word = self.set.summary.trailing_zeros() as usize;
            self.set.summary &= self.set.summary - 1;
            self.current = self.set.words.get(word).copied().unwrap_or(0);
            self.base = word * 32;
        }
        let bit = self.current.trailing_zeros() as usize;
        self.current &= self.current - 1;
        Some(self.base + bit)
    }
}

/// The set bits of one word, lowest first.
pub(super) fn bits(mut word: u32) -> impl Iterator<Item = u32> {
    core::iter::from_fn(move || {
        (word != 0).then(|| {
            let bit = word.trailing_zeros();
            word &= word - 1;
            bit
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn walks_what_was_inserted_and_not_removed() {
        let mut set = SpiSet::new();
        for i in [0, 5, 31, 32, 500, 987] {
            set.insert(i);
        }
        set.remove(5);
        set.remove(32);
        set.insert(WORDS * 32); // beyond the words: ignored
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 31, 500, 987]);
        set.remove(0);
        set.remove(31);
        assert_eq!(set.summary, 1 << (500 / 32) | 1 << (987 / 32));
        assert_eq!(bits(0b1010_0001).collect::<Vec<_>>(), [0, 5, 7]);
    }
}
