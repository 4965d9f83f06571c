//! Loads and stores to device registers (emulated windows or passed-through
//! devices) of the partition's own address space, each a single instruction
//! of the stated width so an emulating service sees exactly that access.

use core::arch::asm;

/// A device register window at a fixed address in this partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    base: usize,
}

macro_rules! load {
    ($name:ident, $insn:literal, $reg:literal, $ty:ty) => {
        /// A load of the stated width from `offset`.
        pub fn $name(&self, offset: usize) -> $ty {
            let value: u64;
            // SAFETY: a single load from this partition's own device window
            // (see `Window::new`); the core completes it or faults us.
            unsafe {
                asm!(concat!($insn, " {v", $reg, "}, [{a}]"), v = out(reg) value, a = in(reg) self.base + offset, options(nostack, readonly))
            };
            value as $ty
        }
    };
}

macro_rules! store {
    ($name:ident, $insn:literal, $reg:literal, $ty:ty) => {
        /// A store of the stated width to `offset`.
        pub fn $name(&self, offset: usize, value: $ty) {
            // SAFETY: a single store to this partition's own device window.
            unsafe {
                asm!(concat!($insn, " {v", $reg, "}, [{a}]"), v = in(reg) value as u64, a = in(reg) self.base + offset, options(nostack))
            };
        }
    };
}

impl Window {
    /// The window at `base`. Accesses outside what the partition's config maps
    /// fault the partition (the core's doing), they cannot corrupt memory.
    pub const fn new(base: usize) -> Self {
        Self { base }
    }

    load!(read_u8, "ldrb", ":w", u8);
    load!(read_u16, "ldrh", ":w", u16);
    load!(read_u32, "ldr", ":w", u32);
    load!(read_u64, "ldr", "", u64);
    load!(read_i8_sign_extended, "ldrsb", "", i64);
    load!(read_i16_sign_extended, "ldrsh", "", i64);
    load!(read_i32_sign_extended, "ldrsw", "", i64);
    store!(write_u8, "strb", ":w", u8);
    store!(write_u16, "strh", ":w", u16);
    store!(write_u32, "str", ":w", u32);
    store!(write_u64, "str", "", u64);

    /// Two 64-bit loads in one `LDP`: an access whose syndrome the core
    /// cannot decode, so a service cannot emulate it (used to check that the
    /// core faults the partition clearly instead).
    pub fn read_pair_u64(&self, offset: usize) -> (u64, u64) {
        let (a, b): (u64, u64);
        // SAFETY: one load pair from this partition's own device window.
        unsafe {
            asm!("ldp {a}, {b}, [{p}]", a = out(reg) a, b = out(reg) b, p = in(reg) self.base + offset, options(nostack, readonly))
        };
        (a, b)
    }
}
