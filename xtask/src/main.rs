//! `cargo xtask`: Bulkhead's command line — set the machine up, build system
//! images, run them in QEMU, run the test scenarios and the benchmarks.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::expect_used, clippy::unwrap_used))]

mod apt_sources;
mod artifacts;
mod bench_kinds;
mod bench_results;
mod capture;
mod cli;
mod commands;
mod corruption;
mod elf_flat;
mod error;
mod guest_cpu_ratio;
mod guests;
mod host_tests;
mod image_build;
mod linux_boot_ratio;
mod marker_timer;
mod native_run;
mod qemu;
mod qemu_version;
mod rpi4_boot_files;
mod scenario;
mod second_serial;
mod setup;
mod system_image;
mod transcript;
mod workspace;

use std::process::ExitCode;

use cli::XtaskCommand;
use error::XtaskResult;
use qemu::QemuMachine;

/// Runs a parsed command; `Ok(false)` means it ran but found failures
/// (tests, budgets) it has already reported.
fn dispatch(command: XtaskCommand) -> XtaskResult<bool> {
    match command {
        XtaskCommand::Help(text) => {
            print!("{text}");
            Ok(true)
        }
        XtaskCommand::Setup(options) => {
            setup::ensure_qemu(QemuMachine::Virt)?;
            if options.raspi4b {
                setup::ensure_qemu(QemuMachine::Raspi4b)?;
            }
            Ok(true)
        }
        XtaskCommand::Build(options) => commands::build::run(&options).map(|()| true),
        XtaskCommand::Run(options) => commands::run::run(&options).map(|()| true),
        XtaskCommand::Test(options) => commands::test::run(&options),
        XtaskCommand::Bench => commands::bench::run(),
        XtaskCommand::Guests(options) => commands::guests::run(&options).map(|()| true),
        XtaskCommand::Image(options) => commands::image::run(&options).map(|()| true),
    }
}

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match dispatch(command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
