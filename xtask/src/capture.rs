//! Running a program without a terminal, its stdout and stderr interleaved
//! into one log file in the order they were written, stopped at a timeout.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{XtaskError, XtaskResult};
use crate::transcript::RunEnd;

/// How often a running child is checked for having exited.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What a captured run produced.
#[derive(Clone, Debug)]
pub struct CapturedRun {
    /// Everything the program wrote (invalid UTF-8 replaced).
    pub transcript: String,
    /// How it ended.
    pub end: RunEnd,
    /// Wall-clock time it ran.
    pub elapsed: Duration,
}

/// How often the log is read to see whether a run may stop early.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Creates (or replaces) `log_path`, and its directory, for a program's
/// output: two handles on one open file, for stdout and stderr. Sharing the
/// file (and so one file offset) keeps lines in the order they were written.
pub fn create_log(log_path: &Path) -> XtaskResult<(File, File)> {
    if let Some(dir) = log_path.parent() {
        fs::create_dir_all(dir).map_err(|e| XtaskError::io("create", dir, e))?;
    }
    let log = File::create(log_path).map_err(|e| XtaskError::io("create", log_path, e))?;
    let second = log
        .try_clone()
        .map_err(|e| XtaskError::io("reopen", log_path, e))?;
    Ok((log, second))
}

/// Runs `command` with stdin closed and stdout+stderr going to `log_path`
/// (created or replaced), killing it if it is still running after `timeout`.
pub fn run_captured(
    command: Command,
    log_path: &Path,
    timeout: Duration,
) -> XtaskResult<CapturedRun> {
    run_captured_until(command, log_path, timeout, None)
}

/// As [`run_captured`], and also stops the program as soon as `done`
/// returns true for what it has written so far.
pub fn run_captured_until(
    mut command: Command,
    log_path: &Path,
    timeout: Duration,
    done: Option<&dyn Fn(&str) -> bool>,
) -> XtaskResult<CapturedRun> {
    let (log, log_for_stderr) = create_log(log_path)?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_for_stderr));
    let program = command.get_program().to_string_lossy().into_owned();
    let started = Instant::now();
    let mut last_check = started;
    let mut child = command
        .spawn()
        .map_err(|e| XtaskError::new(format!("cannot start {program}: {e}")))?;
    let end = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break RunEnd::Exited {
                    code: status.code(),
                }
            }
            Ok(None) if started.elapsed() >= timeout => {
                // Killing our own child by handle; an error means it exited
                // in the meantime, which `wait` below settles either way.
                let _ = child.kill();
                let _ = child.wait();
                break RunEnd::TimedOut { after: timeout };
            }
            Ok(None) => {
                if let Some(done) = done {
                    if last_check.elapsed() >= STOP_CHECK_INTERVAL {
                        last_check = Instant::now();
                        let so_far = fs::read(log_path).unwrap_or_default();
                        if done(&String::from_utf8_lossy(&so_far)) {
                            // As at the timeout: an error means it just exited.
                            let _ = child.kill();
                            let _ = child.wait();
                            break RunEnd::Stopped;
                        }
                    }
                }
                thread::sleep(POLL_INTERVAL);
            }
            Err(e) => return Err(XtaskError::new(format!("cannot wait for {program}: {e}"))),
        }
    };
    let elapsed = started.elapsed();
    let bytes = fs::read(log_path).map_err(|e| XtaskError::io("read", log_path, e))?;
    Ok(CapturedRun {
        transcript: String::from_utf8_lossy(&bytes).into_owned(),
        end,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("xtask-capture-{}-{name}.log", std::process::id()))
    }

    #[test]
    fn interleaves_both_streams_and_reports_the_exit_code() {
        let path = log_path("exit");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; echo three; exit 3"]);
        let run = run_captured(cmd, &path, Duration::from_secs(20)).expect("runs");
        assert_eq!(run.transcript, "one\ntwo\nthree\n");
        assert_eq!(run.end, RunEnd::Exited { code: Some(3) });
        assert_eq!(
            fs::read_to_string(&path).ok().as_deref(),
            Some("one\ntwo\nthree\n")
        );
        let _ = fs::remove_file(path);
    }

    #[test]
    fn kills_at_the_timeout_and_keeps_what_was_written() {
        let path = log_path("timeout");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let timeout = Duration::from_millis(300);
        let run = run_captured(cmd, &path, timeout).expect("runs");
        assert_eq!(run.end, RunEnd::TimedOut { after: timeout });
        assert_eq!(run.transcript, "started\n");
        assert!(run.elapsed < Duration::from_secs(10));
        let _ = fs::remove_file(path);
    }

    #[test]
    fn stdin_is_closed() {
        let path = log_path("stdin");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat; echo done"]);
        let run = run_captured(cmd, &path, Duration::from_secs(20)).expect("runs");
        assert_eq!(run.transcript, "done\n");
        let _ = fs::remove_file(path);
    }
}
