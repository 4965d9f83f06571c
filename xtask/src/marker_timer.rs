//! Wall-clock time from starting a program to the first line of its output
//! that contains a marker (e.g. a guest's "userspace up" line), with the
//! output saved to a log as it arrives. The program is stopped as soon as
//! the marker is seen, as soon as a line says it will never come (e.g. the
//! guest faulted), or at a timeout.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::capture::create_log;
use crate::error::{XtaskError, XtaskResult};

/// How a timed run ended without its marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkerMissed {
    /// Still running, marker not seen, at the timeout.
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// The program ended without printing the marker.
    Exited {
        /// Its exit code (`None`: killed by a signal).
        code: Option<i32>,
    },
    /// A line said the marker will not come.
    GaveUp {
        /// That line.
        line: String,
    },
}

/// The texts to wait for in a program's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Markers {
    /// The line being timed contains this.
    pub wanted: String,
    /// A line containing any of these means the wanted one will not come.
    pub hopeless: Vec<String>,
}

/// What the output reader tells the waiting thread.
enum Seen {
    /// The wanted marker, at this instant.
    Wanted(Instant),
    /// A hopeless line.
    Hopeless(String),
    /// End of output.
    End,
}

/// Copies `output` line by line into `log`, and says when a line contains a
/// marker and when the output ends.
fn watch(output: impl BufRead, mut log: File, markers: Markers, seen: mpsc::Sender<Seen>) {
    let mut reported = false;
    for line in output.split(b'\n') {
        let Ok(line) = line else { break };
        let at = Instant::now();
        // A log that cannot be written only costs the transcript.
        let _ = log.write_all(&line).and_then(|()| log.write_all(b"\n"));
        if reported {
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        if text.contains(&markers.wanted) {
            reported = true;
            let _ = seen.send(Seen::Wanted(at));
        } else if markers.hopeless.iter().any(|h| text.contains(h.as_str())) {
            reported = true;
            let _ = seen.send(Seen::Hopeless(text.trim_end().to_string()));
        }
    }
    let _ = seen.send(Seen::End);
}

/// Stops our own child (by its handle) and reaps it.
fn stop(child: &mut Child) {
    // An error means it has exited already, which `wait` settles.
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `command` with stdin closed, its stdout and stderr saved to
/// `log_path`, until a line of stdout contains the wanted marker; returns
/// the time from start to that line, or how the run missed it.
pub fn time_to_marker(
    mut command: Command,
    markers: &Markers,
    log_path: &Path,
    timeout: Duration,
) -> XtaskResult<Result<Duration, MarkerMissed>> {
    let (log, log_for_stderr) = create_log(log_path)?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_for_stderr));
    let program = command.get_program().to_string_lossy().into_owned();
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| XtaskError::new(format!("cannot start {program}: {e}")))?;
    let Some(stdout) = child.stdout.take() else {
        stop(&mut child);
        return Err(XtaskError::new(format!("{program} has no output pipe")));
    };
    let (sender, seen) = mpsc::channel();
    let markers = markers.clone();
    let reader = thread::spawn(move || watch(BufReader::new(stdout), log, markers, sender));

    // The reader sends at most one marker, before the end of output, so the
    // first message decides.
    let outcome = match seen.recv_timeout(timeout.saturating_sub(started.elapsed())) {
        Ok(Seen::Wanted(at)) => Ok(at.saturating_duration_since(started)),
        Ok(Seen::Hopeless(line)) => Err(MarkerMissed::GaveUp { line }),
        Ok(Seen::End) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            let code = child
                .wait()
                .map_err(|e| XtaskError::new(format!("cannot wait for {program}: {e}")))?
                .code();
            Err(MarkerMissed::Exited { code })
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Err(MarkerMissed::TimedOut { after: timeout }),
    };
    stop(&mut child);
    // The pipe closes with the child, so the reader ends.
    let _ = reader.join();
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn log_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("xtask-marker-{}-{name}.log", std::process::id()))
    }

    fn markers(wanted: &str) -> Markers {
        Markers {
            wanted: wanted.into(),
            hopeless: vec!["faulted".into()],
        }
    }

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn times_the_marker_and_stops_the_program() {
        let path = log_path("found");
        let started = Instant::now();
        let outcome = time_to_marker(
            shell("echo booting; sleep 0.3; echo '[linux] guest: up'; exec sleep 30"),
            &markers("guest: up"),
            &path,
            Duration::from_secs(20),
        )
        .expect("runs");
        let took = outcome.expect("marker seen");
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let log = fs::read_to_string(&path).expect("log");
        assert_eq!(log, "booting\n[linux] guest: up\n");
        let _ = fs::remove_file(path);
    }

    #[test]
    fn a_program_that_ends_or_hangs_misses_it() {
        let path = log_path("missed");
        let ended = time_to_marker(
            shell("echo nothing here; echo oops >&2; exit 4"),
            &markers("guest: up"),
            &path,
            Duration::from_secs(20),
        )
        .expect("runs");
        assert_eq!(ended, Err(MarkerMissed::Exited { code: Some(4) }));
        let log = fs::read_to_string(&path).expect("log");
        assert!(
            log.contains("nothing here") && log.contains("oops"),
            "{log}"
        );

        let timeout = Duration::from_millis(300);
        let hung = time_to_marker(
            shell("echo waiting; exec sleep 30"),
            &markers("up"),
            &path,
            timeout,
        )
        .expect("runs");
        assert_eq!(hung, Err(MarkerMissed::TimedOut { after: timeout }));

        let started = Instant::now();
        let faulted = time_to_marker(
            shell("echo 'guest faulted: bad'; echo up; exec sleep 30"),
            &markers("up"),
            &path,
            Duration::from_secs(20),
        )
        .expect("runs");
        assert_eq!(
            faulted,
            Err(MarkerMissed::GaveUp {
                line: "guest faulted: bad".into()
            })
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let _ = fs::remove_file(path);
    }
}
