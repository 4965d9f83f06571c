//! Picks the load address for the board being built and hands the linker
//! script to rustc. QEMU virt loads the image at 0x4008_0000, the Pi firmware
//! (and QEMU raspi4b) at 0x8_0000.

use std::{env, fs, path::PathBuf};

fn main() {
    let base: u64 = if env::var_os("CARGO_FEATURE_BOARD_RPI4").is_some() {
        0x8_0000
    } else {
        0x4008_0000
    };
    let template = include_str!("link.ld");
    let script = template.replace("@KERNEL_BASE@", &format!("{base:#x}"));
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let path = out.join("bulkhead.ld");
    if let Err(e) = fs::write(&path, script) {
        panic!("cannot write linker script {}: {e}", path.display());
    }
    println!("cargo:rustc-link-arg-bins=-T{}", path.display());
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
