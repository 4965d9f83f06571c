//! `cargo xtask build`: one configuration to one bootable image file.

use std::fs;
use std::path::{Path, PathBuf};

use bulkhead_config::System;

use crate::artifacts::Artifacts;
use crate::cli::BuildOptions;
use crate::commands::config_path;
use crate::error::{XtaskError, XtaskResult};
use crate::image_build::build_system_image;
use crate::system_image::SystemImage;
use crate::workspace::Workspace;

/// KiB, rounded up, for size reports.
fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

/// The one-line report of a written image.
pub fn image_report(shown_path: &Path, image: &SystemImage, partitions: usize) -> String {
    format!(
        "image {}: {} KiB (kernel {} KiB, manifest {} KiB, {partitions} partition{})",
        shown_path.display(),
        kib(image.bytes.len()),
        kib(image.layout.kernel_len),
        kib(image.layout.manifest_len),
        if partitions == 1 { "" } else { "s" },
    )
}

/// Loads and checks a configuration, fetching the Linux guests first if it
/// boots them.
pub fn load_system(config: &Path) -> XtaskResult<System> {
    crate::commands::guests::ensure_for_configs(&[config])?;
    bulkhead_config::load(config).map_err(|e| XtaskError::new(e.to_string()))
}

/// Builds `system`'s image, writes it to `out` (default
/// `target/bulkhead/<config name>.img`), reports it and returns its path.
pub fn build_to_file(
    workspace: &Workspace,
    system: &System,
    out: Option<&Path>,
) -> XtaskResult<PathBuf> {
    let mut artifacts = Artifacts::new(workspace);
    let image = build_system_image(system, &mut artifacts)?;
    let out = out.map_or_else(
        || workspace.default_image_path(&system.path),
        Path::to_path_buf,
    );
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| XtaskError::io("create", dir, e))?;
    }
    fs::write(&out, &image.bytes).map_err(|e| XtaskError::io("write", &out, e))?;
    println!(
        "{}",
        image_report(
            workspace.display_path(&out),
            &image,
            system.partitions.len()
        )
    );
    Ok(out)
}

/// Runs `build`.
pub fn run(options: &BuildOptions) -> XtaskResult<()> {
    let workspace = Workspace::locate();
    let system = load_system(&config_path(&workspace, &options.config))?;
    build_to_file(&workspace, &system, options.out.as_deref()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system_image::assemble;
    use crate::system_image::tests::{fake_kernel, fake_manifest};
    use kernel_core::manifest::BLOB_ALIGN;

    #[test]
    fn report_names_sizes_in_kib() {
        let image = assemble(
            &fake_kernel(64 * BLOB_ALIGN),
            &fake_manifest(3 * BLOB_ALIGN),
        )
        .expect("assembles");
        assert_eq!(
            image_report(Path::new("target/bulkhead/x.img"), &image, 2),
            "image target/bulkhead/x.img: 269 KiB (kernel 256 KiB, manifest 12 KiB, 2 partitions)"
        );
        assert!(image_report(Path::new("a.img"), &image, 1).ends_with("1 partition)"));
    }
}
