//! How `cargo xtask bench` runs each configuration in configs/bench/. Most
//! are guests that measure themselves under instruction counting and print
//! `BENCH` lines; two compare a guest under Bulkhead with the same guest on
//! bare QEMU. Those are named here by file name: the configuration schema
//! (tools/config) describes systems, not how to benchmark them, and this is
//! the one place that decides it.

/// How a benchmark configuration is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchKind {
    /// The guest measures itself under `-icount shift=0` and prints `BENCH`
    /// lines (hvc_null_roundtrip, virq_inject_latency, …).
    SelfReported,
    /// `guest_cpu_ratio`: the guest's instruction count under Bulkhead over
    /// the same binary's on bare QEMU, both under `-icount shift=0`
    /// ([`crate::guest_cpu_ratio`]).
    InstructionRatio,
    /// `linux_boot_ratio`: wall-clock time to a Linux guest's userspace under
    /// Bulkhead over bare QEMU, alternately, without instruction counting
    /// ([`crate::linux_boot_ratio`]).
    WallClockRatio,
}

/// The configurations that are not [`BenchKind::SelfReported`], by file stem.
const NAMED_KINDS: &[(&str, BenchKind)] = &[
    ("cpu-ratio", BenchKind::InstructionRatio),
    ("linux-boot", BenchKind::WallClockRatio),
];

/// How the configuration with this file stem is run.
pub fn kind_of(config_name: &str) -> BenchKind {
    NAMED_KINDS
        .iter()
        .find(|(name, _)| *name == config_name)
        .map_or(BenchKind::SelfReported, |&(_, kind)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::bench::BENCH_DIR;
    use crate::workspace::Workspace;

    #[test]
    fn kinds_by_name() {
        assert_eq!(kind_of("hvc"), BenchKind::SelfReported);
        assert_eq!(kind_of("cpu-ratio"), BenchKind::InstructionRatio);
        assert_eq!(kind_of("linux-boot"), BenchKind::WallClockRatio);
    }

    #[test]
    fn named_configurations_exist() {
        let dir = Workspace::locate().root.join(BENCH_DIR);
        for (name, _) in NAMED_KINDS {
            let path = dir.join(format!("{name}.toml"));
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }
}
