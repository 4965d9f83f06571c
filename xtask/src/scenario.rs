//! One scenario: a configuration with a `[test]` section, built, optionally
//! damaged, booted in QEMU without a terminal until it powers off or times
//! out, and judged on its transcript. `test` and `bench` both run these.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bulkhead_config::{Corruption, Ending, System, TestSpec};

use crate::artifacts::Artifacts;
use crate::capture::{run_captured_until, CapturedRun};
use crate::corruption;
use crate::error::{XtaskError, XtaskResult};
use crate::image_build::build_system_image;
use crate::qemu::{Console, QemuInvocation, QemuMachine, QEMU_BINARY};
use crate::second_serial;
use crate::system_image::SystemImage;
use crate::transcript::{self, TranscriptFailure};
use crate::workspace::Workspace;

/// The configuration files in `dir`, sorted by name.
pub fn discover(dir: &Path) -> XtaskResult<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| XtaskError::io("list", dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// A scenario's name: its file name without `.toml`.
pub fn scenario_name(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// A loaded scenario, ready to build and boot.
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// Its system.
    pub system: System,
    /// The QEMU model it boots on.
    pub machine: QemuMachine,
}

impl Scenario {
    /// Loads a scenario file; it must have a `[test]` section.
    pub fn load(path: &Path) -> XtaskResult<Self> {
        let system = bulkhead_config::load(path).map_err(|e| XtaskError::new(e.to_string()))?;
        if system.test.is_none() {
            return Err(XtaskError::new(format!(
                "{}: a scenario needs a [test] section",
                path.display()
            )));
        }
        let machine = QemuMachine::for_board(system.board)?;
        Ok(Self {
            name: scenario_name(path),
            system,
            machine,
        })
    }

    /// Loads a scenario file as the scenarios it stands for: one per GIC
    /// version its `[test] gic_versions` lists (named `<file>-gicv<N>`), or
    /// itself. Each comes with its name, so a broken variant is reported
    /// under the right one.
    pub fn load_variants(path: &Path) -> Vec<(String, XtaskResult<Self>)> {
        let name = scenario_name(path);
        let base = match Self::load(path) {
            Ok(base) => base,
            Err(e) => return vec![(name, Err(e))],
        };
        let versions = base
            .system
            .test
            .as_ref()
            .map(|t| t.gic_versions.clone())
            .unwrap_or_default();
        if versions.is_empty() {
            return vec![(name, Ok(base))];
        }
        versions
            .into_iter()
            .map(|gic| {
                let variant = format!("{name}-gicv{gic}");
                let loaded = bulkhead_config::load_with_gic(path, gic)
                    .map_err(|e| XtaskError::new(e.to_string()))
                    .and_then(|system| {
                        Ok(Self {
                            name: variant.clone(),
                            machine: QemuMachine::for_board(system.board)?,
                            system,
                        })
                    });
                (variant, loaded)
            })
            .collect()
    }

    /// Its `[test]` section (present by construction).
    pub fn test_spec(&self) -> XtaskResult<&TestSpec> {
        self.system
            .test
            .as_ref()
            .ok_or_else(|| XtaskError::new(format!("scenario {} has no [test] section", self.name)))
    }
}

/// Damages an image as a scenario asks.
fn apply_corruption(image: &mut SystemImage, damage: Corruption) {
    match damage {
        Corruption::Checksum => corruption::flip_manifest_byte(image),
        Corruption::Truncate => corruption::truncate_tail(image),
        Corruption::Magic => corruption::break_manifest_magic(image),
    }
}

/// How a scenario boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootMode {
    /// Run QEMU with `-icount shift=0`.
    pub instruction_counting: bool,
    /// Subdirectory of target/bulkhead/ the images go to.
    pub image_dir: &'static str,
    /// Subdirectory of the target directory the transcripts go to.
    pub log_dir: &'static str,
}

/// What a booted scenario produced.
pub struct ScenarioOutcome {
    /// The run.
    pub run: CapturedRun,
    /// Where its transcript is saved.
    pub log_path: PathBuf,
    /// Why it failed; empty when it passed.
    pub failures: Vec<TranscriptFailure>,
}

/// Builds a scenario's image (damaged if it asks), writes it under
/// `target/bulkhead/<image_dir>/`, and returns the image's path.
pub fn build(
    workspace: &Workspace,
    artifacts: &mut Artifacts<'_>,
    scenario: &Scenario,
    mode: BootMode,
) -> XtaskResult<PathBuf> {
    let mut image = build_system_image(&scenario.system, artifacts)?;
    if let Some(damage) = scenario.test_spec()?.corrupt {
        apply_corruption(&mut image, damage);
    }
    let dir = workspace.target_dir.join("bulkhead").join(mode.image_dir);
    fs::create_dir_all(&dir).map_err(|e| XtaskError::io("create", &dir, e))?;
    let path = dir.join(format!("{}.img", scenario.name));
    fs::write(&path, &image.bytes).map_err(|e| XtaskError::io("write", &path, e))?;
    Ok(path)
}

/// The QEMU command that boots a built scenario image without a terminal;
/// a second serial port goes to [`second_serial::log_path`] of the image.
pub fn qemu_command(scenario: &Scenario, image: &Path, mode: BootMode) -> XtaskResult<Command> {
    let spec = scenario.test_spec()?;
    let system = &scenario.system;
    let machine = scenario.machine;
    let mut hardware = machine.hardware_args(system.cpus, system.ram_size, system.gic, spec.el2)?;
    hardware.extend(machine.firmware_args(&Workspace::locate())?);
    hardware.extend(machine.second_serial_args(&second_serial::log_path(image)));
    let invocation = QemuInvocation {
        hardware,
        image,
        console: Console::Captured,
        wait_for_gdb: false,
        instruction_counting: mode.instruction_counting,
    };
    let mut qemu = Command::new(QEMU_BINARY);
    qemu.args(invocation.args());
    Ok(qemu)
}

/// Boots a built scenario image, saves the transcript to
/// `target/<log_dir>/<name>.log` and judges it.
pub fn boot(
    workspace: &Workspace,
    scenario: &Scenario,
    image: &Path,
    mode: BootMode,
) -> XtaskResult<ScenarioOutcome> {
    let spec = scenario.test_spec()?;
    let qemu = qemu_command(scenario, image, mode)?;
    let log_path = workspace
        .target_dir
        .join(mode.log_dir)
        .join(format!("{}.log", scenario.name));
    let timeout = Duration::from_secs(spec.timeout_s);
    // What the second serial port printed counts as part of the transcript.
    let second = scenario
        .machine
        .second_serial()
        .map(|_| second_serial::log_path(image));
    if let Some(path) = &second {
        // An old run's output must not count for this one.
        let _ = fs::remove_file(path);
    }
    let with_second = |so_far: &str| match &second {
        Some(path) => second_serial::merged_with_file(so_far, path),
        None => so_far.to_string(),
    };
    let met = |so_far: &str| transcript::expectations_met(&with_second(so_far), spec);
    let stop_when: Option<&dyn Fn(&str) -> bool> = match spec.ends {
        Ending::Matched => Some(&met),
        Ending::Poweroff | Ending::Timeout => None,
    };
    let mut run = run_captured_until(qemu, &log_path, timeout, stop_when)?;
    if second.is_some() {
        run.transcript = with_second(&run.transcript);
        fs::write(&log_path, &run.transcript).map_err(|e| XtaskError::io("write", &log_path, e))?;
    }
    let failures = transcript::check(&run.transcript, spec, run.end);
    Ok(ScenarioOutcome {
        run,
        log_path,
        failures,
    })
}

/// Lines of transcript shown under a failed scenario.
pub const FAILURE_TAIL_LINES: usize = 40;

impl ScenarioOutcome {
    /// True if the transcript met every expectation.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The rest of a scenario's progress line: `ok (3.1 s)`, or `FAILED:
    /// <reasons>` followed by the transcript's last lines and where the whole
    /// transcript is.
    pub fn report(&self, workspace: &Workspace) -> String {
        let seconds = self.run.elapsed.as_secs_f64();
        if self.passed() {
            return format!("ok ({seconds:.1} s)");
        }
        let reasons: Vec<String> = self.failures.iter().map(ToString::to_string).collect();
        let mut out = format!("FAILED: {}", reasons.join("; "));
        out.push_str(&format!(
            "\n    --- last {FAILURE_TAIL_LINES} lines of {} ---",
            workspace.display_path(&self.log_path).display()
        ));
        for line in transcript::tail(&self.run.transcript, FAILURE_TAIL_LINES) {
            out.push_str("\n    ");
            out.push_str(line);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_file_stems() {
        assert_eq!(scenario_name(Path::new("configs/test/smp.toml")), "smp");
        assert_eq!(scenario_name(Path::new("gicv2.toml")), "gicv2");
    }

    #[test]
    fn discovery_is_sorted_and_only_toml() {
        let dir = std::env::temp_dir().join(format!("xtask-discover-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        for name in ["b.toml", "a.toml", "notes.md", "c.toml.bak"] {
            fs::write(dir.join(name), "").expect("write");
        }
        let found: Vec<String> = discover(&dir)
            .expect("lists")
            .iter()
            .map(|p| scenario_name(p))
            .collect();
        assert_eq!(found, ["a", "b"]);
        let _ = fs::remove_dir_all(dir);
    }
}
