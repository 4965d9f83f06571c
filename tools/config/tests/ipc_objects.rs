//! Capabilities, endpoints, notifications, emulated devices, passthrough and
//! shared memory, end to end: what a config declares comes back out of the
//! core's own manifest parser, the guest device trees describe the PL011s,
//! and services get boot arguments naming their capability slots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use abi::ipc::{rights, ObjectKind};
use bulkhead_config::{
    build_manifest, load, parse_str, CapObject, DeviceKind, EmulatedDevice, System,
};
use kernel_core::manifest::{
    region_flags, CapDesc, DeviceDesc, EndpointDesc, Manifest, NotificationDesc, RegionDesc,
    NO_INDEX,
};

const KERNEL_FOOTPRINT: u64 = 0x4_0000;

fn system(text: &str) -> System {
    parse_str(Path::new("inline.toml"), text).unwrap_or_else(|error| panic!("{error}"))
}

fn images(system: &System) -> Vec<Vec<u8>> {
    system.partitions.iter().map(|_| vec![0x5a; 6000]).collect()
}

/// A server with two CPUs, a client that calls it, a guest with an emulated
/// device behind it, a doorbell, an IRQ-bound notification, a passthrough
/// window and a region shared between client and server.
const SYSTEM: &str = r#"
[board]
name = "qemu-virt"

[[partition]]
name = "server"
kind = "service"
program = "console"
restart = "never"
  [[partition.vcpu]]
  cpu = 0
  [[partition.vcpu]]
  cpu = 1
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "4MiB"
  [[partition.passthrough]]
  pa = 0x0a00_0000
  ipa = 0x0a00_0000
  size = "8KiB"
  [[partition.cap]]
  slot = 3
  endpoint = "ep"
  rights = ["recv"]
  [[partition.cap]]
  slot = 0
  notification = "irq"
  rights = ["wait"]
  [[partition.cap]]
  slot = 63
  notification = "bell"
  rights = ["signal"]

[[partition]]
name = "client"
kind = "service"
program = "vmm"
restart = "never"
  [[partition.vcpu]]
  cpu = 1
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "4MiB"
  [[partition.cap]]
  slot = 5
  endpoint = "ep"
  rights = ["call"]
  badge = 77
  [[partition.cap]]
  slot = 6
  partition = "server"
  rights = ["status"]

[[partition]]
name = "guest"
kind = "guest"
program = "testguest"
restart = "never"
  [[partition.vcpu]]
  cpu = 0
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "4MiB"
  [[partition.device]]
  kind = "generic"
  ipa = 0x0a00_0000
  size = "64KiB"
  irq = 40
  endpoint = "ep"
  [[partition.device]]
  kind = "pl011"
  ipa = 0x0900_0000
  size = "4KiB"
  irq = 33
  endpoint = "ep"
  badge = 0x100

[[endpoint]]
name = "ep"
server = "server"

[[notification]]
name = "irq"
irq = 45

[[notification]]
name = "bell"
virq = { partition = "guest", irq = 33 }

[[shared]]
name = "ring"
size = "64KiB"
  [[shared.map]]
  partition = "client"
  ipa = 0x5000_0000
  perms = "rw"
  [[shared.map]]
  partition = "server"
  ipa = 0x6000_0000
  perms = "r"
"#;

#[test]
fn the_system_loads_with_every_object() {
    let system = system(SYSTEM);
    assert_eq!(system.endpoints.len(), 1);
    assert_eq!(system.endpoints[0].server, 0);
    assert_eq!(system.notifications[0].irq, Some(45));
    assert_eq!(system.notifications[1].virq.map(|v| v.partition), Some(2));
    let server = &system.partitions[0];
    assert_eq!(server.caps[0].slot, 3);
    assert_eq!(server.caps[0].object, CapObject::Endpoint(0));
    assert_eq!(server.caps[0].rights, rights::RECV);
    let client = &system.partitions[1];
    assert_eq!(client.caps[0].badge, 77);
    assert_eq!(client.caps[1].object, CapObject::Partition(0));
    let guest = &system.partitions[2];
    // A device without a badge gets one the config could never write.
    assert_eq!(guest.devices[0].badge, EmulatedDevice::assigned_badge(2, 0));
    assert_eq!(guest.devices[0].badge, 1 << 63 | 2 << 16);
    assert_eq!(guest.devices[1].kind, DeviceKind::Pl011);
    assert_eq!(guest.devices[1].badge, 0x100);
    assert_eq!(system.shared[0].mappings.len(), 2);
    assert_eq!(system.supervisor(), None);
    assert_eq!(system.fault_notification(), None);
}

#[test]
fn every_object_round_trips_through_the_core_parser() {
    let system = system(SYSTEM);
    let bytes = build_manifest(&system, &images(&system), KERNEL_FOOTPRINT).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    assert_eq!(m.endpoint_count(), 1);
    assert_eq!(m.endpoint(0), EndpointDesc { server: 0 });
    assert_eq!(m.notification_count(), 2);
    assert_eq!(
        m.notification(0),
        NotificationDesc {
            irq: 45,
            virq_partition: NO_INDEX,
            virq: 0
        }
    );
    assert_eq!(
        m.notification(1),
        NotificationDesc {
            irq: 0,
            virq_partition: 2,
            virq: 33
        }
    );
    assert_eq!(m.supervisor(), None);
    assert_eq!(m.fault_notification(), None);

    let server = m.partition(0);
    let caps: Vec<CapDesc> = m.caps_of(&server).collect();
    assert_eq!(
        caps,
        [
            CapDesc {
                slot: 3,
                kind: ObjectKind::Endpoint,
                rights: rights::RECV,
                object: 0,
                badge: 0
            },
            CapDesc {
                slot: 0,
                kind: ObjectKind::Notification,
                rights: rights::WAIT,
                object: 0,
                badge: 0
            },
            CapDesc {
                slot: 63,
                kind: ObjectKind::Notification,
                rights: rights::SIGNAL,
                object: 1,
                badge: 0
            },
        ]
    );
    let client = m.partition(1);
    let caps: Vec<CapDesc> = m.caps_of(&client).collect();
    assert_eq!(caps[0].badge, 77);
    assert_eq!(caps[0].rights, rights::CALL);
    assert_eq!(
        (caps[1].kind, caps[1].object, caps[1].rights),
        (ObjectKind::Partition, 0, rights::STATUS)
    );

    let guest = m.partition(2);
    assert_eq!(m.caps_of(&guest).count(), 0);
    let devices: Vec<DeviceDesc> = m.devices_of(&guest).collect();
    assert_eq!(
        devices,
        [
            DeviceDesc {
                ipa: 0x0a00_0000,
                size: 0x1_0000,
                endpoint: 0,
                virq: 40,
                badge: 1 << 63 | 2 << 16,
            },
            DeviceDesc {
                ipa: 0x0900_0000,
                size: 0x1000,
                endpoint: 0,
                virq: 33,
                badge: 0x100,
            },
        ]
    );
    // Emulated devices are not mapped: they have no region.
    assert_eq!(m.regions_of(&guest).count(), 1);
}

#[test]
fn passthrough_and_shared_memory_become_regions() {
    let system = system(SYSTEM);
    let bytes = build_manifest(&system, &images(&system), KERNEL_FOOTPRINT).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    let server: Vec<RegionDesc> = m.regions_of(&m.partition(0)).collect();
    let client: Vec<RegionDesc> = m.regions_of(&m.partition(1)).collect();
    // RAM first, then passthrough, then shared mappings.
    assert_eq!(server.len(), 3);
    assert_eq!(
        server[1],
        RegionDesc {
            ipa: 0x0a00_0000,
            pa: 0x0a00_0000,
            size: 0x2000,
            flags: region_flags::DEVICE | region_flags::READ | region_flags::WRITE,
        }
    );
    let server_view = server[2];
    let client_view = client[1];

    // A passed-through PL011 is known to master no DMA: marked so, the core
    // may scrub its partition's RAM on first touch.
    let with_pl011 = SYSTEM.replace(
        "  [[partition.passthrough]]\n  pa = 0x0a00_0000",
        "  [[partition.passthrough]]\n  kind = \"pl011\"\n  pa = 0x0a00_0000",
    );
    assert_ne!(with_pl011, SYSTEM);
    let pl011_system = crate::system(&with_pl011);
    let bytes = build_manifest(&pl011_system, &images(&pl011_system), KERNEL_FOOTPRINT).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    let uart = m.regions_of(&m.partition(0)).nth(1).unwrap();
    assert_eq!(
        uart.flags,
        region_flags::DEVICE | region_flags::READ | region_flags::WRITE | region_flags::NO_DMA
    );
    assert_eq!(client.len(), 2);
    assert_eq!(server_view.flags, region_flags::SHARED | region_flags::READ);
    assert_eq!(
        client_view.flags,
        region_flags::SHARED | region_flags::READ | region_flags::WRITE
    );
    assert_eq!(
        (server_view.ipa, client_view.ipa),
        (0x6000_0000, 0x5000_0000)
    );
    // One allocation, seen by both.
    assert_eq!(server_view.pa, client_view.pa);
    assert_eq!(server_view.size, 64 * 1024);
    assert_eq!(server_view.pa % 4096, 0);
    // Below all partition RAM, which is laid out first, and clear of it.
    let lowest_ram = m
        .partitions()
        .flat_map(|p| {
            m.regions_of(&p)
                .filter(|r| r.is_ram() && r.flags & region_flags::SHARED == 0)
                .collect::<Vec<_>>()
        })
        .map(|r| r.pa)
        .min()
        .unwrap();
    assert!(server_view.pa + server_view.size <= lowest_ram);
}

/// The big-endian u32 cells of a property.
fn cells(node: fdt::node::FdtNode<'_, '_>, name: &str) -> Vec<u32> {
    node.property(name)
        .unwrap_or_else(|| panic!("{} has no {name}", node.name))
        .value
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect()
}

fn strings(node: fdt::node::FdtNode<'_, '_>, name: &str) -> Vec<String> {
    node.property(name)
        .unwrap_or_else(|| panic!("{} has no {name}", node.name))
        .value
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

#[test]
fn a_pl011_device_is_in_the_device_tree_and_is_the_console() {
    let system = system(SYSTEM);
    let bytes = build_manifest(&system, &images(&system), KERNEL_FOOTPRINT).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    let tree = fdt::Fdt::new(m.blob(m.partition(2).dtb)).unwrap();

    let uart = tree.find_node("/pl011@9000000").unwrap();
    assert_eq!(strings(uart, "compatible"), ["arm,pl011", "arm,primecell"]);
    assert_eq!(cells(uart, "reg"), [0, 0x0900_0000, 0, 0x1000]);
    // SPI 1 = INTID 33, level-sensitive active high.
    assert_eq!(cells(uart, "interrupts"), [0, 1, 4]);
    assert_eq!(strings(uart, "clock-names"), ["uartclk", "apb_pclk"]);
    let clock = tree.find_node("/apb-pclk").unwrap();
    assert_eq!(strings(clock, "compatible"), ["fixed-clock"]);
    assert_eq!(cells(clock, "#clock-cells"), [0]);
    assert_eq!(cells(clock, "clock-frequency"), [24_000_000]);
    let phandle = cells(clock, "phandle")[0];
    assert_eq!(cells(uart, "clocks"), [phandle, phandle]);
    // Distinct from the GIC's phandle.
    let gic = tree.find_node("/intc@8000000").unwrap();
    assert_ne!(cells(gic, "phandle"), [phandle]);

    assert_eq!(
        tree.chosen().stdout().map(|s| s.name),
        Some("pl011@9000000")
    );
    let chosen = tree.find_node("/chosen").unwrap();
    assert_eq!(strings(chosen, "stdout-path"), ["/pl011@9000000"]);
    // The generic device is not described.
    assert!(tree.find_node("/pl011@a000000").is_none());
    assert_eq!(
        tree.all_nodes()
            .filter(|n| n.name.starts_with("pl011"))
            .count(),
        1
    );

    // The partition runtime's device-tree reader finds it as the console UART.
    let machine = platform::machine::Machine::from_fdt(m.blob(m.partition(2).dtb)).unwrap();
    assert_eq!(
        machine.uart,
        Some(platform::machine::Uart {
            base: 0x0900_0000,
            size: 0x1000,
            irq: Some(33)
        })
    );
}

#[test]
fn partitions_without_a_pl011_have_no_uart_nodes() {
    let system = system(SYSTEM);
    let bytes = build_manifest(&system, &images(&system), KERNEL_FOOTPRINT).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    let tree = fdt::Fdt::new(m.blob(m.partition(1).dtb)).unwrap();
    assert!(tree.find_node("/apb-pclk").is_none());
    assert!(tree.chosen().stdout().is_none());
}

#[test]
fn the_default_system_builds() {
    let system = load(Path::new("../../configs/qemu-virt.toml")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = system.partitions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["vmm", "console", "hello", "ticker"]);
    assert_eq!(system.supervisor(), Some(0));
    assert_eq!(system.fault_notification(), Some(0));

    // Each service learns its slots from its boot arguments.
    assert_eq!(
        system.partitions[0].bootargs.as_deref(),
        Some("partitions=1:console:on-crash:5:60000,2:hello:never,3:ticker:never faults=0")
    );
    assert_eq!(
        system.partitions[1].bootargs.as_deref(),
        Some(
            "input_vcpu=4 endpoint_slot=0 devices=0x100:hello,0x101:ticker \
             doorbells=0x100:2,0x101:3 irq_slot=1 uart=0x9000000"
        )
    );
    // Guests keep their own.
    assert_eq!(
        system.partitions[2].bootargs.as_deref(),
        Some("scenario=hello console=pl011")
    );

    let bytes = build_manifest(&system, &images(&system), KERNEL_FOOTPRINT).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    assert_eq!(m.supervisor(), Some(0));
    assert_eq!(m.fault_notification(), Some(0));
    assert_eq!(m.endpoint(0), EndpointDesc { server: 1 });
    assert_eq!(m.notification(1).irq, 33);
    assert_eq!(
        (m.notification(2).virq_partition, m.notification(2).virq),
        (2, 33)
    );

    // The console: a serving vCPU on each CPU and an input vCPU, the
    // physical UART passed through and described in its own device tree.
    let console = m.partition(1);
    assert_eq!(
        m.vcpus_of(&console).map(|v| v.cpu).collect::<Vec<_>>(),
        [0, 1, 2, 3, 3]
    );
    let uart = m.regions_of(&console).find(|r| !r.is_ram()).unwrap();
    assert_eq!(
        (uart.ipa, uart.pa, uart.size),
        (0x0900_0000, 0x0900_0000, 0x1000)
    );
    let tree = fdt::Fdt::new(m.blob(console.dtb)).unwrap();
    let node = tree.find_node("/pl011@9000000").unwrap();
    assert!(node.property("interrupts").is_none());
    assert_eq!(
        tree.chosen().stdout().map(|s| s.name),
        Some("pl011@9000000")
    );
    assert_eq!(
        tree.chosen().bootargs(),
        system.partitions[1].bootargs.as_deref()
    );

    // Each guest: its UART behind the console endpoint with its badge.
    for (index, badge) in [(2, 0x100), (3, 0x101)] {
        let guest = m.partition(index);
        let devices: Vec<DeviceDesc> = m.devices_of(&guest).collect();
        assert_eq!(
            devices,
            [DeviceDesc {
                ipa: 0x0900_0000,
                size: 0x1000,
                endpoint: 0,
                virq: 33,
                badge
            }]
        );
        let tree = fdt::Fdt::new(m.blob(guest.dtb)).unwrap();
        assert_eq!(
            tree.chosen().stdout().map(|s| s.name),
            Some("pl011@9000000")
        );
    }

    // The vmm holds control and status on every other partition.
    let vmm_caps: Vec<CapDesc> = m.caps_of(&m.partition(0)).collect();
    for target in 1..4u32 {
        assert!(vmm_caps.iter().any(|c| c.kind == ObjectKind::Partition
            && c.object == target
            && c.rights == rights::CONTROL | rights::STATUS));
    }
    assert_eq!(
        m.partition(0).restart,
        kernel_core::manifest::RestartPolicy::Always
    );
}

#[test]
fn the_supervisor_learns_its_control_endpoint_and_may_do_without_fault_reports() {
    let system = system(
        r#"
[board]
name = "qemu-virt"

[[partition]]
name = "guest"
kind = "guest"
program = "testguest"
restart = "on-crash"
max_restarts = 2
restart_window = "1s"
  [[partition.vcpu]]
  cpu = 2
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "4MiB"
  [[partition.cap]]
  slot = 0
  endpoint = "control"
  rights = ["call"]
  badge = 9

[[partition]]
name = "vmm"
kind = "service"
program = "vmm"
supervisor = true
restart = "always"
bootargs = "status_ms=500"
  [[partition.vcpu]]
  cpu = 2
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "4MiB"
  [[partition.cap]]
  slot = 7
  endpoint = "control"
  rights = ["recv"]
  [[partition.cap]]
  slot = 4
  partition = "guest"
  rights = ["control", "status"]
  [[partition.cap]]
  slot = 5
  partition = "vmm"
  rights = ["status"]

[[endpoint]]
name = "control"
server = "vmm"
"#,
    );
    assert_eq!(system.supervisor(), Some(1));
    assert_eq!(system.fault_notification(), None);
    // Its own bootargs first; itself never in the list it starts.
    assert_eq!(
        system.partitions[1].bootargs.as_deref(),
        Some("status_ms=500 partitions=4:guest:on-crash:2:1000 control=7")
    );
    let bytes = build_manifest(&system, &images(&system), KERNEL_FOOTPRINT).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    assert_eq!(m.supervisor(), Some(1));
    assert_eq!(m.fault_notification(), None);
}

/// A valid system with `count` notifications, none bound to anything.
fn with_notifications(count: usize) -> String {
    let mut text = String::from(
        r#"
[board]
name = "qemu-virt"

[[partition]]
name = "guest"
kind = "guest"
program = "testguest"
restart = "never"
  [[partition.vcpu]]
  cpu = 0
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "4MiB"
"#,
    );
    for n in 0..count {
        text.push_str(&format!("[[notification]]\nname = \"n{n}\"\n"));
    }
    text
}

#[test]
fn the_core_limits_on_objects_are_enforced() {
    let max = kernel_core::manifest::MAX_NOTIFICATIONS;
    assert!(parse_str(Path::new("inline.toml"), &with_notifications(max)).is_ok());
    let error = parse_str(Path::new("inline.toml"), &with_notifications(max + 1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "inline.toml: the system has {} notifications, but the core supports at most {max}",
            max + 1
        )
    );
}

#[test]
fn a_pl011_on_a_ppi_gets_a_ppi_specifier_with_the_gicv2_cpu_mask() {
    let system = system(
        r#"
[board]
name = "rpi4"

[[partition]]
name = "uart"
kind = "service"
program = "console"
restart = "never"
  [[partition.vcpu]]
  cpu = 0
  [[partition.vcpu]]
  cpu = 1
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "4MiB"
  [[partition.cap]]
  slot = 0
  endpoint = "uart"
  rights = ["recv"]

[[partition]]
name = "guest"
kind = "guest"
program = "testguest"
restart = "never"
  [[partition.vcpu]]
  cpu = 0
  [[partition.vcpu]]
  cpu = 1
  [[partition.memory]]
  ipa = 0x4000_0000
  size = "4MiB"
  [[partition.device]]
  kind = "pl011"
  ipa = 0x1000_0000
  size = "4KiB"
  irq = 20
  endpoint = "uart"

[[endpoint]]
name = "uart"
server = "uart"
"#,
    );
    let bytes = build_manifest(&system, &images(&system), KERNEL_FOOTPRINT).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    let tree = fdt::Fdt::new(m.blob(m.partition(1).dtb)).unwrap();
    let uart = tree.find_node("/pl011@10000000").unwrap();
    // PPI 4 = INTID 20; GICv2 flags carry the mask of both vCPUs (0b11).
    assert_eq!(cells(uart, "interrupts"), [1, 4, 0x304]);
    assert_eq!(
        tree.chosen().stdout().map(|s| s.name),
        Some("pl011@10000000")
    );
}
