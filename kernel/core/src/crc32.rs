//! CRC-32 (IEEE 802.3 / ISO-HDLC polynomial, reflected), used to checksum the
//! boot manifest. Byte-at-a-time with a 1 KiB table built at compile time: a
//! manifest carrying a Linux kernel is tens of MiB, checked at every boot.

const POLYNOMIAL: u32 = 0xEDB8_8320;

/// CRC of each byte value, one bit at a time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ POLYNOMIAL
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// Folds `data` into a running CRC state. Start with `!0`, finish with `!state`.
pub fn update(mut state: u32, data: &[u8]) -> u32 {
    for &byte in data {
        state = (state >> 8) ^ TABLE[((state ^ u32::from(byte)) & 0xff) as usize];
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
