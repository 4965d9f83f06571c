//! Deliberate damage to a built image, for the scenarios that check the core
//! refuses a bad image with the right message instead of booting it.

use crate::system_image::{ImageLayout, SystemImage};

/// Bytes of the manifest header, left intact by [`flip_manifest_byte`] so the
/// damage is caught by the checksum rather than by a header check.
const MANIFEST_HEADER_LEN: usize = kernel_core::manifest::HEADER_LEN;

/// How much [`truncate_tail`] cuts off.
pub const TRUNCATED_BYTES: usize = 64 << 10;

/// Inverts one byte in the middle of the manifest, past its header: the
/// header still parses, the XXH64 checksum no longer matches.
pub fn flip_manifest_byte(image: &mut SystemImage) {
    let layout: ImageLayout = image.layout;
    let body = layout.manifest_len.saturating_sub(MANIFEST_HEADER_LEN);
    let target = layout.manifest_offset() + MANIFEST_HEADER_LEN + body / 2;
    if let Some(byte) = image.bytes.get_mut(target) {
        *byte ^= 0xff;
    }
}

/// Drops the last [`TRUNCATED_BYTES`] of the file, as a short copy would:
/// the end marker is gone and the header's `image_size` overstates the file.
pub fn truncate_tail(image: &mut SystemImage) {
    let keep = image.bytes.len().saturating_sub(TRUNCATED_BYTES);
    image.bytes.truncate(keep);
}

/// Overwrites the manifest's first byte, so no manifest is recognised.
pub fn break_manifest_magic(image: &mut SystemImage) {
    if let Some(byte) = image.bytes.get_mut(image.layout.manifest_offset()) {
        *byte = !*byte;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system_image::assemble;
    use crate::system_image::tests::{fake_kernel, fake_manifest};
    use kernel_core::manifest::BLOB_ALIGN;

    fn image() -> SystemImage {
        assemble(&fake_kernel(BLOB_ALIGN), &fake_manifest(32 * BLOB_ALIGN)).expect("assembles")
    }

    fn differing_offsets(a: &[u8], b: &[u8]) -> Vec<usize> {
        a.iter()
            .zip(b)
            .enumerate()
            .filter(|(_, (x, y))| x != y)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn checksum_damage_is_one_byte_inside_the_manifest_body() {
        let clean = image();
        let mut bad = clean.clone();
        flip_manifest_byte(&mut bad);
        let diff = differing_offsets(&clean.bytes, &bad.bytes);
        assert_eq!(diff.len(), 1);
        let start = clean.layout.manifest_offset() + MANIFEST_HEADER_LEN;
        let end = clean.layout.manifest_offset() + clean.layout.manifest_len;
        assert!((start..end).contains(&diff[0]));
        assert_eq!(bad.bytes.len(), clean.bytes.len());
    }

    #[test]
    fn truncation_cuts_64_kib() {
        let clean = image();
        let mut bad = clean.clone();
        truncate_tail(&mut bad);
        assert_eq!(bad.bytes.len(), clean.bytes.len() - TRUNCATED_BYTES);
        assert_eq!(bad.bytes[..], clean.bytes[..bad.bytes.len()]);
    }

    #[test]
    fn magic_damage_hits_the_manifest_first_byte() {
        let clean = image();
        let mut bad = clean.clone();
        break_manifest_magic(&mut bad);
        assert_eq!(
            differing_offsets(&clean.bytes, &bad.bytes),
            vec![clean.layout.manifest_offset()]
        );
    }
}
