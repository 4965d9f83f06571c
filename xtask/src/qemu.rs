//! The QEMU command line for a system image: which machine model stands in for
//! each board, and how the console and debugger are wired up.

use std::ffi::OsString;
use std::path::Path;

use platform::board::{self, BoardSpec};

use crate::error::{XtaskError, XtaskResult};
use crate::qemu_version::QemuVersion;

/// The emulator binary; all our boards are aarch64.
pub const QEMU_BINARY: &str = "qemu-system-aarch64";

/// The QEMU machine model that stands in for a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QemuMachine {
    /// `-M virt,virtualization=on`: EL2 present, GICv2 or GICv3.
    Virt,
    /// `-M raspi4b`: the Raspberry Pi 4B (2 GiB) model.
    Raspi4b,
}

impl QemuMachine {
    /// The model for a board.
    pub fn for_board(board: &BoardSpec) -> XtaskResult<Self> {
        if board.name == board::QEMU_VIRT.name {
            Ok(Self::Virt)
        } else if board.name == board::RPI4.name {
            Ok(Self::Raspi4b)
        } else {
            Err(XtaskError::new(format!(
                "board \"{}\" has no QEMU machine model",
                board.name
            )))
        }
    }

    /// QEMU's name for the model.
    pub fn name(self) -> &'static str {
        match self {
            Self::Virt => "virt",
            Self::Raspi4b => "raspi4b",
        }
    }

    /// The oldest QEMU this project runs the model on: 7.2 (Debian 12's own
    /// QEMU) for `virt`; 9.0 for `raspi4b`, the release that added the model.
    pub fn minimum_qemu(self) -> QemuVersion {
        match self {
            Self::Virt => QemuVersion::new(7, 2),
            Self::Raspi4b => QemuVersion::new(9, 0),
        }
    }

    /// Why xtask cannot boot this model yet, if it cannot.
    pub fn not_runnable_reason(self) -> Option<&'static str> {
        match self {
            Self::Virt => None,
            // QEMU passes the Pi model no device tree unless given `-dtb
            // bcm2711-rpi-4-b.dtb` (from Debian's arm64 kernel package).
            Self::Raspi4b => Some("it needs bcm2711-rpi-4-b.dtb, which xtask does not fetch yet"),
        }
    }

    /// The machine, CPU and memory arguments for a system with `cpus` CPUs,
    /// `ram_bytes` of RAM and a GIC of version `gic`.
    /// `el2 = false` models a machine without EL2 (entered at EL1), to test
    /// that the core refuses to run there.
    pub fn hardware_args(
        self,
        cpus: u32,
        ram_bytes: u64,
        gic: u8,
        el2: bool,
    ) -> XtaskResult<Vec<String>> {
        const MIB: u64 = 1 << 20;
        if ram_bytes == 0 || !ram_bytes.is_multiple_of(MIB) {
            return Err(XtaskError::new(format!(
                "RAM size {ram_bytes:#x} is not a whole number of MiB, which QEMU's -m needs"
            )));
        }
        match self {
            Self::Virt => Ok(vec![
                "-M".into(),
                format!(
                    "virt,virtualization={},gic-version={gic}",
                    if el2 { "on" } else { "off" }
                ),
                "-cpu".into(),
                "cortex-a72".into(),
                "-smp".into(),
                cpus.to_string(),
                "-m".into(),
                format!("{}M", ram_bytes / MIB),
            ]),
            Self::Raspi4b => Err(XtaskError::new(format!(
                "the {} machine cannot be run yet: {}",
                self.name(),
                self.not_runnable_reason().unwrap_or_default()
            ))),
        }
    }
}

/// Where the guest console goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// The user's terminal (`-nographic`: serial and monitor multiplexed on
    /// stdio; Ctrl-A X quits).
    Terminal,
    /// Serial on stdout only, no monitor, no display: for capturing
    /// transcripts without a terminal.
    Captured,
}

/// Everything that decides one QEMU invocation.
#[derive(Clone, Debug)]
pub struct QemuInvocation<'a> {
    /// Machine, CPU and memory arguments from [`QemuMachine::hardware_args`].
    pub hardware: Vec<String>,
    /// The system image, loaded with `-kernel`.
    pub image: &'a Path,
    /// Where the console goes.
    pub console: Console,
    /// Wait for a debugger on TCP port 1234 before running (`-s -S`).
    pub wait_for_gdb: bool,
    /// Count instructions instead of real time (`-icount shift=0`), so
    /// PMCCNTR_EL0 counts retired instructions and runs are reproducible.
    pub instruction_counting: bool,
}

impl QemuInvocation<'_> {
    /// The arguments after the binary name.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = self.hardware.iter().map(OsString::from).collect();
        match self.console {
            Console::Terminal => args.push("-nographic".into()),
            Console::Captured => {
                // -no-reboot: a reset request ends the run instead of looping,
                // so a test never hangs in a reboot cycle.
                for a in [
                    "-display",
                    "none",
                    "-serial",
                    "stdio",
                    "-monitor",
                    "none",
                    "-no-reboot",
                ] {
                    args.push(a.into());
                }
            }
        }
        if self.instruction_counting {
            args.push("-icount".into());
            args.push("shift=0".into());
        }
        if self.wait_for_gdb {
            args.push("-s".into());
            args.push("-S".into());
        }
        args.push("-kernel".into());
        args.push(self.image.as_os_str().to_owned());
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn boards_map_to_models() {
        assert_eq!(
            QemuMachine::for_board(&board::QEMU_VIRT),
            Ok(QemuMachine::Virt)
        );
        assert_eq!(
            QemuMachine::for_board(&board::RPI4),
            Ok(QemuMachine::Raspi4b)
        );
        assert!(QemuMachine::Raspi4b.minimum_qemu() > QemuMachine::Virt.minimum_qemu());
    }

    #[test]
    fn virt_hardware_arguments() {
        let args = QemuMachine::Virt.hardware_args(4, 1 << 30, 3, true);
        assert_eq!(
            args,
            Ok(vec![
                "-M".to_string(),
                "virt,virtualization=on,gic-version=3".into(),
                "-cpu".into(),
                "cortex-a72".into(),
                "-smp".into(),
                "4".into(),
                "-m".into(),
                "1024M".into(),
            ])
        );
        assert!(QemuMachine::Virt
            .hardware_args(4, (1 << 30) + 1, 3, true)
            .is_err());
        assert!(QemuMachine::Raspi4b
            .hardware_args(4, 2 << 30, 2, true)
            .is_err());
    }

    #[test]
    fn terminal_run_with_gdb() {
        let inv = QemuInvocation {
            hardware: vec!["-M".into(), "virt".into()],
            image: Path::new("target/bulkhead/x.img"),
            console: Console::Terminal,
            wait_for_gdb: true,
            instruction_counting: false,
        };
        assert_eq!(
            strings(&inv.args()),
            [
                "-M",
                "virt",
                "-nographic",
                "-s",
                "-S",
                "-kernel",
                "target/bulkhead/x.img"
            ]
        );
    }

    #[test]
    fn captured_run_with_icount() {
        let inv = QemuInvocation {
            hardware: vec![],
            image: Path::new("a.img"),
            console: Console::Captured,
            wait_for_gdb: false,
            instruction_counting: true,
        };
        assert_eq!(
            strings(&inv.args()),
            [
                "-display",
                "none",
                "-serial",
                "stdio",
                "-monitor",
                "none",
                "-no-reboot",
                "-icount",
                "shift=0",
                "-kernel",
                "a.img"
            ]
        );
    }
}
