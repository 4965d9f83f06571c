//! Benchmark results: the `BENCH <name> <unit> <min> <median> <max>` lines a
//! benchmark guest prints, figures xtask derives itself (ratios of two runs,
//! wall-clock times), the budgets they are held to, the JSON written for
//! tracking them over time and the table shown to people.

use std::fmt;
use std::fmt::Write as _;

use serde_json::{json, Value};

/// The word that starts a result line (after any `[partition] ` prefix).
pub const BENCH_TAG: &str = "BENCH";

/// Most a benchmark's median may be, in its own unit. Under `-icount
/// shift=0` the numbers are instruction counts, so a budget is a path length;
/// a ratio's budget is how much slower than native a guest may be.
pub const BUDGETS: &[(&str, f64)] = &[
    // A null hypercall: trap, decode, dispatch, return. Kept short on purpose:
    // every IPC and console line pays it.
    ("hvc_null_roundtrip", 100.0),
    // A CALL to a server on the same CPU and its REPLY_RECV: two traps and
    // two vCPU switches.
    ("ipc_call_reply_roundtrip", 400.0),
    // A guest load from an emulated device window, forwarded to its service
    // and completed with the reply.
    ("mmio_emulated_read_roundtrip", 1200.0),
    // A CPU-bound guest with a 250 Hz timer tick: instructions under Bulkhead
    // over the same binary's on bare QEMU. Everything the core does on the
    // guest's CPU (interrupt injection, scheduling) must cost under 3%.
    ("guest_cpu_ratio", 1.03),
    // Linux from power-on to userspace under Bulkhead over bare QEMU, in
    // wall-clock time: boot-time traps and device emulation under 25%.
    ("linux_boot_ratio", 1.25),
];

/// The budget of a benchmark, if it has one.
pub fn budget_for(name: &str) -> Option<f64> {
    BUDGETS.iter().find(|(n, _)| *n == name).map(|&(_, b)| b)
}

/// The unit of a ratio of two figures in the same unit.
pub const RATIO_UNIT: &str = "ratio";

/// One benchmark's result. Values are `f64` so that ratios and seconds fit
/// beside instruction counts, which stay exact (they are far below 2^53).
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    /// What was measured.
    pub name: String,
    /// Its unit, e.g. `instructions`.
    pub unit: String,
    /// Smallest sample.
    pub min: f64,
    /// Median sample.
    pub median: f64,
    /// Largest sample.
    pub max: f64,
}

/// How a result compares with its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The median is within the budget.
    Within,
    /// The median exceeds the budget.
    Over,
    /// No budget is set.
    Unbudgeted,
}

/// The median of sorted, non-empty `samples`: the middle one, or the mean of
/// the two middle ones.
fn median_of_sorted(samples: &[f64]) -> Option<f64> {
    let middle = samples.len() / 2;
    let upper = *samples.get(middle)?;
    if samples.len().is_multiple_of(2) {
        let lower = *samples.get(middle.checked_sub(1)?)?;
        Some(lower + (upper - lower) / 2.0)
    } else {
        Some(upper)
    }
}

impl BenchResult {
    /// Summarises `samples` measured by xtask itself; `None` when there are
    /// none or one is not a finite number.
    pub fn from_samples(name: &str, unit: &str, samples: &[f64]) -> Option<Self> {
        if samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Self {
            name: name.to_string(),
            unit: unit.to_string(),
            min: *sorted.first()?,
            median: median_of_sorted(&sorted)?,
            max: *sorted.last()?,
        })
    }

    /// `numerator ÷ denominator`, figure by figure: the ratio of the minima,
    /// of the medians and of the maxima. `None` if the units differ or a
    /// denominator figure is not positive.
    pub fn ratio(name: &str, numerator: &Self, denominator: &Self) -> Option<Self> {
        let divide = |n: f64, d: f64| (d > 0.0).then(|| n / d);
        (numerator.unit == denominator.unit).then_some(())?;
        Some(Self {
            name: name.to_string(),
            unit: RATIO_UNIT.to_string(),
            min: divide(numerator.min, denominator.min)?,
            median: divide(numerator.median, denominator.median)?,
            max: divide(numerator.max, denominator.max)?,
        })
    }

    /// The same figures under another name.
    pub fn renamed(&self, name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..self.clone()
        }
    }

    /// Its budget.
    pub fn budget(&self) -> Option<f64> {
        budget_for(&self.name)
    }

    /// Its verdict against the budget.
    pub fn verdict(&self) -> Verdict {
        match self.budget() {
            None => Verdict::Unbudgeted,
            Some(b) if self.median <= b => Verdict::Within,
            Some(_) => Verdict::Over,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Within => "ok",
            Self::Over => "OVER BUDGET",
            Self::Unbudgeted => "-",
        })
    }
}

/// A `BENCH` line that does not have the expected shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedBenchLine {
    /// The line.
    pub line: String,
}

impl fmt::Display for MalformedBenchLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed benchmark line (want `{BENCH_TAG} <name> <unit> <min> <median> <max>`): {}",
            self.line
        )
    }
}

/// The line without a leading `[partition] ` prefix.
fn without_partition_prefix(line: &str) -> &str {
    if line.starts_with('[') {
        if let Some((_, rest)) = line.split_once("] ") {
            return rest;
        }
    }
    line
}

/// Collects every result line of a transcript, in order.
pub fn parse_transcript(transcript: &str) -> Result<Vec<BenchResult>, MalformedBenchLine> {
    let mut results = Vec::new();
    for raw in transcript.lines() {
        let line = without_partition_prefix(raw.trim_end());
        let mut words = line.split_whitespace();
        if words.next() != Some(BENCH_TAG) {
            continue;
        }
        let malformed = || MalformedBenchLine {
            line: raw.to_string(),
        };
        let fields: Vec<&str> = words.collect();
        let [name, unit, min, median, max] = fields.as_slice() else {
            return Err(malformed());
        };
        // Guests print whole numbers; as f64 they are exact below 2^53.
        let number = |s: &str| s.parse::<u64>().map(|n| n as f64).map_err(|_| malformed());
        let result = BenchResult {
            name: name.to_string(),
            unit: unit.to_string(),
            min: number(min)?,
            median: number(median)?,
            max: number(max)?,
        };
        if !(result.min <= result.median && result.median <= result.max) {
            return Err(malformed());
        }
        results.push(result);
    }
    Ok(results)
}

/// A figure as JSON: whole numbers (instruction counts) as integers, so the
/// file reads as it always has; others (ratios, seconds) as decimals.
fn json_number(value: f64) -> Value {
    /// Beyond this an f64 no longer holds every integer.
    const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;
    if value.fract() == 0.0 && value.abs() < EXACT_INTEGERS {
        Value::from(value as i64)
    } else {
        Value::from(value)
    }
}

/// A figure for people: whole numbers as they are, others to four decimals.
fn display_number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

/// The `results.json` document: a list of
/// `{ "name", "unit", "min", "median", "max", "budget" }`, budget null when none.
pub fn results_json(results: &[BenchResult]) -> Value {
    Value::Array(
        results
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "unit": r.unit,
                    "min": json_number(r.min),
                    "median": json_number(r.median),
                    "max": json_number(r.max),
                    "budget": r.budget().map(json_number),
                })
            })
            .collect(),
    )
}

/// A fixed-width table of results with a verdict column.
pub fn render_table(results: &[BenchResult]) -> String {
    let headers = [
        "benchmark",
        "unit",
        "min",
        "median",
        "max",
        "budget",
        "verdict",
    ];
    let rows: Vec<[String; 7]> = results
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.unit.clone(),
                display_number(r.min),
                display_number(r.median),
                display_number(r.max),
                r.budget().map_or_else(|| "-".to_string(), display_number),
                r.verdict().to_string(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 7]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            // Names and units read left-aligned, numbers right-aligned.
            let _ = if i < 2 || i == 6 {
                write!(text, "{cell:<width$}  ")
            } else {
                write!(text, "{cell:>width$}  ")
            };
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(headers);
    for row in &rows {
        line(row.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, median: u64) -> BenchResult {
        let median = median as f64;
        BenchResult {
            name: name.into(),
            unit: "instructions".into(),
            min: median - 1.0,
            median,
            max: median + 1.0,
        }
    }

    #[test]
    fn parses_prefixed_and_bare_lines_and_ignores_others() {
        let t = "[bulkhead] INFO booting\n\
                 [bench] BENCH hvc_null_roundtrip instructions 61 62 70\n\
                 BENCH ipc_call instructions 300 310 400\r\n\
                 [bench] BENCHMARKS done\n";
        assert_eq!(
            parse_transcript(t),
            Ok(vec![
                BenchResult {
                    name: "hvc_null_roundtrip".into(),
                    unit: "instructions".into(),
                    min: 61.0,
                    median: 62.0,
                    max: 70.0
                },
                BenchResult {
                    name: "ipc_call".into(),
                    unit: "instructions".into(),
                    min: 300.0,
                    median: 310.0,
                    max: 400.0
                },
            ])
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            "[bench] BENCH x instructions 1 2",
            "[bench] BENCH x instructions 1 2 3 4",
            "BENCH x instructions a 2 3",
            "BENCH x instructions 5 2 3",
        ] {
            assert_eq!(
                parse_transcript(bad),
                Err(MalformedBenchLine { line: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn verdicts_follow_budgets() {
        assert_eq!(budget_for("hvc_null_roundtrip"), Some(100.0));
        assert_eq!(result("hvc_null_roundtrip", 100).verdict(), Verdict::Within);
        assert_eq!(result("hvc_null_roundtrip", 101).verdict(), Verdict::Over);
        assert_eq!(result("unbudgeted", 5).verdict(), Verdict::Unbudgeted);
    }

    #[test]
    fn json_has_the_documented_shape() {
        let v = results_json(&[result("hvc_null_roundtrip", 62), result("other", 9)]);
        assert_eq!(
            v,
            json!([
                { "name": "hvc_null_roundtrip", "unit": "instructions", "min": 61, "median": 62, "max": 63, "budget": 100 },
                { "name": "other", "unit": "instructions", "min": 8, "median": 9, "max": 10, "budget": null },
            ])
        );
    }

    #[test]
    fn ratios_and_their_budgets() {
        let bulkhead = result("loop", 1030);
        let native = result("loop", 1000);
        let ratio = BenchResult::ratio("guest_cpu_ratio", &bulkhead, &native).expect("ratio");
        assert_eq!(ratio.unit, RATIO_UNIT);
        assert_eq!(ratio.min, 1029.0 / 999.0);
        assert_eq!(ratio.median, 1.03);
        assert_eq!(ratio.max, 1031.0 / 1001.0);
        assert_eq!(ratio.verdict(), Verdict::Within);
        let slower = BenchResult::ratio("guest_cpu_ratio", &result("loop", 1031), &native);
        assert_eq!(slower.map(|r| r.verdict()), Some(Verdict::Over));
        // No ratio of different units, nor by zero.
        let seconds = BenchResult {
            unit: "seconds".into(),
            ..native.clone()
        };
        assert_eq!(BenchResult::ratio("r", &bulkhead, &seconds), None);
        assert_eq!(
            BenchResult::ratio("r", &bulkhead, &result("zero", 1).renamed("z")),
            None
        );
    }

    #[test]
    fn summaries_of_measured_samples() {
        let r = BenchResult::from_samples("linux_boot_native", "seconds", &[2.5, 1.5, 2.0, 9.0])
            .expect("summary");
        assert_eq!((r.min, r.median, r.max), (1.5, 2.25, 9.0));
        let odd = BenchResult::from_samples("x", "s", &[3.0, 1.0, 2.0]).expect("summary");
        assert_eq!(odd.median, 2.0);
        assert_eq!(BenchResult::from_samples("x", "s", &[]), None);
        assert_eq!(BenchResult::from_samples("x", "s", &[1.0, f64::NAN]), None);
    }

    #[test]
    fn fractions_are_decimals_in_json_and_the_table() {
        let ratio = BenchResult::from_samples("linux_boot_ratio", RATIO_UNIT, &[1.1, 1.2, 1.3])
            .expect("summary");
        assert_eq!(
            results_json(std::slice::from_ref(&ratio)),
            json!([{ "name": "linux_boot_ratio", "unit": "ratio", "min": 1.1, "median": 1.2, "max": 1.3, "budget": 1.25 }])
        );
        let table = render_table(&[ratio]);
        assert!(table.contains(" 1.2000 "), "{table}");
        assert!(table.contains(" 1.2500 "), "{table}");
    }

    #[test]
    fn table_has_a_verdict_column() {
        let table = render_table(&[result("hvc_null_roundtrip", 162)]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("benchmark"));
        assert!(lines[0].ends_with("verdict"));
        assert!(lines[1].starts_with("hvc_null_roundtrip"));
        assert!(lines[1].ends_with("OVER BUDGET"));
        assert!(lines[1].contains(" 162 "));
    }
}
