//! `cargo xtask run`: build a configuration and boot it in QEMU with the
//! console on this terminal.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::artifacts::KERNEL_BINARY;
use crate::cli::RunOptions;
use crate::commands::build::{build_to_file, load_system};
use crate::commands::config_path;
use crate::error::{XtaskError, XtaskResult};
use crate::qemu::{Console, QemuInvocation, QemuMachine, QEMU_BINARY};
use crate::setup::ensure_qemu;
use crate::workspace::Workspace;

/// Runs `run`; on success it does not return (QEMU replaces this process,
/// so the terminal and Ctrl-A X go straight to it).
pub fn run(options: &RunOptions) -> XtaskResult<()> {
    let workspace = Workspace::locate();
    let system = load_system(&config_path(&workspace, &options.config))?;
    let machine = QemuMachine::for_board(system.board)?;
    if let Some(reason) = machine.not_runnable_reason() {
        return Err(XtaskError::new(format!(
            "board {} cannot be run in QEMU yet: {reason}",
            system.board.name
        )));
    }
    ensure_qemu(machine)?;
    let image = build_to_file(&workspace, &system, None)?;
    let mut hardware = machine.hardware_args(system.cpus, system.ram_size, system.gic, true)?;
    hardware.extend(machine.firmware_args(&workspace)?);
    let second_serial_log = crate::second_serial::log_path(&image);
    hardware.extend(machine.second_serial_args(&second_serial_log));
    let invocation = QemuInvocation {
        hardware,
        image: &image,
        console: Console::Terminal,
        wait_for_gdb: options.gdb,
        instruction_counting: false,
    };
    if options.gdb {
        let elf = workspace.bare_metal_binary(crate::workspace::KERNEL_TARGET, KERNEL_BINARY);
        println!("QEMU waits for a debugger; attach with:");
        println!(
            "  gdb-multiarch {} -ex 'target remote :1234'",
            workspace.display_path(&elf).display()
        );
    }
    if let Some(port) = machine.second_serial() {
        println!(
            "{port} (QEMU's second serial port) is written to {}",
            workspace.display_path(&second_serial_log).display()
        );
    }
    println!("booting in QEMU {} (Ctrl-A X quits)", machine.name());
    let err = Command::new(QEMU_BINARY).args(invocation.args()).exec();
    Err(XtaskError::new(format!(
        "cannot start {QEMU_BINARY}: {err}"
    )))
}
