//! The subcommands, one module each; `main` dispatches to them.

pub mod bench;
pub mod build;
pub mod guests;
pub mod image;
pub mod run;
pub mod test;

use std::path::{Path, PathBuf};

use crate::workspace::Workspace;

/// A path from the command line: relative to the current directory as
/// usual, except the built-in default, which is relative to the workspace.
pub fn config_path(workspace: &Workspace, given: &Path) -> PathBuf {
    if given == Path::new(crate::cli::DEFAULT_CONFIG) {
        workspace.root.join(given)
    } else {
        given.to_path_buf()
    }
}
