//! Benchmark results: the `BENCH <name> <unit> <min> <median> <max>` lines a
//! benchmark guest prints, the budgets they are held to, the JSON written for
//! tracking them over time and the table shown to people.

use std::fmt;
use std::fmt::Write as _;

use serde_json::{json, Value};

/// The word that starts a result line (after any `[partition] ` prefix).
pub const BENCH_TAG: &str = "BENCH";

/// Most a benchmark's median may be, in its own unit. Under `-icount
/// shift=0` the numbers are instruction counts, so a budget is a path length.
pub const BUDGETS: &[(&str, u64)] = &[
    // A null hypercall: trap, decode, dispatch, return. Kept short on purpose:
    // every IPC and console line pays it.
    ("hvc_null_roundtrip", 100),
    // A CALL to a server on the same CPU and its REPLY_RECV: two traps and
    // two vCPU switches.
    ("ipc_call_reply_roundtrip", 400),
    // A guest load from an emulated device window, forwarded to its service
    // and completed with the reply.
    ("mmio_emulated_read_roundtrip", 1200),
];

/// The budget of a benchmark, if it has one.
pub fn budget_for(name: &str) -> Option<u64> {
    BUDGETS.iter().find(|(n, _)| *n == name).map(|&(_, b)| b)
}

/// One benchmark's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchResult {
    /// What was measured.
    pub name: String,
    /// Its unit, e.g. `instructions`.
    pub unit: String,
    /// Smallest sample.
    pub min: u64,
    /// Median sample.
    pub median: u64,
    /// Largest sample.
    pub max: u64,
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

impl BenchResult {
    /// Its budget.
    pub fn budget(&self) -> Option<u64> {
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
        let number = |s: &str| s.parse::<u64>().map_err(|_| malformed());
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
                    "min": r.min,
                    "median": r.median,
                    "max": r.max,
                    "budget": r.budget(),
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
                r.min.to_string(),
                r.median.to_string(),
                r.max.to_string(),
                r.budget()
                    .map_or_else(|| "-".to_string(), |b| b.to_string()),
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
        BenchResult {
            name: name.into(),
            unit: "instructions".into(),
            min: median - 1,
            median,
            max: median + 1,
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
                    min: 61,
                    median: 62,
                    max: 70
                },
                BenchResult {
                    name: "ipc_call".into(),
                    unit: "instructions".into(),
                    min: 300,
                    median: 310,
                    max: 400
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
        assert_eq!(budget_for("hvc_null_roundtrip"), Some(100));
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
