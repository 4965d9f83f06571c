//! `linux_boot_ratio`: wall-clock time from starting QEMU to the Linux
//! guest's first userspace line (`bulkhead-guest: userspace up`, printed by
//! every initramfs init of `cargo xtask guests`), under Bulkhead over the
//! same kernel, initramfs, vCPUs, RAM and command line on bare QEMU (see
//! [`crate::native_run`]). Real time, not instruction counts: QEMU runs
//! without `-icount`, natively and under Bulkhead alternately, and the
//! figure is the median of the per-round ratios, so a machine that is
//! busier in one stretch than another skews both sides of a round alike.

use std::time::Duration;

use crate::artifacts::Artifacts;
use crate::bench_results::{BenchResult, RATIO_UNIT};
use crate::error::{XtaskError, XtaskResult};
use crate::guests::USERSPACE_UP_LINE;
use crate::marker_timer::{time_to_marker, MarkerMissed, Markers};
use crate::native_run::NativeGuest;
use crate::scenario::{self, BootMode, Scenario};
use crate::transcript::CORE_PANIC;
use crate::workspace::{Workspace, BENCH_SUBDIR};

/// Boots of each side.
pub const ROUNDS: usize = 7;
/// The figure held to its budget.
pub const RATIO: &str = "linux_boot_ratio";
/// Seconds to userspace on bare QEMU.
pub const NATIVE: &str = "linux_boot_native";
/// Seconds to userspace under Bulkhead.
pub const BULKHEAD: &str = "linux_boot_bulkhead";
/// Seconds, for wall-clock figures.
const SECONDS: &str = "seconds";

/// Real time: no instruction counting, so the guest runs as fast as QEMU can.
const WALL_CLOCK_BOOT: BootMode = BootMode {
    instruction_counting: false,
    image_dir: "bench",
    log_dir: BENCH_SUBDIR,
};

/// One side of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Native,
    Bulkhead,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Bulkhead => "bulkhead",
        }
    }
}

/// The figures from the seconds each round took on each side: both sides'
/// times and the ratio of each round's Bulkhead time over its native time.
pub fn summarize(native: &[f64], bulkhead: &[f64]) -> Option<Vec<BenchResult>> {
    if native.len() != bulkhead.len() {
        return None;
    }
    let ratios: Vec<f64> = bulkhead
        .iter()
        .zip(native)
        .map(|(b, n)| (*n > 0.0).then(|| b / n))
        .collect::<Option<_>>()?;
    Some(vec![
        BenchResult::from_samples(NATIVE, SECONDS, native)?,
        BenchResult::from_samples(BULKHEAD, SECONDS, bulkhead)?,
        BenchResult::from_samples(RATIO, RATIO_UNIT, &ratios)?,
    ])
}

/// What a missed marker means, for the failure message.
fn describe(missed: &MarkerMissed) -> String {
    match missed {
        MarkerMissed::TimedOut { after } => format!(
            "timed out after {} s waiting for `{USERSPACE_UP_LINE}`",
            after.as_secs()
        ),
        MarkerMissed::Exited { code } => format!(
            "QEMU exited ({}) before `{USERSPACE_UP_LINE}`",
            code.map_or_else(
                || "killed by a signal".to_string(),
                |c| format!("status {c}")
            )
        ),
        MarkerMissed::GaveUp { line } => format!("before `{USERSPACE_UP_LINE}`: {line}"),
    }
}

/// Builds the Bulkhead image, boots both sides [`ROUNDS`] times alternately
/// and returns the figures; stops at the first boot that does not reach
/// userspace, naming it.
pub fn run(
    workspace: &Workspace,
    artifacts: &mut Artifacts<'_>,
    scenario: &Scenario,
) -> XtaskResult<Vec<BenchResult>> {
    let spec = scenario.test_spec()?;
    let timeout = Duration::from_secs(spec.timeout_s);
    let native = NativeGuest::from_system(&scenario.system, |program| {
        Err(XtaskError::new(format!(
            "{}: the Linux guest must be an image file, not program {program:?}",
            scenario.name
        )))
    })?;
    let image = scenario::build(workspace, artifacts, scenario, WALL_CLOCK_BOOT)?;
    // Under Bulkhead the core says when the guest has stopped (faulted,
    // powered off) or the core itself failed: no point waiting on.
    let markers = Markers {
        wanted: USERSPACE_UP_LINE.to_string(),
        hopeless: vec![
            format!("partition {:?} faulted", native.partition),
            format!("partition {:?} stopped", native.partition),
            CORE_PANIC.to_string(),
        ],
    };
    let mut seconds = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        for side in [Side::Native, Side::Bulkhead] {
            let command = match side {
                Side::Native => native.command("", false)?,
                Side::Bulkhead => scenario::qemu_command(scenario, &image, WALL_CLOCK_BOOT)?,
            };
            let log = workspace.bench_dir().join(format!(
                "{}-{}-{round}.log",
                scenario.name,
                side.name()
            ));
            let shown = workspace.display_path(&log).display().to_string();
            match time_to_marker(command, &markers, &log, timeout)? {
                Ok(took) => {
                    println!(
                        "    {} boot {round}/{ROUNDS}: userspace after {:.2} s",
                        side.name(),
                        took.as_secs_f64()
                    );
                    let times = match side {
                        Side::Native => &mut seconds.0,
                        Side::Bulkhead => &mut seconds.1,
                    };
                    times.push(took.as_secs_f64());
                }
                Err(missed) => {
                    return Err(XtaskError::new(format!(
                        "Linux did not reach userspace on the {} boot {round}: {} (transcript: {shown})",
                        side.name(),
                        describe(&missed)
                    )))
                }
            }
        }
    }
    summarize(&seconds.0, &seconds.1).ok_or_else(|| XtaskError::new("no boot times to compare"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_the_median_per_round_ratio() {
        let figures = summarize(&[2.0, 4.0, 2.2], &[2.4, 4.4, 3.3]).expect("figures");
        let by_name = |name: &str| {
            figures
                .iter()
                .find(|f| f.name == name)
                .cloned()
                .expect("figure")
        };
        assert_eq!(by_name(NATIVE).median, 2.2);
        assert_eq!(by_name(BULKHEAD).median, 3.3);
        let ratio = by_name(RATIO);
        assert_eq!(ratio.unit, "ratio");
        // Rounds: 1.2, 1.1, 1.5; the median round, not the ratio of medians.
        assert!((ratio.median - 1.2).abs() < 1e-12, "{}", ratio.median);
        assert!((ratio.min - 1.1).abs() < 1e-12 && (ratio.max - 1.5).abs() < 1e-12);
        assert_eq!(ratio.budget(), Some(1.25));
    }

    #[test]
    fn nothing_to_compare_without_matching_rounds() {
        assert_eq!(summarize(&[], &[]), None);
        assert_eq!(summarize(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(summarize(&[0.0], &[1.0]), None);
    }

    #[test]
    fn misses_are_named() {
        let timed_out = describe(&MarkerMissed::TimedOut {
            after: Duration::from_secs(120),
        });
        assert_eq!(
            timed_out,
            "timed out after 120 s waiting for `bulkhead-guest: userspace up`"
        );
        let exited = describe(&MarkerMissed::Exited { code: Some(1) });
        assert!(exited.contains("status 1"), "{exited}");
        let gave_up = describe(&MarkerMissed::GaveUp {
            line: "[bulkhead] INFO partition \"linux\" stopped".into(),
        });
        assert!(
            gave_up.ends_with("partition \"linux\" stopped"),
            "{gave_up}"
        );
    }
}
