//! The physical terminal every partition's output shares: each line goes out
//! as `[<partition name>] text` with CR LF, and the focused guest's
//! unfinished line (a shell prompt, the echo of what is being typed) is shown
//! as it grows, then broken off and shown again whenever another line has to
//! go out in between.

use core::fmt::{self, Write};

/// Where the terminal's bytes go: the board's UART, or a test buffer.
pub trait ByteSink {
    /// Sends `bytes` as they are.
    fn write_bytes(&mut self, bytes: &[u8]);
}

/// The prefix name of the console's own lines.
pub const CONSOLE_NAME: &str = "console";

/// Output a guest produced, as its line assembly hands it over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestOutput<'a> {
    /// A finished line (its newline, if it has one, included).
    Line(&'a [u8]),
    /// The whole of the unfinished line so far.
    Partial(&'a [u8]),
}

/// A line that is on the screen without its end yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenLine {
    /// Index of the guest it belongs to.
    guest: usize,
    /// Bytes of the guest's unfinished line already shown.
    shown: usize,
}

/// What the screen currently shows at its last line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Terminal {
    open: Option<OpenLine>,
}

fn write_prefix(sink: &mut impl ByteSink, name: &str) {
    sink.write_bytes(b"[");
    sink.write_bytes(name.as_bytes());
    sink.write_bytes(b"] ");
}

fn end_line(sink: &mut impl ByteSink) {
    sink.write_bytes(b"\r\n");
}

impl Terminal {
    /// A terminal at the start of a line.
    pub const fn new() -> Self {
        Self { open: None }
    }

    /// Ends the open line, if any, so the next output starts a new line
    /// (for instance when input focus moves to another guest).
    pub fn close_open_line(&mut self, sink: &mut impl ByteSink) {
        if self.open.take().is_some() {
            end_line(sink);
        }
    }

    /// Shows output of guest `guest`, called `name`.
    pub fn guest_output(
        &mut self,
        guest: usize,
        name: &str,
        output: GuestOutput<'_>,
        sink: &mut impl ByteSink,
    ) {
        match output {
            GuestOutput::Line(line) => self.guest_line(guest, name, line, sink),
            GuestOutput::Partial(pending) => self.guest_partial(guest, name, pending, sink),
        }
    }

    fn guest_line(&mut self, guest: usize, name: &str, line: &[u8], sink: &mut impl ByteSink) {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        match self.open.take() {
            // The start of this line is on the screen already.
            Some(open) if open.guest == guest => {
                sink.write_bytes(text.get(open.shown..).unwrap_or(&[]));
            }
            other => {
                if other.is_some() {
                    end_line(sink);
                }
                write_prefix(sink, name);
                sink.write_bytes(text);
            }
        }
        end_line(sink);
    }

    fn guest_partial(
        &mut self,
        guest: usize,
        name: &str,
        pending: &[u8],
        sink: &mut impl ByteSink,
    ) {
        if let Some(open) = &mut self.open {
            if open.guest == guest {
                sink.write_bytes(pending.get(open.shown..).unwrap_or(&[]));
                open.shown = pending.len();
                return;
            }
        }
        if pending.is_empty() {
            return;
        }
        self.close_open_line(sink);
        write_prefix(sink, name);
        sink.write_bytes(pending);
        self.open = Some(OpenLine {
            guest,
            shown: pending.len(),
        });
    }

    /// Prints a line of the console's own: `[console] ...`.
    pub fn console_line(&mut self, args: fmt::Arguments<'_>, sink: &mut impl ByteSink) {
        self.close_open_line(sink);
        write_prefix(sink, CONSOLE_NAME);
        let _ = SinkWriter(sink).write_fmt(args);
        end_line(sink);
    }
}

/// Displays bytes as text: valid UTF-8 as it is, anything else as U+FFFD,
/// for printing a guest's raw output inside a console line.
#[derive(Clone, Copy, Debug)]
pub struct Lossy<'a>(pub &'a [u8]);

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

/// Adapts a [`ByteSink`] to `core::fmt`.
struct SinkWriter<'a, S: ByteSink>(&'a mut S);

impl<S: ByteSink> Write for SinkWriter<'_, S> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.write_bytes(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    impl ByteSink for Vec<u8> {
        fn write_bytes(&mut self, bytes: &[u8]) {
            self.extend_from_slice(bytes);
        }
    }

    pub(crate) fn screen(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn lines_get_prefixes_and_crlf() {
        let mut terminal = Terminal::new();
        let mut out = Vec::new();
        terminal.guest_output(0, "hello", GuestOutput::Line(b"hi there\n"), &mut out);
        terminal.guest_output(1, "ticker", GuestOutput::Line(b"tick 1\n"), &mut out);
        // A line cut at the line buffer's capacity has no newline of its own.
        terminal.guest_output(1, "ticker", GuestOutput::Line(b"xxxx"), &mut out);
        terminal.console_line(format_args!("input goes to \"{}\"", "hello"), &mut out);
        assert_eq!(
            screen(&out),
            "[hello] hi there\r\n[ticker] tick 1\r\n[ticker] xxxx\r\n[console] input goes to \"hello\"\r\n"
        );
    }

    #[test]
    fn the_open_line_grows_in_place() {
        let mut terminal = Terminal::new();
        let mut out = Vec::new();
        terminal.guest_output(0, "linux", GuestOutput::Partial(b"/ # "), &mut out);
        terminal.guest_output(0, "linux", GuestOutput::Partial(b"/ # l"), &mut out);
        terminal.guest_output(0, "linux", GuestOutput::Partial(b"/ # ls"), &mut out);
        terminal.guest_output(0, "linux", GuestOutput::Line(b"/ # ls\n"), &mut out);
        terminal.guest_output(0, "linux", GuestOutput::Line(b"bin\n"), &mut out);
        assert_eq!(screen(&out), "[linux] / # ls\r\n[linux] bin\r\n");
    }

    #[test]
    fn another_line_breaks_the_open_line_which_is_shown_again() {
        let mut terminal = Terminal::new();
        let mut out = Vec::new();
        terminal.guest_output(0, "linux", GuestOutput::Partial(b"login: "), &mut out);
        terminal.guest_output(1, "ticker", GuestOutput::Line(b"tick\n"), &mut out);
        terminal.guest_output(0, "linux", GuestOutput::Partial(b"login: r"), &mut out);
        terminal.console_line(format_args!("note"), &mut out);
        terminal.guest_output(0, "linux", GuestOutput::Line(b"login: root\n"), &mut out);
        assert_eq!(
            screen(&out),
            "[linux] login: \r\n[ticker] tick\r\n[linux] login: r\r\n[console] note\r\n[linux] login: root\r\n"
        );
    }

    #[test]
    fn lossy_text() {
        assert_eq!(format!("{}", Lossy(b"plain")), "plain");
        assert_eq!(format!("{}", Lossy(b"a\xffb")), "a\u{FFFD}b");
    }

    #[test]
    fn closing_ends_the_open_line_once() {
        let mut terminal = Terminal::new();
        let mut out = Vec::new();
        terminal.close_open_line(&mut out);
        assert!(out.is_empty());
        terminal.guest_output(2, "g", GuestOutput::Partial(b"ab"), &mut out);
        terminal.close_open_line(&mut out);
        terminal.close_open_line(&mut out);
        // An empty unfinished line shows nothing.
        terminal.guest_output(2, "g", GuestOutput::Partial(b""), &mut out);
        assert_eq!(screen(&out), "[g] ab\r\n");
    }
}
