//! The command line: subcommands, their options and their help text, parsed
//! from plain arguments into typed requests.

use std::fmt;
use std::path::PathBuf;

use crate::guests::GuestInit;

/// The default system configuration of `build` and `run`.
pub const DEFAULT_CONFIG: &str = "configs/qemu-virt.toml";

/// Overview shown by `cargo xtask --help`.
pub const HELP: &str = "\
cargo xtask — build, run and test Bulkhead

USAGE:
    cargo xtask <COMMAND> [OPTIONS]

COMMANDS:
    setup    check that QEMU is installed and recent enough; install it when root
    build    build a system image from a configuration
    run      build a system image and boot it in QEMU on this terminal
    test     run the host tests and every QEMU scenario in configs/test/
    bench    run the benchmarks in configs/bench/ and check their budgets
    guests   fetch Debian's arm64 kernel and busybox; build guest initramfs images
    image    write a board's boot files (Raspberry Pi 4: kernel8.img, config.txt)
    help     show this text, or `help <COMMAND>` for one command

Run `cargo xtask <COMMAND> --help` for a command's options.
";

const SETUP_HELP: &str = "\
cargo xtask setup [--raspi4b]

Checks that qemu-system-aarch64 is on PATH and new enough (7.2 for the virt
machine, 9.0 with --raspi4b). Prints nothing when it is. Otherwise, as root on
Debian, enables the release's backports suite (derived from the existing APT
sources) and installs qemu-system-arm; as another user, prints the commands to
run as root and fails.

OPTIONS:
    --raspi4b    also require the raspi4b machine (QEMU 9.0 or newer)
";

const BUILD_HELP: &str = "\
cargo xtask build [--config FILE] [--out FILE]

Builds the kernel and every program partition, encodes the manifest and writes
one bootable image: kernel, manifest, end marker.

OPTIONS:
    --config FILE    system configuration (default: configs/qemu-virt.toml)
    --out FILE       output image (default: target/bulkhead/<config name>.img)
";

const RUN_HELP: &str = "\
cargo xtask run [--config FILE] [--gdb]

Runs setup, builds the image and boots it in QEMU with the console on this
terminal. Ctrl-A X quits QEMU.

OPTIONS:
    --config FILE    system configuration (default: configs/qemu-virt.toml)
    --gdb            stop at the first instruction and wait for GDB on port 1234
";

const TEST_HELP: &str = "\
cargo xtask test [--filter SUBSTR] [--host-only | --qemu-only]

Runs the host tests (cargo test on abi, kernel-core, platform, bulkhead-config
and xtask), then boots every scenario in configs/test/ in QEMU and checks its
transcript against its [test] section. Transcripts are saved in
target/test-logs/. Ends with one line `N passed, N failed` and fails if any
test or scenario failed.

OPTIONS:
    --filter SUBSTR    run only the scenarios whose name contains SUBSTR
    --host-only        run only the host tests
    --qemu-only        run only the QEMU scenarios
";

const BENCH_HELP: &str = "\
cargo xtask bench

Boots every configuration in configs/bench/ under `-icount shift=0` (so cycle
counts are exact instruction counts), collects its `BENCH` lines, writes
target/bench/results.json and prints a table. Fails if a median exceeds its
budget. Two compare a guest under Bulkhead with the same guest on bare QEMU:
cpu-ratio (guest_cpu_ratio: instructions of a CPU-bound guest with a 250 Hz
tick, both under -icount) and linux-boot (linux_boot_ratio: wall-clock time
to Linux userspace, five boots each way, alternately; fetches the Linux
guests first, as `cargo xtask guests` does).
";

const GUESTS_HELP: &str = "\
cargo xtask guests [--kernel PATH] [--initrd PATH] [--init NAME]

Fetches Debian's arm64 kernel (the package linux-image-arm64:arm64 depends on)
and busybox-static:arm64 into target/guests/debs/ (as root: adds the arm64
architecture to dpkg and updates the package lists when needed; as another
user, prints the commands to run as root and fails), then writes
target/guests/Image, target/guests/bcm2711-rpi-4-b.dtb and one
target/guests/initramfs-<init>.cpio.gz per init script, with busybox and the
virtio modules. Does nothing when the outputs were made from the same .deb
files and options; delete target/guests/debs/ to fetch again.

Init scripts (each prints `bulkhead-guest: userspace up`, nproc and
/proc/interrupts first):
    shell       then an interactive shell
    poweroff    then `poweroff -f`
    reboot      then `reboot -f`
    panic       then a kernel panic (`echo c > /proc/sysrq-trigger`)

OPTIONS:
    --kernel PATH    use this uncompressed arm64 Image instead of Debian's
    --initrd PATH    use this initramfs instead of building one (copied to
                     every selected init's initramfs path)
    --init NAME      build only this init's initramfs (default: all four)
";

const IMAGE_HELP: &str = "\
cargo xtask image --board BOARD --config FILE --out DIR

Builds the system image for a board whose own firmware boots it and writes
the boot files to DIR. For the Raspberry Pi 4 (--board rpi4): kernel8.img
(the whole system image: core, manifest, partitions), config.txt for the
Raspberry Pi firmware and README.txt, which lists the firmware files to copy
beside them (start4.elf, fixup4.dat, bcm2711-rpi-4-b.dtb,
overlays/disable-bt.dtbo). docs/rpi4.md explains preparing the SD card and
the serial console.

OPTIONS:
    --board BOARD    the board; must be the config's board (only rpi4 has boot files)
    --config FILE    system configuration, e.g. configs/rpi4.toml
    --out DIR        directory for the boot files (created if missing)
";

/// Options of `image`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageOptions {
    /// The board the boot files are for.
    pub board: String,
    /// The system configuration.
    pub config: PathBuf,
    /// The directory the files go to.
    pub out: PathBuf,
}

/// Options of `guests`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestsOptions {
    /// The user's own kernel `Image`.
    pub kernel: Option<PathBuf>,
    /// The user's own initramfs.
    pub initrd: Option<PathBuf>,
    /// Build only this init; all when `None`.
    pub init: Option<GuestInit>,
}

/// Options of `setup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupOptions {
    /// Also require QEMU's `raspi4b` machine.
    pub raspi4b: bool,
}

/// Options of `build`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// The system configuration.
    pub config: PathBuf,
    /// The output image; default derived from the config name.
    pub out: Option<PathBuf>,
}

/// Options of `run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// The system configuration.
    pub config: PathBuf,
    /// Wait for GDB before starting.
    pub gdb: bool,
}

/// Which halves of the test suite run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestSelection {
    /// Host tests and QEMU scenarios.
    All,
    /// Host tests only.
    HostOnly,
    /// QEMU scenarios only.
    QemuOnly,
}

/// Options of `test`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestOptions {
    /// Only scenarios whose name contains this.
    pub filter: Option<String>,
    /// Which halves run.
    pub selection: TestSelection,
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XtaskCommand {
    /// Show help text.
    Help(&'static str),
    /// `setup`.
    Setup(SetupOptions),
    /// `build`.
    Build(BuildOptions),
    /// `run`.
    Run(RunOptions),
    /// `test`.
    Test(TestOptions),
    /// `bench`.
    Bench,
    /// `guests`.
    Guests(GuestsOptions),
    /// `image`.
    Image(ImageOptions),
}

/// A command line that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError {
    message: String,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (see `cargo xtask --help`)", self.message)
    }
}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError {
        message: message.into(),
    }
}

/// The help text of a command by name.
fn command_help(name: &str) -> Option<&'static str> {
    Some(match name {
        "setup" => SETUP_HELP,
        "build" => BUILD_HELP,
        "run" => RUN_HELP,
        "test" => TEST_HELP,
        "bench" => BENCH_HELP,
        "guests" => GUESTS_HELP,
        "image" => IMAGE_HELP,
        _ => return None,
    })
}

/// The option arguments of one command, consumed one at a time.
struct OptionArgs<I: Iterator<Item = String>> {
    command: &'static str,
    args: I,
}

impl<I: Iterator<Item = String>> OptionArgs<I> {
    /// The value after an option that takes one.
    fn value(&mut self, option: &str) -> Result<String, UsageError> {
        self.args
            .next()
            .filter(|v| !v.starts_with("--"))
            .ok_or_else(|| usage(format!("{option} needs a value")))
    }

    fn unknown(&self, arg: &str) -> UsageError {
        usage(format!("`{}` does not take `{arg}`", self.command))
    }
}

/// Parses the arguments after `cargo xtask`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<XtaskCommand, UsageError> {
    let mut args = args.into_iter();
    let Some(name) = args.next() else {
        return Ok(XtaskCommand::Help(HELP));
    };
    let name = name.as_str();
    match name {
        "-h" | "--help" => return Ok(XtaskCommand::Help(HELP)),
        "help" => {
            return match args.next() {
                None => Ok(XtaskCommand::Help(HELP)),
                Some(topic) => command_help(&topic)
                    .map(XtaskCommand::Help)
                    .ok_or_else(|| usage(format!("no command `{topic}`"))),
            }
        }
        _ => {}
    }
    let (command, help) = match name {
        "setup" => ("setup", SETUP_HELP),
        "build" => ("build", BUILD_HELP),
        "run" => ("run", RUN_HELP),
        "test" => ("test", TEST_HELP),
        "bench" => ("bench", BENCH_HELP),
        "guests" => ("guests", GUESTS_HELP),
        "image" => ("image", IMAGE_HELP),
        other => return Err(usage(format!("no command `{other}`"))),
    };
    let mut opts = OptionArgs { command, args };
    let mut config = PathBuf::from(DEFAULT_CONFIG);
    let mut out = None;
    let mut gdb = false;
    let mut raspi4b = false;
    let mut filter = None;
    let mut host_only = false;
    let mut qemu_only = false;
    let mut guests = GuestsOptions::default();
    let mut image_board = None;
    let mut image_config = None;
    let mut image_out = None;
    while let Some(arg) = opts.args.next() {
        match (command, arg.as_str()) {
            (_, "-h" | "--help") => return Ok(XtaskCommand::Help(help)),
            ("build" | "run", "--config") => config = PathBuf::from(opts.value("--config")?),
            ("build", "--out") => out = Some(PathBuf::from(opts.value("--out")?)),
            ("run", "--gdb") => gdb = true,
            ("setup", "--raspi4b") => raspi4b = true,
            ("test", "--filter") => filter = Some(opts.value("--filter")?),
            ("test", "--host-only") => host_only = true,
            ("test", "--qemu-only") => qemu_only = true,
            ("image", "--board") => image_board = Some(opts.value("--board")?),
            ("image", "--config") => image_config = Some(opts.value("--config")?),
            ("image", "--out") => image_out = Some(opts.value("--out")?),
            ("guests", "--kernel") => guests.kernel = Some(PathBuf::from(opts.value("--kernel")?)),
            ("guests", "--initrd") => guests.initrd = Some(PathBuf::from(opts.value("--initrd")?)),
            ("guests", "--init") => {
                let name = opts.value("--init")?;
                guests.init = Some(GuestInit::from_name(&name).ok_or_else(|| {
                    usage(format!(
                        "no init script `{name}` (shell, poweroff, reboot or panic)"
                    ))
                })?);
            }
            _ => return Err(opts.unknown(&arg)),
        }
    }
    Ok(match command {
        "setup" => XtaskCommand::Setup(SetupOptions { raspi4b }),
        "build" => XtaskCommand::Build(BuildOptions { config, out }),
        "run" => XtaskCommand::Run(RunOptions { config, gdb }),
        "test" => {
            let selection = match (host_only, qemu_only) {
                (true, true) => {
                    return Err(usage("--host-only and --qemu-only exclude each other"))
                }
                (true, false) => TestSelection::HostOnly,
                (false, true) => TestSelection::QemuOnly,
                (false, false) => TestSelection::All,
            };
            XtaskCommand::Test(TestOptions { filter, selection })
        }
        "guests" => XtaskCommand::Guests(guests),
        "image" => {
            let required = |value: Option<String>, option: &str| {
                value.ok_or_else(|| usage(format!("`image` needs {option}")))
            };
            XtaskCommand::Image(ImageOptions {
                board: required(image_board, "--board BOARD")?,
                config: PathBuf::from(required(image_config, "--config FILE")?),
                out: PathBuf::from(required(image_out, "--out DIR")?),
            })
        }
        _ => XtaskCommand::Bench,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<XtaskCommand, UsageError> {
        parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn no_arguments_or_help_show_the_overview() {
        assert_eq!(parse_line(""), Ok(XtaskCommand::Help(HELP)));
        assert_eq!(parse_line("--help"), Ok(XtaskCommand::Help(HELP)));
        assert_eq!(parse_line("help test"), Ok(XtaskCommand::Help(TEST_HELP)));
        assert_eq!(parse_line("run --help"), Ok(XtaskCommand::Help(RUN_HELP)));
    }

    #[test]
    fn build_and_run_options() {
        assert_eq!(
            parse_line("build"),
            Ok(XtaskCommand::Build(BuildOptions {
                config: PathBuf::from(DEFAULT_CONFIG),
                out: None
            }))
        );
        assert_eq!(
            parse_line("build --config a.toml --out b.img"),
            Ok(XtaskCommand::Build(BuildOptions {
                config: PathBuf::from("a.toml"),
                out: Some(PathBuf::from("b.img"))
            }))
        );
        assert_eq!(
            parse_line("run --gdb"),
            Ok(XtaskCommand::Run(RunOptions {
                config: PathBuf::from(DEFAULT_CONFIG),
                gdb: true
            }))
        );
    }

    #[test]
    fn test_options() {
        assert_eq!(
            parse_line("test --filter smp --qemu-only"),
            Ok(XtaskCommand::Test(TestOptions {
                filter: Some("smp".into()),
                selection: TestSelection::QemuOnly
            }))
        );
        assert!(parse_line("test --host-only --qemu-only").is_err());
        assert_eq!(
            parse_line("setup --raspi4b"),
            Ok(XtaskCommand::Setup(SetupOptions { raspi4b: true }))
        );
        assert_eq!(parse_line("bench"), Ok(XtaskCommand::Bench));
    }

    #[test]
    fn image_options() {
        assert_eq!(
            parse_line("image --board rpi4 --config configs/rpi4.toml --out boot"),
            Ok(XtaskCommand::Image(ImageOptions {
                board: "rpi4".into(),
                config: PathBuf::from("configs/rpi4.toml"),
                out: PathBuf::from("boot"),
            }))
        );
        assert_eq!(parse_line("help image"), Ok(XtaskCommand::Help(IMAGE_HELP)));
        assert_eq!(
            parse_line("image --board rpi4 --out boot")
                .unwrap_err()
                .to_string(),
            "`image` needs --config FILE (see `cargo xtask --help`)"
        );
        assert!(parse_line("image --config a.toml --out boot").is_err());
        assert!(parse_line("image --board rpi4 --config a.toml").is_err());
        assert!(parse_line("image --board rpi4 --config a.toml --out b --gdb").is_err());
    }

    #[test]
    fn guests_options() {
        assert_eq!(
            parse_line("guests"),
            Ok(XtaskCommand::Guests(GuestsOptions::default()))
        );
        assert_eq!(
            parse_line("guests --kernel k/Image --initrd r.gz --init panic"),
            Ok(XtaskCommand::Guests(GuestsOptions {
                kernel: Some(PathBuf::from("k/Image")),
                initrd: Some(PathBuf::from("r.gz")),
                init: Some(GuestInit::Panic),
            }))
        );
        assert_eq!(
            parse_line("guests --help"),
            Ok(XtaskCommand::Help(GUESTS_HELP))
        );
        assert!(parse_line("guests --init halt").is_err());
        assert!(parse_line("guests --kernel").is_err());
        assert!(parse_line("guests --gdb").is_err());
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for bad in [
            "frobnicate",
            "build --gdb",
            "run --out x",
            "test --filter",
            "build --config --out x",
            "help nope",
        ] {
            assert!(parse_line(bad).is_err(), "{bad} parsed");
        }
    }
}
