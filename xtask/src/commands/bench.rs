//! `cargo xtask bench`: boot each benchmark configuration, collect its
//! results, write target/bench/results.json and hold each median to its
//! budget. Most configurations are guests that count their own path lengths
//! under instruction counting; the comparisons with bare QEMU run as
//! [`bench_kinds`] says.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::artifacts::Artifacts;
use crate::bench_kinds::{self, BenchKind};
use crate::bench_results::{self, BenchResult, Verdict};
use crate::commands::guests;
use crate::error::{XtaskError, XtaskResult};
use crate::guest_cpu_ratio;
use crate::linux_boot_ratio;
use crate::native_run::NativeGuest;
use crate::qemu::QemuMachine;
use crate::scenario::{self, BootMode, Scenario};
use crate::setup::ensure_qemu;
use crate::workspace::{Workspace, BENCH_SUBDIR};

/// Where the benchmark configurations are, relative to the workspace root.
pub const BENCH_DIR: &str = "configs/bench";

/// Images go to target/bulkhead/bench/, transcripts to target/bench/.
/// `-icount shift=0`: PMCCNTR_EL0 then counts instructions exactly and runs
/// are bit-identical (see HARDWARE-NOTES.md, deterministic measurement).
const BENCH_BOOT: BootMode = BootMode {
    instruction_counting: true,
    image_dir: "bench",
    log_dir: BENCH_SUBDIR,
};

/// Boots a configuration whose guest reports its own results; returns them,
/// or prints why there are none and returns `None`.
fn run_self_reported(
    workspace: &Workspace,
    artifacts: &mut Artifacts<'_>,
    scenario: &Scenario,
    label: &str,
) -> Option<Vec<BenchResult>> {
    let image = match scenario::build(workspace, artifacts, scenario, BENCH_BOOT) {
        Ok(image) => image,
        Err(e) => {
            println!("{label} ... FAILED: {e}");
            return None;
        }
    };
    print!("{label} ... ");
    // A failed flush only delays the text.
    let _ = io::stdout().flush();
    let outcome = match scenario::boot(workspace, scenario, &image, BENCH_BOOT) {
        Ok(outcome) => outcome,
        Err(e) => {
            println!("FAILED: {e}");
            return None;
        }
    };
    println!("{}", outcome.report(workspace));
    if !outcome.passed() {
        return None;
    }
    match bench_results::parse_transcript(&outcome.run.transcript) {
        Ok(results) if results.is_empty() => {
            println!(
                "    no `{}` lines in the transcript",
                bench_results::BENCH_TAG
            );
            None
        }
        Ok(results) => Some(results),
        Err(e) => {
            println!("    {e}");
            None
        }
    }
}

/// `guest_cpu_ratio`: the configuration under Bulkhead, then its guest on
/// bare QEMU, both under instruction counting, with its program linked where
/// both load it.
fn run_instruction_ratio(workspace: &Workspace, scenario: &Scenario) -> Option<Vec<BenchResult>> {
    let label = format!("bench {}", scenario.name);
    let mut relinked =
        Artifacts::with_programs_linked_at(workspace, guest_cpu_ratio::NATIVE_PROGRAM_BASE);
    let native = NativeGuest::from_system(&scenario.system, |program| {
        guest_cpu_ratio::program_file(workspace, &mut relinked, &scenario.name, program)
    })
    .and_then(|native| scenario.test_spec().map(|spec| (native, spec)));
    let (guest, spec) = match native {
        Ok(native) => native,
        Err(e) => {
            println!("{label} ... FAILED: {e}");
            return None;
        }
    };
    let bulkhead = run_self_reported(
        workspace,
        &mut relinked,
        scenario,
        &format!("{label} (bulkhead)"),
    )?;
    print!("{label} (native) ... ");
    let _ = io::stdout().flush();
    let figures = guest_cpu_ratio::run_native(workspace, &scenario.name, &guest, spec)
        .map_err(|e| e.to_string())
        .and_then(|native| guest_cpu_ratio::compare(&bulkhead, &native));
    match figures {
        Ok(figures) => {
            println!("ok");
            Some(figures)
        }
        Err(e) => {
            println!("FAILED: {e}");
            None
        }
    }
}

/// `linux_boot_ratio`: Linux booted natively and under Bulkhead, alternately.
fn run_wall_clock_ratio(
    workspace: &Workspace,
    artifacts: &mut Artifacts<'_>,
    scenario: &Scenario,
) -> Option<Vec<BenchResult>> {
    println!(
        "bench {} (wall clock, native and bulkhead alternately)",
        scenario.name
    );
    match linux_boot_ratio::run(workspace, artifacts, scenario) {
        Ok(figures) => Some(figures),
        Err(e) => {
            println!("bench {} ... FAILED: {e}", scenario.name);
            None
        }
    }
}

/// Runs `bench`; returns whether every benchmark ran and kept its budget.
pub fn run() -> XtaskResult<bool> {
    let workspace = Workspace::locate();
    let paths = scenario::discover(&workspace.root.join(BENCH_DIR))?;
    let kinds: Vec<BenchKind> = paths
        .iter()
        .map(|path| bench_kinds::kind_of(&scenario::scenario_name(path)))
        .collect();
    let mut artifacts = Artifacts::new(&workspace);
    let mut all_ran = true;

    // The Linux guests must exist before a configuration naming them loads:
    // fetched (cached) only when a benchmark boots Linux. Without them those
    // configurations fail to load, saying which file is missing.
    let configs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    if let Err(e) = guests::ensure_for_configs(&configs) {
        println!("guests ... FAILED: {e}");
    }

    let mut scenarios = Vec::new();
    for (path, kind) in paths.iter().zip(&kinds) {
        let name = scenario::scenario_name(path);
        match Scenario::load(path) {
            Ok(s) => scenarios.push((s, *kind)),
            Err(e) => {
                println!("bench {name} ... FAILED: {e}");
                all_ran = false;
            }
        }
    }
    let machines: BTreeSet<QemuMachine> = scenarios.iter().map(|(s, _)| s.machine).collect();
    for machine in machines {
        if let Some(reason) = machine.not_runnable_reason() {
            return Err(XtaskError::new(format!(
                "cannot benchmark on {}: {reason}",
                machine.name()
            )));
        }
        ensure_qemu(machine)?;
    }

    let mut results = Vec::new();
    for (scenario, kind) in &scenarios {
        let figures = match kind {
            BenchKind::SelfReported => run_self_reported(
                &workspace,
                &mut artifacts,
                scenario,
                &format!("bench {}", scenario.name),
            ),
            BenchKind::InstructionRatio => run_instruction_ratio(&workspace, scenario),
            BenchKind::WallClockRatio => run_wall_clock_ratio(&workspace, &mut artifacts, scenario),
        };
        match figures {
            Some(r) => results.extend(r),
            None => all_ran = false,
        }
    }

    let dir = workspace.bench_dir();
    fs::create_dir_all(&dir).map_err(|e| XtaskError::io("create", &dir, e))?;
    let json_path = dir.join("results.json");
    let json = serde_json::to_string_pretty(&bench_results::results_json(&results))
        .map_err(|e| XtaskError::new(format!("cannot encode results: {e}")))?;
    fs::write(&json_path, json + "\n").map_err(|e| XtaskError::io("write", &json_path, e))?;

    println!();
    print!("{}", bench_results::render_table(&results));
    println!("results: {}", workspace.display_path(&json_path).display());
    let over_budget = results
        .iter()
        .filter(|r| r.verdict() == Verdict::Over)
        .count();
    if over_budget > 0 {
        println!("{over_budget} benchmark(s) over budget");
    }
    Ok(all_ran && over_budget == 0)
}
