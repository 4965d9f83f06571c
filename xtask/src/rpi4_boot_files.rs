//! What goes on a Raspberry Pi 4's boot partition beside the Bulkhead system
//! image: the firmware's `config.txt`, and a README naming the Raspberry Pi
//! firmware files the user copies there. Pure text; `commands::image` writes
//! the files.
//!
//! Every `config.txt` option used is one the Raspberry Pi documentation's
//! config.txt chapter describes; the comments in the generated file say why
//! each is set.

use platform::board::RPI4;
use platform::rpi4;

/// The system image's name on the boot partition (`kernel=` names it too).
pub const KERNEL_FILE: &str = "kernel8.img";
/// The firmware's configuration file.
pub const CONFIG_FILE: &str = "config.txt";
/// What to copy beside them, and how to wire the console.
pub const README_FILE: &str = "README.txt";

/// Baud rate of the console PL011, which the firmware sets up.
pub const CONSOLE_BAUD: u32 = 115_200;
/// The PL011's reference clock the firmware programs (its default).
const UART_CLOCK_HZ: u32 = 48_000_000;
/// The VPU core clock's default on the Pi 4, which also clocks the mini UART.
pub const CORE_FREQ_MHZ: u32 = 500;

/// A file from the Raspberry Pi firmware that must sit on the boot partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareFile {
    /// Its path on the boot partition, as in the firmware repository's `boot/`.
    pub path: &'static str,
    /// What it is for.
    pub purpose: &'static str,
}

/// The Raspberry Pi firmware files a Pi 4 boot partition needs. The Pi 4
/// boots from its EEPROM, so there is no `bootcode.bin`.
pub const FIRMWARE_FILES: [FirmwareFile; 4] = [
    FirmwareFile {
        path: "start4.elf",
        purpose: "the VideoCore firmware: reads config.txt, loads the device tree and kernel8.img",
    },
    FirmwareFile {
        path: "fixup4.dat",
        purpose: "its memory-split companion; take it from the same release as start4.elf",
    },
    FirmwareFile {
        path: "bcm2711-rpi-4-b.dtb",
        purpose: "the board's device tree (the firmware release's own, which overlays apply to); the firmware fills in memory and passes it to Bulkhead",
    },
    FirmwareFile {
        path: "overlays/disable-bt.dtbo",
        purpose: "moves the PL011 from the Bluetooth module to GPIO 14/15",
    },
];

/// The firmware's `config.txt` for a Bulkhead system image.
pub fn config_txt() -> String {
    format!(
        "\
# Bulkhead on the Raspberry Pi 4 Model B, written by `cargo xtask image --board rpi4`.
# Every option is described in the Raspberry Pi documentation's config.txt chapter.

# Start the cores in AArch64 and load the Bulkhead system image (core, manifest
# and partitions in one file) where it is linked. The firmware's stub enters it
# at EL2 with x0 = the device tree; the other cores wait in the spin table.
arm_64bit=1
kernel={KERNEL_FILE}
kernel_address={kernel_load:#x}

# Interrupts through the GIC-400, which the core virtualizes for partitions.
enable_gic=1

# The console: the PL011 (UART0) on GPIO 14/15 (header pins 8 and 10) rather
# than the Bluetooth module, {CONSOLE_BAUD} baud from its {uart_mhz} MHz clock.
dtoverlay=disable-bt
enable_uart=1
init_uart_baud={CONSOLE_BAUD}
init_uart_clock={UART_CLOCK_HZ}

# {gpu_mem} MiB for the VideoCore, so the ARM's low RAM ends at {low_ram_end:#x},
# where the system image's memory layout expects it (the core checks at boot).
gpu_mem={gpu_mem}

# Keep the VPU clock, which also clocks the mini UART, at its {CORE_FREQ_MHZ} MHz
# default, so a partition driving the mini UART keeps its baud rate.
core_freq_min={CORE_FREQ_MHZ}

# Uncomment to see the firmware's own boot messages on the console UART.
#uart_2ndstage=1
",
        kernel_load = RPI4.kernel_load,
        uart_mhz = UART_CLOCK_HZ / 1_000_000,
        gpu_mem = rpi4::GPU_MEM_MIB,
        low_ram_end = rpi4::LOW_RAM_END,
    )
}

/// The README written beside the boot files: which system it is, what to
/// copy from the Raspberry Pi firmware, and how to see the console.
pub fn readme(config_name: &str, image_kib: usize) -> String {
    let mut firmware = String::new();
    for file in FIRMWARE_FILES {
        firmware.push_str(&format!("    {:<26} {}\n", file.path, file.purpose));
    }
    format!(
        "\
Bulkhead boot files for the Raspberry Pi 4 Model B
===================================================

System: {config_name} ({KERNEL_FILE}, {image_kib} KiB: the core, its manifest and every
partition in one file), with {CONFIG_FILE} for the firmware.

1. Format a microSD card with one FAT32 partition (an MBR partition table).
2. Copy {KERNEL_FILE} and {CONFIG_FILE} from here to the partition's root.
3. From the Raspberry Pi firmware (the boot/ directory of the
   raspberrypi/firmware repository, or the boot partition of Raspberry Pi OS),
   copy beside them, keeping the overlays/ directory:

{firmware}
4. Connect a 3.3 V USB serial adapter: its RX to GPIO 14 (TXD, header pin 8),
   its TX to GPIO 15 (RXD, pin 10), GND to pin 6. Never 5 V levels.
5. Open the adapter at {CONSOLE_BAUD} baud, 8N1, no flow control, then power the board.

The console shows the core's lines, starting with
`[bulkhead] INFO Bulkhead ... starting on CPU 0 (MPIDR 0x0) at EL2: 4 CPUs`,
and each partition's lines prefixed with its name. docs/rpi4.md in the Bulkhead
repository explains what to expect and what to do when nothing appears.
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `key=value` lines of a config.txt, comments and blanks left out.
    fn settings(text: &str) -> Vec<&str> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }

    #[test]
    fn config_txt_boots_the_image_at_el2_with_the_pl011_console() {
        assert_eq!(
            settings(&config_txt()),
            [
                "arm_64bit=1",
                "kernel=kernel8.img",
                "kernel_address=0x80000",
                "enable_gic=1",
                "dtoverlay=disable-bt",
                "enable_uart=1",
                "init_uart_baud=115200",
                "init_uart_clock=48000000",
                "gpu_mem=64",
                "core_freq_min=500",
            ]
        );
    }

    #[test]
    fn config_txt_settings_have_no_spaces_around_the_equals_sign() {
        // The firmware silently ignores `key = value`.
        for line in settings(&config_txt()) {
            let (key, value) = line.split_once('=').expect("key=value");
            assert!(!key.ends_with(' ') && !value.starts_with(' '), "{line}");
        }
    }

    #[test]
    fn the_memory_split_matches_the_board_layout() {
        // The board's RAM for partitions ends where gpu_mem leaves the ARM's
        // low RAM; the config.txt comment names that address.
        assert_eq!(RPI4.max_ram, rpi4::LOW_RAM_END);
        assert!(config_txt().contains("ends at 0x3c000000"));
    }

    #[test]
    fn readme_lists_every_firmware_file_and_the_wiring() {
        let text = readme("rpi4", 1234);
        for file in FIRMWARE_FILES {
            assert!(text.contains(file.path), "{}", file.path);
        }
        for needed in [
            "kernel8.img, 1234 KiB",
            "System: rpi4",
            "GPIO 14 (TXD, header pin 8)",
            "GPIO 15 (RXD, pin 10)",
            "3.3 V",
            "115200 baud, 8N1",
            "docs/rpi4.md",
        ] {
            assert!(text.contains(needed), "{needed}");
        }
        assert!(!text.contains("bootcode.bin"));
    }
}
