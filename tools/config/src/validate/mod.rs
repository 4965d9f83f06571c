//! Checks a configuration and turns it into a [`System`]. Every problem is
//! reported (not just the first) with the line of the value at fault; checks
//! that depend on a value already found bad are skipped rather than repeated.
//!
//! Each declaration is first checked on its own (partitions with their
//! capabilities and devices, endpoints, notifications, shared regions), with
//! names resolved through a symbol table built beforehand; then the rules
//! that relate declarations to each other run over those that passed
//! ([`address_space`], [`ipc`]).

mod address_space;
mod capabilities;
mod devices;
mod interrupts;
mod ipc;
mod names;
mod objects;
mod partition;
mod window;

use std::path::Path;

use kernel_core::manifest::{
    MAX_CAPS, MAX_DEVICES, MAX_ENDPOINTS, MAX_NOTIFICATIONS, MAX_PARTITIONS, MAX_REGIONS, MAX_VCPUS,
};
use platform::board::{self, BoardSpec};
use toml::Spanned;

use crate::diagnostics::{ConfigError, Reporter};
use crate::layout::lay_out;
use crate::manifest::manifest_board;
use crate::schema::{RawBoard, RawConfig, RawTest};
use crate::service_args::add_service_bootargs;
use crate::system::{Ending, Endpoint, Notification, Partition, SharedRegion, System, TestSpec};
use crate::units::{format_size, parse_size, MIB, SIZE_HINT};
use names::{SeenNames, Symbols};

/// Longest `[test] timeout`, in seconds.
const MAX_TEST_TIMEOUT_S: i64 = 1800;
/// `[test] timeout` when the section does not give one.
const DEFAULT_TEST_TIMEOUT_S: u64 = 60;

/// The board section, once it passed its checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CheckedBoard {
    pub spec: &'static BoardSpec,
    pub cpus: u32,
    pub ram_size: u64,
    pub gic: u8,
    /// Line of `[board] memory` (or of `[board]`), where "does not fit" is reported.
    pub memory_line: usize,
}

/// The declarations that passed their own checks, indexed like the config
/// (`None` where a declaration has a problem), for the whole-system rules.
pub(crate) struct Checked<'a> {
    partitions: &'a [Option<Partition>],
    endpoints: &'a [Option<Endpoint>],
    notifications: &'a [Option<Notification>],
    shared: &'a [Option<SharedRegion>],
    symbols: &'a Symbols,
    /// Some partition says `supervisor = true`, even if it has problems.
    supervisor_declared: bool,
}

impl Checked<'_> {
    /// The partitions that passed, with their config indices.
    fn partitions(&self) -> impl Iterator<Item = (usize, &Partition)> + '_ {
        flatten_indexed(self.partitions)
    }

    /// Partition `index`, if it passed.
    fn partition(&self, index: usize) -> Option<&Partition> {
        self.partitions.get(index).and_then(Option::as_ref)
    }

    /// The name of partition `index`, whether or not it passed.
    fn partition_name(&self, index: usize) -> &str {
        self.symbols.table(names::Namespace::Partition).name(index)
    }

    /// The endpoints that passed, with their config indices.
    fn endpoints(&self) -> impl Iterator<Item = (usize, &Endpoint)> + '_ {
        flatten_indexed(self.endpoints)
    }

    /// Endpoint `index`, if it passed.
    fn endpoint(&self, index: usize) -> Option<&Endpoint> {
        self.endpoints.get(index).and_then(Option::as_ref)
    }

    /// The notifications that passed, with their config indices.
    fn notifications(&self) -> impl Iterator<Item = (usize, &Notification)> + '_ {
        flatten_indexed(self.notifications)
    }

    /// The shared regions that passed.
    fn shared_regions(&self) -> impl Iterator<Item = &SharedRegion> + '_ {
        self.shared.iter().flatten()
    }
}

/// The `Some` items of `items` with their indices.
fn flatten_indexed<T>(items: &[Option<T>]) -> impl Iterator<Item = (usize, &T)> + '_ {
    items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| item.as_ref().map(|item| (index, item)))
}

/// Parses and checks `text`, the contents of `path`; `gic_override` replaces
/// `[board] gic` (a scenario variant).
pub(crate) fn check(
    path: &Path,
    text: &str,
    gic_override: Option<u8>,
) -> Result<System, ConfigError> {
    let mut report = Reporter::new(path, text);
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => return Err(report.parse_error(&error)),
    };
    let config_dir = path.parent().unwrap_or(Path::new(""));
    let symbols = Symbols::new(&raw);

    let board = check_board(&raw.board, gic_override, &mut report);

    if raw.partition.is_empty() {
        report.whole_file("the system has no partitions: add at least one [[partition]] table");
    }
    if let Some(extra) = raw.partition.get(MAX_PARTITIONS) {
        report.at(
            extra.span(),
            format!(
                "the system has {} partitions, but the core supports at most {MAX_PARTITIONS}",
                raw.partition.len()
            ),
        );
    }
    let mut partition_names = SeenNames::new();
    let mut partitions = Vec::with_capacity(raw.partition.len());
    let mut image_lines = Vec::with_capacity(raw.partition.len());
    for (index, raw_partition) in raw.partition.iter().enumerate() {
        let checked = partition::check(
            raw_partition,
            index,
            board.as_ref(),
            config_dir,
            &mut partition_names,
            &symbols,
            &mut report,
        );
        let (partition, image_line) = checked.unzip();
        partitions.push(partition);
        image_lines.push(image_line);
    }
    let mut object_names = SeenNames::new();
    let endpoints =
        objects::check_endpoints(&raw.endpoint, &symbols, &mut object_names, &mut report);
    let notifications =
        objects::check_notifications(&raw.notification, &symbols, &mut object_names, &mut report);
    let shared = objects::check_shared(&raw.shared, &symbols, &mut object_names, &mut report);
    let checked = Checked {
        partitions: &partitions,
        endpoints: &endpoints,
        notifications: &notifications,
        shared: &shared,
        symbols: &symbols,
        supervisor_declared: raw.partition.iter().any(|p| {
            p.get_ref()
                .supervisor
                .as_ref()
                .is_some_and(|s| *s.get_ref())
        }),
    };
    address_space::check(&checked, &mut report);
    ipc::check(&checked, &mut report);
    interrupts::check_owners(&checked, &mut report);
    check_totals(&checked, board.as_ref(), &mut report);
    let test = raw
        .test
        .as_ref()
        .map(|t| check_test(t, board.map(|b| b.spec), &mut report));

    let Some(board) = board else {
        return Err(finish_with_errors(report));
    };
    if report.has_errors() {
        return Err(finish_with_errors(report));
    }
    // No problem was reported, so every declaration passed and each list
    // keeps its config indices.
    let mut system = System {
        path: path.to_path_buf(),
        board: board.spec,
        cpus: board.cpus,
        ram_size: board.ram_size,
        gic: board.gic,
        partitions: partitions.into_iter().flatten().collect(),
        endpoints: endpoints.into_iter().flatten().collect(),
        notifications: notifications.into_iter().flatten().collect(),
        shared: shared.into_iter().flatten().collect(),
        test: test.flatten(),
    };
    add_service_bootargs(&mut system);

    // Checks that need the whole system: image files fit with their device
    // trees, and all partition memory fits in RAM. The kernel and manifest sizes
    // are not known yet, so the layout assumes an empty image; `build_manifest`
    // repeats it with the real sizes.
    for (partition, image_line) in system.partitions.iter().zip(image_lines.iter().flatten()) {
        partition::check_image_fits(partition, system.gic, *image_line, &mut report);
    }
    if let Err(error) = lay_out(
        system.board,
        system.ram_size,
        &system.partitions,
        &system.shared,
        system.board.kernel_load,
    ) {
        report.at_line(Some(board.memory_line), error.to_string());
    }
    report.finish()?;
    Ok(system)
}

/// `finish` on a reporter known to hold errors.
fn finish_with_errors(report: Reporter<'_>) -> ConfigError {
    match report.finish() {
        Err(error) => error,
        // Only reached if a check skipped a refusal it should have reported.
        Ok(()) => ConfigError::new(Path::new(""), None, "the configuration is invalid"),
    }
}

/// Reads a size written as an integer or a string such as "16MiB".
pub(crate) fn size_value(
    value: &Spanned<toml::Value>,
    what: &str,
    report: &mut Reporter<'_>,
) -> Option<u64> {
    let parsed = match value.get_ref() {
        toml::Value::Integer(bytes) => u64::try_from(*bytes).ok(),
        toml::Value::String(text) => parse_size(text),
        _ => None,
    };
    if parsed.is_none() {
        let written = match value.get_ref() {
            toml::Value::String(text) => format!("{text:?}"),
            other => other.to_string(),
        };
        report.at(
            value.span(),
            format!("{what} {written} is not a size: {SIZE_HINT}"),
        );
    }
    parsed
}

/// Checks `[board]`; `None` if any of it is wrong (board-dependent partition
/// checks are then skipped).
fn check_board(
    raw: &Spanned<RawBoard>,
    gic_override: Option<u8>,
    report: &mut Reporter<'_>,
) -> Option<CheckedBoard> {
    let board_line = report.line_of(raw.span().start);
    let raw = raw.get_ref();
    let Some(spec) = board::by_name(raw.name.get_ref()) else {
        let known: Vec<String> = board::BOARDS
            .iter()
            .map(|b| format!("\"{}\"", b.name))
            .collect();
        report.at(
            raw.name.span(),
            format!(
                "unknown board \"{}\": the supported boards are {}",
                raw.name.get_ref(),
                known.join(", ")
            ),
        );
        return None;
    };
    let mut ok = true;

    let max_cpus = spec.max_cpus.min(kernel_core::MAX_CPUS as u32);
    let cpus = match &raw.cpus {
        None => spec.default_cpus,
        Some(cpus) => match u32::try_from(*cpus.get_ref()) {
            Ok(n) if (1..=max_cpus).contains(&n) => n,
            _ => {
                report.at(
                    cpus.span(),
                    format!(
                        "board \"{}\" has 1 to {max_cpus} CPUs, not {}",
                        spec.name,
                        cpus.get_ref()
                    ),
                );
                ok = false;
                0
            }
        },
    };

    let ram_size = match &raw.memory {
        None => spec.default_ram,
        Some(memory) => match size_value(memory, "board memory", report) {
            None => {
                ok = false;
                0
            }
            Some(size) if size == 0 || size % MIB != 0 => {
                report.at(
                    memory.span(),
                    format!(
                        "board memory must be a non-zero multiple of 1 MiB, not {}",
                        format_size(size)
                    ),
                );
                ok = false;
                0
            }
            Some(size) if size > spec.max_ram => {
                report.at(
                    memory.span(),
                    format!(
                        "board memory {} is more than board \"{}\" can have ({} at most)",
                        format_size(size),
                        spec.name,
                        format_size(spec.max_ram)
                    ),
                );
                ok = false;
                0
            }
            Some(size) => size,
        },
    };

    let supported: Vec<String> = spec.gic_versions.iter().map(u8::to_string).collect();
    let gic = match &raw.gic {
        _ if gic_override.is_some_and(|v| spec.gic_versions.contains(&v)) => {
            gic_override.unwrap_or(0)
        }
        None => spec.gic_versions.iter().copied().max().unwrap_or(0),
        Some(gic) => match u8::try_from(*gic.get_ref()) {
            Ok(version) if spec.gic_versions.contains(&version) => version,
            _ => {
                report.at(
                    gic.span(),
                    format!(
                        "board \"{}\" has no GIC version {}: it supports {}",
                        spec.name,
                        gic.get_ref(),
                        supported.join(" and ")
                    ),
                );
                ok = false;
                0
            }
        },
    };
    if ok && manifest_board(spec, gic).is_none() {
        report.at(
            raw.name.span(),
            format!(
                "board \"{}\" with GIC version {gic} has no manifest board number: the core cannot boot it",
                spec.name
            ),
        );
        ok = false;
    }

    let memory_line = raw
        .memory
        .as_ref()
        .map_or(board_line, |memory| report.line_of(memory.span().start));
    ok.then_some(CheckedBoard {
        spec,
        cpus,
        ram_size,
        gic,
        memory_line,
    })
}

/// Limits the manifest puts on the whole system.
fn check_totals(checked: &Checked<'_>, board: Option<&CheckedBoard>, report: &mut Reporter<'_>) {
    let partitions: Vec<&Partition> = checked.partitions().map(|(_, p)| p).collect();
    let vcpus: usize = partitions.iter().map(|p| p.vcpus.len()).sum();
    if vcpus > MAX_VCPUS {
        report.whole_file(format!(
            "the partitions have {vcpus} vCPUs in all, but the core supports at most {MAX_VCPUS}"
        ));
    }
    // A GICv2 partition also gets a device region for its CPU interface.
    let gic_regions = match board {
        Some(board) if board.gic == 2 => partitions.len(),
        _ => 0,
    };
    let shared_mappings: usize = checked.shared_regions().map(|r| r.mappings.len()).sum();
    let regions = partitions
        .iter()
        .map(|p| p.memory.len() + p.passthrough.len())
        .sum::<usize>()
        + gic_regions
        + shared_mappings;
    if regions > MAX_REGIONS {
        report.whole_file(format!(
            "the partitions have {regions} memory regions in all (GIC windows, passthrough and shared mappings included), but the core supports at most {MAX_REGIONS}"
        ));
    }
    let limits = [
        (
            "capabilities",
            partitions.iter().map(|p| p.caps.len()).sum::<usize>(),
            MAX_CAPS,
        ),
        (
            "emulated devices",
            partitions.iter().map(|p| p.devices.len()).sum::<usize>(),
            MAX_DEVICES,
        ),
        ("endpoints", checked.endpoints.len(), MAX_ENDPOINTS),
        (
            "notifications",
            checked.notifications.len(),
            MAX_NOTIFICATIONS,
        ),
    ];
    for (what, count, max) in limits {
        if count > max {
            report.whole_file(format!(
                "the system has {count} {what}, but the core supports at most {max}"
            ));
        }
    }
}

/// Checks `[test]`; `None` if any of it is wrong.
fn check_test(
    raw: &Spanned<RawTest>,
    board: Option<&BoardSpec>,
    report: &mut Reporter<'_>,
) -> Option<TestSpec> {
    let raw = raw.get_ref();
    let mut ok = true;
    let mut gic_versions = Vec::new();
    if let Some(list) = &raw.gic_versions {
        if list.get_ref().is_empty() {
            report.at(
                list.span(),
                "test gic_versions is empty: list the GIC versions to run on, or leave it out",
            );
            ok = false;
        }
        for version in list.get_ref() {
            let supported = board.map_or(&[2u8, 3][..], |b| b.gic_versions);
            match u8::try_from(*version.get_ref()) {
                Ok(v) if supported.contains(&v) && !gic_versions.contains(&v) => {
                    gic_versions.push(v)
                }
                _ => {
                    report.at(
                        version.span(),
                        format!(
                            "test gic_versions has {}, which is not a GIC version of the board ({}), or is listed twice",
                            version.get_ref(),
                            supported.iter().map(u8::to_string).collect::<Vec<_>>().join(" and ")
                        ),
                    );
                    ok = false;
                }
            }
        }
    }
    let timeout_s = match &raw.timeout {
        None => DEFAULT_TEST_TIMEOUT_S,
        Some(timeout) => match u64::try_from(*timeout.get_ref()) {
            Ok(seconds) if (1..=MAX_TEST_TIMEOUT_S as u64).contains(&seconds) => seconds,
            _ => {
                report.at(
                    timeout.span(),
                    format!(
                        "test timeout must be 1 to {MAX_TEST_TIMEOUT_S} seconds, not {}",
                        timeout.get_ref()
                    ),
                );
                ok = false;
                0
            }
        },
    };
    let mut texts = |list: &[Spanned<String>], what: &str| -> Vec<String> {
        for text in list.iter().filter(|text| text.get_ref().is_empty()) {
            // An empty substring matches every transcript: the check could never fail.
            report.at(
                text.span(),
                format!("test {what} has an empty string, which would match anything"),
            );
            ok = false;
        }
        list.iter().map(|text| text.get_ref().clone()).collect()
    };
    let expect = texts(&raw.expect, "expect");
    let contains = texts(&raw.contains, "contains");
    let forbid = texts(&raw.forbid, "forbid");
    if raw.ends == Ending::Matched && expect.is_empty() && contains.is_empty() {
        report.whole_file(
            "test ends = \"matched\" stops the run when every expect and contains string has appeared, but there are none",
        );
        ok = false;
    }
    ok.then_some(TestSpec {
        timeout_s,
        expect,
        contains,
        forbid,
        corrupt: raw.corrupt,
        ends: raw.ends,
        el2: raw.el2.unwrap_or(true),
        gic_versions,
    })
}
