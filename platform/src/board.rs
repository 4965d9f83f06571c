//! Static descriptions of the supported boards, used by the config tool to
//! validate and lay out a system before it ever boots. The core itself learns
//! the machine from the device tree; these are the build-time promises that the
//! boot-time discovery then checks.

use crate::machine::MemRange;
use crate::rpi4;

/// A supported board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardSpec {
    /// The name used in configs (`[board] name = "..."`).
    pub name: &'static str,
    /// Physical base of RAM.
    pub ram_base: u64,
    /// Default RAM size (what `cargo xtask run` gives QEMU).
    pub default_ram: u64,
    /// Largest RAM size a config may declare.
    pub max_ram: u64,
    /// Number of physical CPUs when the config does not say.
    pub default_cpus: u32,
    /// Most physical CPUs.
    pub max_cpus: u32,
    /// Where loaders put the kernel image (RAM base + Image text offset).
    pub kernel_load: u64,
    /// GIC versions the board can have.
    pub gic_versions: &'static [u8],
    /// GICv2 virtual CPU interface (GICV) frame, mapped at a GICv2 guest's GICC.
    pub gicv: Option<u64>,
    /// Low memory the firmware keeps (spin tables, stubs); never given to partitions.
    pub firmware_reserved: u64,
    /// A PL011 the firmware leaves set up at a fixed address. The core prints
    /// there only to say why it cannot read the device tree, which is where
    /// it otherwise learns its console.
    pub fallback_console: u64,
    /// Physical windows holding devices a partition may be given (passthrough);
    /// the interrupt controller and RAM lie outside them.
    pub passthrough_windows: &'static [MemRange],
}

impl BoardSpec {
    /// Whether `[base, base + size)` lies inside one passthrough window.
    pub fn is_passthrough_range(&self, base: u64, size: u64) -> bool {
        let Some(end) = base.checked_add(size) else {
            return false;
        };
        size != 0
            && self
                .passthrough_windows
                .iter()
                .any(|w| base >= w.base && end <= w.end())
    }
}

/// QEMU `virt` with `virtualization=on`.
pub const QEMU_VIRT: BoardSpec = BoardSpec {
    name: "qemu-virt",
    ram_base: 0x4000_0000,
    default_ram: 1 << 30,
    max_ram: 8 << 30,
    default_cpus: 4,
    max_cpus: 8,
    kernel_load: 0x4008_0000,
    gic_versions: &[2, 3],
    gicv: Some(0x0804_0000),
    firmware_reserved: 0,
    fallback_console: 0x0900_0000,
    // QEMU's `virt` memory map (hw/arm/virt.c): UART, RTC, GPIO, virtio-mmio
    // and the PCIe windows between the GIC's frames and RAM.
    passthrough_windows: &[MemRange {
        base: 0x0900_0000,
        size: 0x3700_0000,
    }],
};

/// Raspberry Pi 4 Model B (BCM2711); QEMU `raspi4b` models the 2 GiB board.
///
/// Partitions get the low RAM below the VideoCore's share of the first GiB
/// ([`rpi4::LOW_RAM_END`], with config.txt's `gpu_mem=64`), which every Pi 4
/// and QEMU have. RAM above 1 GiB on the larger boards sits behind that hole,
/// which the top-down layout cannot express, so it is not handed out yet.
pub const RPI4: BoardSpec = BoardSpec {
    name: "rpi4",
    ram_base: 0,
    default_ram: rpi4::LOW_RAM_END,
    max_ram: rpi4::LOW_RAM_END,
    default_cpus: 4,
    max_cpus: 4,
    kernel_load: 0x8_0000,
    gic_versions: &[2],
    gicv: Some(0xFF84_6000),
    // The firmware's spin tables and stub (its /memreserve/ entry).
    firmware_reserved: 0x1000,
    fallback_console: rpi4::UART0,
    passthrough_windows: &rpi4::PASSTHROUGH_WINDOWS,
};

/// Every supported board.
pub const BOARDS: &[BoardSpec] = &[QEMU_VIRT, RPI4];

/// Looks a board up by its config name.
pub fn by_name(name: &str) -> Option<&'static BoardSpec> {
    BOARDS.iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_are_found_by_name() {
        assert_eq!(by_name("qemu-virt"), Some(&QEMU_VIRT));
        assert_eq!(by_name("rpi4").map(|b| b.max_cpus), Some(4));
        assert_eq!(by_name("pi5"), None);
    }

    #[test]
    fn passthrough_ranges_must_lie_in_a_window() {
        // The Pi's AUX page (mini UART) and PL011 may be passed through…
        assert!(RPI4.is_passthrough_range(rpi4::AUX, 0x1000));
        assert!(RPI4.is_passthrough_range(rpi4::UART0, 0x1000));
        // …its GIC, RAM, empty or wrapping ranges may not.
        assert!(!RPI4.is_passthrough_range(0xFF84_1000, 0x1000));
        assert!(!RPI4.is_passthrough_range(0x100_0000, 0x1000));
        assert!(!RPI4.is_passthrough_range(rpi4::AUX, 0));
        assert!(!RPI4.is_passthrough_range(u64::MAX - 0xfff, 0x2000));
        // A range running out of a window is refused.
        assert!(!RPI4.is_passthrough_range(0xFF7F_F000, 0x2000));
        assert!(QEMU_VIRT.is_passthrough_range(0x0900_0000, 0x1000));
        assert!(!QEMU_VIRT.is_passthrough_range(0x0800_0000, 0x1000));
    }

    #[test]
    fn fallback_consoles_are_device_addresses() {
        for b in BOARDS {
            assert!(b.is_passthrough_range(b.fallback_console, 0x1000));
        }
    }

    #[test]
    fn kernel_loads_inside_ram() {
        for b in BOARDS {
            assert!(b.kernel_load >= b.ram_base && b.kernel_load < b.ram_base + b.default_ram);
        }
    }
}
