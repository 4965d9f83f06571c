//! The one error type of the command line: a sentence for the person at the
//! terminal, carrying enough context (file, command, partition) to act on.

use std::fmt;
use std::io;
use std::path::Path;

/// A failed step of an xtask command, already phrased for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XtaskError {
    message: String,
}

impl XtaskError {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// An I/O failure on `path`, saying what was being attempted.
    pub fn io(action: &str, path: &Path, err: io::Error) -> Self {
        Self::new(format!("cannot {action} {}: {err}", path.display()))
    }
}

impl fmt::Display for XtaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for XtaskError {}

/// The result of an xtask step.
pub type XtaskResult<T> = Result<T, XtaskError>;
