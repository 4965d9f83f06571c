//! The Raspberry Pi 4 Model B (BCM2711) address map: the facts the board
//! description, the system-image tooling and the Pi configurations share, and
//! what the core needs before it can read the firmware's device tree.
//!
//! Everything the core uses at run time still comes from the tree the
//! firmware passes (`machine`); these constants are the BCM2711's fixed
//! layout in its default "low peripheral" mode (BCM2711 ARM Peripherals,
//! §1.2 "Address map": main peripherals at 0xFC00_0000-0xFF7F_FFFF, ARM
//! local peripherals and the GIC-400 at 0xFF80_0000-0xFFFF_FFFF). Setting
//! `arm_peri_high=1` in config.txt moves them to 0x4_7C00_0000; Bulkhead's
//! config.txt does not.

use crate::machine::MemRange;

/// The main peripherals: bus 0x7C00_0000-0x7F7F_FFFF seen by the ARM cores at
/// 0xFC00_0000 (`/scb` and `/soc` `ranges`). Every device a partition may
/// own on the Pi (UARTs, SPI, I2C, GPIO, EMMC2, Ethernet, PCIe registers)
/// lies here.
pub const LOW_PERIPHERALS: MemRange = MemRange {
    base: 0xFC00_0000,
    size: 0x0380_0000,
};

/// The PCIe outbound window (`/scb` `ranges` child 0x6_0000_0000): the
/// "high" peripheral window, where devices behind the PCIe bridge (the USB 3
/// controller) appear.
pub const HIGH_PERIPHERALS: MemRange = MemRange {
    base: 0x6_0000_0000,
    size: 0x4000_0000,
};

/// ARM local peripherals and the GIC-400 (0xFF80_0000, 8 MiB). The core owns
/// these; no partition is given any of them.
pub const ARM_LOCAL: MemRange = MemRange {
    base: 0xFF80_0000,
    size: 0x0080_0000,
};

/// Where partitions may be given physical devices.
pub const PASSTHROUGH_WINDOWS: [MemRange; 2] = [LOW_PERIPHERALS, HIGH_PERIPHERALS];

/// UART0, the PL011 (bus 0x7E20_1000). The core's console: with
/// `enable_uart=1` and `dtoverlay=disable-bt` the firmware routes it to GPIO
/// 14/15 (header pins 8 and 10) at 115200 8N1 and leaves it set up.
pub const UART0: u64 = 0xFE20_1000;

/// The AUX block (bus 0x7E21_5000): one 4 KiB page holding AUX_IRQ,
/// AUX_ENABLES, the mini UART (UART1) and the two auxiliary SPI masters
/// (BCM2711 ARM Peripherals §2.1.1).
pub const AUX: u64 = 0xFE21_5000;

/// The mini UART's registers inside the AUX page (AUX_MU_IO_REG at +0x40).
pub const MINI_UART_OFFSET: u64 = 0x40;

/// The AUX block's interrupt: VideoCore IRQ 29, GIC SPI 93 (INTID 125),
/// shared by the mini UART and both auxiliary SPI masters.
pub const AUX_INTID: u32 = 32 + 93;

/// Memory the VideoCore keeps at the top of the first GiB when config.txt
/// says `gpu_mem=64`; QEMU `raspi4b` keeps the same 64 MiB (its `vcram-size`).
pub const GPU_MEM_MIB: u64 = 64;

/// End of the ARM's low RAM, which starts at 0: the first GiB less the
/// VideoCore's share. Both the firmware (with `gpu_mem=64`) and QEMU report
/// `/memory@0` as `<0 0 0x3c000000>`.
pub const LOW_RAM_END: u64 = (1 << 30) - (GPU_MEM_MIB << 20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_do_not_overlap_the_core_or_ram() {
        for window in PASSTHROUGH_WINDOWS {
            assert!(!window.overlaps(&ARM_LOCAL));
            assert!(window.base >= LOW_RAM_END);
        }
        assert!(LOW_PERIPHERALS.contains(UART0));
        assert!(LOW_PERIPHERALS.contains(AUX + MINI_UART_OFFSET));
        assert_eq!(LOW_PERIPHERALS.end(), ARM_LOCAL.base);
        assert_eq!(LOW_RAM_END, 0x3C00_0000);
    }
}
