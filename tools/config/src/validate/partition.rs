//! Checks one `[[partition]]` table on its own: name, image source, restart
//! policy, supervisor flag, vCPUs, memory regions, and (through their own
//! modules) its capabilities and devices.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use kernel_core::manifest::MAX_VCPUS_PER_PARTITION;
use toml::Spanned;

use super::capabilities::check_caps;
use super::devices::{check_devices, check_passthrough};
use super::names::{check_name, SeenNames, Symbols};
use super::window::{check_base, check_end, check_size, describe, Space};
use super::CheckedBoard;
use crate::boot_blobs;
use crate::diagnostics::Reporter;
use crate::guest_map::GIC_WINDOW;
use crate::placement::IMAGE_HEADER_LEN;
use crate::schema::{RawKind, RawPartition, RawRegion, RawRestart, RawVcpu};
use crate::service_args;
use crate::system::{
    ImageSource, Partition, PartitionKind, Perms, Region, RestartPolicy, VcpuDesc,
};
use crate::units::{parse_duration_ms, DURATION_HINT};

/// `priority` of a vCPU that does not give one.
const DEFAULT_PRIORITY: u8 = 10;

/// Most restarts `on-crash` may allow inside its window.
const MAX_RESTARTS: u32 = 1000;

/// Longest cargo package name (cargo refuses longer ones).
const MAX_PROGRAM_NAME_LEN: usize = 64;

/// Checks partition `index` (its position in the config). Returns it, with
/// the line its image source is written on, if it is valid.
pub(super) fn check(
    raw: &Spanned<RawPartition>,
    index: usize,
    board: Option<&CheckedBoard>,
    config_dir: &Path,
    names_seen: &mut SeenNames,
    symbols: &Symbols,
    report: &mut Reporter<'_>,
) -> Option<(Partition, usize)> {
    let header_line = report.line_of(raw.span().start);
    let raw = raw.get_ref();
    let errors_before = report.count();

    let name = raw.name.get_ref().clone();
    check_name("partition", &raw.name, names_seen, report);
    let who = format!("partition \"{name}\"");

    let source = check_source(raw, header_line, config_dir, &who, report);
    let initrd = raw
        .initrd
        .as_ref()
        .map(|initrd| check_file(initrd, "initrd", config_dir, &who, report));
    check_bootargs(raw, &who, report);
    let (restart, max_restarts, restart_window_ms) = check_restart(raw, header_line, &who, report);
    let supervisor = check_supervisor_flag(raw, &who, report);
    let vcpus = check_vcpus(&raw.vcpu, header_line, board, &who, report);
    let memory = check_memory(&raw.memory, header_line, &who, report);
    let caps = check_caps(&raw.cap, symbols, &who, report);
    let devices = check_devices(&raw.device, index, symbols, &who, report);
    let passthrough = check_passthrough(&raw.passthrough, board, &who, report);

    let (source, image_line) = source?;
    if report.count() != errors_before {
        return None;
    }
    let partition = Partition {
        name,
        kind: match raw.kind {
            RawKind::Guest => PartitionKind::Guest,
            RawKind::Service => PartitionKind::Service,
        },
        source,
        initrd,
        bootargs: raw.bootargs.as_ref().map(|b| b.get_ref().clone()),
        restart,
        max_restarts,
        restart_window_ms,
        pmu: raw.pmu,
        vcpus,
        memory,
        supervisor,
        caps,
        devices,
        passthrough,
        line: header_line,
    };
    Some((partition, image_line))
}

/// Bootargs hold no NUL (the device tree stores them as a C string), and a
/// service's bootargs leave alone the keys the tool generates for it.
fn check_bootargs(raw: &RawPartition, who: &str, report: &mut Reporter<'_>) {
    let Some(bootargs) = &raw.bootargs else {
        return;
    };
    if bootargs.get_ref().contains('\0') {
        report.at(
            bootargs.span(),
            format!("{who}: bootargs must not contain a NUL character"),
        );
    }
    if matches!(raw.kind, RawKind::Service) {
        for key in service_args::generated_keys_in(bootargs.get_ref()) {
            report.at(
                bootargs.span(),
                format!(
                    "{who}: bootargs set {key}=, which the tool generates for service partitions from their capabilities and devices"
                ),
            );
        }
    }
}

/// `supervisor = true` only on a service partition.
fn check_supervisor_flag(raw: &RawPartition, who: &str, report: &mut Reporter<'_>) -> bool {
    let Some(flag) = &raw.supervisor else {
        return false;
    };
    let supervisor = *flag.get_ref();
    if supervisor && matches!(raw.kind, RawKind::Guest) {
        report.at(
            flag.span(),
            format!("{who} is a guest, but the supervisor must be a service partition (kind = \"service\")"),
        );
    }
    supervisor
}

/// Exactly one of `program` and `image`; an image file must exist. Returns the
/// source and the line it is written on; `None` if there is none to check further.
fn check_source(
    raw: &RawPartition,
    header_line: usize,
    config_dir: &Path,
    who: &str,
    report: &mut Reporter<'_>,
) -> Option<(ImageSource, usize)> {
    match (&raw.program, &raw.image) {
        (Some(_), Some(image)) => {
            report.at(
                image.span(),
                format!("{who} names both a program and an image; give exactly one"),
            );
            None
        }
        (None, None) => {
            report.at_line(
                Some(header_line),
                format!(
                    "{who} has neither a program nor an image; give exactly one (program = \"testguest\" or image = \"path/to/Image\")"
                ),
            );
            None
        }
        (Some(program), None) => {
            let text = program.get_ref();
            let valid = !text.is_empty()
                && text.len() <= MAX_PROGRAM_NAME_LEN
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                report.at(
                    program.span(),
                    format!("{who}: program \"{text}\" is not a cargo package name"),
                );
            }
            let line = report.line_of(program.span().start);
            Some((ImageSource::Program(text.clone()), line))
        }
        (None, Some(image)) => {
            let line = report.line_of(image.span().start);
            let resolved = check_file(image, "image", config_dir, who, report);
            Some((ImageSource::File(resolved), line))
        }
    }
}

/// A file a partition boots with (`what` is "image" or "initrd"): resolved
/// against the config's directory, it must exist, be a file and not be empty.
fn check_file(
    value: &Spanned<String>,
    what: &str,
    config_dir: &Path,
    who: &str,
    report: &mut Reporter<'_>,
) -> std::path::PathBuf {
    let resolved = config_dir.join(value.get_ref());
    let problem = match std::fs::metadata(&resolved) {
        Ok(meta) if !meta.is_file() => Some(format!("{what} {} is not a file", resolved.display())),
        Ok(meta) if meta.len() == 0 => Some(format!("{what} file {} is empty", resolved.display())),
        Ok(_) => None,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("{what} file {} does not exist", resolved.display()))
        }
        Err(error) => Some(format!(
            "cannot read {what} file {}: {error}",
            resolved.display()
        )),
    };
    if let Some(problem) = problem {
        report.at(value.span(), format!("{who}: {problem}"));
    }
    resolved
}

/// The restart policy; `max_restarts` and `restart_window` belong to
/// `on-crash` only, which needs both.
fn check_restart(
    raw: &RawPartition,
    header_line: usize,
    who: &str,
    report: &mut Reporter<'_>,
) -> (RestartPolicy, u32, u32) {
    let policy = match raw.restart {
        RawRestart::Never => RestartPolicy::Never,
        RawRestart::OnCrash => RestartPolicy::OnCrash,
        RawRestart::Always => RestartPolicy::Always,
    };
    if policy != RestartPolicy::OnCrash {
        if let Some(max) = &raw.max_restarts {
            report.at(
                max.span(),
                format!("{who}: max_restarts applies only to restart = \"on-crash\""),
            );
        }
        if let Some(window) = &raw.restart_window {
            report.at(
                window.span(),
                format!("{who}: restart_window applies only to restart = \"on-crash\""),
            );
        }
        return (policy, 0, 0);
    }
    let max_restarts = match &raw.max_restarts {
        None => {
            report.at_line(
                Some(header_line),
                format!("{who}: restart = \"on-crash\" needs max_restarts (1 to {MAX_RESTARTS})"),
            );
            0
        }
        Some(max) => match u32::try_from(*max.get_ref()) {
            Ok(n) if (1..=MAX_RESTARTS).contains(&n) => n,
            _ => {
                report.at(
                    max.span(),
                    format!(
                        "{who}: max_restarts must be 1 to {MAX_RESTARTS}, not {}",
                        max.get_ref()
                    ),
                );
                0
            }
        },
    };
    let window_ms = match &raw.restart_window {
        None => {
            report.at_line(
                Some(header_line),
                format!("{who}: restart = \"on-crash\" needs restart_window, such as \"10s\""),
            );
            0
        }
        Some(window) => match parse_duration_ms(window.get_ref()) {
            Some(ms) if ms > 0 => ms,
            Some(_) => {
                report.at(
                    window.span(),
                    format!("{who}: restart_window must be longer than 0 ms"),
                );
                0
            }
            None => {
                report.at(
                    window.span(),
                    format!(
                        "{who}: restart_window \"{}\" is not a duration: {DURATION_HINT}",
                        window.get_ref()
                    ),
                );
                0
            }
        },
    };
    (policy, max_restarts, window_ms)
}

/// 1..=8 vCPUs, each on a CPU the board has, with a priority that fits a byte.
/// Several vCPUs may share a CPU; the scheduler time-slices them.
fn check_vcpus(
    raw: &[Spanned<RawVcpu>],
    header_line: usize,
    board: Option<&CheckedBoard>,
    who: &str,
    report: &mut Reporter<'_>,
) -> Vec<VcpuDesc> {
    if raw.is_empty() {
        report.at_line(
            Some(header_line),
            format!("{who} has no vCPUs: add a [[partition.vcpu]] table"),
        );
    }
    if let Some(extra) = raw.get(MAX_VCPUS_PER_PARTITION) {
        report.at(
            extra.span(),
            format!(
                "{who} has {} vCPUs; a partition may have at most {MAX_VCPUS_PER_PARTITION}",
                raw.len()
            ),
        );
    }
    let mut vcpus = Vec::with_capacity(raw.len());
    for (index, vcpu) in raw.iter().enumerate() {
        let vcpu = vcpu.get_ref();
        let cpu = u32::try_from(*vcpu.cpu.get_ref()).ok();
        if let Some(board) = board {
            if cpu.is_none_or(|cpu| cpu >= board.cpus) {
                report.at(
                    vcpu.cpu.span(),
                    format!(
                        "{who}: vCPU {index} is on CPU {}, but the board has {} CPUs (0 to {})",
                        vcpu.cpu.get_ref(),
                        board.cpus,
                        board.cpus.saturating_sub(1)
                    ),
                );
            }
        }
        let priority = match &vcpu.priority {
            None => Some(DEFAULT_PRIORITY),
            Some(priority) => {
                let value = u8::try_from(*priority.get_ref()).ok();
                if value.is_none() {
                    report.at(
                        priority.span(),
                        format!(
                            "{who}: vCPU {index} priority {} is out of range (0 to 255)",
                            priority.get_ref()
                        ),
                    );
                }
                value
            }
        };
        if let (Some(cpu), Some(priority)) = (cpu, priority) {
            vcpus.push(VcpuDesc { cpu, priority });
        }
    }
    vcpus
}

/// At least one region; each page aligned, non-empty, inside the IPA space,
/// clear of the guest's GIC window and of the partition's other regions. The
/// first holds the image, so it must be executable.
fn check_memory(
    raw: &[Spanned<RawRegion>],
    header_line: usize,
    who: &str,
    report: &mut Reporter<'_>,
) -> Vec<Region> {
    if raw.is_empty() {
        report.at_line(
            Some(header_line),
            format!("{who} has no memory: add a [[partition.memory]] table"),
        );
    }
    let mut regions: Vec<Region> = Vec::with_capacity(raw.len());
    for (index, spanned) in raw.iter().enumerate() {
        let Some(region) = check_region(spanned.get_ref(), index == 0, who, report) else {
            continue;
        };
        let ipa_span = spanned.get_ref().ipa.span();
        let gic = Region {
            ipa: GIC_WINDOW.start,
            size: GIC_WINDOW.end - GIC_WINDOW.start,
            perms: Perms::RW,
        };
        if region.overlaps(&gic) {
            report.at(
                ipa_span.clone(),
                format!(
                    "{who}: memory region {} overlaps the guest's GIC window {}",
                    describe(region.ipa, region.size),
                    describe(gic.ipa, gic.size)
                ),
            );
        }
        for earlier in regions.iter().filter(|earlier| earlier.overlaps(&region)) {
            report.at(
                ipa_span.clone(),
                format!(
                    "{who}: memory region {} overlaps region {} of the same partition",
                    describe(region.ipa, region.size),
                    describe(earlier.ipa, earlier.size)
                ),
            );
        }
        regions.push(region);
    }
    regions
}

/// Checks one region on its own.
fn check_region(
    raw: &RawRegion,
    is_first: bool,
    who: &str,
    report: &mut Reporter<'_>,
) -> Option<Region> {
    let what = format!("{who}: memory region");
    let ipa = check_base(&raw.ipa, Space::Ipa, &what, report);
    let size = check_size(&raw.size, &what, report);
    let perms = match &raw.perms {
        None if is_first => Some(Perms::RWX),
        None => Some(Perms::RW),
        Some(perms) => {
            let parsed = Perms::parse(perms.get_ref());
            match parsed {
                None => report.at(
                    perms.span(),
                    format!(
                        "{who}: perms \"{}\" is not valid: write r, then optionally w, then optionally x (\"r\", \"rw\", \"rx\" or \"rwx\")",
                        perms.get_ref()
                    ),
                ),
                Some(parsed) if is_first && !parsed.exec => report.at(
                    perms.span(),
                    format!(
                        "{who}: the first memory region holds the image, so its perms must include x"
                    ),
                ),
                Some(_) => {}
            }
            parsed
        }
    };
    let (ipa, size, perms) = (ipa?, size?, perms?);
    if !check_end(&raw.ipa, (ipa, size), Space::Ipa, &what, report) {
        return None;
    }
    Some(Region { ipa, size, perms })
}

/// For an image file: reads its header and checks that it and the device tree
/// fit the first region (programs are checked when `build_manifest` has them).
pub(super) fn check_image_fits(
    partition: &Partition,
    gic_version: u8,
    image_line: usize,
    report: &mut Reporter<'_>,
) {
    let ImageSource::File(path) = &partition.source else {
        return;
    };
    let (head, len) = match read_head(path) {
        Ok(read) => read,
        Err(error) => {
            report.at_line(
                Some(image_line),
                format!(
                    "partition \"{}\": cannot read image file {}: {error}",
                    partition.name,
                    path.display()
                ),
            );
            return;
        }
    };
    let initrd_len = match partition.initrd.as_ref().map(std::fs::metadata).transpose() {
        Ok(meta) => meta.map(|m| m.len()),
        Err(error) => {
            report.at_line(
                Some(image_line),
                format!(
                    "partition \"{}\": cannot read its initrd: {error}",
                    partition.name
                ),
            );
            return;
        }
    };
    if let Err(error) = boot_blobs::prepare(partition, gic_version, &head, len, initrd_len) {
        report.at_line(
            Some(image_line),
            format!("partition \"{}\": {error}", partition.name),
        );
    }
}

/// The first [`IMAGE_HEADER_LEN`] bytes of a file (fewer if it is shorter) and its length.
fn read_head(path: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = Vec::with_capacity(IMAGE_HEADER_LEN);
    file.take(IMAGE_HEADER_LEN as u64).read_to_end(&mut head)?;
    Ok((head, len))
}
