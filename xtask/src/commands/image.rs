//! `cargo xtask image`: the files a board's own firmware boots, written to a
//! directory the user copies to the boot medium. On the Raspberry Pi 4:
//! `kernel8.img` (the whole system image), `config.txt` and a README naming
//! the firmware files to copy beside them.

use std::fs;
use std::path::Path;

use platform::board;

use crate::artifacts::Artifacts;
use crate::cli::ImageOptions;
use crate::commands::build::{image_report, load_system};
use crate::error::{XtaskError, XtaskResult};
use crate::image_build::build_system_image;
use crate::rpi4_boot_files::{self, CONFIG_FILE, KERNEL_FILE, README_FILE};
use crate::scenario::scenario_name;
use crate::workspace::Workspace;

/// Writes `contents` to `dir/name`.
fn write(dir: &Path, name: &str, contents: &[u8]) -> XtaskResult<()> {
    let path = dir.join(name);
    fs::write(&path, contents).map_err(|e| XtaskError::io("write", &path, e))
}

/// Runs `image`.
pub fn run(options: &ImageOptions) -> XtaskResult<()> {
    if options.board != board::RPI4.name {
        return Err(XtaskError::new(format!(
            "`image` writes boot files for a board's own firmware, which only \"{}\" has; for \"{}\" use `cargo xtask build`",
            board::RPI4.name,
            options.board
        )));
    }
    let workspace = Workspace::locate();
    let system = load_system(&options.config)?;
    if system.board.name != options.board {
        return Err(XtaskError::new(format!(
            "{} is a system for board \"{}\", not \"{}\"",
            options.config.display(),
            system.board.name,
            options.board
        )));
    }
    let mut artifacts = Artifacts::new(&workspace);
    let image = build_system_image(&system, &mut artifacts)?;
    let out = &options.out;
    fs::create_dir_all(out).map_err(|e| XtaskError::io("create", out, e))?;
    write(out, KERNEL_FILE, &image.bytes)?;
    write(out, CONFIG_FILE, rpi4_boot_files::config_txt().as_bytes())?;
    let readme = rpi4_boot_files::readme(
        &scenario_name(&options.config),
        image.bytes.len().div_ceil(1024),
    );
    write(out, README_FILE, readme.as_bytes())?;
    let shown = workspace.display_path(out);
    println!(
        "{}",
        image_report(&shown.join(KERNEL_FILE), &image, system.partitions.len())
    );
    println!(
        "boot files in {}: {KERNEL_FILE}, {CONFIG_FILE}, {README_FILE}; copy them and the Raspberry Pi firmware files {README_FILE} lists to the SD card's FAT partition",
        shown.display()
    );
    Ok(())
}
