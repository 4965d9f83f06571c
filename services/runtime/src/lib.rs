//! The runtime every Bulkhead partition program links against: entry and
//! stacks for up to eight vCPUs, an identity-mapped stage-1 MMU, exception
//! vectors, console and `log` output, hypercall and PSCI wrappers, the virtual
//! timer and GIC CPU interface, the PMU cycle counter, and the panic handler.
//!
//! # Writing a program
//!
//! A `#![no_std]`, `#![no_main]` binary for `aarch64-unknown-none`:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! #![forbid(unsafe_code)]
//!
//! use bulkhead_runtime::{println, psci};
//!
//! bulkhead_runtime::entry!(main);
//!
//! fn main(device_tree: usize) -> ! {
//!     println!("hello from {device_tree:#x}");
//!     psci::system_off()
//! }
//! ```
//!
//! and a `build.rs` that links it with the runtime's linker script (the
//! runtime's own build script writes `link.x` and puts it on the search path):
//!
//! ```ignore
//! fn main() {
//!     println!("cargo:rustc-link-arg-bins=-Tlink.x");
//! }
//! ```
//!
//! The image is linked at 0x4000_0000; set `BULKHEAD_PARTITION_BASE` to move
//! it. The flat binary starts with an arm64 Image header whose `image_size`
//! covers `.bss` and the stacks (see [`entry`]). That also lets a program boot
//! on bare QEMU, which is how the runtime itself is tested: build with
//! `BULKHEAD_PARTITION_BASE=0x40080000` (QEMU moves an Image whose
//! `text_offset` is below 4 KiB up by 2 MiB, so the default base would not
//! match), `objcopy -O binary`, then `qemu-system-aarch64 -M virt -cpu
//! cortex-a72 -kernel prog.bin -append "... native"`. The `native` boot
//! argument selects [`native`] mode: console on the PL011 and PSCI over the
//! tree's conduit, without trying the core's hypercalls first. (Without it
//! QEMU answers every HVC as a PSCI call, so PSCI still works and the
//! console falls back to the PL011.)
//!
//! # What runs before `main`
//!
//! See [`entry`] (boot code and MMU), [`exceptions`] (vectors) and `start`:
//! `.bss` is zeroed, FP/SIMD enabled, the MMU and caches are on, the device
//! tree address is recorded ([`devicetree`]), this vCPU's GIC CPU interface
//! is enabled, and interrupts are still masked.
//!
//! The pure helpers (boot arguments, IPA ranges, line buffering, byte
//! rings, statistics, exception syndromes, the translation table and the
//! memory test) build on the host too and are tested there with `cargo test
//! -p bulkhead-runtime`.
#![cfg_attr(not(test), no_std)]

pub mod bootargs;
pub mod byte_ring;
pub mod ipc;
pub mod line_buffer;
pub mod memory_map;
pub mod memtest;
pub mod posted_mmio;
pub mod smccc;
pub mod stats;
pub mod syndrome;
pub mod translation_table;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod console;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod devicetree;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod entry;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod exceptions;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod fault;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod fp_probe;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod gic;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod hvc;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod irq;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod irq_latency;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod logger;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod mini_uart;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod mmio;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod native;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod panic;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod pl011;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod pmu;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod psci;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod ram;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod smp;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod start;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod sysreg_probe;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod timer;

/// Declares the program's `main`, which vCPU 0 runs after the runtime's
/// setup. `main` takes the device tree's IPA and never returns:
/// `bulkhead_runtime::entry!(main);` with `fn main(device_tree: usize) -> !`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The program's entry, called once by the runtime on vCPU 0.
        #[unsafe(export_name = "__bulkhead_main")]
        pub extern "Rust" fn __bulkhead_main(device_tree: usize) -> ! {
            let main: fn(usize) -> ! = $main;
            main(device_tree)
        }
    };
}

/// Prints to the partition console (see [`console`]).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::print_args(::core::format_args!($($arg)*))
    };
}

/// Prints a line to the partition console (see [`console`]).
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::write_str("\n")
    };
    ($($arg:tt)*) => {
        $crate::console::print_args(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}
