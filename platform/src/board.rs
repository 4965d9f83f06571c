//! Static descriptions of the supported boards, used by the config tool to
//! validate and lay out a system before it ever boots. The core itself learns
//! the machine from the device tree; these are the build-time promises that the
//! boot-time discovery then checks.

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
};

/// Raspberry Pi 4 Model B (BCM2711); QEMU `raspi4b` models the 2 GiB board.
pub const RPI4: BoardSpec = BoardSpec {
    name: "rpi4",
    ram_base: 0,
    default_ram: 2 << 30,
    max_ram: 8 << 30,
    default_cpus: 4,
    max_cpus: 4,
    kernel_load: 0x8_0000,
    gic_versions: &[2],
    gicv: Some(0xFF84_6000),
    firmware_reserved: 0x1000,
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
    fn kernel_loads_inside_ram() {
        for b in BOARDS {
            assert!(b.kernel_load >= b.ram_base && b.kernel_load < b.ram_base + b.default_ram);
        }
    }
}
