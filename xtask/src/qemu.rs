//! The QEMU command line for a system image: which machine model stands in for
//! each board, and how the console and debugger are wired up.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use platform::board::{self, BoardSpec};

use crate::error::{XtaskError, XtaskResult};
use crate::qemu_version::QemuVersion;
use crate::workspace::Workspace;

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

    /// Why xtask cannot boot this model yet, if it cannot. Every model runs
    /// today; the hook stays for models whose inputs xtask cannot provide.
    pub fn not_runnable_reason(self) -> Option<&'static str> {
        match self {
            Self::Virt | Self::Raspi4b => None,
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
            Self::Raspi4b => {
                // The model is the 2 GiB, 4-CPU board and QEMU refuses any
                // other -m or -smp; a system may use less of it.
                if cpus > RASPI4B_CPUS || ram_bytes > RASPI4B_RAM {
                    return Err(XtaskError::new(format!(
                        "QEMU raspi4b has {RASPI4B_CPUS} CPUs and {} MiB of RAM; the system asks for {cpus} CPUs and {} MiB",
                        RASPI4B_RAM / MIB,
                        ram_bytes / MIB
                    )));
                }
                if gic != 2 {
                    return Err(XtaskError::new(format!(
                        "QEMU raspi4b has a GIC-400 (GICv2), not GICv{gic}"
                    )));
                }
                if !el2 {
                    return Err(XtaskError::new(
                        "QEMU raspi4b always enters a raw image at EL2; it cannot model a machine without EL2",
                    ));
                }
                Ok(vec![
                    "-M".into(),
                    "raspi4b".into(),
                    "-m".into(),
                    format!("{}M", RASPI4B_RAM / MIB),
                ])
            }
        }
    }

    /// Arguments that give the model what the board's firmware would, after
    /// [`QemuMachine::hardware_args`]: for `raspi4b`, the Raspberry Pi
    /// firmware's device tree (`-dtb`), which QEMU fills in (`/memory`) and
    /// passes in x0 as the Pi firmware does. QEMU passes none by itself.
    pub fn firmware_args(self, workspace: &Workspace) -> XtaskResult<Vec<String>> {
        match self {
            Self::Virt => Ok(Vec::new()),
            Self::Raspi4b => {
                let dtb = rpi4_firmware_dtb(workspace).ok_or_else(|| {
                    XtaskError::new(format!(
                        "no Raspberry Pi 4 device tree: neither target/guests/{RPI4_DTB} (from `cargo xtask guests`) nor {RPI4_DTB_IN_REPOSITORY} exists"
                    ))
                })?;
                Ok(vec!["-dtb".into(), dtb.to_string_lossy().into_owned()])
            }
        }
    }

    /// What the model's second serial port is, if it has one a partition can
    /// own: on `raspi4b`, the Pi's mini UART (the AUX block's UART1).
    pub fn second_serial(self) -> Option<&'static str> {
        match self {
            Self::Virt => None,
            Self::Raspi4b => Some("the mini UART"),
        }
    }

    /// Arguments that send the second serial port to `file`, after the
    /// console's `-serial` (QEMU numbers serial ports in the order given,
    /// which [`QemuInvocation::args`] keeps); none for a model without one.
    pub fn second_serial_args(self, file: &Path) -> Vec<String> {
        match self.second_serial() {
            Some(_) => vec!["-serial".into(), format!("file:{}", file.display())],
            None => Vec::new(),
        }
    }
}

/// CPUs of QEMU's `raspi4b`, which accepts no other `-smp`.
const RASPI4B_CPUS: u32 = 4;
/// RAM of QEMU's `raspi4b`, which accepts no other `-m`.
const RASPI4B_RAM: u64 = 2 << 30;

/// The Raspberry Pi 4 B device tree's file name, as the firmware and Debian's
/// kernel package ship it.
pub const RPI4_DTB: &str = "bcm2711-rpi-4-b.dtb";

/// The same tree kept in the repository (Debian's, unchanged), so raspi4b
/// scenarios run on a clean clone without fetching the guests.
const RPI4_DTB_IN_REPOSITORY: &str = "platform/tests/data/bcm2711-rpi-4-b.dtb";

/// The tree QEMU `raspi4b` is given: the one `cargo xtask guests` extracted
/// from the fetched kernel package when there is one, else the repository's
/// copy; `None` if neither exists.
pub fn rpi4_firmware_dtb(workspace: &Workspace) -> Option<PathBuf> {
    [
        workspace.target_dir.join("guests").join(RPI4_DTB),
        workspace.root.join(RPI4_DTB_IN_REPOSITORY),
    ]
    .into_iter()
    .find(|path| path.is_file())
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
    /// Machine, CPU and memory arguments from [`QemuMachine::hardware_args`]
    /// (and [`QemuMachine::firmware_args`], [`QemuMachine::second_serial_args`]).
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
    /// The arguments after the binary name. The console comes first, so that
    /// its `-serial` is serial port 0 and a second `-serial` among the
    /// hardware arguments is port 1.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        match self.console {
            Console::Terminal => {
                // What -nographic does by default, spelled out: a second
                // -serial would otherwise take the terminal's place.
                for a in ["-nographic", "-serial", "mon:stdio"] {
                    args.push(a.into());
                }
            }
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
        args.extend(self.hardware.iter().map(OsString::from));
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
    }

    #[test]
    fn raspi4b_is_always_the_2_gib_four_cpu_board() {
        let expected = Ok(vec![
            "-M".to_string(),
            "raspi4b".into(),
            "-m".into(),
            "2048M".into(),
        ]);
        assert_eq!(
            QemuMachine::Raspi4b.hardware_args(4, 960 << 20, 2, true),
            expected
        );
        // A system may use fewer CPUs and less RAM than the model has.
        assert_eq!(
            QemuMachine::Raspi4b.hardware_args(2, 64 << 20, 2, true),
            expected
        );
        for (cpus, ram, gic, el2) in [
            (5, 960 << 20, 2, true),
            (4, 4 << 30, 2, true),
            (4, 960 << 20, 3, true),
            (4, 960 << 20, 2, false),
        ] {
            assert!(QemuMachine::Raspi4b
                .hardware_args(cpus, ram, gic, el2)
                .is_err());
        }
        assert_eq!(QemuMachine::Raspi4b.not_runnable_reason(), None);
    }

    #[test]
    fn raspi4b_gets_the_firmware_tree_and_a_second_serial_port() {
        let workspace = Workspace::locate();
        let args = QemuMachine::Raspi4b
            .firmware_args(&workspace)
            .expect("the repository has the tree");
        assert_eq!(args.len(), 2);
        assert_eq!(args[0], "-dtb");
        assert!(args[1].ends_with(RPI4_DTB), "{}", args[1]);
        assert_eq!(QemuMachine::Virt.firmware_args(&workspace), Ok(Vec::new()));

        assert_eq!(
            QemuMachine::Raspi4b.second_serial_args(Path::new("t/x.serial1.log")),
            ["-serial", "file:t/x.serial1.log"]
        );
        assert!(QemuMachine::Virt
            .second_serial_args(Path::new("t/x.serial1.log"))
            .is_empty());
    }

    #[test]
    fn the_firmware_tree_falls_back_to_the_repository_copy() {
        let scratch = std::env::temp_dir().join(format!("xtask-rpi4-dtb-{}", std::process::id()));
        let workspace = Workspace {
            root: scratch.join("root"),
            target_dir: scratch.join("target"),
        };
        assert_eq!(rpi4_firmware_dtb(&workspace), None);
        let repository_copy = workspace.root.join(RPI4_DTB_IN_REPOSITORY);
        std::fs::create_dir_all(repository_copy.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&repository_copy, b"dtb").expect("write");
        assert_eq!(rpi4_firmware_dtb(&workspace), Some(repository_copy));
        let fetched = workspace.target_dir.join("guests").join(RPI4_DTB);
        std::fs::create_dir_all(fetched.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&fetched, b"dtb").expect("write");
        assert_eq!(rpi4_firmware_dtb(&workspace), Some(fetched));
        let _ = std::fs::remove_dir_all(scratch);
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
                "-nographic",
                "-serial",
                "mon:stdio",
                "-M",
                "virt",
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
            hardware: vec!["-serial".into(), "file:second.log".into()],
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
                "-serial",
                "file:second.log",
                "-icount",
                "shift=0",
                "-kernel",
                "a.img"
            ]
        );
    }
}
