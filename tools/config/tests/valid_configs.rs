//! Valid configurations load into the `System` they describe: the default
//! system in configs/, defaults of omitted fields, every optional field, image
//! paths resolved against the config's directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use bulkhead_config::{
    load, parse_str, Corruption, Ending, ImageSource, PartitionKind, Perms, Region, RestartPolicy,
    System, TestSpec, VcpuDesc,
};

const MIB: u64 = 1 << 20;

fn parse(text: &str) -> System {
    parse_str(Path::new("inline.toml"), text).unwrap_or_else(|error| panic!("{error}"))
}

/// A directory of its own under cargo's scratch space for integration tests.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("valid_configs")
        .join(name);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_default_system_loads() {
    let system =
        load(Path::new("tests/fixtures/two-guests.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(system.board.name, "qemu-virt");
    assert_eq!((system.cpus, system.ram_size, system.gic), (4, 1 << 30, 3));
    assert!(system.test.is_none());
    let names: Vec<&str> = system.partitions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["hello", "ticker"]);
    for (partition, (bootargs, cpu)) in system
        .partitions
        .iter()
        .zip([("scenario=hello", 0), ("scenario=ticks count=20", 1)])
    {
        assert_eq!(partition.kind, PartitionKind::Guest);
        assert_eq!(partition.source, ImageSource::Program("testguest".into()));
        assert_eq!(partition.bootargs.as_deref(), Some(bootargs));
        assert_eq!(partition.restart, RestartPolicy::Never);
        assert_eq!(partition.vcpus, [VcpuDesc { cpu, priority: 10 }]);
        assert_eq!(
            partition.memory,
            [Region {
                ipa: 0x4000_0000,
                size: 16 * MIB,
                perms: Perms::RWX
            }]
        );
    }
}

#[test]
fn omitted_fields_take_their_defaults() {
    let system = parse(
        r#"
[board]
name = "qemu-virt"

[[partition]]
name = "only"
kind = "service"
program = "console"
restart = "always"
  [[partition.vcpu]]
  cpu = 3
  [[partition.memory]]
  ipa = 0x4000_0000
  size = 0x20_0000
  [[partition.memory]]
  ipa = 0x5000_0000
  size = "4096"
"#,
    );
    let board = platform::board::QEMU_VIRT;
    assert_eq!(system.cpus, board.default_cpus);
    assert_eq!(system.ram_size, board.default_ram);
    assert_eq!(system.gic, 3, "the highest GIC version is the default");
    let only = &system.partitions[0];
    assert_eq!(only.kind, PartitionKind::Service);
    assert_eq!(only.restart, RestartPolicy::Always);
    assert_eq!((only.max_restarts, only.restart_window_ms), (0, 0));
    assert!(!only.pmu && only.bootargs.is_none());
    assert_eq!(only.vcpus[0].priority, 10);
    assert_eq!(only.memory[0].perms, Perms::RWX);
    assert_eq!(only.memory[1].perms, Perms::RW);
    assert_eq!(only.memory[1].size, 4096);
    assert_eq!(only.line, 5);
}

#[test]
fn every_optional_field_is_read() {
    let system = parse(
        r#"
[board]
name = "qemu-virt"
cpus = 2
memory = "2GiB"
gic = 2

[[partition]]
name = "svc_1-a"
kind = "guest"
program = "testguest"
bootargs = "scenario=smp"
restart = "on-crash"
max_restarts = 3
restart_window = "2m"
pmu = true
  [[partition.vcpu]]
  cpu = 1
  priority = 255
  [[partition.vcpu]]
  cpu = 1
  priority = 0
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "512KiB"
  perms = "rx"
  [[partition.memory]]
  ipa = 0x1_0000_0000
  size = "1MiB"
  perms = "r"

[test]
timeout = 1800
expect = ["first", "second"]
contains = ["anywhere"]
forbid = ["panic"]
corrupt = "truncate"
ends = "timeout"
el2 = false
"#,
    );
    assert_eq!((system.cpus, system.ram_size, system.gic), (2, 2 << 30, 2));
    let p = &system.partitions[0];
    assert_eq!(p.name, "svc_1-a");
    assert_eq!(p.restart, RestartPolicy::OnCrash);
    assert_eq!((p.max_restarts, p.restart_window_ms), (3, 120_000));
    assert!(p.pmu);
    assert_eq!(
        p.vcpus,
        [
            VcpuDesc {
                cpu: 1,
                priority: 255
            },
            VcpuDesc {
                cpu: 1,
                priority: 0
            }
        ]
    );
    assert_eq!(p.memory[0].size, 512 * 1024);
    assert_eq!(
        (p.memory[0].perms.write, p.memory[0].perms.exec),
        (false, true)
    );
    assert_eq!(p.memory[1].ipa, 0x1_0000_0000);
    assert_eq!(
        system.test,
        Some(TestSpec {
            timeout_s: 1800,
            expect: vec!["first".into(), "second".into()],
            contains: vec!["anywhere".into()],
            forbid: vec!["panic".into()],
            corrupt: Some(Corruption::Truncate),
            ends: Ending::Timeout,
            el2: false,
            gic_versions: vec![],
        })
    );
}

#[test]
fn the_test_section_has_defaults_too() {
    let system = parse(
        r#"
[board]
name = "rpi4"

[[partition]]
name = "pi"
kind = "guest"
program = "testguest"
restart = "never"
  [[partition.vcpu]]
  cpu = 0
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "16MiB"

[test]
expect = ["[pi] done"]
"#,
    );
    assert_eq!(system.board.name, "rpi4");
    assert_eq!(system.gic, 2);
    let test = system.test.unwrap();
    assert_eq!(test.timeout_s, 60);
    assert_eq!(test.ends, Ending::Poweroff);
    assert_eq!(test.corrupt, None);
    assert!(test.contains.is_empty() && test.forbid.is_empty());
}

#[test]
fn image_paths_resolve_against_the_config_directory() {
    let dir = scratch_dir("relative_image");
    fs::create_dir_all(dir.join("guests")).unwrap();
    fs::write(dir.join("guests/blob.bin"), vec![0x1f; 10_000]).unwrap();
    let config = dir.join("system.toml");
    fs::write(
        &config,
        r#"
[board]
name = "qemu-virt"

[[partition]]
name = "blob"
kind = "guest"
image = "guests/blob.bin"
restart = "never"
  [[partition.vcpu]]
  cpu = 0
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "1MiB"
"#,
    )
    .unwrap();
    let system = load(&config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        system.partitions[0].source,
        ImageSource::File(dir.join("guests/blob.bin"))
    );
    assert_eq!(system.path, config);
}

#[test]
fn a_missing_config_file_is_reported_without_a_line() {
    let error = load(Path::new("tests/no-such-config.toml")).unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("tests/no-such-config.toml: cannot read the configuration: "),
        "{text}"
    );
    assert_eq!(error.diagnostics()[0].line, None);
}
