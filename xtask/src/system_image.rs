//! Assembling the bootable system image: the kernel's flat binary, then the
//! manifest, then the end marker, with the arm64 Image header's `image_size`
//! patched to the whole file so loaders copy all of it.
//!
//! The arm64 Image header is specified in the Linux kernel's
//! Documentation/arch/arm64/booting.rst: `image_size` is a little-endian u64
//! at byte 16, and the magic "ARM\x64" (0x644d5241 LE) sits at byte 56.

use std::fmt;

use kernel_core::manifest::{BLOB_ALIGN, END_MARKER, MAGIC};

/// Offset of `image_size` in the arm64 Image header.
pub const IMAGE_SIZE_OFFSET: usize = 16;
/// Offset of the header's magic number.
pub const IMAGE_MAGIC_OFFSET: usize = 56;
/// The header magic, "ARM\x64".
pub const IMAGE_MAGIC: [u8; 4] = *b"ARM\x64";

/// Offset of `text_offset` in the arm64 Image header.
pub const TEXT_OFFSET_OFFSET: usize = 8;

/// True if `bytes` start with an arm64 Image header.
pub fn has_image_header(bytes: &[u8]) -> bool {
    bytes.get(IMAGE_MAGIC_OFFSET..IMAGE_MAGIC_OFFSET + IMAGE_MAGIC.len()) == Some(&IMAGE_MAGIC)
}

/// The header's `text_offset` (how far past a 2 MiB boundary the image wants
/// to be loaded), if `bytes` carry an arm64 Image header.
pub fn image_text_offset(bytes: &[u8]) -> Option<u64> {
    if !has_image_header(bytes) {
        return None;
    }
    let field = bytes.get(TEXT_OFFSET_OFFSET..TEXT_OFFSET_OFFSET + 8)?;
    let mut le = [0u8; 8];
    le.copy_from_slice(field);
    Some(u64::from_le_bytes(le))
}

/// Why the pieces do not make an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssemblyError {
    /// The kernel binary does not start with an arm64 Image header.
    NoImageHeader,
    /// The kernel binary's length is not a multiple of the manifest alignment.
    KernelNotAligned {
        /// Its length.
        len: usize,
    },
    /// The manifest does not start with the manifest magic.
    NotAManifest,
}

impl fmt::Display for AssemblyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoImageHeader => write!(
                f,
                "the kernel binary does not start with an arm64 Image header (no \"ARM\\x64\" magic at byte {IMAGE_MAGIC_OFFSET})"
            ),
            Self::KernelNotAligned { len } => write!(
                f,
                "the kernel binary is {len} bytes, not a multiple of {BLOB_ALIGN} as the manifest placement needs"
            ),
            Self::NotAManifest => write!(f, "the manifest does not start with its magic bytes"),
        }
    }
}

/// Where the parts of an assembled image are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    /// Bytes of kernel (the manifest starts here).
    pub kernel_len: usize,
    /// Bytes of manifest (the end marker starts right after).
    pub manifest_len: usize,
}

impl ImageLayout {
    /// Offset of the manifest's first byte.
    pub fn manifest_offset(&self) -> usize {
        self.kernel_len
    }

    /// Length of the whole image.
    pub fn total_len(&self) -> usize {
        self.kernel_len + self.manifest_len + END_MARKER.len()
    }
}

/// A bootable image and its layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemImage {
    /// The file contents.
    pub bytes: Vec<u8>,
    /// Where the parts are.
    pub layout: ImageLayout,
}

/// Builds kernel ‖ manifest ‖ end marker and patches the header's
/// `image_size` to the total length.
pub fn assemble(kernel: &[u8], manifest: &[u8]) -> Result<SystemImage, AssemblyError> {
    if !has_image_header(kernel) {
        return Err(AssemblyError::NoImageHeader);
    }
    if !kernel.len().is_multiple_of(BLOB_ALIGN) {
        return Err(AssemblyError::KernelNotAligned { len: kernel.len() });
    }
    if !manifest.starts_with(&MAGIC) {
        return Err(AssemblyError::NotAManifest);
    }
    let layout = ImageLayout {
        kernel_len: kernel.len(),
        manifest_len: manifest.len(),
    };
    let mut bytes = Vec::with_capacity(layout.total_len());
    bytes.extend_from_slice(kernel);
    bytes.extend_from_slice(manifest);
    bytes.extend_from_slice(&END_MARKER);
    let size = (bytes.len() as u64).to_le_bytes();
    bytes[IMAGE_SIZE_OFFSET..IMAGE_SIZE_OFFSET + size.len()].copy_from_slice(&size);
    Ok(SystemImage { bytes, layout })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A kernel-shaped binary: an Image header and `len` bytes in all.
    pub(crate) fn fake_kernel(len: usize) -> Vec<u8> {
        let mut k: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        k[IMAGE_MAGIC_OFFSET..IMAGE_MAGIC_OFFSET + 4].copy_from_slice(&IMAGE_MAGIC);
        k
    }

    /// A manifest-shaped blob of `len` bytes.
    pub(crate) fn fake_manifest(len: usize) -> Vec<u8> {
        let mut m = vec![0x5a; len];
        m[..MAGIC.len()].copy_from_slice(&MAGIC);
        m
    }

    #[test]
    fn image_is_kernel_manifest_marker_with_size_patched() {
        let kernel = fake_kernel(2 * BLOB_ALIGN);
        let manifest = fake_manifest(BLOB_ALIGN);
        let image = assemble(&kernel, &manifest).expect("assembles");
        let total = 3 * BLOB_ALIGN + END_MARKER.len();
        assert_eq!(image.bytes.len(), total);
        assert_eq!(image.layout.total_len(), total);
        assert_eq!(image.layout.manifest_offset(), 2 * BLOB_ALIGN);
        assert_eq!(
            &image.bytes[IMAGE_SIZE_OFFSET..IMAGE_SIZE_OFFSET + 8],
            &(total as u64).to_le_bytes()
        );
        // Everything but the size field is the kernel unchanged.
        assert_eq!(
            &image.bytes[..IMAGE_SIZE_OFFSET],
            &kernel[..IMAGE_SIZE_OFFSET]
        );
        assert_eq!(&image.bytes[24..2 * BLOB_ALIGN], &kernel[24..]);
        assert_eq!(
            &image.bytes[2 * BLOB_ALIGN..3 * BLOB_ALIGN],
            manifest.as_slice()
        );
        assert_eq!(&image.bytes[3 * BLOB_ALIGN..], &END_MARKER);
    }

    #[test]
    fn text_offset_is_read_only_behind_the_magic() {
        let mut kernel = fake_kernel(BLOB_ALIGN);
        kernel[8..16].copy_from_slice(&0x8_0000u64.to_le_bytes());
        assert_eq!(image_text_offset(&kernel), Some(0x8_0000));
        kernel[IMAGE_MAGIC_OFFSET] = 0;
        assert_eq!(image_text_offset(&kernel), None);
        assert_eq!(image_text_offset(&[0; 10]), None);
    }

    #[test]
    fn bad_parts_are_refused() {
        let manifest = fake_manifest(BLOB_ALIGN);
        assert_eq!(
            assemble(&vec![0; BLOB_ALIGN], &manifest),
            Err(AssemblyError::NoImageHeader)
        );
        assert_eq!(
            assemble(&fake_kernel(100), &manifest),
            Err(AssemblyError::KernelNotAligned { len: 100 })
        );
        assert_eq!(
            assemble(&fake_kernel(BLOB_ALIGN), &[0; 64]),
            Err(AssemblyError::NotAManifest)
        );
    }
}
