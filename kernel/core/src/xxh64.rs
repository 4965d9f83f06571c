//! XXH64, the 64-bit xxHash (Yann Collet's xxhash_spec.md, "XXH64 algorithm
//! description"), used to checksum the boot manifest.
//!
//! Why not CRC-32: a manifest carrying Linux is tens of MiB and is checked at
//! every boot. Under QEMU TCG each `CRC32X` is a call into a C helper, while
//! XXH64's loads, multiplies, adds and rotates are translated inline, and on
//! a Cortex-A72 XXH64 runs at memory speed without any CPU feature. It is an
//! integrity check against damage, not an authentication of the image.
//!
//! The core is built with `+strict-align`, where a `u64` read from a byte
//! slice compiles to eight byte loads; the stripes are therefore read as
//! whole aligned `u64`s from the aligned middle of the input, and only input
//! that starts misaligned against the stream's 8-byte lanes is assembled
//! byte by byte.

/// The spec's PRIME64_1 .. PRIME64_5.
const PRIME64_1: u64 = 0x9E37_79B1_85EB_CA87;
const PRIME64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const PRIME64_3: u64 = 0x1656_67B1_9E37_79F9;
const PRIME64_4: u64 = 0x85EB_CA77_C2B2_AE63;
const PRIME64_5: u64 = 0x27D4_EB2F_1656_67C5;

/// Bytes in one stripe: four 8-byte lanes, one per accumulator.
const STRIPE_LEN: usize = 32;
/// Bytes in one lane.
const LANE_LEN: usize = 8;

/// XXH64 of `data` with `seed`, in one call.
pub fn xxh64(data: &[u8], seed: u64) -> u64 {
    let mut hasher = Xxh64::new(seed);
    hasher.update(data);
    hasher.finish()
}

/// An XXH64 computation fed in pieces: [`Self::update`] any number of times,
/// then [`Self::finish`]. The result does not depend on how the input was
/// split.
#[derive(Clone, Debug)]
pub struct Xxh64 {
    seed: u64,
    /// The four lane accumulators (spec step 1 and 2).
    accumulators: [u64; 4],
    /// Bytes fed so far, all of them (spec step 4 adds it modulo 2^64).
    total_len: u64,
    /// Input not yet forming a whole stripe, in stream order.
    pending: [u8; STRIPE_LEN],
    /// How many bytes of `pending` are filled (below `STRIPE_LEN`).
    pending_len: usize,
}

impl Xxh64 {
    /// A computation over no input yet (spec step 1).
    pub const fn new(seed: u64) -> Self {
        Self {
            seed,
            accumulators: [
                seed.wrapping_add(PRIME64_1).wrapping_add(PRIME64_2),
                seed.wrapping_add(PRIME64_2),
                seed,
                seed.wrapping_sub(PRIME64_1),
            ],
            total_len: 0,
            pending: [0; STRIPE_LEN],
            pending_len: 0,
        }
    }

    /// Feeds `data`, the next bytes of the input (spec step 2).
    pub fn update(&mut self, data: &[u8]) {
        self.total_len = self.total_len.wrapping_add(data.len() as u64);
        let mut data = data;
        if self.pending_len > 0 {
            let free = self.pending.get_mut(self.pending_len..).unwrap_or(&mut []);
            let taken = free.len().min(data.len());
            let (now, later) = data.split_at(taken);
            free.iter_mut()
                .zip(now)
                .for_each(|(slot, &byte)| *slot = byte);
            self.pending_len += taken;
            data = later;
            if self.pending_len < STRIPE_LEN {
                return;
            }
            self.accumulators = stripe(self.accumulators, lanes_from_bytes(&self.pending));
            self.pending_len = 0;
        }
        // The stream is at a stripe boundary: consume whole stripes straight
        // from `data`, keep the rest for later.
        let (accumulators, rest) = stripes(self.accumulators, data);
        self.accumulators = accumulators;
        self.pending
            .iter_mut()
            .zip(rest)
            .for_each(|(slot, &byte)| *slot = byte);
        self.pending_len = rest.len();
    }

    /// The hash of everything fed so far (spec steps 3 to 6).
    pub fn finish(&self) -> u64 {
        let mut acc = if self.total_len >= STRIPE_LEN as u64 {
            converge(self.accumulators)
        } else {
            // Too short for a stripe: the spec's single-accumulator start.
            self.seed.wrapping_add(PRIME64_5)
        };
        acc = acc.wrapping_add(self.total_len);
        let rest = self.pending.get(..self.pending_len).unwrap_or(&[]);
        let (lanes, rest) = rest.as_chunks::<LANE_LEN>();
        for &lane in lanes {
            acc ^= round(0, u64::from_le_bytes(lane));
            acc = acc.rotate_left(27).wrapping_mul(PRIME64_1);
            acc = acc.wrapping_add(PRIME64_4);
        }
        let (words, rest) = rest.as_chunks::<4>();
        // Fewer than 8 bytes are left, so at most one 4-byte word.
        for &word in words {
            acc ^= u64::from(u32::from_le_bytes(word)).wrapping_mul(PRIME64_1);
            acc = acc.rotate_left(23).wrapping_mul(PRIME64_2);
            acc = acc.wrapping_add(PRIME64_3);
        }
        for &byte in rest {
            acc ^= u64::from(byte).wrapping_mul(PRIME64_5);
            acc = acc.rotate_left(11).wrapping_mul(PRIME64_1);
        }
        avalanche(acc)
    }
}

/// Folds every whole stripe at the start of `data` into `accumulators`;
/// returns them and the bytes after the last whole stripe.
fn stripes(mut accumulators: [u64; 4], data: &[u8]) -> ([u64; 4], &[u8]) {
    let whole = data.len() - data.len() % STRIPE_LEN;
    let (body, rest) = data.split_at(whole);
    let (head, words, _) = bytemuck::pod_align_to::<u8, u64>(body);
    if head.is_empty() {
        // `body` starts 8-byte aligned, so the lanes are the aligned middle
        // and (`body` being whole stripes) they end exactly with it.
        let (lanes, _) = words.as_chunks::<4>();
        for lane in lanes {
            accumulators = stripe(accumulators, lane.map(u64::from_le));
        }
    } else {
        // Misaligned against the lanes: assemble each lane from bytes.
        let (stripes, _) = body.as_chunks::<STRIPE_LEN>();
        for bytes in stripes {
            accumulators = stripe(accumulators, lanes_from_bytes(bytes));
        }
    }
    (accumulators, rest)
}

/// The four little-endian lanes of one stripe held as bytes.
fn lanes_from_bytes(bytes: &[u8; STRIPE_LEN]) -> [u64; 4] {
    let (lanes, _) = bytes.as_chunks::<LANE_LEN>();
    let mut out = [0; 4];
    out.iter_mut()
        .zip(lanes)
        .for_each(|(lane, &b)| *lane = u64::from_le_bytes(b));
    out
}

/// One stripe: a round of each accumulator with its lane (spec step 2).
#[inline(always)]
fn stripe(accumulators: [u64; 4], lanes: [u64; 4]) -> [u64; 4] {
    let [a1, a2, a3, a4] = accumulators;
    let [l1, l2, l3, l4] = lanes;
    [round(a1, l1), round(a2, l2), round(a3, l3), round(a4, l4)]
}

/// The spec's round(accN, laneN).
#[inline(always)]
fn round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(PRIME64_2))
        .rotate_left(31)
        .wrapping_mul(PRIME64_1)
}

/// Spec step 3: the four accumulators merged into one.
fn converge(accumulators: [u64; 4]) -> u64 {
    let [a1, a2, a3, a4] = accumulators;
    let mut acc = a1
        .rotate_left(1)
        .wrapping_add(a2.rotate_left(7))
        .wrapping_add(a3.rotate_left(12))
        .wrapping_add(a4.rotate_left(18));
    for lane_acc in accumulators {
        acc ^= round(0, lane_acc);
        acc = acc.wrapping_mul(PRIME64_1).wrapping_add(PRIME64_4);
    }
    acc
}

/// Spec step 6: the final mix.
fn avalanche(mut acc: u64) -> u64 {
    acc ^= acc >> 33;
    acc = acc.wrapping_mul(PRIME64_2);
    acc ^= acc >> 29;
    acc = acc.wrapping_mul(PRIME64_3);
    acc ^ (acc >> 32)
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    /// A deterministic input: byte `i` of a simple LCG stream, so every
    /// length exercises different bytes.
    fn sample(len: usize) -> Vec<u8> {
        let mut state: u32 = 0x1234_5678;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect()
    }

    /// XXH64 written out plainly from the spec, one index at a time and
    /// without stripes of aligned words or a streaming state: the check
    /// that the optimized code computes the same function.
    fn reference(input: &[u8], seed: u64) -> u64 {
        fn read64(input: &[u8], at: usize) -> u64 {
            (0..8).fold(0, |v, i| v | u64::from(input[at + i]) << (8 * i))
        }
        fn read32(input: &[u8], at: usize) -> u64 {
            (0..4).fold(0, |v, i| v | u64::from(input[at + i]) << (8 * i))
        }
        fn rnd(acc: u64, lane: u64) -> u64 {
            let acc = acc.wrapping_add(lane.wrapping_mul(PRIME64_2));
            acc.rotate_left(31).wrapping_mul(PRIME64_1)
        }
        let len = input.len();
        let mut at = 0;
        let mut acc;
        if len >= 32 {
            let mut v = [
                seed.wrapping_add(PRIME64_1).wrapping_add(PRIME64_2),
                seed.wrapping_add(PRIME64_2),
                seed,
                seed.wrapping_sub(PRIME64_1),
            ];
            while len - at >= 32 {
                for (n, acc_n) in v.iter_mut().enumerate() {
                    *acc_n = rnd(*acc_n, read64(input, at + 8 * n));
                }
                at += 32;
            }
            acc = v[0]
                .rotate_left(1)
                .wrapping_add(v[1].rotate_left(7))
                .wrapping_add(v[2].rotate_left(12))
                .wrapping_add(v[3].rotate_left(18));
            for acc_n in v {
                acc ^= rnd(0, acc_n);
                acc = acc.wrapping_mul(PRIME64_1).wrapping_add(PRIME64_4);
            }
        } else {
            acc = seed.wrapping_add(PRIME64_5);
        }
        acc = acc.wrapping_add(len as u64);
        while len - at >= 8 {
            acc ^= rnd(0, read64(input, at));
            acc = acc
                .rotate_left(27)
                .wrapping_mul(PRIME64_1)
                .wrapping_add(PRIME64_4);
            at += 8;
        }
        if len - at >= 4 {
            acc ^= read32(input, at).wrapping_mul(PRIME64_1);
            acc = acc
                .rotate_left(23)
                .wrapping_mul(PRIME64_2)
                .wrapping_add(PRIME64_3);
            at += 4;
        }
        while at < len {
            acc ^= u64::from(input[at]).wrapping_mul(PRIME64_5);
            acc = acc.rotate_left(11).wrapping_mul(PRIME64_1);
            at += 1;
        }
        acc ^= acc >> 33;
        acc = acc.wrapping_mul(PRIME64_2);
        acc ^= acc >> 29;
        acc = acc.wrapping_mul(PRIME64_3);
        acc ^ (acc >> 32)
    }

    #[test]
    fn empty_input_is_the_spec_value() {
        assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(reference(b"", 0), 0xEF46_DB37_51D8_E999);
    }

    /// Values from the xxHash project's own C library (libxxhash 0.8.1,
    /// `XXH64(data, len, seed)`), for `sample(len)`.
    #[test]
    fn matches_the_reference_library() {
        const VECTORS: &[(usize, u64, u64)] = &[
            // (length, seed, XXH64)
            (0, 0, 0xEF46_DB37_51D8_E999),
            (1, 0, 0x6100_01CB_A66E_07F0),
            (3, 0, 0x7FBB_A469_E468_F571),
            (4, 0, 0x7E5B_97A8_49A5_EA35),
            (7, 0, 0xEE35_CB20_A43C_83D8),
            (8, 0, 0xDD36_8E9D_D8D9_7D37),
            (15, 0, 0x3070_B307_9A63_B3C7),
            (31, 0, 0x5E8E_660B_4CC9_D82A),
            (32, 0, 0xAF6E_5434_B01B_0D77),
            (33, 0, 0x5776_C946_3D9D_30FF),
            (63, 0, 0xAAEC_246D_407E_BC98),
            (64, 0, 0x7AF6_4D1C_1225_65B9),
            (100, 0, 0x786F_D057_A6F7_938D),
            (101, 0, 0xD28D_5C40_56A9_1F06),
            (4096, 0, 0x3A92_151C_939F_DE12),
            (4109, 0, 0x4200_E348_2748_502A),
            (100, 0x9E37_79B1_85EB_CA87, 0xADB2_6DA2_8FA3_3B4D),
            (37, 1, 0x7FEB_7D5D_6E20_61BC),
        ];
        for &(len, seed, expected) in VECTORS {
            let data = sample(len);
            assert_eq!(xxh64(&data, seed), expected, "length {len} seed {seed:#x}");
            assert_eq!(reference(&data, seed), expected, "reference, length {len}");
        }
        assert_eq!(xxh64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
    }

    #[test]
    fn matches_the_plain_reference_for_every_length_up_to_300() {
        let data = sample(300);
        for len in 0..=300 {
            for seed in [0, 1, 0x9E37_79B1_85EB_CA87] {
                let part = &data[..len];
                assert_eq!(xxh64(part, seed), reference(part, seed), "length {len}");
            }
        }
    }

    #[test]
    fn misaligned_starts_give_the_same_hash() {
        // An 8-byte aligned buffer, so that offsets 0..8 give every
        // alignment against the lanes, offset 0 the aligned fast path.
        let mut words = alloc::vec![0u64; 1024 / 8 + 2];
        let buffer: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
        for len in [0, 7, 31, 32, 33, 64, 100, 257, 1000] {
            let data = sample(len);
            let expected = reference(&data, 0);
            for offset in 0..8 {
                buffer[offset..offset + len].copy_from_slice(&data);
                let shifted = &buffer[offset..offset + len];
                assert_eq!(xxh64(shifted, 0), expected, "length {len} offset {offset}");
            }
        }
    }

    #[test]
    fn any_split_gives_the_one_shot_hash() {
        let data = sample(200);
        let whole = xxh64(&data, 7);
        for first in 0..=data.len() {
            for second in [first, (first + 5).min(data.len()), data.len()] {
                let mut hasher = Xxh64::new(7);
                hasher.update(&data[..first]);
                hasher.update(&data[first..second]);
                hasher.update(&data[second..]);
                assert_eq!(hasher.finish(), whole, "split at {first} and {second}");
            }
        }
        // Byte by byte: every byte goes through the pending buffer.
        let mut hasher = Xxh64::new(7);
        data.chunks(1).for_each(|b| hasher.update(b));
        assert_eq!(hasher.finish(), whole);
    }
}
