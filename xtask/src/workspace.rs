//! Where things are in the workspace, and how to call its cargo, so every
//! command works the same from any current directory.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bare-metal target partitions are built for.
pub const BARE_METAL_TARGET: &str = "aarch64-unknown-none";
/// The target the EL2 core is built for: no FP/SIMD in compiled code, so the
/// core never touches a guest's FP registers except when switching vCPUs.
pub const KERNEL_TARGET: &str = "aarch64-unknown-none-softfloat";

/// Subdirectory of the target directory for test transcripts.
pub const TEST_LOGS_SUBDIR: &str = "test-logs";
/// Subdirectory of the target directory for benchmark transcripts and results.
pub const BENCH_SUBDIR: &str = "bench";

/// The workspace's directories.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The repository root (where the workspace Cargo.toml is).
    pub root: PathBuf,
    /// Cargo's target directory.
    pub target_dir: PathBuf,
}

impl Workspace {
    /// The workspace this xtask was built from.
    pub fn locate() -> Self {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf();
        // Honour a relocated target directory the same way cargo does.
        let target_dir = match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        Self { root, target_dir }
    }

    /// A `cargo` command run at the workspace root, using the same cargo that
    /// runs this xtask when there is one.
    pub fn cargo(&self) -> Command {
        let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let mut command = Command::new(cargo);
        command.current_dir(&self.root);
        command
    }

    /// Where a release build for `target` puts binary `name`.
    pub fn bare_metal_binary(&self, target: &str, name: &str) -> PathBuf {
        self.target_dir.join(target).join("release").join(name)
    }

    /// Default output of `cargo xtask build` for a config.
    pub fn default_image_path(&self, config: &Path) -> PathBuf {
        let stem = config
            .file_stem()
            .map_or_else(|| OsString::from("system"), |s| s.to_os_string());
        let mut file = stem;
        file.push(".img");
        self.target_dir.join("bulkhead").join(file)
    }

    /// Where scenario transcripts go.
    pub fn test_logs_dir(&self) -> PathBuf {
        self.target_dir.join(TEST_LOGS_SUBDIR)
    }

    /// Where benchmark results go.
    pub fn bench_dir(&self) -> PathBuf {
        self.target_dir.join(BENCH_SUBDIR)
    }

    /// A path relative to the root when it is under it (for messages).
    pub fn display_path<'p>(&self, path: &'p Path) -> &'p Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_follow_the_config_stem() {
        let ws = Workspace {
            root: PathBuf::from("/repo"),
            target_dir: PathBuf::from("/repo/target"),
        };
        assert_eq!(
            ws.default_image_path(Path::new("configs/test/smp.toml")),
            PathBuf::from("/repo/target/bulkhead/smp.img")
        );
        assert_eq!(
            ws.bare_metal_binary(BARE_METAL_TARGET, "bulkhead"),
            PathBuf::from("/repo/target/aarch64-unknown-none/release/bulkhead")
        );
        assert_eq!(
            ws.display_path(Path::new("/repo/target/bulkhead/smp.img")),
            Path::new("target/bulkhead/smp.img")
        );
    }
}
