//! `cargo xtask setup`: makes sure the machine can run what `run` and `test`
//! need — today, a recent enough `qemu-system-aarch64`. Silent when all is
//! there; installs QEMU from Debian (backports when the release has them)
//! when running as root; otherwise prints the exact commands to run.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::apt_sources::{self, backports_suite, BackportsEdit, SourcesChange, SourcesFormat};
use crate::error::{XtaskError, XtaskResult};
use crate::qemu::{QemuMachine, QEMU_BINARY};
use crate::qemu_version::QemuVersion;

/// The Debian package that ships `qemu-system-aarch64`.
pub const QEMU_PACKAGE: &str = "qemu-system-arm";
/// APT's one-line sources file.
const APT_SOURCES_LIST: &str = "/etc/apt/sources.list";
/// APT's directory of further sources files.
const APT_SOURCES_DIR: &str = "/etc/apt/sources.list.d";
/// Identifies the distribution (os-release(5)).
const OS_RELEASE: &str = "/etc/os-release";
/// The kernel's view of this process, for its effective user id.
const PROC_SELF_STATUS: &str = "/proc/self/status";

/// What is on the machine now.
#[derive(Clone, Debug, PartialEq, Eq)]
enum QemuProbe {
    /// Installed, with this version.
    Found(QemuVersion),
    /// Not on PATH.
    Missing,
    /// Present but its version could not be read.
    Unreadable(String),
}

fn probe_qemu() -> QemuProbe {
    let output = Command::new(QEMU_BINARY)
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    match output {
        Err(e) if e.kind() == io::ErrorKind::NotFound => QemuProbe::Missing,
        Err(e) => QemuProbe::Unreadable(e.to_string()),
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            match QemuVersion::from_version_output(&text) {
                Some(v) => QemuProbe::Found(v),
                None => {
                    QemuProbe::Unreadable(format!("`{QEMU_BINARY} --version` printed {text:?}"))
                }
            }
        }
    }
}

/// The effective user id from `/proc/self/status` text (its `Uid:` line
/// lists real, effective, saved and filesystem ids).
pub fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn running_as_root() -> bool {
    fs::read_to_string(PROC_SELF_STATUS)
        .ok()
        .and_then(|s| effective_uid(&s))
        == Some(0)
}

/// The distribution as os-release(5) names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID` (e.g. `debian`).
    pub id: String,
    /// `ID_LIKE` words.
    pub id_like: Vec<String>,
    /// `VERSION_CODENAME` (e.g. `bookworm`).
    pub codename: Option<String>,
}

impl OsRelease {
    /// Parses os-release text: `KEY=value` lines, values optionally quoted.
    pub fn parse(text: &str) -> Self {
        let value = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().trim_matches(['"', '\'']).to_string())
        };
        Self {
            id: value("ID").unwrap_or_default(),
            id_like: value("ID_LIKE")
                .map(|v| v.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
            codename: value("VERSION_CODENAME").filter(|c| !c.is_empty()),
        }
    }

    /// True on Debian and its derivatives (where apt-get and Debian's QEMU
    /// packaging apply).
    pub fn is_debian_like(&self) -> bool {
        self.id == "debian" || self.id_like.iter().any(|l| l == "debian")
    }
}

/// One step of installing QEMU.
#[derive(Clone, Debug, PartialEq, Eq)]
enum InstallStep {
    /// Add the backports suite to a sources file.
    EnableBackports {
        path: PathBuf,
        suite: String,
        change: SourcesChange,
    },
    /// `apt-get update`.
    UpdatePackageLists,
    /// `apt-get install`, from `release` when given.
    InstallQemu { release: Option<String> },
}

impl InstallStep {
    /// The command a person would run for this step.
    fn shell_command(&self) -> String {
        match self {
            Self::EnableBackports { path, change, .. } => change.line_change.shell_command(path),
            Self::UpdatePackageLists => "apt-get update".into(),
            Self::InstallQemu { release: Some(r) } => {
                format!("DEBIAN_FRONTEND=noninteractive apt-get install -y -t {r} {QEMU_PACKAGE}")
            }
            Self::InstallQemu { release: None } => {
                format!("DEBIAN_FRONTEND=noninteractive apt-get install -y {QEMU_PACKAGE}")
            }
        }
    }

    /// Carries the step out (as root).
    fn run(&self) -> XtaskResult<()> {
        match self {
            Self::EnableBackports {
                path,
                suite,
                change,
            } => {
                println!("enabling {suite} in {}", path.display());
                fs::write(path, &change.new_text).map_err(|e| XtaskError::io("write", path, e))
            }
            Self::UpdatePackageLists => {
                println!("updating package lists (apt-get update)…");
                run_apt(Command::new("apt-get").arg("update"))
            }
            Self::InstallQemu { release } => {
                let mut apt = Command::new("apt-get");
                apt.env("DEBIAN_FRONTEND", "noninteractive")
                    .args(["install", "-y"]);
                match release {
                    Some(r) => {
                        println!("installing QEMU ({QEMU_PACKAGE}) from Debian backports…");
                        apt.args(["-t", r]);
                    }
                    None => println!("installing QEMU ({QEMU_PACKAGE})…"),
                }
                run_apt(apt.arg(QEMU_PACKAGE))
            }
        }
    }
}

fn run_apt(command: &mut Command) -> XtaskResult<()> {
    let status = command
        .stdin(Stdio::null())
        .status()
        .map_err(|e| XtaskError::new(format!("cannot run apt-get: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(XtaskError::new(format!("apt-get failed ({status})")))
    }
}

/// The sources files APT reads, the main list first, each with its format.
fn apt_sources_files() -> Vec<(PathBuf, SourcesFormat)> {
    let mut files = vec![(PathBuf::from(APT_SOURCES_LIST), SourcesFormat::OneLine)];
    let mut more: Vec<(PathBuf, SourcesFormat)> = fs::read_dir(APT_SOURCES_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter_map(|path| SourcesFormat::of_path(&path).map(|f| (path, f)))
        .collect();
    more.sort_by(|a, b| a.0.cmp(&b.0));
    files.extend(more);
    files
}

/// How the backports suite gets used.
#[derive(Clone, Debug, PartialEq, Eq)]
enum BackportsPlan {
    /// A sources file already enables it.
    AlreadyEnabled,
    /// This step enables it.
    Enable(InstallStep),
    /// No sources entry to derive it from: install from the release itself.
    Unavailable,
}

/// Plans backports from every sources file's text: an enabled suite anywhere
/// wins, else the first file with an entry for the release gets one.
fn backports_plan(files: &[(PathBuf, SourcesFormat, String)], codename: &str) -> BackportsPlan {
    let mut plan = BackportsPlan::Unavailable;
    for (path, format, text) in files {
        match apt_sources::enable_backports(text, *format, codename) {
            BackportsEdit::AlreadyEnabled => return BackportsPlan::AlreadyEnabled,
            BackportsEdit::Change(change) if plan == BackportsPlan::Unavailable => {
                plan = BackportsPlan::Enable(InstallStep::EnableBackports {
                    path: path.clone(),
                    suite: backports_suite(codename),
                    change,
                });
            }
            _ => {}
        }
    }
    plan
}

/// The steps that install QEMU on this Debian machine.
fn install_steps(os: &OsRelease) -> Vec<InstallStep> {
    let files: Vec<(PathBuf, SourcesFormat, String)> = apt_sources_files()
        .into_iter()
        .filter_map(|(path, format)| {
            fs::read_to_string(&path)
                .ok()
                .map(|text| (path, format, text))
        })
        .collect();
    let mut steps = Vec::new();
    let mut release = None;
    if let Some(codename) = os.codename.as_deref() {
        match backports_plan(&files, codename) {
            BackportsPlan::AlreadyEnabled => release = Some(backports_suite(codename)),
            BackportsPlan::Enable(step) => {
                steps.push(step);
                release = Some(backports_suite(codename));
            }
            BackportsPlan::Unavailable => {}
        }
    }
    steps.push(InstallStep::UpdatePackageLists);
    steps.push(InstallStep::InstallQemu { release });
    steps
}

/// Why QEMU needs installing, as a sentence.
fn problem(probe: &QemuProbe, minimum: QemuVersion, machine: QemuMachine) -> Option<String> {
    let need = format!(
        "QEMU {minimum} or newer is needed for the {} machine",
        machine.name()
    );
    match probe {
        QemuProbe::Found(v) if *v >= minimum => None,
        QemuProbe::Found(v) => Some(format!("{need}, but {QEMU_BINARY} is {v}")),
        QemuProbe::Missing => Some(format!("{need}, but {QEMU_BINARY} is not on PATH")),
        QemuProbe::Unreadable(why) => Some(format!("{need}; its version is unknown: {why}")),
    }
}

/// Makes sure QEMU can run `machine`; silent when it already can.
pub fn ensure_qemu(machine: QemuMachine) -> XtaskResult<()> {
    let minimum = machine.minimum_qemu();
    let Some(why) = problem(&probe_qemu(), minimum, machine) else {
        return Ok(());
    };
    let os = OsRelease::parse(&fs::read_to_string(OS_RELEASE).unwrap_or_default());
    if !os.is_debian_like() {
        return Err(XtaskError::new(format!(
            "{why}. Install QEMU {minimum} or newer (the package providing {QEMU_BINARY}) and run again."
        )));
    }
    println!("{why}.");
    let steps = install_steps(&os);
    if !running_as_root() {
        println!("Run these commands as root, then run this command again:");
        for step in &steps {
            println!("  {}", step.shell_command());
        }
        return Err(XtaskError::new(
            "QEMU is not ready (see the commands above)",
        ));
    }
    for step in &steps {
        step.run()?;
    }
    match probe_qemu() {
        QemuProbe::Found(v) if v >= minimum => {
            println!("QEMU {v} installed");
            Ok(())
        }
        probe => Err(XtaskError::new(format!(
            "after installing {QEMU_PACKAGE}: {}",
            problem(&probe, minimum, machine).unwrap_or_default()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Sources files as `backports_plan` receives them.
    fn read_test_files(
        entries: &[(&str, SourcesFormat, &str)],
    ) -> Vec<(PathBuf, SourcesFormat, String)> {
        entries
            .iter()
            .map(|(p, f, t)| (Path::new(p).to_path_buf(), *f, t.to_string()))
            .collect()
    }

    #[test]
    fn effective_uid_is_the_second_field() {
        let status = "Name:\tcargo\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t0\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn os_release_fields() {
        let os = OsRelease::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_CODENAME=bookworm\n",
        );
        assert_eq!(os.id, "debian");
        assert_eq!(os.codename.as_deref(), Some("bookworm"));
        assert!(os.is_debian_like());
        let ubuntu = OsRelease::parse("ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n");
        assert!(ubuntu.is_debian_like());
        assert!(!OsRelease::parse("ID=fedora\n").is_debian_like());
    }

    #[test]
    fn backports_plan_prefers_an_enabled_suite_then_derives_one() {
        let main = "deb http://m.example/debian bookworm main\n";
        let backports = "deb http://m.example/debian bookworm-backports main\n";
        let deb822 =
            "Types: deb\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\n";
        // Already enabled in another file: nothing to change.
        let files = read_test_files(&[
            ("/etc/apt/sources.list", SourcesFormat::OneLine, main),
            (
                "/etc/apt/sources.list.d/bp.list",
                SourcesFormat::OneLine,
                backports,
            ),
        ]);
        assert_eq!(
            backports_plan(&files, "bookworm"),
            BackportsPlan::AlreadyEnabled
        );
        // Derivable from the first file that has the release.
        let files = read_test_files(&[
            ("/etc/apt/sources.list", SourcesFormat::OneLine, ""),
            (
                "/etc/apt/sources.list.d/debian.sources",
                SourcesFormat::Deb822,
                deb822,
            ),
        ]);
        match backports_plan(&files, "bookworm") {
            BackportsPlan::Enable(InstallStep::EnableBackports {
                path,
                suite,
                change,
            }) => {
                assert_eq!(path, Path::new("/etc/apt/sources.list.d/debian.sources"));
                assert_eq!(suite, "bookworm-backports");
                assert!(change
                    .new_text
                    .contains("Suites: bookworm bookworm-backports\n"));
            }
            other => panic!("unexpected plan {other:?}"),
        }
        // Nothing to derive from.
        assert_eq!(backports_plan(&files, "trixie"), BackportsPlan::Unavailable);
    }

    #[test]
    fn install_commands_are_the_documented_ones() {
        assert_eq!(
            InstallStep::InstallQemu {
                release: Some("bookworm-backports".into())
            }
            .shell_command(),
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports qemu-system-arm"
        );
        assert_eq!(
            InstallStep::InstallQemu { release: None }.shell_command(),
            "DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-system-arm"
        );
        assert_eq!(
            InstallStep::UpdatePackageLists.shell_command(),
            "apt-get update"
        );
    }

    #[test]
    fn problems_name_the_version_gap() {
        let need = QemuVersion::new(9, 0);
        assert_eq!(
            problem(
                &QemuProbe::Found(QemuVersion::new(10, 0)),
                need,
                QemuMachine::Raspi4b
            ),
            None
        );
        let old = problem(
            &QemuProbe::Found(QemuVersion::new(7, 2)),
            need,
            QemuMachine::Raspi4b,
        );
        assert_eq!(
            old.as_deref(),
            Some("QEMU 9.0.0 or newer is needed for the raspi4b machine, but qemu-system-aarch64 is 7.2.0")
        );
        assert!(problem(&QemuProbe::Missing, need, QemuMachine::Virt)
            .is_some_and(|p| p.ends_with("is not on PATH")));
    }
}
