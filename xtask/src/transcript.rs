//! Judging a scenario's serial transcript against its `[test]` section: how
//! the run had to end, ordered and unordered expectations, forbidden text, and
//! the one rule for every scenario — the core never panics.

use std::fmt;
use std::time::Duration;

use bulkhead_config::{Ending, TestSpec};

/// The prefix of a core panic line; a guest must never be able to cause one.
pub const CORE_PANIC: &str = "[bulkhead] PANIC";

/// How a QEMU run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// QEMU exited by itself with this status code (`None`: killed by a signal).
    Exited {
        /// Its exit code.
        code: Option<i32>,
    },
    /// QEMU was still running at the timeout and was killed.
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// QEMU was stopped because the transcript held everything the scenario
    /// waits for (`ends = "matched"`).
    Stopped,
}

/// One way a transcript fails its scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TranscriptFailure {
    /// The system should have powered off but was still running.
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// The system should have kept running until the timeout but QEMU exited.
    ExitedEarly {
        /// QEMU's exit code.
        code: Option<i32>,
    },
    /// QEMU exited with an error status (its own failure, not a power-off).
    QemuFailed {
        /// QEMU's exit code.
        code: Option<i32>,
    },
    /// An `expect` entry was not found after the previous one's match.
    MissingInOrder {
        /// The missing text.
        text: String,
        /// The previous `expect` entry, if any.
        after: Option<String>,
    },
    /// A `contains` entry was not found.
    Missing {
        /// The missing text.
        text: String,
    },
    /// A `forbid` entry was found.
    Forbidden {
        /// The forbidden text.
        text: String,
        /// The first line it occurs on.
        line: String,
    },
    /// The core panicked.
    CorePanic {
        /// The panic line.
        line: String,
    },
}

impl fmt::Display for TranscriptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code =
            |c: &Option<i32>| c.map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
        match self {
            Self::TimedOut { after } => write!(
                f,
                "still running after {} s (expected the system to power off)",
                after.as_secs()
            ),
            Self::ExitedEarly { code: c } => write!(
                f,
                "QEMU exited ({}) before the timeout, but the scenario expects the system to keep running",
                code(c)
            ),
            Self::QemuFailed { code: c } => write!(f, "QEMU failed ({})", code(c)),
            Self::MissingInOrder { text, after: Some(after) } => {
                write!(f, "expected {text:?} after {after:?}, not found")
            }
            Self::MissingInOrder { text, after: None } => write!(f, "expected {text:?}, not found"),
            Self::Missing { text } => write!(f, "expected {text:?} somewhere, not found"),
            Self::Forbidden { text, line } => write!(f, "forbidden {text:?} found: {line}"),
            Self::CorePanic { line } => write!(f, "the core panicked: {line}"),
        }
    }
}

/// The first line of `transcript` containing `needle`.
fn line_containing<'t>(transcript: &'t str, needle: &str) -> Option<&'t str> {
    transcript.lines().find(|l| l.contains(needle))
}

/// True if every `expect` entry appears in order and every `contains` entry
/// somewhere: what an `ends = "matched"` run waits for.
pub fn expectations_met(transcript: &str, spec: &TestSpec) -> bool {
    let mut cursor = 0;
    for text in &spec.expect {
        match transcript
            .get(cursor..)
            .and_then(|rest| rest.find(text.as_str()))
        {
            Some(found) => cursor += found + text.len(),
            None => return false,
        }
    }
    spec.contains
        .iter()
        .all(|text| transcript.contains(text.as_str()))
}

/// Checks a transcript; an empty list means the scenario passed.
pub fn check(transcript: &str, spec: &TestSpec, end: RunEnd) -> Vec<TranscriptFailure> {
    let mut failures = Vec::new();
    match (spec.ends, end) {
        (Ending::Poweroff, RunEnd::TimedOut { after }) => {
            failures.push(TranscriptFailure::TimedOut { after });
        }
        (Ending::Poweroff, RunEnd::Exited { code }) if code != Some(0) => {
            failures.push(TranscriptFailure::QemuFailed { code });
        }
        (Ending::Timeout, RunEnd::Exited { code }) => {
            failures.push(TranscriptFailure::ExitedEarly { code });
        }
        // A run that powered off by itself after all it waits for is fine;
        // one stopped at the timeout misses something, listed below.
        (Ending::Matched, RunEnd::Exited { code }) if code != Some(0) => {
            failures.push(TranscriptFailure::QemuFailed { code });
        }
        _ => {}
    }

    let mut cursor = 0;
    let mut previous: Option<&String> = None;
    for text in &spec.expect {
        match transcript
            .get(cursor..)
            .and_then(|rest| rest.find(text.as_str()))
        {
            Some(found) => cursor += found + text.len(),
            None => {
                failures.push(TranscriptFailure::MissingInOrder {
                    text: text.clone(),
                    after: previous.cloned(),
                });
                // Later entries are judged after the last match that did occur.
            }
        }
        previous = Some(text);
    }

    for text in &spec.contains {
        if !transcript.contains(text.as_str()) {
            failures.push(TranscriptFailure::Missing { text: text.clone() });
        }
    }
    for text in &spec.forbid {
        if let Some(line) = line_containing(transcript, text) {
            failures.push(TranscriptFailure::Forbidden {
                text: text.clone(),
                line: line.to_string(),
            });
        }
    }
    if let Some(line) = line_containing(transcript, CORE_PANIC) {
        failures.push(TranscriptFailure::CorePanic {
            line: line.to_string(),
        });
    }
    failures
}

/// The last `count` lines of a transcript, for showing after a failure.
pub fn tail(transcript: &str, count: usize) -> Vec<&str> {
    let lines: Vec<&str> = transcript.lines().collect();
    lines[lines.len().saturating_sub(count)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(expect: &[&str], contains: &[&str], forbid: &[&str], ends: Ending) -> TestSpec {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        TestSpec {
            timeout_s: 10,
            expect: owned(expect),
            contains: owned(contains),
            forbid: owned(forbid),
            corrupt: None,
            ends,
            el2: true,
            gic_versions: Vec::new(),
        }
    }

    const POWERED_OFF: RunEnd = RunEnd::Exited { code: Some(0) };
    const TRANSCRIPT: &str = "\
[bulkhead] INFO booting
[victim] ticks: faulting on purpose
[bulkhead] ERROR partition \"victim\" faulted: data abort at 0x0
[survivor] tick 30/30
[bulkhead] INFO all partitions stopped
";

    #[test]
    fn matched_runs_stop_once_everything_expected_is_there_and_pass() {
        let s = spec(
            &["faulting on purpose", "[survivor] tick 30/30"],
            &["partition \"victim\" faulted"],
            &["PANIC"],
            Ending::Matched,
        );
        assert!(expectations_met(TRANSCRIPT, &s));
        assert!(!expectations_met(
            "[victim] ticks: faulting on purpose\n",
            &s
        ));
        // Out of order is not met.
        let reversed = spec(
            &["[survivor] tick 30/30", "faulting on purpose"],
            &[],
            &[],
            Ending::Matched,
        );
        assert!(!expectations_met(TRANSCRIPT, &reversed));
        assert_eq!(check(TRANSCRIPT, &s, RunEnd::Stopped), vec![]);
        assert_eq!(check(TRANSCRIPT, &s, POWERED_OFF), vec![]);
        // Stopped at the timeout: what is missing is the failure.
        let timed_out = RunEnd::TimedOut {
            after: Duration::from_secs(10),
        };
        let failures = check("[victim] ticks: faulting on purpose\n", &s, timed_out);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(matches!(
            failures[0],
            TranscriptFailure::MissingInOrder { .. }
        ));
    }

    #[test]
    fn ordered_expectations_pass_in_order() {
        let s = spec(
            &[
                "faulting on purpose",
                "partition \"victim\" faulted",
                "[survivor] tick 30/30",
            ],
            &[],
            &[],
            Ending::Poweroff,
        );
        assert_eq!(check(TRANSCRIPT, &s, POWERED_OFF), vec![]);
    }

    #[test]
    fn ordered_expectations_fail_out_of_order() {
        let s = spec(
            &["[survivor] tick 30/30", "faulting on purpose"],
            &[],
            &[],
            Ending::Poweroff,
        );
        assert_eq!(
            check(TRANSCRIPT, &s, POWERED_OFF),
            vec![TranscriptFailure::MissingInOrder {
                text: "faulting on purpose".into(),
                after: Some("[survivor] tick 30/30".into()),
            }]
        );
    }

    #[test]
    fn a_repeated_expectation_needs_two_occurrences() {
        let s = spec(&["tick", "tick", "tick"], &[], &[], Ending::Poweroff);
        assert_eq!(check("tick 1\ntick 2\n", &s, POWERED_OFF).len(), 1);
    }

    #[test]
    fn contains_is_unordered() {
        let s = spec(
            &[],
            &["all partitions stopped", "[bulkhead] INFO booting"],
            &[],
            Ending::Poweroff,
        );
        assert_eq!(check(TRANSCRIPT, &s, POWERED_OFF), vec![]);
        let s = spec(&[], &["[alpha] tick 10/10"], &[], Ending::Poweroff);
        assert_eq!(
            check(TRANSCRIPT, &s, POWERED_OFF),
            vec![TranscriptFailure::Missing {
                text: "[alpha] tick 10/10".into()
            }]
        );
    }

    #[test]
    fn forbidden_text_and_core_panics_fail() {
        let s = spec(&[], &[], &["FAIL"], Ending::Poweroff);
        let t = "[p] ping: 3 FAIL\n[bulkhead] PANIC at kernel/src/x.rs:1\n";
        assert_eq!(
            check(t, &s, POWERED_OFF),
            vec![
                TranscriptFailure::Forbidden {
                    text: "FAIL".into(),
                    line: "[p] ping: 3 FAIL".into()
                },
                TranscriptFailure::CorePanic {
                    line: "[bulkhead] PANIC at kernel/src/x.rs:1".into()
                },
            ]
        );
    }

    #[test]
    fn endings_are_checked() {
        let after = Duration::from_secs(10);
        let poweroff = spec(&[], &[], &[], Ending::Poweroff);
        let timeout = spec(&[], &[], &[], Ending::Timeout);
        assert_eq!(
            check("", &poweroff, RunEnd::TimedOut { after }),
            vec![TranscriptFailure::TimedOut { after }]
        );
        assert_eq!(
            check("", &poweroff, RunEnd::Exited { code: Some(1) }),
            vec![TranscriptFailure::QemuFailed { code: Some(1) }]
        );
        assert_eq!(check("", &timeout, RunEnd::TimedOut { after }), vec![]);
        assert_eq!(
            check("", &timeout, POWERED_OFF),
            vec![TranscriptFailure::ExitedEarly { code: Some(0) }]
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), vec!["b", "c"]);
        assert_eq!(tail("a\n", 40), vec!["a"]);
    }
}
