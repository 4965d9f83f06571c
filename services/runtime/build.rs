//! Build script of the partition runtime: writes the linker script `link.x`
//! (and the link base as a Rust constant) into OUT_DIR and puts OUT_DIR on the
//! link search path, so a program's own build script only has to say
//! `cargo:rustc-link-arg-bins=-Tlink.x`.
//!
//! The image is linked at 0x4000_0000 (the first RAM IPA the config tool gives
//! a partition); `BULKHEAD_PARTITION_BASE` (hex with `0x`, or decimal) moves it,
//! e.g. to 0x4008_0000 to boot a program as a raw image on bare QEMU.

use std::{env, fs, path::PathBuf};

/// Where a partition's image is loaded unless the environment says otherwise.
const DEFAULT_PARTITION_BASE: u64 = 0x4000_0000;
/// The base must be page aligned: the flat image is loaded page by page.
const BASE_ALIGNMENT: u64 = 4096;
/// The lowest allowed base: IPAs below 1 GiB are the partition's device window,
/// which the runtime maps as Device memory.
const LOWEST_BASE: u64 = 0x4000_0000;
/// The runtime's identity map covers 39 bits of address (512 GiB).
const END_OF_MAP: u64 = 1 << 39;
/// Environment variable that overrides the link base.
const BASE_VARIABLE: &str = "BULKHEAD_PARTITION_BASE";

fn parse_address(text: &str) -> Option<u64> {
    let text = text.trim().replace('_', "");
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn partition_base() -> u64 {
    let Ok(text) = env::var(BASE_VARIABLE) else {
        return DEFAULT_PARTITION_BASE;
    };
    let Some(base) = parse_address(&text) else {
        panic!("{BASE_VARIABLE}={text:?} is not an address (use 0x… hex or decimal)");
    };
    if !base.is_multiple_of(BASE_ALIGNMENT) {
        panic!("{BASE_VARIABLE}={base:#x} is not {BASE_ALIGNMENT}-byte aligned");
    }
    if !(LOWEST_BASE..END_OF_MAP).contains(&base) {
        panic!(
            "{BASE_VARIABLE}={base:#x} is outside {LOWEST_BASE:#x}..{END_OF_MAP:#x}, \
             the RAM part of the runtime's identity map"
        );
    }
    base
}

fn main() {
    println!("cargo:rerun-if-env-changed={BASE_VARIABLE}");
    println!("cargo:rerun-if-changed=link.x.in");
    println!("cargo:rerun-if-changed=build.rs");

    let base = partition_base();
    let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        panic!("cargo did not set OUT_DIR");
    };

    let script = include_str!("link.x.in").replace("@PARTITION_BASE@", &format!("{base:#x}"));
    let script_path = out.join("link.x");
    if let Err(e) = fs::write(&script_path, script) {
        panic!("cannot write {}: {e}", script_path.display());
    }

    let constant = format!(
        "/// Where this program is linked and loaded (from `{BASE_VARIABLE}` at build time).\n\
         pub const PARTITION_BASE: u64 = {base:#x};\n"
    );
    let constant_path = out.join("partition_base.rs");
    if let Err(e) = fs::write(&constant_path, constant) {
        panic!("cannot write {}: {e}", constant_path.display());
    }

    println!("cargo:rustc-link-search={}", out.display());
}
