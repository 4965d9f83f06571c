//! Building the kernel and partition programs with cargo and turning their
//! ELF files into flat binaries, each at most once per xtask run: scenarios
//! that share a board or a program share the build.

use std::collections::HashMap;
use std::fs;
use std::process::Stdio;

use platform::board::{self, BoardSpec};

use crate::elf_flat::{ElfExecutable, FlatImage};
use crate::error::{XtaskError, XtaskResult};
use crate::workspace::{Workspace, BARE_METAL_TARGET, KERNEL_TARGET};

/// The build-time variable that moves a partition program's link address
/// (read by services/runtime/build.rs).
pub const PARTITION_BASE_VARIABLE: &str = "BULKHEAD_PARTITION_BASE";

/// A program linked somewhere other than the runtime's default address: the
/// link base, and the cargo target directory kept apart for it, so the two
/// builds do not undo each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Relink {
    base: u64,
}

impl Relink {
    fn target_dir(self, workspace: &Workspace) -> std::path::PathBuf {
        workspace
            .target_dir
            .join(format!("linked-at-{:#x}", self.base))
    }
}

/// The kernel's cargo package.
pub const KERNEL_PACKAGE: &str = "kernel";
/// The kernel's binary name.
pub const KERNEL_BINARY: &str = "bulkhead";

/// The cargo features that select a board's kernel build. The kernel is
/// linked at the board's load address, so each board needs its own build.
fn kernel_features(board: &BoardSpec) -> XtaskResult<&'static [&'static str]> {
    if board.name == board::QEMU_VIRT.name {
        Ok(&[])
    } else if board.name == board::RPI4.name {
        Ok(&["board-rpi4"])
    } else {
        Err(XtaskError::new(format!(
            "no kernel build is defined for board \"{}\"",
            board.name
        )))
    }
}

/// Builds and caches flat kernel and program images. Failures are cached
/// too: a kernel that does not compile is reported once, not per scenario.
pub struct Artifacts<'w> {
    workspace: &'w Workspace,
    kernels: HashMap<&'static str, XtaskResult<FlatImage>>,
    programs: HashMap<String, XtaskResult<FlatImage>>,
    /// Where programs are linked, when not at the runtime's default.
    relink: Option<Relink>,
}

impl<'w> Artifacts<'w> {
    /// An empty cache over `workspace`.
    pub fn new(workspace: &'w Workspace) -> Self {
        Self {
            workspace,
            kernels: HashMap::new(),
            programs: HashMap::new(),
            relink: None,
        }
    }

    /// An empty cache whose programs are linked at `base` instead of the
    /// runtime's default (e.g. where QEMU itself loads an arm64 Image, so
    /// one file boots both under Bulkhead and on bare QEMU). A partition
    /// holding such a program must start its memory `text_offset` (`base`
    /// modulo 2 MiB) below `base`.
    pub fn with_programs_linked_at(workspace: &'w Workspace, base: u64) -> Self {
        Self {
            relink: Some(Relink { base }),
            ..Self::new(workspace)
        }
    }

    /// Runs `cargo build --release -p <package> --target <target>` with the
    /// given features (and link base), with cargo's own output passed through
    /// so compile errors are seen as they are.
    fn cargo_build(
        &self,
        package: &str,
        target: &str,
        features: &[&str],
        relink: Option<Relink>,
    ) -> XtaskResult<()> {
        let mut cargo = self.workspace.cargo();
        if let Some(relink) = relink {
            cargo
                .env(PARTITION_BASE_VARIABLE, format!("{:#x}", relink.base))
                .env("CARGO_TARGET_DIR", relink.target_dir(self.workspace));
        }
        cargo.args([
            "build",
            "--quiet",
            "--release",
            "-p",
            package,
            "--target",
            target,
        ]);
        if !features.is_empty() {
            cargo.args(["--features", &features.join(",")]);
        }
        let status = cargo
            .stdin(Stdio::null())
            .status()
            .map_err(|e| XtaskError::new(format!("cannot run cargo: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(XtaskError::new(format!(
                "building {package} failed ({status})"
            )))
        }
    }

    /// Reads a built binary.
    fn read_binary(&self, target: &str, name: &str) -> XtaskResult<Vec<u8>> {
        let path = self.workspace.bare_metal_binary(target, name);
        fs::read(&path).map_err(|e| XtaskError::io("read", &path, e))
    }

    fn build_kernel(&self, board: &BoardSpec) -> XtaskResult<FlatImage> {
        let features = kernel_features(board)?;
        println!("building kernel for {}", board.name);
        self.cargo_build(KERNEL_PACKAGE, KERNEL_TARGET, features, None)?;
        let elf = self.read_binary(KERNEL_TARGET, KERNEL_BINARY)?;
        ElfExecutable::parse(&elf)
            .and_then(|exe| exe.kernel_image(board.kernel_load))
            .map_err(|e| XtaskError::new(format!("kernel ELF: {e}")))
    }

    fn build_program(&self, name: &str) -> XtaskResult<FlatImage> {
        let elf = match self.relink {
            None => {
                println!("building program {name}");
                self.cargo_build(name, BARE_METAL_TARGET, &[], None)?;
                self.read_binary(BARE_METAL_TARGET, name)?
            }
            Some(relink) => {
                println!("building program {name} linked at {:#x}", relink.base);
                self.cargo_build(name, BARE_METAL_TARGET, &[], Some(relink))?;
                let path = relink
                    .target_dir(self.workspace)
                    .join(BARE_METAL_TARGET)
                    .join("release")
                    .join(name);
                fs::read(&path).map_err(|e| XtaskError::io("read", &path, e))?
            }
        };
        ElfExecutable::parse(&elf)
            .and_then(|exe| exe.program_image())
            .map_err(|e| XtaskError::new(format!("program {name}: {e}")))
    }

    /// The flat kernel for `board`, built on first use.
    pub fn kernel(&mut self, board: &'static BoardSpec) -> XtaskResult<&FlatImage> {
        if !self.kernels.contains_key(board.name) {
            let built = self.build_kernel(board);
            self.kernels.insert(board.name, built);
        }
        match self.kernels.get(board.name) {
            Some(Ok(image)) => Ok(image),
            Some(Err(e)) => Err(e.clone()),
            None => Err(XtaskError::new("kernel cache lost its entry")),
        }
    }

    /// The flat image of program `name` (a workspace package whose binary has
    /// the same name), built on first use.
    pub fn program(&mut self, name: &str) -> XtaskResult<&FlatImage> {
        if !self.programs.contains_key(name) {
            let built = self.build_program(name);
            self.programs.insert(name.to_string(), built);
        }
        match self.programs.get(name) {
            Some(Ok(image)) => Ok(image),
            Some(Err(e)) => Err(e.clone()),
            None => Err(XtaskError::new("program cache lost its entry")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_board_has_its_kernel_features() {
        assert_eq!(kernel_features(&board::QEMU_VIRT), Ok(&[][..]));
        assert_eq!(kernel_features(&board::RPI4), Ok(&["board-rpi4"][..]));
    }
}
