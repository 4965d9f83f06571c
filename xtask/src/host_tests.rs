//! The host half of `cargo xtask test`: `cargo test` on the crates that run on
//! the host, with the per-binary "test result:" lines summed into one count.

use std::time::Duration;

use crate::capture::run_captured;
use crate::error::XtaskResult;
use crate::transcript::RunEnd;
use crate::workspace::Workspace;

/// The crates with host tests. Target-only crates (kernel, services, test
/// guests) are left out: they do not build for the host.
pub const HOST_TEST_PACKAGES: &[&str] = &[
    "abi",
    "kernel-core",
    "platform",
    "bulkhead-config",
    "bulkhead-runtime",
    "console",
    "vmm",
    "xtask",
];

/// Generous: a cold build of the host crates plus their tests.
const HOST_TEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Lines shown when a failure left no `failures:` section (a build error).
const BUILD_ERROR_TAIL_LINES: usize = 60;

/// Summed counts from `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestCounts {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests marked `#[ignore]`.
    pub ignored: u64,
}

/// Sums every `test result: ok. 5 passed; 0 failed; 1 ignored; …` line.
pub fn parse_counts(output: &str) -> TestCounts {
    let mut counts = TestCounts::default();
    for line in output.lines() {
        let Some((_, summary)) = line.split_once("test result:") else {
            continue;
        };
        for part in summary.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(number), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = number.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => counts.passed += n,
                "failed" => counts.failed += n,
                "ignored" => counts.ignored += n,
                _ => {}
            }
        }
    }
    counts
}

/// The parts of a failed `cargo test` output worth showing: every
/// `failures:` section (failed tests' output and names), or the tail of the
/// output when there is none (it failed to build).
pub fn failure_excerpt(output: &str) -> Vec<&str> {
    let mut excerpt = Vec::new();
    let mut inside = false;
    for line in output.lines() {
        if line == "failures:" {
            inside = true;
        } else if line.starts_with("test result:") {
            inside = false;
        }
        if inside {
            excerpt.push(line);
        }
    }
    if excerpt.is_empty() {
        let lines: Vec<&str> = output.lines().collect();
        excerpt = lines[lines.len().saturating_sub(BUILD_ERROR_TAIL_LINES)..].to_vec();
    }
    excerpt
}

/// The outcome of the host tests.
#[derive(Clone, Debug)]
pub struct HostTestOutcome {
    /// Summed counts.
    pub counts: TestCounts,
    /// Whether cargo reported success.
    pub succeeded: bool,
    /// The complete output.
    pub output: String,
    /// How long it took.
    pub elapsed: Duration,
}

/// Runs the host tests, logging to `target/test-logs/host-tests.log`.
pub fn run(workspace: &Workspace) -> XtaskResult<HostTestOutcome> {
    let mut cargo = workspace.cargo();
    cargo.arg("test");
    for package in HOST_TEST_PACKAGES {
        cargo.args(["-p", package]);
    }
    // Run every test binary even after a failure, so the counts are complete.
    cargo.arg("--no-fail-fast");
    let log = workspace.test_logs_dir().join("host-tests.log");
    let run = run_captured(cargo, &log, HOST_TEST_TIMEOUT)?;
    Ok(HostTestOutcome {
        counts: parse_counts(&run.transcript),
        succeeded: run.end == RunEnd::Exited { code: Some(0) },
        output: run.transcript,
        elapsed: run.elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
     Running unittests src/lib.rs (target/debug/deps/abi-1)

running 3 tests
test a ... ok
test b ... ok
test c ... ignored

test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running unittests src/main.rs (target/debug/deps/xtask-2)

running 2 tests
test x ... ok
test y ... FAILED

failures:

---- y stdout ----
thread 'y' panicked at src/main.rs:1:1:
boom

failures:
    y

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

   Doc-tests abi

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";

    #[test]
    fn counts_sum_over_every_binary() {
        assert_eq!(
            parse_counts(OUTPUT),
            TestCounts {
                passed: 3,
                failed: 1,
                ignored: 1
            }
        );
        assert_eq!(
            parse_counts("error[E0425]: cannot find value"),
            TestCounts::default()
        );
    }

    #[test]
    fn excerpt_shows_the_failures_sections() {
        let excerpt = failure_excerpt(OUTPUT);
        assert_eq!(excerpt.first(), Some(&"failures:"));
        assert!(excerpt.contains(&"boom"));
        assert!(excerpt.contains(&"    y"));
        assert!(!excerpt.iter().any(|l| l.contains("test a")));
    }

    #[test]
    fn excerpt_of_a_build_error_is_the_tail() {
        let output: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let excerpt = failure_excerpt(&output);
        assert_eq!(excerpt.len(), BUILD_ERROR_TAIL_LINES);
        assert_eq!(excerpt.last(), Some(&"line 99"));
    }
}
