//! A machine's second serial port in a scenario (QEMU `raspi4b`'s mini UART,
//! which a partition may own and print through directly): QEMU writes it to
//! a file of its own beside the image, and its lines are then appended to the
//! transcript, each prefixed with [`LINE_PREFIX`], so that a `[test]` section
//! can expect what was printed there (`"serial1| rt: tick 5"`).

use std::fs;
use std::path::{Path, PathBuf};

/// Put before each line of the second serial port in the judged transcript.
pub const LINE_PREFIX: &str = "serial1| ";

/// Where the second port goes when `image` boots: `<name>.serial1.log`
/// beside `<name>.img`.
pub fn log_path(image: &Path) -> PathBuf {
    image.with_extension("serial1.log")
}

/// `transcript` followed by every line of `second`, prefixed; a last line
/// without its newline is kept.
pub fn merged(transcript: &str, second: &str) -> String {
    let mut out = String::with_capacity(transcript.len() + second.len());
    out.push_str(transcript);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for line in second.lines() {
        out.push_str(LINE_PREFIX);
        // The mini UART gets raw bytes; a partition may end lines with CR LF.
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out
}

/// [`merged`] with what the file at `path` holds so far (nothing if QEMU has
/// not created it yet; invalid UTF-8 replaced).
pub fn merged_with_file(transcript: &str, path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    merged(transcript, &String::from_utf8_lossy(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_log_sits_beside_the_image() {
        assert_eq!(
            log_path(Path::new("target/bulkhead/test/rpi4-mini-uart.img")),
            Path::new("target/bulkhead/test/rpi4-mini-uart.serial1.log")
        );
    }

    #[test]
    fn lines_are_appended_with_the_prefix() {
        assert_eq!(
            merged("[bulkhead] INFO up\n", "rt: tick 1\r\nrt: tick 2"),
            "[bulkhead] INFO up\nserial1| rt: tick 1\nserial1| rt: tick 2\n"
        );
        assert_eq!(merged("no newline", ""), "no newline\n");
        assert_eq!(merged("", "a\n"), "serial1| a\n");
    }

    #[test]
    fn a_missing_file_adds_nothing() {
        let path = std::env::temp_dir().join(format!(
            "xtask-second-serial-{}.missing",
            std::process::id()
        ));
        assert_eq!(merged_with_file("x\n", &path), "x\n");
        fs::write(&path, b"rt: \xff\n").expect("write");
        assert_eq!(merged_with_file("x\n", &path), "x\nserial1| rt: \u{fffd}\n");
        let _ = fs::remove_file(path);
    }
}
