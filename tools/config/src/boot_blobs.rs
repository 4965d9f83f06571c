//! A partition's boot blobs: where its image and initrd load, its generated
//! device tree and where that goes. Shared by validation (image files, checked early) and
//! manifest building (every image, once programs are built).

use std::fmt;

use crate::devicetree::{guest_device_tree, DeviceTreeError};
use crate::placement::{
    place_device_tree, place_image, place_initrd, ImagePlacement, PlacementError,
};
use crate::system::Partition;

/// What a partition boots with, in its own address space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootBlobs {
    /// Where the image loads (also the entry point).
    pub image: ImagePlacement,
    /// The flattened device tree.
    pub dtb: Vec<u8>,
    /// Where the device tree loads; passed in x0 at entry.
    pub dtb_ipa: u64,
    /// Where the initrd loads, if the partition has one.
    pub initrd_ipa: Option<u64>,
}

/// Why a partition's blobs cannot be prepared.
#[derive(Debug)]
pub enum BootBlobsError {
    /// The partition declares no memory (validation prevents this).
    NoMemory,
    /// The image or device tree does not fit.
    Placement(PlacementError),
    /// The device tree could not be written.
    DeviceTree(DeviceTreeError),
}

impl fmt::Display for BootBlobsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMemory => write!(f, "it has no memory region to load its image into"),
            Self::Placement(error) => write!(f, "{error}"),
            Self::DeviceTree(error) => write!(f, "{error}"),
        }
    }
}

/// Places the image (whose first bytes are `head`, `image_len` long) in the
/// partition's first region and the initrd (`initrd_len` bytes, if any)
/// after it, generates the device tree (which says where the initrd is) and
/// places that at the region's top.
pub fn prepare(
    partition: &Partition,
    gic_version: u8,
    head: &[u8],
    image_len: u64,
    initrd_len: Option<u64>,
) -> Result<BootBlobs, BootBlobsError> {
    let first = partition.memory.first().ok_or(BootBlobsError::NoMemory)?;
    let image = place_image(first, head, image_len).map_err(BootBlobsError::Placement)?;
    let initrd = initrd_len
        .map(|len| place_initrd(first, &image, len).map(|ipa| ipa..ipa + len))
        .transpose()
        .map_err(BootBlobsError::Placement)?;
    let dtb = guest_device_tree(partition, gic_version, initrd.clone())
        .map_err(BootBlobsError::DeviceTree)?;
    let initrd_end = initrd.as_ref().map(|r| r.end);
    let dtb_ipa = place_device_tree(first, &image, initrd_end, dtb.len() as u64)
        .map_err(BootBlobsError::Placement)?;
    Ok(BootBlobs {
        image,
        dtb,
        dtb_ipa,
        initrd_ipa: initrd.map(|r| r.start),
    })
}
