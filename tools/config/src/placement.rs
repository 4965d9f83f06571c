//! Where a partition's image, initrd and device tree go inside its first RAM region,
//! following the arm64 Linux boot protocol (Documentation/arch/arm64/booting.rst)
//! so that Linux `Image` files and bare-metal programs load the same way.

use std::fmt;

use crate::system::Region;
use crate::units::{format_size, MIB};

/// Bytes of an image that [`place_image`] looks at: the arm64 Image header.
pub const IMAGE_HEADER_LEN: usize = 64;

/// Device trees and initrds are placed on this boundary (stage-2 pages;
/// booting.rst asks for only 8 bytes for the tree and nothing for the initrd).
const DTB_ALIGN: u64 = 0x1000;

/// Base alignment that booting.rst requires of the address an Image is loaded
/// `text_offset` bytes above.
const IMAGE_BASE_ALIGN: u64 = 2 * MIB;

/// `text_offset` to assume for pre-3.17 kernels, whose header has `image_size`
/// zero (booting.rst, "Call the kernel image").
const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;

/// The fields of the arm64 Image header that decide where it loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Arm64ImageHeader {
    /// Offset of the load address from a 2 MiB aligned base.
    text_offset: u64,
    /// Bytes the kernel occupies once running, BSS included (0 on old kernels).
    image_size: u64,
}

/// Reads the arm64 Image header: magic "ARM\x64" at offset 56, `text_offset`
/// (u64 LE) at 8, `image_size` (u64 LE) at 16.
fn arm64_header(image: &[u8]) -> Option<Arm64ImageHeader> {
    let u64_at = |offset: usize| {
        image
            .get(offset..offset + 8)
            .and_then(|bytes| bytes.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if image.get(56..60)? != b"ARM\x64" {
        return None;
    }
    Some(Arm64ImageHeader {
        text_offset: u64_at(8)?,
        image_size: u64_at(16)?,
    })
}

/// Where an image loads and how much room it takes there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImagePlacement {
    /// IPA of the image's first byte, which is also the entry point.
    pub image_ipa: u64,
    /// Bytes from `image_ipa` the image occupies once running (an arm64
    /// Image's `image_size` counts its BSS, which the file does not hold).
    pub footprint: u64,
}

impl ImagePlacement {
    /// First IPA past the running image.
    pub fn end(&self) -> u64 {
        self.image_ipa.saturating_add(self.footprint)
    }
}

/// Why an image or device tree does not fit its partition's first region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlacementError {
    /// The image runs past the end of the region.
    Oversized {
        image: ImagePlacement,
        region: Region,
    },
    /// An arm64 Image must load `text_offset` above a 2 MiB aligned base.
    MisalignedImageBase { region: Region },
    /// The device tree would overlap the image or the initrd.
    NoRoomForDeviceTree {
        dtb_len: u64,
        /// First IPA past what lies below it.
        occupied_end: u64,
        /// What lies below it: "the image" or "the image and its initrd".
        occupant: &'static str,
        region: Region,
    },
    /// The initrd does not fit between the image and the region's end.
    NoRoomForInitrd {
        initrd_len: u64,
        image: ImagePlacement,
        region: Region,
    },
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Oversized { image, region } => write!(
                f,
                "the image is oversized: it needs {} from {:#x}, but the first memory region {:#x}..{:#x} holds only {} from there",
                format_size(image.footprint),
                image.image_ipa,
                region.ipa,
                region.end(),
                format_size(region.end().saturating_sub(image.image_ipa)),
            ),
            Self::MisalignedImageBase { region } => write!(
                f,
                "the image carries an arm64 Image header, which must load above a 2 MiB aligned base, but the first memory region starts at {:#x}",
                region.ipa
            ),
            Self::NoRoomForDeviceTree {
                dtb_len,
                occupied_end,
                occupant,
                region,
            } => write!(
                f,
                "no room for the device tree: it needs {} at the top of the first memory region {:#x}..{:#x}, but {occupant} {} the region up to {:#x}",
                format_size(dtb_room(dtb_len)),
                region.ipa,
                region.end(),
                if occupant == IMAGE { "occupies" } else { "occupy" },
                occupied_end
            ),
            Self::NoRoomForInitrd {
                initrd_len,
                image,
                region,
            } => write!(
                f,
                "no room for the initrd: it needs {} after the image, which ends at {:#x}, but the first memory region {:#x}..{:#x} ends first",
                format_size(initrd_len),
                image.end(),
                region.ipa,
                region.end()
            ),
        }
    }
}

/// Places an image in `first` (the partition's first RAM region).
///
/// `head` is the image's start (at least [`IMAGE_HEADER_LEN`] bytes when the
/// image is that long) and `image_len` its full length. An arm64 Image loads at
/// region base + `text_offset`; anything else loads at the region base.
pub fn place_image(
    first: &Region,
    head: &[u8],
    image_len: u64,
) -> Result<ImagePlacement, PlacementError> {
    let placement = match arm64_header(head) {
        Some(header) => {
            if !first.ipa.is_multiple_of(IMAGE_BASE_ALIGN) {
                return Err(PlacementError::MisalignedImageBase { region: *first });
            }
            let text_offset = if header.image_size == 0 {
                LEGACY_TEXT_OFFSET
            } else {
                header.text_offset
            };
            ImagePlacement {
                image_ipa: first.ipa.saturating_add(text_offset),
                footprint: image_len.max(header.image_size),
            }
        }
        None => ImagePlacement {
            image_ipa: first.ipa,
            footprint: image_len,
        },
    };
    if placement.image_ipa >= first.end() || placement.end() > first.end() {
        return Err(PlacementError::Oversized {
            image: placement,
            region: *first,
        });
    }
    Ok(placement)
}

/// Bytes a device tree of `dtb_len` bytes takes: whole pages.
fn dtb_room(dtb_len: u64) -> u64 {
    dtb_len.div_ceil(DTB_ALIGN).saturating_mul(DTB_ALIGN)
}

/// Places a device tree of `dtb_len` bytes at the top of `first`, page aligned,
/// clear of the image. Returns its IPA.
pub fn place_device_tree(
    first: &Region,
    image: &ImagePlacement,
    initrd_end: Option<u64>,
    dtb_len: u64,
) -> Result<u64, PlacementError> {
    let occupied_end = initrd_end.unwrap_or(image.end()).max(image.end());
    match first.end().checked_sub(dtb_room(dtb_len)) {
        Some(dtb_ipa) if dtb_ipa >= occupied_end && dtb_ipa >= first.ipa => Ok(dtb_ipa),
        _ => Err(PlacementError::NoRoomForDeviceTree {
            dtb_len,
            occupied_end,
            occupant: if initrd_end.is_some() {
                IMAGE_AND_INITRD
            } else {
                IMAGE
            },
            region: *first,
        }),
    }
}

/// [`PlacementError::NoRoomForDeviceTree`]'s occupants.
const IMAGE: &str = "the image";
/// See [`IMAGE`].
const IMAGE_AND_INITRD: &str = "the image and its initrd";

/// Places an initrd of `initrd_len` bytes right after the running image
/// (page aligned), in the same region: booting.rst wants it inside the
/// 1 GiB-aligned window that also covers the kernel, which this satisfies
/// for any region up to 1 GiB. Returns its IPA.
pub fn place_initrd(
    first: &Region,
    image: &ImagePlacement,
    initrd_len: u64,
) -> Result<u64, PlacementError> {
    let ipa = image.end().div_ceil(DTB_ALIGN).saturating_mul(DTB_ALIGN);
    match ipa.checked_add(initrd_len) {
        Some(end) if end <= first.end() => Ok(ipa),
        _ => Err(PlacementError::NoRoomForInitrd {
            initrd_len,
            image: *image,
            region: *first,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Perms;

    fn region(ipa: u64, size: u64) -> Region {
        Region {
            ipa,
            size,
            perms: Perms::RWX,
        }
    }

    fn linux_head(text_offset: u64, image_size: u64) -> Vec<u8> {
        let mut head = vec![0u8; IMAGE_HEADER_LEN];
        head[8..16].copy_from_slice(&text_offset.to_le_bytes());
        head[16..24].copy_from_slice(&image_size.to_le_bytes());
        head[56..60].copy_from_slice(b"ARM\x64");
        head
    }

    #[test]
    fn plain_images_load_at_the_region_base() {
        let first = region(0x4000_0000, 16 * MIB);
        let placed = place_image(&first, &[0x14; 64], 5000).unwrap();
        assert_eq!(
            placed,
            ImagePlacement {
                image_ipa: 0x4000_0000,
                footprint: 5000
            }
        );
    }

    #[test]
    fn linux_images_load_at_text_offset_and_count_their_bss() {
        let first = region(0x4000_0000, 64 * MIB);
        let placed = place_image(&first, &linux_head(0x1_0000, 40 * MIB), 30 * MIB).unwrap();
        assert_eq!(placed.image_ipa, 0x4001_0000);
        assert_eq!(placed.footprint, 40 * MIB);
        // Pre-3.17 kernels: image_size 0 means text_offset 0x80000.
        let placed = place_image(&first, &linux_head(0, 0), 4096).unwrap();
        assert_eq!(placed.image_ipa, 0x4008_0000);
    }

    #[test]
    fn oversized_images_are_refused() {
        let first = region(0x4000_0000, 16 * MIB);
        let err = place_image(&first, &[], 16 * MIB + 1).unwrap_err();
        assert!(matches!(err, PlacementError::Oversized { .. }));
        assert!(err.to_string().contains("oversized"), "{err}");
        assert!(place_image(&first, &[], 16 * MIB).is_ok());
        let err = place_image(&first, &linux_head(0, 16 * MIB + 4096), 4096).unwrap_err();
        assert!(matches!(err, PlacementError::Oversized { .. }));
        let err = place_image(&first, &linux_head(32 * MIB, 4096), 4096).unwrap_err();
        assert!(matches!(err, PlacementError::Oversized { .. }));
    }

    #[test]
    fn linux_images_need_a_2mib_aligned_base() {
        let first = region(0x4010_0000, 16 * MIB);
        let err = place_image(&first, &linux_head(0, 4096), 4096).unwrap_err();
        assert_eq!(err, PlacementError::MisalignedImageBase { region: first });
    }

    #[test]
    fn device_trees_go_at_the_top_clear_of_the_image() {
        let first = region(0x4000_0000, 16 * MIB);
        let image = place_image(&first, &[], 5000).unwrap();
        assert_eq!(
            place_device_tree(&first, &image, None, 1500),
            Ok(0x4100_0000 - 0x1000)
        );
        assert_eq!(
            place_device_tree(&first, &image, None, 0x1001),
            Ok(0x4100_0000 - 0x2000)
        );
        let full = place_image(&first, &[], 16 * MIB - 0x1000).unwrap();
        assert_eq!(
            place_device_tree(&first, &full, None, 0x1000),
            Ok(0x4100_0000 - 0x1000)
        );
        let err = place_device_tree(&first, &full, None, 0x1001).unwrap_err();
        assert!(matches!(err, PlacementError::NoRoomForDeviceTree { .. }));
    }

    #[test]
    fn initrds_follow_the_image_page_aligned_and_must_fit() {
        let first = region(0x4000_0000, 16 * MIB);
        let image = place_image(&first, &linux_head(0x20_0000, 0x10_0001), 5000).unwrap();
        assert_eq!(place_initrd(&first, &image, 1), Ok(0x4030_1000));
        assert_eq!(
            place_initrd(&first, &image, 0x4100_0000 - 0x4030_1000),
            Ok(0x4030_1000)
        );
        let err = place_initrd(&first, &image, 0x4100_0000 - 0x4030_1000 + 1).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("no room for the initrd: it needs"));
    }
}
