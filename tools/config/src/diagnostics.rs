//! Error reporting: every problem is a `file:line: sentence` diagnostic, and a
//! failed load returns all of them at once so a person fixes a config in one pass.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The configuration file, as the caller named it.
    pub path: PathBuf,
    /// 1-based line of the offending value, when one applies.
    pub line: Option<usize>,
    /// A sentence saying what is wrong (and, where it helps, what would be right).
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Why a configuration could not be loaded or built: one or more diagnostics.
///
/// `Display` prints one diagnostic per line, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    /// An error with a single diagnostic.
    pub fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            diagnostics: vec![Diagnostic {
                path: path.to_path_buf(),
                line,
                message: message.into(),
            }],
        }
    }

    /// Every problem found, in file order (problems without a line come last).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.diagnostics.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Joins items as a sentence lists them: "a", "a and b", "a, b and c".
pub(crate) fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Collects diagnostics while a configuration is checked, turning the byte
/// spans that `toml` records into line numbers.
pub(crate) struct Reporter<'a> {
    path: &'a Path,
    /// Byte offset at which each line starts; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
    found: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    /// A reporter for `text`, the contents of `path`.
    pub(crate) fn new(path: &'a Path, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self {
            path,
            line_starts,
            found: Vec::new(),
        }
    }

    /// The 1-based line holding byte `offset`.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        // The number of line starts at or before the offset is the line number.
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// Records a problem with the value at `span`.
    pub(crate) fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let line = self.line_of(span.start);
        self.at_line(Some(line), message);
    }

    /// Records a problem on a known line (or on the file as a whole).
    pub(crate) fn at_line(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.found.push(Diagnostic {
            path: self.path.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    /// Records a problem with the file as a whole.
    pub(crate) fn whole_file(&mut self, message: impl Into<String>) {
        self.at_line(None, message);
    }

    /// True once any problem was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        !self.found.is_empty()
    }

    /// How many problems were recorded so far.
    pub(crate) fn count(&self) -> usize {
        self.found.len()
    }

    /// Converts a `toml` parse error (syntax, unknown field, wrong type,
    /// missing field) into a diagnostic at the line its span starts on.
    pub(crate) fn parse_error(mut self, error: &toml::de::Error) -> ConfigError {
        let line = error.span().map(|span| self.line_of(span.start));
        // toml words its messages as a sentence fragment that may end in a
        // newline; keep one line per diagnostic.
        let message = error
            .message()
            .trim()
            .replace('\n', " ")
            // Numbers are read as TOML integers; say so in TOML's words.
            .replace("expected i64", "expected an integer");
        self.at_line(line, message);
        self.into_error()
    }

    /// Ends checking: `Ok` when nothing was found.
    pub(crate) fn finish(self) -> Result<(), ConfigError> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    fn into_error(mut self) -> ConfigError {
        // Stable sort: problems on one line keep the order they were found in.
        self.found
            .sort_by_key(|diagnostic| diagnostic.line.unwrap_or(usize::MAX));
        ConfigError {
            diagnostics: self.found,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines() {
        let reporter = Reporter::new(Path::new("x.toml"), "a\nbc\n\nd");
        assert_eq!(reporter.line_of(0), 1);
        assert_eq!(reporter.line_of(1), 1);
        assert_eq!(reporter.line_of(2), 2);
        assert_eq!(reporter.line_of(5), 3);
        assert_eq!(reporter.line_of(6), 4);
        assert_eq!(reporter.line_of(600), 4);
    }

    #[test]
    fn lists_read_as_sentences() {
        let items = |n: usize| -> Vec<String> { (1..=n).map(|i| i.to_string()).collect() };
        assert_eq!(join_and(&items(0)), "");
        assert_eq!(join_and(&items(1)), "1");
        assert_eq!(join_and(&items(2)), "1 and 2");
        assert_eq!(join_and(&items(4)), "1, 2, 3 and 4");
    }

    #[test]
    fn diagnostics_print_in_line_order() {
        let mut reporter = Reporter::new(Path::new("c/x.toml"), "a\nb\nc\n");
        reporter.whole_file("no line");
        reporter.at(4..5, "third");
        reporter.at_line(Some(1), "first");
        let error = reporter.finish().unwrap_err();
        assert_eq!(
            error.to_string(),
            "c/x.toml:1: first\nc/x.toml:3: third\nc/x.toml: no line"
        );
        assert_eq!(error.diagnostics().len(), 3);
    }
}
