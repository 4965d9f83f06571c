//! `cargo xtask bench`: boot each benchmark configuration under instruction
//! counting, collect its results, write target/bench/results.json and hold
//! each median to its budget.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write as _};

use crate::artifacts::Artifacts;
use crate::bench_results::{self, BenchResult, Verdict};
use crate::error::{XtaskError, XtaskResult};
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

/// Runs one benchmark configuration; returns its results, or prints why
/// there are none and returns `None`.
fn run_one(
    workspace: &Workspace,
    artifacts: &mut Artifacts<'_>,
    scenario: &Scenario,
) -> Option<Vec<BenchResult>> {
    let label = format!("bench {}", scenario.name);
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

/// Runs `bench`; returns whether every benchmark ran and kept its budget.
pub fn run() -> XtaskResult<bool> {
    let workspace = Workspace::locate();
    let paths = scenario::discover(&workspace.root.join(BENCH_DIR))?;
    let mut scenarios = Vec::new();
    let mut all_ran = true;
    for path in &paths {
        match Scenario::load(path) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                println!("bench {} ... FAILED: {e}", scenario::scenario_name(path));
                all_ran = false;
            }
        }
    }
    let machines: BTreeSet<QemuMachine> = scenarios.iter().map(|s| s.machine).collect();
    for machine in machines {
        if let Some(reason) = machine.not_runnable_reason() {
            return Err(XtaskError::new(format!(
                "cannot benchmark on {}: {reason}",
                machine.name()
            )));
        }
        ensure_qemu(machine)?;
    }

    let mut artifacts = Artifacts::new(&workspace);
    let mut results = Vec::new();
    for scenario in &scenarios {
        match run_one(&workspace, &mut artifacts, scenario) {
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
