//! The validated system: what a configuration declares once every check has
//! passed. Nothing here can hold a value the checks would have refused.

use std::path::PathBuf;

use kernel_core::manifest::region_flags;
pub use kernel_core::manifest::{PartitionKind, RestartPolicy, VcpuDesc};
use platform::board::BoardSpec;
use serde::Deserialize;

/// A whole system: the board and its partitions.
#[derive(Clone, Debug, PartialEq)]
pub struct System {
    /// The configuration file, as the caller named it (used in messages and to
    /// resolve relative image paths).
    pub path: PathBuf,
    /// The board the system runs on.
    pub board: &'static BoardSpec,
    /// Physical CPUs (`1..=board.max_cpus`).
    pub cpus: u32,
    /// RAM size in bytes, from `board.ram_base`.
    pub ram_size: u64,
    /// GIC architecture version (one of `board.gic_versions`).
    pub gic: u8,
    /// The partitions, in config order (which is also manifest and layout order).
    pub partitions: Vec<Partition>,
    /// The `[test]` section, used only by `cargo xtask test`.
    pub test: Option<TestSpec>,
}

/// One partition.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// Its name: 1..=32 characters from `[a-z0-9_-]`, unique in the system.
    pub name: String,
    /// Guest or service.
    pub kind: PartitionKind,
    /// Where its image comes from.
    pub source: ImageSource,
    /// `/chosen/bootargs` of its device tree.
    pub bootargs: Option<String>,
    /// What happens when it faults.
    pub restart: RestartPolicy,
    /// With `OnCrash`: most restarts inside the window (1..=1000); 0 otherwise.
    pub max_restarts: u32,
    /// With `OnCrash`: the window in milliseconds; 0 otherwise.
    pub restart_window_ms: u32,
    /// May use the PMU directly.
    pub pmu: bool,
    /// Its vCPUs (1..=8), vCPU `i` being `vcpus[i]`.
    pub vcpus: Vec<VcpuDesc>,
    /// Its RAM regions, non-overlapping; the first holds the image and device tree.
    pub memory: Vec<Region>,
    /// Line of its `[[partition]]` header, for messages about it after loading.
    pub line: usize,
}

/// Where a partition's image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// A bare-metal program built from this workspace: a cargo package name.
    Program(String),
    /// A raw image file, resolved against the config file's directory.
    File(PathBuf),
}

/// One RAM region of a partition, as the partition sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Intermediate physical address, 4 KiB aligned.
    pub ipa: u64,
    /// Length in bytes, a non-zero multiple of 4 KiB.
    pub size: u64,
    /// Access rights.
    pub perms: Perms,
}

impl Region {
    /// First IPA past the region (validation keeps this from overflowing).
    pub fn end(&self) -> u64 {
        self.ipa.saturating_add(self.size)
    }

    /// True if the two regions share at least one byte.
    pub fn overlaps(&self, other: &Region) -> bool {
        self.ipa < other.end() && other.ipa < self.end()
    }
}

/// Access rights of a region, written `"rwx"`, `"rw"`, `"r"`, … in configs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Perms {
    /// Read, write and execute: the default of a partition's first region.
    pub const RWX: Perms = Perms {
        read: true,
        write: true,
        exec: true,
    };
    /// Read and write: the default of every further region.
    pub const RW: Perms = Perms {
        read: true,
        write: true,
        exec: false,
    };

    /// Parses `r`, `w` and `x`, each at most once, in that order; `r` is
    /// required because stage 2 cannot usefully map memory a partition cannot read.
    pub fn parse(text: &str) -> Option<Perms> {
        let rest = text.strip_prefix('r')?;
        let (write, rest) = match rest.strip_prefix('w') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let (exec, rest) = match rest.strip_prefix('x') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        rest.is_empty().then_some(Perms {
            read: true,
            write,
            exec,
        })
    }

    /// The manifest's [`region_flags`] bits for these rights.
    pub fn region_flags(self) -> u32 {
        let mut flags = 0;
        if self.read {
            flags |= region_flags::READ;
        }
        if self.write {
            flags |= region_flags::WRITE;
        }
        if self.exec {
            flags |= region_flags::EXEC;
        }
        flags
    }
}

/// The `[test]` section: how `cargo xtask test` runs and judges a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestSpec {
    /// Seconds before QEMU is stopped (1..=1800).
    pub timeout_s: u64,
    /// Substrings that must appear in the serial transcript, each after the
    /// previous one's match.
    pub expect: Vec<String>,
    /// Substrings that must appear anywhere.
    pub contains: Vec<String>,
    /// Substrings that must not appear.
    pub forbid: Vec<String>,
    /// Damage done to the image before booting it, to test the core's refusal.
    pub corrupt: Option<Corruption>,
    /// How the run is expected to end.
    pub ends: Ending,
    /// Whether the machine has EL2 (default). Without it, QEMU enters the
    /// image at EL1, which the core must refuse with a message.
    pub el2: bool,
}

/// A way of damaging a built image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Corruption {
    /// Flip a byte inside the manifest, so its checksum no longer matches.
    Checksum,
    /// Cut the image short.
    Truncate,
    /// Damage the manifest's magic bytes.
    Magic,
}

/// How a test scenario ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ending {
    /// QEMU exits by itself (the system powers off).
    #[default]
    Poweroff,
    /// The system is still running at the timeout; the transcript is checked then.
    Timeout,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_parse_in_order() {
        assert_eq!(Perms::parse("rwx"), Some(Perms::RWX));
        assert_eq!(Perms::parse("rw"), Some(Perms::RW));
        assert_eq!(
            Perms::parse("rx").map(|p| (p.write, p.exec)),
            Some((false, true))
        );
        assert_eq!(
            Perms::parse("r").map(Perms::region_flags),
            Some(region_flags::READ)
        );
        for bad in ["", "w", "wx", "xrw", "rwxx", "rr", "RW", "rw "] {
            assert_eq!(Perms::parse(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn perms_become_region_flags() {
        assert_eq!(
            Perms::RWX.region_flags(),
            region_flags::READ | region_flags::WRITE | region_flags::EXEC
        );
        assert_eq!(
            Perms::RW.region_flags(),
            region_flags::READ | region_flags::WRITE
        );
    }

    #[test]
    fn regions_overlap_only_when_they_share_bytes() {
        let a = Region {
            ipa: 0x4000_0000,
            size: 0x1000,
            perms: Perms::RW,
        };
        let b = Region {
            ipa: 0x4000_1000,
            ..a
        };
        let c = Region { size: 0x2000, ..a };
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&c) && c.overlaps(&b));
    }
}
