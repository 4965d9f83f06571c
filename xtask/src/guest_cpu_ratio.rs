//! `guest_cpu_ratio`: what Bulkhead costs a CPU-bound guest. The test
//! guest's `bench-cpu` scenario runs a fixed loop while taking a 250 Hz
//! virtual-timer tick and counts the instructions executed meanwhile at every
//! EL (INST_RETIRED, EL2 included). The same binary — the guest's program
//! linked at [`NATIVE_PROGRAM_BASE`] — runs under Bulkhead and on bare QEMU
//! (see [`crate::native_run`]), both under `-icount shift=0`, so both counts
//! are exact and the ratio is deterministic.
//!
//! QEMU's instruction count is global to all emulated CPUs (checked: a
//! second CPU spinning natively multiplies the count), so the configuration
//! runs nothing else while the loop runs; idle CPUs in WFI execute nothing
//! (checked: a 1-CPU and a 4-CPU board give identical counts).

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use bulkhead_config::TestSpec;
use platform::board;

use crate::artifacts::Artifacts;
use crate::bench_results::{self, BenchResult};
use crate::capture::run_captured;
use crate::error::{XtaskError, XtaskResult};
use crate::native_run::NativeGuest;
use crate::transcript;
use crate::workspace::Workspace;

/// Where the guest's program is linked for both runs: where QEMU's own
/// loader puts an arm64 Image on `virt` (RAM base plus a `text_offset` of
/// 512 KiB; one below 4 KiB would make QEMU move it up by 2 MiB), and where
/// the config tool puts it in a partition whose RAM starts at the RAM base.
pub const NATIVE_PROGRAM_BASE: u64 = board::QEMU_VIRT.kernel_load;

/// The loop's instruction count per sample, as the guest reports it.
pub const LOOP: &str = "guest_cpu_loop";
/// Timer interrupts the guest took per sample.
pub const TICKS: &str = "guest_cpu_ticks";
/// The figure held to its budget.
pub const RATIO: &str = "guest_cpu_ratio";
/// The boot argument that puts the runtime in native mode
/// (services/runtime/src/native.rs).
pub const NATIVE_BOOTARG: &str = "native";

fn find<'r>(results: &'r [BenchResult], name: &str, run: &str) -> Result<&'r BenchResult, String> {
    results
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| format!("the {run} run printed no `{name}` result"))
}

/// The figures of the two runs: each run's loop count (renamed
/// `guest_cpu_loop_bulkhead` / `_native`) and their ratio. Refused unless
/// the guest took its timer tick in both runs, about as often: otherwise
/// the runs did not do the same work.
pub fn compare(
    bulkhead: &[BenchResult],
    native: &[BenchResult],
) -> Result<Vec<BenchResult>, String> {
    let bulkhead_loop = find(bulkhead, LOOP, "Bulkhead")?;
    let native_loop = find(native, LOOP, "native")?;
    let bulkhead_ticks = find(bulkhead, TICKS, "Bulkhead")?;
    let native_ticks = find(native, TICKS, "native")?;
    if bulkhead_ticks.min < 1.0 || native_ticks.min < 1.0 {
        return Err(format!(
            "a sample took no timer interrupt (at least {} under Bulkhead, {} natively): the tick is not running",
            bulkhead_ticks.min, native_ticks.min
        ));
    }
    if (bulkhead_ticks.median - native_ticks.median).abs() > 1.0 {
        return Err(format!(
            "the guest took {} timer interrupts per sample under Bulkhead but {} natively: the runs are not alike",
            bulkhead_ticks.median, native_ticks.median
        ));
    }
    let ratio = BenchResult::ratio(RATIO, bulkhead_loop, native_loop)
        .ok_or_else(|| format!("the native `{LOOP}` figures cannot divide the Bulkhead ones"))?;
    Ok(vec![
        native_loop.renamed(&format!("{LOOP}_native")),
        bulkhead_loop.renamed(&format!("{LOOP}_bulkhead")),
        ratio,
    ])
}

/// Writes the flat file of `program` (as `artifacts` links it) for the
/// native run's `-kernel`: target/bench/<scenario>-<program>.bin.
pub fn program_file(
    workspace: &Workspace,
    artifacts: &mut Artifacts<'_>,
    scenario: &str,
    program: &str,
) -> XtaskResult<PathBuf> {
    let image = artifacts.program(program)?;
    let dir = workspace.bench_dir();
    fs::create_dir_all(&dir).map_err(|e| XtaskError::io("create", &dir, e))?;
    let path = dir.join(format!("{scenario}-{program}.bin"));
    fs::write(&path, &image.bytes).map_err(|e| XtaskError::io("write", &path, e))?;
    Ok(path)
}

/// Boots the configuration's guest on bare QEMU under instruction counting
/// in native mode, judges the transcript against the same `[test]` section
/// as the Bulkhead run, and returns its `BENCH` results.
pub fn run_native(
    workspace: &Workspace,
    name: &str,
    native: &NativeGuest,
    spec: &TestSpec,
) -> XtaskResult<Vec<BenchResult>> {
    let command = native.command(NATIVE_BOOTARG, true)?;
    let log_path = workspace.bench_dir().join(format!("{name}-native.log"));
    let shown = workspace.display_path(&log_path).display().to_string();
    let timeout = Duration::from_secs(spec.timeout_s);
    let run = run_captured(command, &log_path, timeout)?;
    let failures = transcript::check(&run.transcript, spec, run.end);
    if !failures.is_empty() {
        let reasons: Vec<String> = failures.iter().map(ToString::to_string).collect();
        return Err(XtaskError::new(format!(
            "the native run failed: {} (transcript: {shown})",
            reasons.join("; ")
        )));
    }
    bench_results::parse_transcript(&run.transcript).map_err(|e| XtaskError::new(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(name: &str, unit: &str, min: f64, median: f64, max: f64) -> BenchResult {
        BenchResult {
            name: name.into(),
            unit: unit.into(),
            min,
            median,
            max,
        }
    }

    fn run(instructions: f64, ticks: f64) -> Vec<BenchResult> {
        vec![
            figure(
                LOOP,
                "instructions",
                instructions,
                instructions,
                instructions + 200.0,
            ),
            figure(TICKS, "interrupts", ticks, ticks, ticks + 1.0),
        ]
    }

    #[test]
    fn ratio_of_the_two_runs() {
        let figures = compare(&run(25_005_512.0, 6.0), &run(25_001_264.0, 6.0)).expect("alike");
        let names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "guest_cpu_loop_native",
                "guest_cpu_loop_bulkhead",
                "guest_cpu_ratio"
            ]
        );
        let ratio = &figures[2];
        assert_eq!(ratio.unit, "ratio");
        assert_eq!(ratio.median, 25_005_512.0 / 25_001_264.0);
        assert_eq!(ratio.budget(), Some(1.03));
    }

    #[test]
    fn runs_without_ticks_or_with_different_work_are_refused() {
        let no_tick = compare(&run(100.0, 0.0), &run(100.0, 0.0)).expect_err("no tick");
        assert!(no_tick.contains("no timer interrupt"), "{no_tick}");
        let unlike = compare(&run(100.0, 9.0), &run(100.0, 6.0)).expect_err("unlike");
        assert!(unlike.contains("9 timer interrupts"), "{unlike}");
        let missing = compare(&run(100.0, 6.0)[..1], &run(100.0, 6.0)).expect_err("missing");
        assert!(missing.contains("guest_cpu_ticks"), "{missing}");
    }
}
