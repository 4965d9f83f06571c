//! A RAM test: a data-bus walk on the first word, solid patterns, and
//! address-in-address (then its complement) over every word, which catches
//! stuck bits, shorted data lines and aliased address lines. The patterns run
//! over a [`WordMemory`], so the logic is tested on the host against memories
//! with injected faults; the partition side tests its free RAM through
//! volatile accesses ([`VolatileWords`]).

use core::ptr::NonNull;

/// Memory the test can read and write a 64-bit word at a time.
pub trait WordMemory {
    /// Number of words.
    fn word_count(&self) -> usize;
    /// The address of word `index`, for reports.
    fn address_of(&self, index: usize) -> u64;
    /// Writes word `index` (callers keep `index < word_count()`).
    fn write(&mut self, index: usize, value: u64);
    /// Reads word `index` (callers keep `index < word_count()`).
    fn read(&self, index: usize) -> u64;
}

/// The first word that did not read back what was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemtestFailure {
    /// Where.
    pub address: u64,
    /// What was written.
    pub expected: u64,
    /// What came back.
    pub found: u64,
}

fn check<M: WordMemory>(memory: &M, index: usize, expected: u64) -> Result<(), MemtestFailure> {
    let found = memory.read(index);
    if found == expected {
        Ok(())
    } else {
        Err(MemtestFailure {
            address: memory.address_of(index),
            expected,
            found,
        })
    }
}

/// Writes `pattern(index)` to every word, then checks every word.
fn fill_and_verify<M: WordMemory>(
    memory: &mut M,
    pattern: impl Fn(&M, usize) -> u64,
) -> Result<(), MemtestFailure> {
    for index in 0..memory.word_count() {
        let value = pattern(memory, index);
        memory.write(index, value);
    }
    for index in 0..memory.word_count() {
        check(memory, index, pattern(memory, index))?;
    }
    Ok(())
}

/// Runs every pass over `memory`; stops at the first failure. The memory is
/// left holding the complement of each word's address.
pub fn run<M: WordMemory>(memory: &mut M) -> Result<(), MemtestFailure> {
    if memory.word_count() == 0 {
        return Ok(());
    }
    // Data bus: walk a one through zeros and a zero through ones in word 0.
    for bit in 0..u64::BITS {
        for value in [1u64 << bit, !(1u64 << bit)] {
            memory.write(0, value);
            check(memory, 0, value)?;
        }
    }
    // Solid alternating patterns: every cell holds both values.
    fill_and_verify(memory, |_, _| 0x5555_5555_5555_5555)?;
    fill_and_verify(memory, |_, _| 0xAAAA_AAAA_AAAA_AAAA)?;
    // Address in address: two words that alias show the other's address.
    fill_and_verify(memory, |m, index| m.address_of(index))?;
    fill_and_verify(memory, |m, index| !m.address_of(index))?;
    Ok(())
}

/// Words of memory reached through volatile accesses.
#[derive(Debug)]
pub struct VolatileWords {
    base: NonNull<u64>,
    words: usize,
}

impl VolatileWords {
    /// Wraps `words` 64-bit words from `base`.
    ///
    /// # Safety
    /// `[base, base + 8 * words)` must be mapped memory, valid for reads and
    /// writes, 8-byte aligned, and used by nothing else (no Rust object, no
    /// other vCPU, no device) while the `VolatileWords` exists.
    pub unsafe fn new(base: NonNull<u64>, words: usize) -> Self {
        Self { base, words }
    }

    /// The pointer to word `index`, if it is inside the region.
    fn word(&self, index: usize) -> Option<*mut u64> {
        // `wrapping_add` computes the address without asserting anything; it
        // is only dereferenced below for an index inside the region.
        (index < self.words).then(|| self.base.as_ptr().wrapping_add(index))
    }
}

impl WordMemory for VolatileWords {
    fn word_count(&self) -> usize {
        self.words
    }

    fn address_of(&self, index: usize) -> u64 {
        (self.base.as_ptr() as u64).wrapping_add(index as u64 * 8)
    }

    fn write(&mut self, index: usize, value: u64) {
        if let Some(word) = self.word(index) {
            // SAFETY: `word` is inside the region, which the caller of `new`
            // promised is valid, aligned and exclusively ours.
            unsafe { word.write_volatile(value) }
        }
    }

    fn read(&self, index: usize) -> u64 {
        match self.word(index) {
            // SAFETY: as for `write`.
            Some(word) => unsafe { word.read_volatile() },
            None => 0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)] // A failed expectation is a failed test.
mod tests {
    use super::*;

    const BASE: u64 = 0x4000_0000;

    /// Good memory.
    struct Ram(Vec<u64>);

    impl WordMemory for Ram {
        fn word_count(&self) -> usize {
            self.0.len()
        }
        fn address_of(&self, index: usize) -> u64 {
            BASE + index as u64 * 8
        }
        fn write(&mut self, index: usize, value: u64) {
            self.0[index] = value;
        }
        fn read(&self, index: usize) -> u64 {
            self.0[index]
        }
    }

    /// One bit of one word stuck at a value.
    struct StuckBit {
        ram: Ram,
        index: usize,
        bit: u32,
        stuck_at_one: bool,
    }

    impl WordMemory for StuckBit {
        fn word_count(&self) -> usize {
            self.ram.word_count()
        }
        fn address_of(&self, index: usize) -> u64 {
            self.ram.address_of(index)
        }
        fn write(&mut self, index: usize, value: u64) {
            self.ram.write(index, value);
        }
        fn read(&self, index: usize) -> u64 {
            let value = self.ram.read(index);
            if index != self.index {
                value
            } else if self.stuck_at_one {
                value | 1 << self.bit
            } else {
                value & !(1 << self.bit)
            }
        }
    }

    /// Address line `line` (of the word index) is not connected: words
    /// `i` and `i | 1 << line` are the same cell.
    struct OpenAddressLine {
        ram: Ram,
        line: u32,
    }

    impl WordMemory for OpenAddressLine {
        fn word_count(&self) -> usize {
            self.ram.word_count()
        }
        fn address_of(&self, index: usize) -> u64 {
            self.ram.address_of(index)
        }
        fn write(&mut self, index: usize, value: u64) {
            self.ram.write(index & !(1 << self.line), value);
        }
        fn read(&self, index: usize) -> u64 {
            self.ram.read(index & !(1 << self.line))
        }
    }

    #[test]
    fn good_memory_passes_and_is_left_with_inverted_addresses() {
        let mut ram = Ram(vec![0; 1024]);
        assert_eq!(run(&mut ram), Ok(()));
        assert_eq!(ram.0[3], !(BASE + 24));
    }

    #[test]
    fn empty_memory_passes() {
        assert_eq!(run(&mut Ram(Vec::new())), Ok(()));
    }

    #[test]
    fn stuck_bits_are_found_where_they_are() {
        for (index, bit, stuck_at_one) in [
            (0, 0, false),
            (0, 63, true),
            (517, 17, true),
            (1023, 40, false),
        ] {
            let mut memory = StuckBit {
                ram: Ram(vec![0; 1024]),
                index,
                bit,
                stuck_at_one,
            };
            let failure = run(&mut memory).expect_err("stuck bit must be found");
            assert_eq!(failure.address, BASE + index as u64 * 8);
            assert_eq!(failure.expected ^ failure.found, 1 << bit);
        }
    }

    #[test]
    fn aliased_words_are_found() {
        let mut memory = OpenAddressLine {
            ram: Ram(vec![0; 1024]),
            line: 6,
        };
        let failure = run(&mut memory).expect_err("aliasing must be found");
        // Word 0 reads back the address written through its alias, word 64.
        assert_eq!(failure.address, BASE);
        assert_eq!(failure.found, BASE + 64 * 8);
    }

    #[test]
    fn volatile_words_work_on_real_memory() {
        let mut buffer = vec![0u64; 256];
        let base = NonNull::new(buffer.as_mut_ptr()).expect("vec pointer is not null");
        // SAFETY: the buffer is ours, aligned, and unused while `words` lives.
        let mut words = unsafe { VolatileWords::new(base, buffer.len()) };
        assert_eq!(run(&mut words), Ok(()));
        assert_eq!(words.read(300), 0, "reads outside the region are refused");
        assert_eq!(buffer[1], !(base.as_ptr() as u64 + 8));
    }
}

/// Testing the partition's free RAM (target only).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod free_ram {
    use super::{run, MemtestFailure, VolatileWords};
    use crate::devicetree::DeviceTreeError;
    use crate::memory_map::IpaRange;
    use crate::ram;
    use core::ptr::NonNull;

    /// Why [`test_free_ram`] did not pass.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum FreeRamError {
        /// The RAM map is unknown.
        MemoryMap(DeviceTreeError),
        /// A word did not hold what was written.
        Failure(MemtestFailure),
        /// Another vCPU is testing the free RAM right now, or a
        /// [`ram::FreeRam`] holds it.
        Busy,
    }

    const WORD: u64 = 8;

    /// Tests every word of RAM outside the image, stacks, device tree and
    /// reserved ranges (see [`ram::for_each_free_piece`]); calls `before_piece`
    /// with each range before testing it. Returns the bytes tested. The RAM is
    /// left holding test patterns.
    pub fn test_free_ram(mut before_piece: impl FnMut(IpaRange)) -> Result<u64, FreeRamError> {
        // Two users of the same words would make each other fail.
        let _only_one = ram::claim_free_ram().ok_or(FreeRamError::Busy)?;
        let mut tested = 0u64;
        let mut failure = None;
        ram::for_each_free_piece(|piece| {
            if failure.is_some() {
                return;
            }
            let Some(aligned) = piece.shrink_to_alignment(WORD) else {
                return;
            };
            let base = NonNull::new(aligned.start as *mut u64);
            let words = usize::try_from(aligned.size() / WORD);
            let (Some(base), Ok(words)) = (base, words) else {
                return;
            };
            before_piece(aligned);
            // the piece is partition RAM from the device tree, outside
            // the image (all Rust statics and stacks), the device tree and the
            // reserved ranges, so no Rust object lives there; it is identity
            // mapped and 8-byte aligned; the claim keeps other users out.
            // SAFETY: sound for the reasons just given.
            let mut memory = unsafe { VolatileWords::new(base, words) };
            match run(&mut memory) {
                Ok(()) => tested += aligned.size(),
                Err(found) => failure = Some(found),
            }
        })
        .map_err(FreeRamError::MemoryMap)?;
        match failure {
            Some(found) => Err(FreeRamError::Failure(found)),
            None => Ok(tested),
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use free_ram::{test_free_ram, FreeRamError};
