//! Links the console program with the partition runtime's linker script,
//! which the runtime's build script writes and puts on the link search path.

fn main() {
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=build.rs");
}
