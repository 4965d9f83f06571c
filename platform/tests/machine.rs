//! Device-tree discovery tests: the trees QEMU `virt` (GICv3 and GICv2) and the
//! Raspberry Pi 4 really pass, synthetic trees for the corners, and corrupt
//! blobs, which must give errors and never panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel_core::cpu_boot::{Conduit, EnableMethod};
use platform::machine::{
    blob_size, remove_nops, Cpu, Gic, GicFrames, Machine, MachineError, MemRange, TimerIrqs, Uart,
    MAX_BLOB_SIZE, MAX_CPUS,
};
use vm_fdt::{FdtReserveEntry, FdtWriter};

/// `qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu cortex-a72 -smp 4 -m 1G`.
const VIRT_GICV3: &[u8] = include_bytes!("data/virt-gicv3.dtb");
/// The same with `gic-version=2`.
const VIRT_GICV2: &[u8] = include_bytes!("data/virt-gicv2.dtb");
/// `bcm2711-rpi-4-b.dtb` from Debian's linux-image-6.1.0-*-arm64: `/memory` is empty.
const RPI4_STOCK: &[u8] = include_bytes!("data/bcm2711-rpi-4-b.dtb");
/// The stock Pi tree as QEMU `raspi4b` passes it, `/memory` filled in.
const RPI4_QEMU: &[u8] = include_bytes!("data/raspi4b-qemu.dtb");

/// The tree exactly as QEMU `raspi4b` leaves it in RAM for the kernel (read
/// back with the monitor's `pmemsave`): `/memory` filled in, the devices QEMU
/// does not model turned into FDT_NOP tokens, padding to `totalsize`.
const RPI4_QEMU_LOADED: &[u8] = include_bytes!("data/raspi4b-qemu-loaded.dtb");

/// Where the tests pretend the blob was loaded.
const BLOB_PA: u64 = 0x4800_0000;

fn range(base: u64, size: u64) -> MemRange {
    MemRange { base, size }
}

fn parse(dtb: &[u8]) -> Result<Machine, MachineError> {
    Machine::from_fdt_at(dtb, BLOB_PA)
}

fn psci_cpus(count: u64) -> Vec<Cpu> {
    (0..count)
        .map(|mpidr| Cpu {
            mpidr,
            enable_method: EnableMethod::Psci,
        })
        .collect()
}

#[test]
fn qemu_virt_gicv3() {
    let m = parse(VIRT_GICV3).unwrap();
    assert_eq!(m.memory.as_slice(), &[range(0x4000_0000, 1 << 30)]);
    assert_eq!(m.usable_memory(), Ok(&[range(0x4000_0000, 1 << 30)][..]));
    assert_eq!(
        m.reserved.as_slice(),
        &[range(BLOB_PA, VIRT_GICV3.len() as u64)]
    );
    assert_eq!(m.cpus.as_slice(), psci_cpus(4).as_slice());
    assert_eq!(m.psci, Some(Conduit::Smc));
    assert_eq!(
        m.gic,
        Gic {
            frames: GicFrames::V3 {
                gicd: range(0x0800_0000, 0x1_0000),
                gicr: range(0x080A_0000, 0xF6_0000),
            },
            maintenance_irq: Some(25),
        }
    );
    assert_eq!(m.gic.version(), 3);
    assert_eq!(m.gic.distributor(), range(0x0800_0000, 0x1_0000));
    assert_eq!(
        m.uart,
        Some(Uart {
            base: 0x0900_0000,
            size: 0x1000,
            irq: Some(33)
        })
    );
    assert_eq!(
        m.timer,
        TimerIrqs {
            el1_phys: 30,
            el1_virt: 27,
            el2_phys: 26
        }
    );
    assert_eq!(m.timer_frequency, None);
    assert_eq!(m.pm_watchdog, None);
    assert_eq!(m.cpu_by_mpidr(0x8000_0002).map(|c| c.mpidr), Some(2));
    assert_eq!(m.cpu_by_mpidr(4), None);
}

#[test]
fn qemu_virt_gicv2() {
    let m = parse(VIRT_GICV2).unwrap();
    assert_eq!(m.memory.as_slice(), &[range(0x4000_0000, 1 << 30)]);
    assert_eq!(m.cpus.as_slice(), psci_cpus(4).as_slice());
    assert_eq!(m.psci, Some(Conduit::Smc));
    assert_eq!(
        m.gic,
        Gic {
            frames: GicFrames::V2 {
                gicd: range(0x0800_0000, 0x1_0000),
                gicc: range(0x0801_0000, 0x1_0000),
                gich: Some(range(0x0803_0000, 0x1_0000)),
                gicv: Some(range(0x0804_0000, 0x1_0000)),
            },
            maintenance_irq: Some(25),
        }
    );
    assert_eq!(m.gic.version(), 2);
    assert_eq!(
        m.uart,
        Some(Uart {
            base: 0x0900_0000,
            size: 0x1000,
            irq: Some(33)
        })
    );
    assert_eq!(
        m.timer,
        TimerIrqs {
            el1_phys: 30,
            el1_virt: 27,
            el2_phys: 26
        }
    );
}

fn assert_rpi4_devices(m: &Machine) {
    let spin = |release_addr| EnableMethod::SpinTable { release_addr };
    assert_eq!(
        m.cpus.as_slice(),
        &[
            Cpu {
                mpidr: 0,
                enable_method: spin(0xd8)
            },
            Cpu {
                mpidr: 1,
                enable_method: spin(0xe0)
            },
            Cpu {
                mpidr: 2,
                enable_method: spin(0xe8)
            },
            Cpu {
                mpidr: 3,
                enable_method: spin(0xf0)
            },
        ]
    );
    assert_eq!(m.psci, None);
    // GIC-400 at bus address 0x40041000, CPU physical 0xFF841000 through /soc's ranges.
    assert_eq!(
        m.gic,
        Gic {
            frames: GicFrames::V2 {
                gicd: range(0xFF84_1000, 0x1000),
                gicc: range(0xFF84_2000, 0x2000),
                gich: Some(range(0xFF84_4000, 0x2000)),
                gicv: Some(range(0xFF84_6000, 0x2000)),
            },
            maintenance_irq: Some(25),
        }
    );
    // stdout-path names the mini UART; the PL011 (uart0, bus 0x7E201000) is chosen.
    assert_eq!(
        m.uart,
        Some(Uart {
            base: 0xFE20_1000,
            size: 0x200,
            irq: Some(153)
        })
    );
    assert_eq!(
        m.timer,
        TimerIrqs {
            el1_phys: 30,
            el1_virt: 27,
            el2_phys: 26
        }
    );
    // No PSCI: power-off goes through the PM watchdog (bus 0x7E100000).
    assert_eq!(m.pm_watchdog, Some(range(0xFE10_0000, 0x114)));
}

#[test]
fn raspberry_pi_4_stock_tree() {
    let m = parse(RPI4_STOCK).unwrap();
    assert_rpi4_devices(&m);
    // The stock /memory is <0 0 0>: kept as parsed, refused only at use.
    assert!(m.memory.is_empty());
    assert_eq!(m.usable_memory(), Err(MachineError::NoUsableMemory));
    // /memreserve/ for the firmware's spin tables, then the blob; the disabled
    // nvram and the size-only CMA pool reserve nothing.
    assert_eq!(
        m.reserved.as_slice(),
        &[range(0, 0x1000), range(BLOB_PA, RPI4_STOCK.len() as u64)]
    );
}

#[test]
fn raspberry_pi_4_tree_as_qemu_passes_it() {
    let m = parse(RPI4_QEMU).unwrap();
    assert_rpi4_devices(&m);
    assert_eq!(m.usable_memory(), Ok(&[range(0, 0x3C00_0000)][..]));
    assert_eq!(
        m.reserved.as_slice(),
        &[range(0, 0x1000), range(BLOB_PA, RPI4_QEMU.len() as u64)]
    );
}

#[test]
fn raspberry_pi_4_tree_in_ram_has_nops_that_are_removed_in_place() {
    let mut loaded = RPI4_QEMU_LOADED.to_vec();
    assert!(matches!(
        parse(&loaded),
        Err(MachineError::MalformedBlob(why)) if why.contains("FDT_NOP")
    ));
    let removed = remove_nops(&mut loaded).unwrap();
    assert!(removed > 0);
    assert_eq!(loaded.len(), RPI4_QEMU_LOADED.len());
    assert_eq!(blob_size(&loaded), Ok(RPI4_QEMU_LOADED.len()));
    let m = parse(&loaded).unwrap();
    assert_rpi4_devices(&m);
    assert_eq!(m.usable_memory(), Ok(&[range(0, 0x3C00_0000)][..]));
    assert_eq!(
        m.reserved.as_slice(),
        &[
            range(0, 0x1000),
            range(BLOB_PA, RPI4_QEMU_LOADED.len() as u64)
        ]
    );
    // A tree without NOPs is left as it is.
    let mut clean = RPI4_QEMU.to_vec();
    assert_eq!(remove_nops(&mut clean), Ok(0));
    assert_eq!(clean, RPI4_QEMU);
}

#[test]
fn the_blob_address_is_the_slice_address() {
    let m = Machine::from_fdt(VIRT_GICV3).unwrap();
    let blob = range(VIRT_GICV3.as_ptr() as u64, VIRT_GICV3.len() as u64);
    assert_eq!(m.reserved.last(), Some(&blob));
}

#[test]
fn blob_size_comes_from_the_header() {
    assert_eq!(blob_size(&VIRT_GICV3[..8]), Ok(VIRT_GICV3.len()));
    assert_eq!(blob_size(RPI4_STOCK), Ok(RPI4_STOCK.len()));
    assert_eq!(
        blob_size(&VIRT_GICV3[..7]).unwrap_err().to_string(),
        "the device tree is shorter than its header"
    );
    assert!(matches!(
        blob_size(&[0; 8]),
        Err(MachineError::MalformedBlob(_))
    ));
    let mut huge = VIRT_GICV3[..8].to_vec();
    huge[4..8].copy_from_slice(&((MAX_BLOB_SIZE as u32) + 1).to_be_bytes());
    assert_eq!(
        blob_size(&huge).unwrap_err().to_string(),
        "the device tree is larger than the 2 MiB the boot protocol allows"
    );
}

#[test]
fn trailing_bytes_after_the_blob_are_ignored() {
    let mut padded = VIRT_GICV2.to_vec();
    padded.resize(padded.len() + 4096, 0xAA);
    let m = parse(&padded).unwrap();
    assert_eq!(
        m.reserved.last(),
        Some(&range(BLOB_PA, VIRT_GICV2.len() as u64))
    );
}

// ---------------------------------------------------------------------------
// Synthetic trees.

/// A CPU node to generate.
#[derive(Clone)]
struct CpuSpec {
    reg: Vec<u32>,
    enable_method: Option<&'static str>,
    release_addr: Option<Vec<u32>>,
    status: Option<&'static str>,
}

fn psci_cpu(id: u32) -> CpuSpec {
    CpuSpec {
        reg: vec![id],
        enable_method: Some("psci"),
        release_addr: None,
        status: None,
    }
}

/// A configurable tree in the style of QEMU `virt`: root with two address and
/// size cells, GIC phandle 1 as the root's interrupt parent.
#[derive(Clone)]
struct Synthetic {
    reservations: Vec<(u64, u64)>,
    psci: Option<(&'static str, &'static str)>,
    gic_compatible: Option<&'static str>,
    gic_reg: Vec<u32>,
    cpu_address_cells: u32,
    cpus: Vec<CpuSpec>,
    memory_nodes: Vec<Vec<u32>>,
    timer: Option<Vec<u32>>,
    timer_frequency: Option<u32>,
    stdout_path: Option<&'static str>,
    extra: fn(&mut FdtWriter),
}

const GICV3_REG: [u32; 8] = [0, 0x0800_0000, 0, 0x1_0000, 0, 0x080A_0000, 0, 0xF6_0000];

impl Default for Synthetic {
    fn default() -> Self {
        Self {
            reservations: Vec::new(),
            psci: Some(("arm,psci-1.0", "hvc")),
            gic_compatible: Some("arm,gic-v3"),
            gic_reg: GICV3_REG.to_vec(),
            cpu_address_cells: 1,
            cpus: vec![psci_cpu(0), psci_cpu(1)],
            memory_nodes: vec![vec![0, 0x4000_0000, 0, 0x2000_0000]],
            timer: Some(vec![1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]),
            timer_frequency: None,
            stdout_path: None,
            extra: |_| {},
        }
    }
}

fn node(w: &mut FdtWriter, name: &str, body: impl FnOnce(&mut FdtWriter)) {
    let handle = w.begin_node(name).unwrap();
    body(w);
    w.end_node(handle).unwrap();
}

impl Synthetic {
    fn build(&self) -> Vec<u8> {
        let reservations: Vec<_> = self
            .reservations
            .iter()
            .map(|&(a, s)| FdtReserveEntry::new(a, s).unwrap())
            .collect();
        let mut w = FdtWriter::new_with_mem_reserv(&reservations).unwrap();
        node(&mut w, "", |w| {
            w.property_u32("#address-cells", 2).unwrap();
            w.property_u32("#size-cells", 2).unwrap();
            w.property_u32("interrupt-parent", 1).unwrap();
            node(w, "chosen", |w| {
                if let Some(path) = self.stdout_path {
                    w.property_string("stdout-path", path).unwrap();
                }
            });
            node(w, "aliases", |w| {
                w.property_string("serial0", "/bus@f0000000/sub@100000/serial@200")
                    .unwrap();
                w.property_string("serial1", "/uart-first@9000000").unwrap();
            });
            if let Some((compatible, method)) = self.psci {
                node(w, "psci", |w| {
                    w.property_string("compatible", compatible).unwrap();
                    w.property_string("method", method).unwrap();
                });
            }
            for (i, reg) in self.memory_nodes.iter().enumerate() {
                node(w, &format!("memory@{i:x}"), |w| {
                    w.property_string("device_type", "memory").unwrap();
                    w.property_array_u32("reg", reg).unwrap();
                });
            }
            node(w, "cpus", |w| {
                w.property_u32("#address-cells", self.cpu_address_cells)
                    .unwrap();
                w.property_u32("#size-cells", 0).unwrap();
                for cpu in &self.cpus {
                    let unit = cpu.reg.last().copied().unwrap_or(0);
                    node(w, &format!("cpu@{unit:x}"), |w| {
                        w.property_string("device_type", "cpu").unwrap();
                        w.property_array_u32("reg", &cpu.reg).unwrap();
                        if let Some(method) = cpu.enable_method {
                            w.property_string("enable-method", method).unwrap();
                        }
                        if let Some(release) = &cpu.release_addr {
                            w.property_array_u32("cpu-release-addr", release).unwrap();
                        }
                        if let Some(status) = cpu.status {
                            w.property_string("status", status).unwrap();
                        }
                    });
                }
                node(w, "cpu-map", |_| {});
            });
            if let Some(compatible) = self.gic_compatible {
                node(w, "interrupt-controller@8000000", |w| {
                    w.property_string("compatible", compatible).unwrap();
                    w.property_null("interrupt-controller").unwrap();
                    w.property_u32("#interrupt-cells", 3).unwrap();
                    w.property_array_u32("reg", &self.gic_reg).unwrap();
                    w.property_array_u32("interrupts", &[1, 9, 4]).unwrap();
                    w.property_u32("phandle", 1).unwrap();
                });
            }
            if let Some(interrupts) = &self.timer {
                node(w, "timer", |w| {
                    w.property_string("compatible", "arm,armv8-timer").unwrap();
                    w.property_array_u32("interrupts", interrupts).unwrap();
                    if let Some(hz) = self.timer_frequency {
                        w.property_u32("clock-frequency", hz).unwrap();
                    }
                });
            }
            (self.extra)(w);
        });
        w.finish().unwrap()
    }

    fn parse(&self) -> Result<Machine, MachineError> {
        parse(&self.build())
    }
}

/// Two PL011s: one directly under the root, one behind two levels of buses
/// whose `ranges` move it to 0xF010_0200, wired with `interrupts-extended`.
fn uarts_behind_buses(w: &mut FdtWriter) {
    node(w, "uart-first@9000000", |w| {
        w.property_string("compatible", "arm,pl011").unwrap();
        w.property_array_u32("reg", &[0, 0x0900_0000, 0, 0x1000])
            .unwrap();
        w.property_array_u32("interrupts", &[0, 1, 4]).unwrap();
    });
    node(w, "bus@f0000000", |w| {
        w.property_u32("#address-cells", 1).unwrap();
        w.property_u32("#size-cells", 1).unwrap();
        // child 0x0 -> parent 0xF000_0000 (two cells), 16 MiB
        w.property_array_u32("ranges", &[0x0, 0x0, 0xF000_0000, 0x100_0000])
            .unwrap();
        node(w, "sub@100000", |w| {
            w.property_u32("#address-cells", 1).unwrap();
            w.property_u32("#size-cells", 1).unwrap();
            // Two windows; the second maps child 0 -> parent 0x10_0000.
            w.property_array_u32(
                "ranges",
                &[0x8000_0000, 0x0, 0x1000, 0x0, 0x10_0000, 0x1_0000],
            )
            .unwrap();
            node(w, "serial@200", |w| {
                w.property_string("compatible", "arm,pl011").unwrap();
                w.property_array_u32("reg", &[0x200, 0x100]).unwrap();
                w.property_array_u32("interrupts-extended", &[1, 0, 7, 4])
                    .unwrap();
            });
        });
    });
}

#[test]
fn stdout_alias_wins_and_addresses_translate_through_nested_ranges() {
    let tree = Synthetic {
        stdout_path: Some("serial0:115200n8"),
        extra: uarts_behind_buses,
        ..Synthetic::default()
    };
    let m = tree.parse().unwrap();
    assert_eq!(
        m.uart,
        Some(Uart {
            base: 0xF010_0200,
            size: 0x100,
            irq: Some(39)
        })
    );
    assert_eq!(m.psci, Some(Conduit::Hvc));

    // A full path works too.
    let by_path = Synthetic {
        stdout_path: Some("/uart-first@9000000"),
        ..tree.clone()
    };
    assert_eq!(
        by_path.parse().unwrap().uart,
        Some(Uart {
            base: 0x0900_0000,
            size: 0x1000,
            irq: Some(33)
        })
    );

    // Without stdout-path, the first PL011 in tree order.
    let first = Synthetic {
        stdout_path: None,
        ..tree.clone()
    };
    assert_eq!(
        first.parse().unwrap().uart.map(|u| u.base),
        Some(0x0900_0000)
    );

    // A stdout-path naming a missing node falls back the same way.
    let missing = Synthetic {
        stdout_path: Some("serial7"),
        ..tree
    };
    assert_eq!(
        missing.parse().unwrap().uart.map(|u| u.base),
        Some(0x0900_0000)
    );
}

#[test]
fn disabled_uarts_are_skipped_and_none_is_fine() {
    let disabled = Synthetic {
        extra: |w| {
            node(w, "serial@9000000", |w| {
                w.property_string("compatible", "arm,pl011").unwrap();
                w.property_array_u32("reg", &[0, 0x0900_0000, 0, 0x1000])
                    .unwrap();
                w.property_string("status", "disabled").unwrap();
            });
            node(w, "serial@9001000", |w| {
                w.property_string("compatible", "arm,pl011").unwrap();
                w.property_array_u32("reg", &[0, 0x0900_1000, 0, 0x1000])
                    .unwrap();
                w.property_string("status", "okay").unwrap();
            });
        },
        ..Synthetic::default()
    };
    assert_eq!(
        disabled.parse().unwrap().uart,
        Some(Uart {
            base: 0x0900_1000,
            size: 0x1000,
            irq: None
        })
    );
    assert_eq!(Synthetic::default().parse().unwrap().uart, None);
}

#[test]
fn a_device_under_a_bus_without_ranges_is_untranslatable() {
    let tree = Synthetic {
        extra: |w| {
            node(w, "i2c@1000", |w| {
                w.property_u32("#address-cells", 1).unwrap();
                w.property_u32("#size-cells", 1).unwrap();
                node(w, "serial@20", |w| {
                    w.property_string("compatible", "arm,pl011").unwrap();
                    w.property_array_u32("reg", &[0x20, 0x10]).unwrap();
                });
            });
        },
        ..Synthetic::default()
    };
    let error = tree.parse().unwrap_err();
    assert_eq!(error.to_string(), "the address of /i2c@1000/serial@20 is not mapped into the CPU's address space by its parents' ranges");

    // An address outside every window is refused the same way.
    let outside = Synthetic {
        extra: |w| {
            node(w, "bus@0", |w| {
                w.property_u32("#address-cells", 1).unwrap();
                w.property_u32("#size-cells", 1).unwrap();
                w.property_array_u32("ranges", &[0x0, 0x0, 0x1000_0000, 0x1000])
                    .unwrap();
                node(w, "serial@800", |w| {
                    w.property_string("compatible", "arm,pl011").unwrap();
                    // Starts inside the window but runs past it.
                    w.property_array_u32("reg", &[0x800, 0x1000]).unwrap();
                });
            });
        },
        ..Synthetic::default()
    };
    assert!(matches!(
        outside.parse(),
        Err(MachineError::Untranslatable { .. })
    ));
}

#[test]
fn malformed_reg_and_ranges_are_reported() {
    let bad_reg = Synthetic {
        memory_nodes: vec![vec![0, 0x4000_0000, 0]],
        ..Synthetic::default()
    };
    assert_eq!(
        bad_reg.parse().unwrap_err().to_string(),
        "the reg property of /memory@0 does not match its parent's #address-cells/#size-cells"
    );
    let bad_ranges = Synthetic {
        extra: |w| {
            node(w, "bus@0", |w| {
                w.property_u32("#address-cells", 1).unwrap();
                w.property_u32("#size-cells", 1).unwrap();
                w.property_array_u32("ranges", &[0x0, 0x0, 0x1000_0000])
                    .unwrap();
                node(w, "serial@0", |w| {
                    w.property_string("compatible", "arm,pl011").unwrap();
                    w.property_array_u32("reg", &[0x0, 0x10]).unwrap();
                });
            });
        },
        ..Synthetic::default()
    };
    assert!(matches!(
        bad_ranges.parse(),
        Err(MachineError::BadProperty {
            property: "ranges",
            ..
        })
    ));
}

#[test]
fn memory_nodes_and_reservations() {
    let tree = Synthetic {
        reservations: vec![(0x1000, 0x1000), (0x8000_0000, 0x10_0000)],
        memory_nodes: vec![
            vec![
                0,
                0x4000_0000,
                0,
                0x1000_0000,
                0,
                0x6000_0000,
                0,
                0x1000_0000,
            ],
            vec![0x8, 0, 0, 0x4000_0000],
            vec![0, 0, 0, 0],
        ],
        extra: |w| {
            node(w, "reserved-memory", |w| {
                w.property_u32("#address-cells", 2).unwrap();
                w.property_u32("#size-cells", 2).unwrap();
                w.property_null("ranges").unwrap();
                node(w, "secmon@4e000000", |w| {
                    w.property_array_u32("reg", &[0, 0x4E00_0000, 0, 0x20_0000])
                        .unwrap();
                    w.property_null("no-map").unwrap();
                });
                node(w, "off@4f000000", |w| {
                    w.property_array_u32("reg", &[0, 0x4F00_0000, 0, 0x1000])
                        .unwrap();
                    w.property_string("status", "disabled").unwrap();
                });
                node(w, "pool", |w| {
                    w.property_array_u32("size", &[0, 0x400_0000]).unwrap();
                    w.property_null("reusable").unwrap();
                });
            });
        },
        ..Synthetic::default()
    };
    let blob = tree.build();
    let m = parse(&blob).unwrap();
    assert_eq!(
        m.memory.as_slice(),
        &[
            range(0x4000_0000, 0x1000_0000),
            range(0x6000_0000, 0x1000_0000),
            range(0x8_0000_0000, 0x4000_0000)
        ]
    );
    assert_eq!(
        m.reserved.as_slice(),
        &[
            range(0x1000, 0x1000),
            range(0x8000_0000, 0x10_0000),
            range(0x4E00_0000, 0x20_0000),
            range(BLOB_PA, blob.len() as u64),
        ]
    );
    assert!(m.reserved[2].overlaps(&m.memory[0]));
    assert!(!m.reserved[3].overlaps(&m.memory[1]));
    assert!(m.memory[2].contains(0x8_3FFF_FFFF) && !m.memory[2].contains(0x8_4000_0000));
}

#[test]
fn memory_limits() {
    let none = Synthetic {
        memory_nodes: vec![],
        ..Synthetic::default()
    };
    assert_eq!(none.parse(), Err(MachineError::NoMemoryNode));

    let nine: Vec<u32> = (0..9u32).flat_map(|i| [0, i << 28, 0, 0x1000]).collect();
    let too_many = Synthetic {
        memory_nodes: vec![nine],
        ..Synthetic::default()
    };
    assert_eq!(
        too_many.parse(),
        Err(MachineError::TooMany {
            what: "memory ranges",
            capacity: 8
        })
    );

    let reservations = (1..=16u64).map(|i| (i << 20, 0x1000)).collect();
    let too_many_reserved = Synthetic {
        reservations,
        ..Synthetic::default()
    };
    assert_eq!(
        too_many_reserved.parse().unwrap_err().to_string(),
        "the device tree lists more reserved ranges than the 16 Bulkhead keeps"
    );
}

#[test]
fn cpu_enable_methods() {
    let tree = Synthetic {
        cpu_address_cells: 2,
        cpus: vec![
            // The boot CPU without an enable-method: PSCI, as the machine has it.
            CpuSpec {
                reg: vec![0, 0],
                enable_method: None,
                release_addr: None,
                status: None,
            },
            CpuSpec {
                reg: vec![0, 0x100],
                enable_method: Some("psci"),
                release_addr: None,
                status: Some("disabled"),
            },
            CpuSpec {
                reg: vec![0x1, 0x200],
                enable_method: Some("spin-table"),
                release_addr: Some(vec![0, 0x8000_00f8]),
                status: Some("okay"),
            },
            CpuSpec {
                reg: vec![0, 0x300],
                enable_method: Some("psci"),
                release_addr: None,
                status: Some("fail"),
            },
        ],
        ..Synthetic::default()
    };
    let m = tree.parse().unwrap();
    assert_eq!(
        m.cpus.as_slice(),
        &[
            Cpu {
                mpidr: 0,
                enable_method: EnableMethod::Psci
            },
            Cpu {
                mpidr: 0x100,
                enable_method: EnableMethod::Psci
            },
            Cpu {
                mpidr: 0x1_0000_0200,
                enable_method: EnableMethod::SpinTable {
                    release_addr: 0x8000_00f8
                }
            },
        ]
    );
    assert_eq!(m.cpu_by_mpidr(0x8000_0100).map(|c| c.mpidr), Some(0x100));
    assert_eq!(
        m.cpu_by_mpidr(0x1_0000_0200).map(|c| c.enable_method),
        Some(EnableMethod::SpinTable {
            release_addr: 0x8000_00f8
        })
    );
}

#[test]
fn cpu_errors() {
    let one = |cpu: CpuSpec, psci| {
        Synthetic {
            cpus: vec![cpu],
            psci,
            ..Synthetic::default()
        }
        .parse()
    };
    let no_method = CpuSpec {
        reg: vec![0],
        enable_method: None,
        release_addr: None,
        status: None,
    };
    assert_eq!(
        one(no_method.clone(), None).unwrap_err().to_string(),
        "CPU /cpus/cpu@0 has no enable-method and the machine has no PSCI, so it cannot be started"
    );
    let odd = CpuSpec {
        enable_method: Some("brcm,bcm2836-smp"),
        ..no_method.clone()
    };
    assert!(matches!(
        one(odd, None),
        Err(MachineError::UnsupportedEnableMethod { .. })
    ));
    let no_release = CpuSpec {
        enable_method: Some("spin-table"),
        ..no_method.clone()
    };
    assert!(matches!(
        one(no_release, None),
        Err(MachineError::BadProperty {
            property: "cpu-release-addr",
            ..
        })
    ));
    let short_release = CpuSpec {
        enable_method: Some("spin-table"),
        release_addr: Some(vec![]),
        ..no_method.clone()
    };
    assert!(matches!(
        one(short_release, None),
        Err(MachineError::BadProperty {
            property: "cpu-release-addr",
            ..
        })
    ));
    let one_cell_release = CpuSpec {
        enable_method: Some("spin-table"),
        release_addr: Some(vec![0xd8]),
        ..no_method.clone()
    };
    assert_eq!(
        one(one_cell_release, None).unwrap().cpus[0].enable_method,
        EnableMethod::SpinTable { release_addr: 0xd8 }
    );
    let no_reg = CpuSpec {
        reg: vec![],
        ..psci_cpu(0)
    };
    assert!(matches!(
        one(no_reg, Some(("arm,psci-0.2", "smc"))),
        Err(MachineError::BadProperty {
            property: "reg",
            ..
        })
    ));

    let none = Synthetic {
        cpus: vec![],
        ..Synthetic::default()
    };
    assert_eq!(none.parse(), Err(MachineError::NoCpus));
    let nine = Synthetic {
        cpus: (0..=MAX_CPUS as u32).map(psci_cpu).collect(),
        ..Synthetic::default()
    };
    assert_eq!(
        nine.parse(),
        Err(MachineError::TooMany {
            what: "CPUs",
            capacity: MAX_CPUS
        })
    );
}

#[test]
fn psci_nodes() {
    let bad = Synthetic {
        psci: Some(("arm,psci-0.2", "svc")),
        ..Synthetic::default()
    };
    assert_eq!(bad.parse(), Err(MachineError::BadPsciMethod));
    // PSCI 0.1 has firmware-specific function ids: not used, so CPUs need
    // another way to start.
    let old = Synthetic {
        psci: Some(("arm,psci", "smc")),
        ..Synthetic::default()
    };
    assert_eq!(old.parse().unwrap().psci, None);
    let smc = Synthetic {
        psci: Some(("arm,psci-0.2", "smc")),
        ..Synthetic::default()
    };
    assert_eq!(smc.parse().unwrap().psci, Some(Conduit::Smc));
}

#[test]
fn gic_discovery() {
    let a9 = Synthetic {
        gic_compatible: Some("arm,cortex-a9-gic"),
        ..Synthetic::default()
    };
    assert_eq!(a9.parse(), Err(MachineError::UnsupportedGic));
    let none = Synthetic {
        gic_compatible: None,
        ..Synthetic::default()
    };
    assert_eq!(none.parse(), Err(MachineError::NoGic));

    // Two redistributor regions: the first is used.
    let mut two_regions = GICV3_REG.to_vec();
    two_regions.extend([0, 0x1000_0000, 0, 0x2_0000]);
    let v3 = Synthetic {
        gic_reg: two_regions,
        ..Synthetic::default()
    };
    assert_eq!(
        v3.parse().unwrap().gic.frames,
        GicFrames::V3 {
            gicd: range(0x0800_0000, 0x1_0000),
            gicr: range(0x080A_0000, 0xF6_0000)
        }
    );

    // A GICv2 without the virtualization frames still parses; the core decides.
    let bare_v2 = Synthetic {
        gic_compatible: Some("arm,cortex-a15-gic"),
        gic_reg: vec![0, 0x0800_0000, 0, 0x1000, 0, 0x0801_0000, 0, 0x2000],
        ..Synthetic::default()
    };
    assert_eq!(
        bare_v2.parse().unwrap().gic.frames,
        GicFrames::V2 {
            gicd: range(0x0800_0000, 0x1000),
            gicc: range(0x0801_0000, 0x2000),
            gich: None,
            gicv: None
        }
    );

    let only_distributor = Synthetic {
        gic_reg: GICV3_REG[..4].to_vec(),
        ..Synthetic::default()
    };
    assert_eq!(
        only_distributor.parse().unwrap_err().to_string(),
        "the reg property of /interrupt-controller@8000000 does not match its parent's #address-cells/#size-cells"
    );
}

#[test]
fn timer_interrupts() {
    let absent = Synthetic {
        timer: None,
        ..Synthetic::default()
    };
    let m = absent.parse().unwrap();
    assert_eq!(
        m.timer,
        TimerIrqs {
            el1_phys: 30,
            el1_virt: 27,
            el2_phys: 26
        }
    );
    assert_eq!(m.timer, TimerIrqs::default());

    let custom = Synthetic {
        timer: Some(vec![1, 1, 4, 1, 2, 4, 1, 3, 4, 1, 4, 4]),
        timer_frequency: Some(62_500_000),
        ..Synthetic::default()
    };
    let m = custom.parse().unwrap();
    assert_eq!(
        m.timer,
        TimerIrqs {
            el1_phys: 18,
            el1_virt: 19,
            el2_phys: 20
        }
    );
    assert_eq!(m.timer_frequency, Some(62_500_000));

    let short = Synthetic {
        timer: Some(vec![1, 13, 4, 1, 14, 4]),
        ..Synthetic::default()
    };
    assert_eq!(
        short.parse().unwrap_err().to_string(),
        "the interrupts property of /timer is malformed"
    );
    let ragged = Synthetic {
        timer: Some(vec![1, 13, 4, 1, 14]),
        ..Synthetic::default()
    };
    assert!(matches!(
        ragged.parse(),
        Err(MachineError::BadProperty {
            property: "interrupts",
            ..
        })
    ));
    let bad_type = Synthetic {
        timer: Some(vec![1, 13, 4, 1, 14, 4, 7, 11, 4, 1, 10, 4]),
        ..Synthetic::default()
    };
    assert!(matches!(
        bad_type.parse(),
        Err(MachineError::BadProperty {
            property: "interrupts",
            ..
        })
    ));
}

#[test]
fn interrupts_of_other_controllers_are_not_guessed() {
    let tree = Synthetic {
        extra: |w| {
            node(w, "intc@a000000", |w| {
                w.property_null("interrupt-controller").unwrap();
                w.property_u32("#interrupt-cells", 2).unwrap();
                w.property_u32("phandle", 2).unwrap();
            });
            node(w, "serial@9000000", |w| {
                w.property_string("compatible", "arm,pl011").unwrap();
                w.property_array_u32("reg", &[0, 0x0900_0000, 0, 0x1000])
                    .unwrap();
                w.property_u32("interrupt-parent", 2).unwrap();
                w.property_array_u32("interrupts", &[5, 4]).unwrap();
            });
        },
        ..Synthetic::default()
    };
    assert_eq!(
        tree.parse().unwrap().uart,
        Some(Uart {
            base: 0x0900_0000,
            size: 0x1000,
            irq: None
        })
    );
}

// ---------------------------------------------------------------------------
// Corrupt input: errors, never panics.

#[test]
fn truncated_blobs_are_refused() {
    for blob in [VIRT_GICV3, VIRT_GICV2, RPI4_STOCK, RPI4_QEMU] {
        for len in (0..blob.len()).step_by(7).chain([blob.len() - 1]) {
            let error = parse(&blob[..len]).unwrap_err();
            assert!(
                matches!(error, MachineError::MalformedBlob(_)),
                "{len}: {error}"
            );
        }
    }
    assert_eq!(
        parse(&VIRT_GICV3[..100]).unwrap_err().to_string(),
        "the device tree is cut short (its totalsize is larger than the data)"
    );
    assert_eq!(
        parse(&[]).unwrap_err().to_string(),
        "the device tree is shorter than its header"
    );
}

#[test]
fn damaged_headers_are_refused() {
    let mut bad_magic = VIRT_GICV3.to_vec();
    bad_magic[0] = 0;
    assert_eq!(
        parse(&bad_magic).unwrap_err().to_string(),
        "the device tree does not start with the FDT magic 0xd00dfeed"
    );
    // Sizes and offsets: every damaged value must be refused.
    let mut must_fail: Vec<(usize, u32)> = Vec::new();
    for word in [1, 2, 3, 4, 8, 9] {
        must_fail.extend([0u32, 3, 0x7fff_fff0, u32::MAX].map(|value| (word, value)));
    }
    // Versions: older than 17, or not backwards compatible with 17. (A newer
    // version that is compatible with 17 is fine.)
    must_fail.extend([(5, 0), (5, 16), (6, 18), (6, u32::MAX)]);
    for (word, value) in must_fail {
        let mut blob = VIRT_GICV2.to_vec();
        blob[word * 4..word * 4 + 4].copy_from_slice(&value.to_be_bytes());
        assert!(
            matches!(parse(&blob), Err(MachineError::MalformedBlob(_))),
            "header word {word} = {value:#x} accepted"
        );
    }
}

/// Numerical Recipes LCG, enough to scatter damage deterministically.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn random_damage_never_panics() {
    let mut rng = Lcg(0x5eed);
    for blob in [VIRT_GICV3, VIRT_GICV2, RPI4_STOCK] {
        let mut outcomes = [0usize; 2];
        for round in 0..1500 {
            let mut damaged = blob.to_vec();
            let hits = 1 + rng.next() % 4;
            for _ in 0..hits {
                let at = (rng.next() as usize) % damaged.len();
                damaged[at] = match round % 3 {
                    0 => rng.next() as u8,
                    1 => damaged[at] ^ (1 << (rng.next() % 8)),
                    // Token-sized damage: small integers are what trips parsers.
                    _ => [0, 1, 2, 3, 4, 9, 0xff][(rng.next() % 7) as usize],
                };
            }
            outcomes[usize::from(parse(&damaged).is_ok())] += 1;
        }
        // Both outcomes occur: the damage reaches the parser and is not all caught early.
        assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
    }
}

#[test]
fn synthetic_damage_in_the_structure_block_never_panics() {
    let blob = Synthetic {
        extra: uarts_behind_buses,
        stdout_path: Some("serial0"),
        ..Synthetic::default()
    }
    .build();
    let struct_start = u32::from_be_bytes(blob[8..12].try_into().unwrap()) as usize;
    let struct_len = u32::from_be_bytes(blob[36..40].try_into().unwrap()) as usize;
    // Every word of the structure block set to each token value and to large lengths.
    for word in (struct_start..struct_start + struct_len).step_by(4) {
        for value in [0u32, 1, 2, 3, 4, 9, 0x100, 0xffff_fff0] {
            let mut damaged = blob.clone();
            damaged[word..word + 4].copy_from_slice(&value.to_be_bytes());
            let _ = parse(&damaged);
        }
    }
}
