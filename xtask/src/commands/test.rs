//! `cargo xtask test`: the host tests, then every QEMU scenario in
//! configs/test/, one progress line each, ending with one summary line.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::artifacts::Artifacts;
use crate::cli::{TestOptions, TestSelection};
use crate::error::{XtaskError, XtaskResult};
use crate::host_tests;
use crate::qemu::QemuMachine;
use crate::scenario::{self, BootMode, Scenario};
use crate::setup::ensure_qemu;
use crate::workspace::{Workspace, TEST_LOGS_SUBDIR};

/// Where the scenarios are, relative to the workspace root.
pub const SCENARIO_DIR: &str = "configs/test";

/// Scenario images go to target/bulkhead/test/, transcripts to target/test-logs/.
const SCENARIO_BOOT: BootMode = BootMode {
    instruction_counting: false,
    image_dir: "test",
    log_dir: TEST_LOGS_SUBDIR,
};

/// Counts of passed, failed and skipped tests and scenarios.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Skipped (ignored host tests, scenarios that cannot run here yet).
    pub skipped: u64,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

/// Prints the start of a progress line and makes it visible before the work.
fn start_line(text: &str) {
    print!("{text} ... ");
    // A failed flush only delays the text; nothing to recover.
    let _ = io::stdout().flush();
}

fn run_host_tests(workspace: &Workspace, tally: &mut Tally) {
    start_line("host tests");
    match host_tests::run(workspace) {
        Ok(outcome) => {
            let counts = outcome.counts;
            tally.passed += counts.passed;
            tally.failed += counts.failed;
            tally.skipped += counts.ignored;
            if outcome.succeeded {
                println!(
                    "ok ({} passed, {} ignored, {:.1} s)",
                    counts.passed,
                    counts.ignored,
                    outcome.elapsed.as_secs_f64()
                );
            } else {
                // A build failure has no failed test to count: count it once.
                if counts.failed == 0 {
                    tally.failed += 1;
                }
                println!(
                    "FAILED ({} passed, {} failed)",
                    counts.passed, counts.failed
                );
                for line in host_tests::failure_excerpt(&outcome.output) {
                    println!("    {line}");
                }
                println!("    (whole output: target/test-logs/host-tests.log)");
            }
        }
        Err(e) => {
            tally.failed += 1;
            println!("FAILED: {e}");
        }
    }
}

/// The selected scenarios, loaded, and whether QEMU is ready for them.
struct ScenarioPlan {
    /// Each selected scenario's name and what loading it gave.
    selected: Vec<(String, XtaskResult<Scenario>)>,
    /// Why QEMU could not be set up, if it could not.
    qemu_problem: Option<XtaskError>,
}

/// Loads the scenarios (those matching `filter`) and sets QEMU up for every
/// machine they need, before anything slow runs.
fn plan_scenarios(workspace: &Workspace, filter: Option<&str>) -> XtaskResult<ScenarioPlan> {
    let paths = scenario::discover(&workspace.root.join(SCENARIO_DIR))?;
    // A filter may name a variant (`linux-boot-gicv2`) of a file (`linux-boot`).
    let wanted: Vec<&Path> = paths
        .iter()
        .filter(|p| {
            let name = scenario::scenario_name(p);
            filter.is_none_or(|f| name.contains(f) || f.contains(&name))
        })
        .map(PathBuf::as_path)
        .collect();
    ensure_guests(&wanted);
    let selected: Vec<_> = paths
        .iter()
        .flat_map(|p| Scenario::load_variants(p))
        .filter(|(name, _)| filter.is_none_or(|f| name.contains(f)))
        .collect();
    let machines: BTreeSet<QemuMachine> = selected
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok())
        .map(|s| s.machine)
        .filter(|m| m.not_runnable_reason().is_none())
        .collect();
    let qemu_problem = machines.into_iter().find_map(|m| ensure_qemu(m).err());
    Ok(ScenarioPlan {
        selected,
        qemu_problem,
    })
}

/// Builds, boots and judges each planned scenario in turn.
fn run_scenarios(workspace: &Workspace, plan: &ScenarioPlan, tally: &mut Tally) {
    let ScenarioPlan {
        selected,
        qemu_problem,
    } = plan;
    let mut artifacts = Artifacts::new(workspace);
    for (name, loaded) in selected {
        let label = format!("scenario {name}");
        let scenario = match loaded {
            Ok(s) => s,
            Err(e) => {
                tally.failed += 1;
                println!("{label} ... FAILED: {e}");
                continue;
            }
        };
        if let Some(reason) = scenario.machine.not_runnable_reason() {
            tally.skipped += 1;
            println!(
                "{label} ... skipped ({}: {reason})",
                scenario.machine.name()
            );
            continue;
        }
        if let Some(problem) = &qemu_problem {
            tally.failed += 1;
            println!("{label} ... FAILED: {problem}");
            continue;
        }
        // Build before the progress line, so build progress gets its own lines.
        let image = match scenario::build(workspace, &mut artifacts, scenario, SCENARIO_BOOT) {
            Ok(image) => image,
            Err(e) => {
                tally.failed += 1;
                println!("{label} ... FAILED: {e}");
                continue;
            }
        };
        start_line(&label);
        match scenario::boot(workspace, scenario, &image, SCENARIO_BOOT) {
            Ok(outcome) => {
                if outcome.passed() {
                    tally.passed += 1;
                } else {
                    tally.failed += 1;
                }
                println!("{}", outcome.report(workspace));
            }
            Err(e) => {
                tally.failed += 1;
                println!("FAILED: {e}");
            }
        }
    }
}

/// Fetches the Linux guests if one of `configs` needs them. Without them
/// those configurations fail to load and say which file is missing;
/// everything else still runs.
fn ensure_guests(configs: &[&Path]) {
    if let Err(e) = crate::commands::guests::ensure_for_configs(configs) {
        println!("guests ... FAILED: {e}");
    }
}

/// [`ensure_guests`] for every configuration in `dirs`.
fn ensure_guests_for_dirs(workspace: &Workspace, dirs: &[&str]) {
    let paths: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|dir| scenario::discover(&workspace.root.join(dir)).ok())
        .flatten()
        .collect();
    ensure_guests(&paths.iter().map(PathBuf::as_path).collect::<Vec<_>>());
}

/// Runs `test`; returns whether everything passed.
pub fn run(options: &TestOptions) -> XtaskResult<bool> {
    let workspace = Workspace::locate();
    let mut tally = Tally::default();
    // Set QEMU up first: if that needs the user, they learn it at once.
    let plan = match options.selection {
        TestSelection::HostOnly => None,
        _ => Some(plan_scenarios(&workspace, options.filter.as_deref())),
    };
    if options.selection != TestSelection::QemuOnly {
        // A host test loads every scenario and benchmark configuration,
        // and some name the Linux guests' files.
        ensure_guests_for_dirs(
            &workspace,
            &[SCENARIO_DIR, crate::commands::bench::BENCH_DIR],
        );
        run_host_tests(&workspace, &mut tally);
    }
    match plan {
        None => {}
        Some(Ok(plan)) => run_scenarios(&workspace, &plan, &mut tally),
        Some(Err(e)) => {
            tally.failed += 1;
            println!("scenarios ... FAILED: {e}");
        }
    }
    println!("{tally}");
    Ok(tally.failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_mentions_skips_only_when_there_are_some() {
        let mut t = Tally {
            passed: 57,
            failed: 0,
            skipped: 0,
        };
        assert_eq!(t.to_string(), "57 passed, 0 failed");
        t.skipped = 2;
        t.failed = 1;
        assert_eq!(t.to_string(), "57 passed, 1 failed, 2 skipped");
    }

    #[test]
    fn every_scenario_and_benchmark_config_loads() {
        let workspace = Workspace::locate();
        for dir in [SCENARIO_DIR, crate::commands::bench::BENCH_DIR] {
            let paths = scenario::discover(&workspace.root.join(dir)).expect("lists configs");
            assert!(!paths.is_empty(), "{dir} has no configurations");
            for path in paths {
                let loaded = Scenario::load(&path);
                assert!(loaded.is_ok(), "{}: {:?}", path.display(), loaded.err());
            }
        }
    }
}
