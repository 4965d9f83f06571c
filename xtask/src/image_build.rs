//! Building one bootable image from a loaded configuration: kernel and
//! partition images from [`Artifacts`], the manifest from the config crate,
//! assembled by [`system_image::assemble`].

use std::fs;

use bulkhead_config::{ImageSource, Partition, System};

use crate::artifacts::Artifacts;
use crate::elf_flat::FlatImage;
use crate::error::{XtaskError, XtaskResult};
use crate::system_image::{self, SystemImage};

/// Checks that a program was linked where the config crate will put it: at
/// its partition's first region (plus `text_offset` when it carries an arm64
/// Image header), entered at its first byte.
fn check_program_placement(
    partition: &Partition,
    program: &str,
    image: &FlatImage,
) -> XtaskResult<()> {
    let Some(first_region) = partition.memory.first() else {
        return Err(XtaskError::new(format!(
            "partition {:?} has no memory",
            partition.name
        )));
    };
    let text_offset = system_image::image_text_offset(&image.bytes).unwrap_or(0);
    let expected = first_region.ipa.saturating_add(text_offset);
    if image.load_address != expected {
        return Err(XtaskError::new(format!(
            "program {program} is linked at {:#x}, but partition {:?} loads its image at {expected:#x} (its first memory region{})",
            image.load_address,
            partition.name,
            if text_offset == 0 { "" } else { " plus the Image header's text_offset" }
        )));
    }
    if image.entry != image.load_address {
        return Err(XtaskError::new(format!(
            "program {program} enters at {:#x}, not at its first byte {:#x}, where partition {:?} starts it",
            image.entry, image.load_address, partition.name
        )));
    }
    Ok(())
}

/// Builds the image for `system`.
pub fn build_system_image(
    system: &System,
    artifacts: &mut Artifacts<'_>,
) -> XtaskResult<SystemImage> {
    let kernel_len = artifacts.kernel(system.board)?.bytes.len();
    let mut images = Vec::with_capacity(system.partitions.len());
    for partition in &system.partitions {
        let image = match &partition.source {
            ImageSource::Program(name) => {
                let program = artifacts.program(name)?;
                check_program_placement(partition, name, program)?;
                program.bytes.clone()
            }
            // The config crate has resolved the path and checked it exists.
            ImageSource::File(path) => fs::read(path).map_err(|e| {
                XtaskError::io(
                    &format!("read partition {:?}'s image", partition.name),
                    path,
                    e,
                )
            })?,
        };
        images.push(image);
    }
    let manifest = bulkhead_config::build_manifest(system, &images, kernel_len as u64)
        .map_err(|e| XtaskError::new(e.to_string()))?;
    let kernel = artifacts.kernel(system.board)?;
    system_image::assemble(&kernel.bytes, &manifest).map_err(|e| XtaskError::new(e.to_string()))
}
