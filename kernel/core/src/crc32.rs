//! CRC-32 (IEEE 802.3 / ISO-HDLC polynomial, reflected), used to checksum the
//! boot manifest. Table-free so it costs no rodata; the manifest is checked once.

/// Folds `data` into a running CRC state. Start with `!0`, finish with `!state`.
pub fn update(mut state: u32, data: &[u8]) -> u32 {
    for &byte in data {
        state ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (state & 1).wrapping_neg();
            state = (state >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    state
}

/// CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    !update(!0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // The standard check value for "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn incremental_matches_whole() {
        let whole = crc32(b"hello world");
        let part = !update(update(!0, b"hello "), b"world");
        assert_eq!(whole, part);
    }
}
