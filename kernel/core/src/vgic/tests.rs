//! Host tests of the virtual GIC model: every register Linux 6.1's GIC
//! drivers touch, SGI routing, list-register fold-back, more interrupts than
//! list registers, level resampling and HW-linked interrupts. A small
//! simulated virtual CPU interface plays the guest's acknowledge and EOI.

use alloc::vec;
use alloc::vec::Vec;

use super::lr::{self, LrEntry};
use super::*;

/// Records what the model asked of the physical GIC.
#[derive(Default, Debug)]
struct FakePhysical {
    enabled: Vec<(u32, bool)>,
    routes: Vec<(u32, usize)>,
    edges: Vec<(u32, bool)>,
    deactivated: Vec<(usize, u32)>,
}

impl Physical for FakePhysical {
    fn set_enabled(&mut self, intid: u32, enabled: bool) {
        self.enabled.push((intid, enabled));
    }
    fn route(&mut self, intid: u32, vcpu: usize) {
        self.routes.push((intid, vcpu));
    }
    fn set_edge(&mut self, intid: u32, edge: bool) {
        self.edges.push((intid, edge));
    }
    fn deactivate(&mut self, vcpu: usize, intid: u32) {
        self.deactivated.push((vcpu, intid));
    }
}

/// List registers on the simulated hardware (QEMU and the GIC-400 have four).
const LRS: usize = 4;

/// A partition's virtual GIC plus each vCPU's list registers.
struct Rig {
    lrs: Vec<[u64; LRS]>,
    phys: FakePhysical,
    version: Version,
    vcpus: usize,
}

impl Rig {
    fn new(version: Version, vcpus: usize) -> (Self, Vgic<'static>) {
        let storage: &'static mut [Irq] = vec![Irq::IDLE; 96].leak();
        let mut vgic = Vgic::new(version, vcpus, storage);
        for v in 0..vcpus {
            vgic.vcpu_started(v, &mut FakePhysical::default());
        }
        vgic.take_kicks();
        (
            Self {
                lrs: vec![[0; LRS]; vcpus],
                phys: FakePhysical::default(),
                version,
                vcpus,
            },
            vgic,
        )
    }

    /// Folds and rebuilds vCPU `v`'s list registers, as the core does.
    fn sync(&mut self, vgic: &mut Vgic<'_>, v: usize) -> Rebuilt {
        let lrs = &mut self.lrs[v];
        vgic.fold(v, lrs);
        vgic.rebuild(v, lrs, &mut self.phys)
    }

    /// Syncs every vCPU the model kicked, until it kicks no more.
    fn sync_kicked(&mut self, vgic: &mut Vgic<'_>) {
        for _ in 0..16 {
            let kicks = vgic.take_kicks();
            if kicks == 0 {
                return;
            }
            for v in 0..self.vcpus {
                if kicks & (1 << v) != 0 {
                    self.sync(vgic, v);
                }
            }
        }
        panic!("kicks do not settle");
    }

    fn entries(&self, v: usize) -> Vec<LrEntry> {
        self.lrs[v]
            .iter()
            .filter_map(|&raw| lr::decode(self.version, raw))
            .collect()
    }

    /// The guest acknowledges the highest-priority pending interrupt in
    /// vCPU `v`'s list registers (what ICC_IAR1_EL1 / GICC_IAR does).
    fn ack(&mut self, v: usize) -> Option<(u32, u8)> {
        let version = self.version;
        let (index, entry) = self.lrs[v]
            .iter()
            .enumerate()
            .filter_map(|(i, &raw)| lr::decode(version, raw).map(|e| (i, e)))
            .filter(|(_, e)| e.pending)
            .min_by_key(|(_, e)| (e.priority, e.vintid))?;
        let acked = LrEntry {
            pending: false,
            active: true,
            ..entry
        };
        self.lrs[v][index] = lr::encode(version, &acked);
        Some((entry.vintid, entry.source))
    }

    /// The guest deactivates `intid` (EOI with EOImode 0).
    fn eoi(&mut self, v: usize, intid: u32) {
        let version = self.version;
        for raw in self.lrs[v].iter_mut() {
            if let Some(e) = lr::decode(version, *raw).filter(|e| e.vintid == intid && e.active) {
                let after = LrEntry { active: false, ..e };
                // An invalid register keeps its other bits, as hardware does.
                *raw = if after.pending {
                    lr::encode(version, &after)
                } else {
                    lr::encode(version, &after) & !(0b11 << 62) & !(0b11 << 28)
                };
                return;
            }
        }
    }

    /// Valid list registers of vCPU `v`.
    fn valid(&self, v: usize) -> usize {
        self.entries(v).len()
    }
}

fn read(vgic: &mut Vgic<'_>, v: usize, frame: Frame, offset: u64, size: u8) -> u64 {
    vgic.read(v, frame, offset, size)
}

fn write(
    rig: &mut Rig,
    vgic: &mut Vgic<'_>,
    v: usize,
    frame: Frame,
    offset: u64,
    size: u8,
    value: u64,
) {
    vgic.write(v, frame, offset, size, value, &mut rig.phys);
}

const D: Frame = Frame::Distributor;
const fn gicr(v: usize) -> Frame {
    Frame::Redistributor(v)
}
const SGI: u64 = 0x1_0000;

/// Programs a GICv3 distributor and vCPU `v`'s redistributor as Linux 6.1
/// does (gic_dist_init, gic_cpu_init, gic_cpu_config).
fn linux_v3_init(rig: &mut Rig, vgic: &mut Vgic<'_>) {
    write(rig, vgic, 0, D, 0x0, 4, 0);
    assert_eq!(read(vgic, 0, D, 0x0, 4) & 1 << 31, 0, "RWP");
    let lines = u64::from(vgic.lines());
    for i in (32..lines).step_by(32) {
        write(rig, vgic, 0, D, 0x80 + i / 8, 4, 0xffff_ffff);
    }
    for i in (32..lines).step_by(16) {
        write(rig, vgic, 0, D, 0xc00 + i / 4, 4, 0);
    }
    for i in (32..lines).step_by(4) {
        write(rig, vgic, 0, D, 0x400 + i, 4, 0xa0a0_a0a0);
    }
    for i in (32..lines).step_by(32) {
        write(rig, vgic, 0, D, 0x380 + i / 8, 4, 0xffff_ffff);
        write(rig, vgic, 0, D, 0x180 + i / 8, 4, 0xffff_ffff);
    }
    write(rig, vgic, 0, D, 0x0, 4, 1 << 4 | 1 << 1 | 1 << 0);
    for i in 32..lines {
        write(rig, vgic, 0, D, 0x6000 + i * 8, 8, 0);
    }
    for v in 0..rig.vcpus {
        let waker = read(vgic, v, gicr(v), 0x14, 4);
        write(rig, vgic, v, gicr(v), 0x14, 4, waker & !(1 << 1));
        assert_eq!(
            read(vgic, v, gicr(v), 0x14, 4) & 1 << 2,
            0,
            "ChildrenAsleep"
        );
        write(rig, vgic, v, gicr(v), SGI + 0x80, 4, 0xffff_ffff);
        write(rig, vgic, v, gicr(v), SGI + 0x380, 4, 0xffff_ffff);
        write(rig, vgic, v, gicr(v), SGI + 0x180, 4, 0xffff_ffff);
        for i in (0..32).step_by(4) {
            write(rig, vgic, v, gicr(v), SGI + 0x400 + i, 4, 0xa0a0_a0a0);
        }
        // Enable the SGIs (IPIs) and the timer PPI.
        write(rig, vgic, v, gicr(v), SGI + 0x100, 4, 0xffff | 1 << 27);
    }
    rig.sync_kicked(vgic);
}

#[test]
fn gicv3_identification_registers() {
    let (_rig, mut vgic) = Rig::new(Version::V3, 2);
    let typer = read(&mut vgic, 0, D, 0x4, 4);
    assert_eq!(
        typer & 0x1f,
        u64::from(vgic.lines() / 32 - 1),
        "ITLinesNumber"
    );
    assert_eq!(vgic.lines(), 128, "96 SPIs of storage");
    assert_eq!((typer >> 19) & 0x1f, 9, "IDbits: 10-bit INTIDs");
    assert_eq!(
        typer & (1 << 16 | 1 << 17 | 1 << 24 | 1 << 26 | 1 << 8),
        0,
        "no MBIS, LPIS, A3V, RSS, ESPI"
    );
    assert_eq!(read(&mut vgic, 0, D, 0x8, 4), 0x4200_143b, "IIDR");
    assert_eq!(read(&mut vgic, 0, D, 0xc, 4), 0, "TYPER2");
    assert_eq!(
        read(&mut vgic, 0, D, 0xffe8, 4) & 0xf0,
        0x30,
        "PIDR2.ArchRev"
    );
    assert_eq!(
        read(&mut vgic, 0, D, 0x0, 4),
        1 << 4 | 1 << 6,
        "CTLR: ARE, DS"
    );
}

#[test]
fn gicv3_redistributors_walk_like_linux() {
    let (_rig, mut vgic) = Rig::new(Version::V3, 3);
    for v in 0..3 {
        assert_eq!(
            read(&mut vgic, 0, gicr(v), 0xffe8, 4) & 0xf0,
            0x30,
            "GICR_PIDR2"
        );
        let typer = read(&mut vgic, 0, gicr(v), 0x8, 8);
        assert_eq!(typer >> 32, v as u64, "Affinity = MPIDR Aff0");
        assert_eq!((typer >> 8) & 0xffff, v as u64, "Processor_Number");
        assert_eq!(typer & (1 << 4) != 0, v == 2, "Last");
        assert_eq!(
            typer & (1 << 0 | 1 << 1 | 1 << 3 | 1 << 5),
            0,
            "no LPIs, VLPIs, DirectLPI"
        );
        assert_eq!(typer & (0x1f << 27), 0, "PPInum: 16 PPIs");
        assert_eq!(read(&mut vgic, 0, gicr(v), 0x8, 4), typer & 0xffff_ffff);
        assert_eq!(read(&mut vgic, 0, gicr(v), 0xc, 4), typer >> 32);
        assert_eq!(read(&mut vgic, 0, gicr(v), 0x0, 4), 0, "GICR_CTLR");
        assert_eq!(
            read(&mut vgic, 0, gicr(v), 0x4, 4),
            0x4200_143b,
            "GICR_IIDR"
        );
    }
    // The frames are where the guest map puts them, one per vCPU.
    use guest_map::*;
    assert_eq!(
        vgic.frame_at(GICR_IPA + 2 * GICR_STRIDE + 0x1_0100),
        Some((gicr(2), 0x1_0100))
    );
    assert_eq!(vgic.frame_at(GICR_IPA + 3 * GICR_STRIDE), None);
    assert_eq!(vgic.frame_at(GICD_IPA + 0xfffc), Some((D, 0xfffc)));
    assert_eq!(vgic.frame_at(GICD_IPA + 0x1_0000), None);
}

#[test]
fn gicv3_waker_handshake() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 1);
    assert_eq!(
        read(&mut vgic, 0, gicr(0), 0x14, 4),
        0b110,
        "asleep out of reset"
    );
    write(&mut rig, &mut vgic, 0, gicr(0), 0x14, 4, 0);
    assert_eq!(read(&mut vgic, 0, gicr(0), 0x14, 4), 0);
    write(&mut rig, &mut vgic, 0, gicr(0), 0x14, 4, 0b010);
    assert_eq!(
        read(&mut vgic, 0, gicr(0), 0x14, 4),
        0b110,
        "ChildrenAsleep follows"
    );
}

#[test]
fn gicv3_distributor_registers_read_back() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 2);
    linux_v3_init(&mut rig, &mut vgic);
    assert_eq!(read(&mut vgic, 0, D, 0x0, 4), 1 << 6 | 1 << 4 | 0b11);
    assert_eq!(read(&mut vgic, 0, D, 0x84, 4), 0xffff_ffff, "IGROUPR1");
    assert_eq!(
        read(&mut vgic, 0, D, 0x80, 4),
        0,
        "IGROUPR0 is RAZ with ARE"
    );
    // Priorities: word and byte, five bits implemented.
    assert_eq!(read(&mut vgic, 0, D, 0x420, 4), 0xa0a0_a0a0);
    write(&mut rig, &mut vgic, 0, D, 0x421, 1, 0xff);
    assert_eq!(read(&mut vgic, 0, D, 0x421, 1), 0xf8);
    assert_eq!(read(&mut vgic, 0, D, 0x420, 4), 0xa0a0_f8a0);
    assert_eq!(
        read(&mut vgic, 0, D, 0x400, 4),
        0,
        "private priorities live in the GICR"
    );
    // ICFGR: Linux's gic_configure_irq checks that an edge setting sticks.
    write(&mut rig, &mut vgic, 0, D, 0xc08, 4, 0b10 << 2);
    assert_eq!(read(&mut vgic, 0, D, 0xc08, 4), 0b10 << 2, "INTID 33 edge");
    write(&mut rig, &mut vgic, 0, D, 0xc08, 4, 0xffff_ffff);
    assert_eq!(
        read(&mut vgic, 0, D, 0xc08, 4),
        0xaaaa_aaaa,
        "Int_config[0] is RES0"
    );
    assert_eq!(read(&mut vgic, 0, D, 0xc00, 4), 0);
    // Enables.
    write(&mut rig, &mut vgic, 0, D, 0x104, 4, 0b101);
    assert_eq!(read(&mut vgic, 0, D, 0x104, 4), 0b101);
    assert_eq!(read(&mut vgic, 0, D, 0x184, 4), 0b101);
    write(&mut rig, &mut vgic, 0, D, 0x184, 4, 0b001);
    assert_eq!(read(&mut vgic, 0, D, 0x104, 4), 0b100);
    // IROUTER: 64-bit and 32-bit halves; Aff3 is RAZ/WI.
    write(
        &mut rig,
        &mut vgic,
        0,
        D,
        0x6000 + 40 * 8,
        8,
        0xff_0000_0001,
    );
    assert_eq!(read(&mut vgic, 0, D, 0x6000 + 40 * 8, 8), 1);
    write(&mut rig, &mut vgic, 0, D, 0x6000 + 41 * 8, 4, 1 << 31);
    assert_eq!(read(&mut vgic, 0, D, 0x6000 + 41 * 8, 8), 1 << 31, "IRM");
    assert_eq!(read(&mut vgic, 0, D, 0x6000 + 41 * 8 + 4, 4), 0);
    assert_eq!(
        read(&mut vgic, 0, D, 0x6000 + 8 * 8, 8),
        0,
        "no IROUTER for PPIs"
    );
    // Beyond the implemented lines: RAZ/WI.
    write(&mut rig, &mut vgic, 0, D, 0x100 + 4 * 5, 4, 0xffff_ffff);
    assert_eq!(read(&mut vgic, 0, D, 0x100 + 4 * 5, 4), 0);
}

#[test]
fn gicv3_sgi_frame_registers() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 2);
    linux_v3_init(&mut rig, &mut vgic);
    let f = gicr(1);
    assert_eq!(
        read(&mut vgic, 0, f, SGI + 0x80, 4),
        0xffff_ffff,
        "IGROUPR0"
    );
    assert_eq!(
        read(&mut vgic, 0, f, SGI + 0x100, 4),
        0xffff | 1 << 27,
        "ISENABLER0"
    );
    assert_eq!(
        read(&mut vgic, 0, f, SGI + 0xc00, 4),
        0xaaaa_aaaa,
        "SGIs are edge"
    );
    write(&mut rig, &mut vgic, 0, f, SGI + 0xc00, 4, 0);
    assert_eq!(
        read(&mut vgic, 0, f, SGI + 0xc00, 4),
        0xaaaa_aaaa,
        "ICFGR0 is read-only"
    );
    write(&mut rig, &mut vgic, 0, f, SGI + 0xc04, 4, 0b10 << 22);
    assert_eq!(
        read(&mut vgic, 0, f, SGI + 0xc04, 4),
        0b10 << 22,
        "ICFGR1: PPI 27 edge"
    );
    write(&mut rig, &mut vgic, 0, f, SGI + 0x41b, 1, 0x80);
    assert_eq!(read(&mut vgic, 0, f, SGI + 0x418, 4), 0x80a0_a0a0);
    // vCPU 0's redistributor is separate.
    assert_eq!(read(&mut vgic, 0, gicr(0), SGI + 0x418, 4), 0xa0a0_a0a0);
    assert_eq!(read(&mut vgic, 0, f, SGI + 0xd00, 4), 0, "IGRPMODR0 RAZ");
}

#[test]
fn unsupported_widths_and_offsets_are_raz_wi() {
    for version in [Version::V3, Version::V2] {
        let (mut rig, mut vgic) = Rig::new(version, 2);
        // Every offset, every width, both directions: nothing panics.
        let frames: &[Frame] = if version == Version::V3 {
            &[D, gicr(0), gicr(1), gicr(7)]
        } else {
            &[D, gicr(0)]
        };
        for &frame in frames {
            for offset in (0..0x2_0000u64).step_by(2) {
                for size in [1u8, 2, 4, 8, 3] {
                    let _ = vgic.read(0, frame, offset, size);
                    vgic.write(1, frame, offset, size, 0x5a5a_5a5a_5a5a_5a5a, &mut rig.phys);
                }
            }
        }
        rig.sync_kicked(&mut vgic);
    }
    let (mut rig, mut vgic) = Rig::new(Version::V3, 1);
    write(&mut rig, &mut vgic, 0, D, 0x0, 8, 0b11);
    assert_eq!(read(&mut vgic, 0, D, 0x0, 8), 0, "64-bit CTLR access");
    assert_eq!(read(&mut vgic, 0, D, 0x0, 4) & 0b11, 0, "ignored");
    write(&mut rig, &mut vgic, 0, D, 0x420, 2, 0xffff);
    assert_eq!(
        read(&mut vgic, 0, D, 0x420, 4),
        0,
        "halfword priority write ignored"
    );
    write(&mut rig, &mut vgic, 0, D, 0x422, 4, 0xffff_ffff);
    assert_eq!(read(&mut vgic, 0, D, 0x420, 4), 0, "unaligned word ignored");
}

#[test]
fn sgis_reach_the_vcpus_the_target_list_names() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 2);
    linux_v3_init(&mut rig, &mut vgic);
    // vCPU 0 sends SGI 3 to vCPU 1 (TargetList bit 1) and SGI 4 to itself.
    assert_eq!(vgic.send_sgi_v3(0, 3 << 24 | 0b10, true), 1);
    assert_eq!(vgic.take_kicks(), 0b10);
    assert_eq!(vgic.send_sgi_v3(0, 4 << 24 | 0b01, true), 1);
    assert_eq!(vgic.take_kicks(), 0b01);
    let r1 = rig.sync(&mut vgic, 1);
    assert!(r1.pending);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.ack(1), Some((3, 0)));
    assert_eq!(rig.ack(0), Some((4, 0)));
    // Active while the guest handles it; gone once deactivated.
    rig.sync(&mut vgic, 1);
    assert_eq!(
        read(&mut vgic, 1, gicr(1), SGI + 0x300, 4),
        1 << 3,
        "ISACTIVER0"
    );
    rig.eoi(1, 3);
    rig.sync(&mut vgic, 1);
    assert_eq!(read(&mut vgic, 1, gicr(1), SGI + 0x300, 4), 0);
    assert_eq!(rig.valid(1), 0);
    // (The reads above, made without the fold the core does first, kicked
    // vCPU 1 for the register it held.)
    vgic.take_kicks();
    // IRM = 1: everyone but the sender.
    assert_eq!(vgic.send_sgi_v3(1, 1 << 40 | 5 << 24, true), 1);
    assert_eq!(vgic.take_kicks(), 0b01);
    // A Group 0 request (ICC_SGI0R_EL1) does not pend a Group 1 SGI.
    assert_eq!(vgic.send_sgi_v3(0, 6 << 24 | 0b10, false), 0);
    write(
        &mut rig,
        &mut vgic,
        0,
        gicr(1),
        SGI + 0x80,
        4,
        0xffff_ffff & !(1 << 6),
    );
    assert_eq!(vgic.send_sgi_v3(0, 6 << 24 | 0b10, false), 1);
}

#[test]
fn more_pending_spis_than_list_registers_arrive_in_priority_order() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 2);
    linux_v3_init(&mut rig, &mut vgic);
    // Eight SPIs, scrambled priorities, all pended while the guest has
    // interrupts masked (nothing acknowledged).
    let priorities = [0x60u8, 0x20, 0x80, 0x10, 0x70, 0x30, 0x50, 0x40];
    for (i, &p) in priorities.iter().enumerate() {
        let intid = 64 + i as u64;
        write(&mut rig, &mut vgic, 0, D, 0x400 + intid, 1, u64::from(p));
        write(
            &mut rig,
            &mut vgic,
            0,
            D,
            0x100 + intid / 32 * 4,
            4,
            1 << (intid % 32),
        );
    }
    for i in 0..8u64 {
        let intid = 64 + i;
        write(
            &mut rig,
            &mut vgic,
            0,
            D,
            0x200 + intid / 32 * 4,
            4,
            1 << (intid % 32),
        );
        assert_eq!(
            read(&mut vgic, 0, D, 0x200 + 8, 4) & 1 << (intid % 32),
            1 << (intid % 32)
        );
        // The core syncs the accessing vCPU after each access.
        rig.sync(&mut vgic, 0);
    }
    let first = rig.sync(&mut vgic, 0);
    assert!(
        first.overflow,
        "8 pending, 4 registers: underflow maintenance wanted"
    );
    let placed: Vec<u8> = rig.entries(0).iter().map(|e| e.priority).collect();
    assert_eq!(placed, [0x10, 0x20, 0x30, 0x40], "the four most urgent");
    // The guest takes them one by one; the core syncs on each underflow
    // maintenance interrupt (at most one valid register left).
    let mut order = Vec::new();
    let mut overflow = first.overflow;
    while let Some((intid, _)) = rig.ack(0) {
        order.push(intid);
        rig.eoi(0, intid);
        if overflow && rig.valid(0) <= 1 {
            overflow = rig.sync(&mut vgic, 0).overflow;
        }
    }
    let got: Vec<u8> = order
        .iter()
        .map(|&i| priorities[(i - 64) as usize])
        .collect();
    assert_eq!(got, [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80]);
    let final_sync = rig.sync(&mut vgic, 0);
    assert!(!final_sync.overflow && !final_sync.pending);
    assert_eq!(read(&mut vgic, 0, D, 0x208, 4), 0, "nothing left pending");
}

#[test]
fn enable_gates_delivery_and_icpendr_withdraws() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 1);
    linux_v3_init(&mut rig, &mut vgic);
    let bit = 1u64 << (40 % 32);
    write(&mut rig, &mut vgic, 0, D, 0x204, 4, bit);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 0, "disabled: not delivered");
    assert_eq!(read(&mut vgic, 0, D, 0x204, 4), bit, "but pending");
    write(&mut rig, &mut vgic, 0, D, 0x104, 4, bit);
    assert_eq!(vgic.take_kicks(), 1);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.ack(0), Some((40, 0)), "enabled: delivered");
    rig.eoi(0, 40);
    rig.sync(&mut vgic, 0);
    // Pending while disabled, then cleared: never delivered.
    write(&mut rig, &mut vgic, 0, D, 0x184, 4, bit);
    write(&mut rig, &mut vgic, 0, D, 0x204, 4, bit);
    write(&mut rig, &mut vgic, 0, D, 0x284, 4, bit);
    write(&mut rig, &mut vgic, 0, D, 0x104, 4, bit);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 0);
    // Disabling a delivered but unacknowledged interrupt withdraws it.
    write(&mut rig, &mut vgic, 0, D, 0x204, 4, bit);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 1);
    write(&mut rig, &mut vgic, 0, D, 0x184, 4, bit);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 0);
    assert_eq!(read(&mut vgic, 0, D, 0x204, 4), bit, "still pending");
    // Group disabled at the distributor: not forwarded either.
    write(&mut rig, &mut vgic, 0, D, 0x104, 4, bit);
    write(&mut rig, &mut vgic, 0, D, 0x0, 4, 1);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 0);
    write(&mut rig, &mut vgic, 0, D, 0x0, 4, 0b11);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 1);
}

#[test]
fn active_state_follows_the_guest_and_register_writes() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 2);
    linux_v3_init(&mut rig, &mut vgic);
    let bit = 1u64 << 1;
    write(&mut rig, &mut vgic, 0, D, 0x104, 4, bit);
    write(&mut rig, &mut vgic, 0, D, 0x204, 4, bit);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.ack(0), Some((33, 0)));
    // The guest's own read folds its registers first (the core does).
    rig.sync(&mut vgic, 0);
    assert_eq!(read(&mut vgic, 0, D, 0x304, 4), bit, "active while handled");
    assert_eq!(read(&mut vgic, 0, D, 0x204, 4), 0, "no longer pending");
    // Pending again while active: both states in one register.
    write(&mut rig, &mut vgic, 0, D, 0x204, 4, bit);
    rig.sync(&mut vgic, 0);
    assert_eq!(
        rig.entries(0).first().map(|e| (e.pending, e.active)),
        Some((true, true))
    );
    // vCPU 1 reads it while vCPU 0's register holds it: what vCPU 0 last
    // reported, and vCPU 0 is asked to report again.
    assert_eq!(read(&mut vgic, 1, D, 0x304, 4), bit);
    assert_eq!(vgic.take_kicks(), 1);
    // vCPU 1 clears the active state while vCPU 0's register holds it: the
    // write wins over what the register says at fold-back.
    write(&mut rig, &mut vgic, 1, D, 0x384, 4, bit);
    assert_ne!(vgic.take_kicks() & 1, 0, "the holder is told");
    rig.sync(&mut vgic, 0);
    assert_eq!(read(&mut vgic, 0, D, 0x304, 4), 0);
    assert_eq!(
        rig.entries(0).first().map(|e| (e.pending, e.active)),
        Some((true, false))
    );
    // ISACTIVER activates an idle interrupt (it then waits for an EOI).
    write(&mut rig, &mut vgic, 0, D, 0x304, 4, 1 << 2);
    rig.sync(&mut vgic, 0);
    assert!(rig.entries(0).iter().any(|e| e.vintid == 34 && e.active));
}

#[test]
fn level_interrupts_are_resampled_at_deactivation() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 1);
    linux_v3_init(&mut rig, &mut vgic);
    write(&mut rig, &mut vgic, 0, D, 0x104, 4, 1 << 16); // INTID 48
    assert!(vgic.set_line(0, 48, true));
    assert_eq!(vgic.take_kicks(), 1);
    rig.sync(&mut vgic, 0);
    let e = rig.entries(0)[0];
    assert!(
        e.pending && e.eoi_maintenance,
        "level: EOI maintenance asked for"
    );
    assert_eq!(rig.ack(0), Some((48, 0)));
    // The guest deactivates while the device still asserts the line: the
    // EOI maintenance interrupt makes the core sync, and it is pending again.
    rig.eoi(0, 48);
    rig.sync(&mut vgic, 0);
    assert!(rig.entries(0).iter().any(|e| e.vintid == 48 && e.pending));
    // The device lowers the line before the guest takes it: withdrawn.
    assert!(!vgic.set_line(0, 48, false));
    assert_eq!(vgic.take_kicks(), 1);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 0);
    // Raised and lowered while the guest handles it: active only, no EOI
    // maintenance needed once the line is low.
    vgic.set_line(0, 48, true);
    rig.sync(&mut vgic, 0);
    rig.ack(0);
    vgic.set_line(0, 48, false);
    rig.sync(&mut vgic, 0);
    let e = rig.entries(0)[0];
    assert!(e.active && !e.pending && !e.eoi_maintenance);
    rig.eoi(0, 48);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 0);
    // A software pend of a level interrupt is consumed by the acknowledge.
    write(&mut rig, &mut vgic, 0, D, 0x204, 4, 1 << 16);
    rig.sync(&mut vgic, 0);
    rig.ack(0);
    rig.sync(&mut vgic, 0);
    assert_eq!(read(&mut vgic, 0, D, 0x204, 4), 0);
}

#[test]
fn edges_latch_and_coalesce() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 1);
    linux_v3_init(&mut rig, &mut vgic);
    write(&mut rig, &mut vgic, 0, D, 0xc0c, 4, 0b10); // INTID 48 edge
    write(&mut rig, &mut vgic, 0, D, 0x104, 4, 1 << 16);
    assert!(vgic.set_line(0, 48, true));
    assert!(!vgic.set_line(0, 48, false), "falling edge: nothing new");
    assert!(
        !vgic.set_line(0, 48, true),
        "second edge while pending coalesces"
    );
    vgic.set_line(0, 48, false);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.ack(0), Some((48, 0)));
    rig.sync(&mut vgic, 0);
    assert!(vgic.set_line(0, 48, true), "an edge while active is new");
    rig.sync(&mut vgic, 0);
    assert_eq!(
        rig.entries(0).first().map(|e| (e.pending, e.active)),
        Some((true, true))
    );
    rig.eoi(0, 48);
    assert_eq!(rig.ack(0), Some((48, 0)));
    rig.eoi(0, 48);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 0);
}

#[test]
fn doorbells_and_routing_follow_irouter() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 2);
    linux_v3_init(&mut rig, &mut vgic);
    write(&mut rig, &mut vgic, 0, D, 0x104, 4, 1 << 1); // INTID 33
    write(&mut rig, &mut vgic, 0, D, 0x6000 + 33 * 8, 8, 1); // to vCPU 1
    assert!(vgic.pend(0, 33));
    assert_eq!(vgic.take_kicks(), 0b10);
    rig.sync(&mut vgic, 1);
    assert_eq!(rig.ack(1), Some((33, 0)));
    // Re-routed while vCPU 1 handles it: it stays with vCPU 1 until done.
    write(&mut rig, &mut vgic, 0, D, 0x6000 + 33 * 8, 8, 0);
    rig.sync_kicked(&mut vgic);
    assert!(vgic.pend(0, 33));
    rig.sync_kicked(&mut vgic);
    assert!(rig.entries(1).iter().any(|e| e.vintid == 33 && e.active));
    assert_eq!(rig.valid(0), 0, "not in two vCPUs at once");
    rig.eoi(1, 33);
    rig.sync(&mut vgic, 1);
    rig.sync_kicked(&mut vgic);
    assert_eq!(
        rig.ack(0),
        Some((33, 0)),
        "then its new target gets the new one"
    );
    // An affinity no vCPU has: not delivered.
    write(&mut rig, &mut vgic, 0, D, 0x6000 + 34 * 8, 8, 0x100);
    write(&mut rig, &mut vgic, 0, D, 0x104, 4, 1 << 2);
    vgic.pend(0, 34);
    rig.sync_kicked(&mut vgic);
    assert!(!rig
        .entries(0)
        .iter()
        .chain(rig.entries(1).iter())
        .any(|e| e.vintid == 34));
    // IRM = 1: a participating (awake) vCPU.
    write(&mut rig, &mut vgic, 0, D, 0x6000 + 34 * 8, 8, 1 << 31);
    rig.sync_kicked(&mut vgic);
    assert!(rig.entries(0).iter().any(|e| e.vintid == 34 && e.pending));
}

#[test]
fn vcpus_off_keep_their_interrupts_pending() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 2);
    linux_v3_init(&mut rig, &mut vgic);
    vgic.send_sgi_v3(0, 2 << 24 | 0b10, true);
    rig.sync_kicked(&mut vgic);
    assert_eq!(rig.valid(1), 1);
    // vCPU 1 goes off: the core folds its registers; nothing is placed.
    vgic.vcpu_stopped(1);
    let off = rig.sync(&mut vgic, 1);
    assert!(!off.pending);
    assert_eq!(rig.valid(1), 0);
    assert_eq!(
        read(&mut vgic, 0, gicr(1), SGI + 0x200, 4),
        1 << 2,
        "still pending"
    );
    // Back on with a fresh CPU interface (registers lost): delivered.
    rig.lrs[1] = [0; LRS];
    vgic.vcpu_started(1, &mut rig.phys);
    rig.sync_kicked(&mut vgic);
    assert_eq!(rig.ack(1), Some((2, 0)));
}

#[test]
fn a_reset_cpu_interface_loses_nothing_pending() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 1);
    linux_v3_init(&mut rig, &mut vgic);
    vgic.send_sgi_v3(0, 2 << 24 | 1, true);
    vgic.send_sgi_v3(0, 3 << 24 | 1, true);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.ack(0), Some((2, 0)));
    // CPU_OFF (the core folds), then CPU_ON with a fresh CPU interface.
    vgic.vcpu_stopped(0);
    rig.sync(&mut vgic, 0);
    vgic.vcpu_started(0, &mut rig.phys);
    rig.sync_kicked(&mut vgic);
    let entries = rig.entries(0);
    assert_eq!(entries.len(), 1, "the acknowledged one died with the CPU");
    assert!(entries[0].pending && !entries[0].active && entries[0].vintid == 3);
    // Registers lost without a fold: what was placed pending is pending.
    rig.lrs[0] = [0; LRS];
    vgic.vcpu_started(0, &mut rig.phys);
    rig.sync_kicked(&mut vgic);
    assert_eq!(rig.ack(0), Some((3, 0)));
}

#[test]
fn gicv3_timer_ppi_is_linked_to_the_physical_one() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 1);
    vgic.link_physical_ppi(27);
    linux_v3_init(&mut rig, &mut vgic);
    // The core took the physical PPI and holds it active for the guest.
    vgic.pend(0, 27);
    let r = rig.sync(&mut vgic, 0);
    assert!(r.pending && !r.private_hw_held);
    let e = rig.entries(0)[0];
    assert!(e.hw && e.pending && e.vintid == 27, "HW bit, pINTID 27");
    assert_eq!(rig.ack(0), Some((27, 0)));
    rig.eoi(0, 27); // deactivates the physical one through the HW bit
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 0);
    assert!(rig.phys.deactivated.is_empty());
    // Disabled: it waits in the model with the physical one held.
    write(&mut rig, &mut vgic, 0, gicr(0), SGI + 0x180, 4, 1 << 27);
    vgic.pend(0, 27);
    let r = rig.sync(&mut vgic, 0);
    assert!(r.private_hw_held && !r.pending);
    // The guest clears it: the core deactivates the physical PPI.
    write(&mut rig, &mut vgic, 0, gicr(0), SGI + 0x280, 4, 1 << 27);
    let r = rig.sync(&mut vgic, 0);
    assert!(!r.private_hw_held);
    assert_eq!(rig.phys.deactivated, [(0, 27)]);
}

#[test]
fn passed_through_spis_drive_the_physical_distributor() {
    let (mut rig, mut vgic) = Rig::new(Version::V3, 2);
    assert!(vgic.link_physical_spi(40, &mut rig.phys));
    assert!(
        !vgic.link_physical_spi(400, &mut rig.phys),
        "beyond the lines"
    );
    assert!(!vgic.link_physical_spi(27, &mut rig.phys), "not an SPI");
    assert_eq!(rig.phys.enabled, [(40, false)]);
    linux_v3_init(&mut rig, &mut vgic);
    rig.phys = FakePhysical::default();
    write(&mut rig, &mut vgic, 0, D, 0x6000 + 40 * 8, 8, 1);
    assert_eq!(rig.phys.routes, [(40, 1)]);
    write(&mut rig, &mut vgic, 0, D, 0xc08, 4, 0b10 << 16);
    assert_eq!(rig.phys.edges, [(40, true)]);
    write(&mut rig, &mut vgic, 0, D, 0x104, 4, 1 << 8);
    assert_eq!(rig.phys.enabled, [(40, true)]);
    // The physical SPI fired: the core took it and pends the virtual one.
    vgic.pend(0, 40);
    rig.sync_kicked(&mut vgic);
    let e = rig.entries(1)[0];
    assert!(e.hw && e.pending && e.vintid == 40);
    rig.ack(1);
    rig.eoi(1, 40);
    rig.sync(&mut vgic, 1);
    assert!(rig.phys.deactivated.is_empty(), "the guest's EOI did it");
    // Fired while disabled, then cleared by the guest: the core deactivates.
    write(&mut rig, &mut vgic, 0, D, 0x184, 4, 1 << 8);
    assert_eq!(rig.phys.enabled.last(), Some(&(40, false)));
    vgic.pend(0, 40);
    rig.sync_kicked(&mut vgic);
    write(&mut rig, &mut vgic, 0, D, 0x284, 4, 1 << 8);
    rig.sync_kicked(&mut vgic);
    assert_eq!(rig.phys.deactivated, [(usize::from(NO_VCPU), 40)]);
    // A restart disables it again.
    vgic.reset(&mut rig.phys);
    assert_eq!(rig.phys.enabled.last(), Some(&(40, false)));
}

// ------------------------------------------------------------------ GICv2

/// Linux 6.1 irq-gic.c: gic_dist_init and gic_cpu_init for each vCPU.
fn linux_v2_init(rig: &mut Rig, vgic: &mut Vgic<'_>) {
    write(rig, vgic, 0, D, 0x0, 4, 0);
    let mut mask = 0;
    for i in (0..32).step_by(4) {
        let m = read(vgic, 0, D, 0x800 + i, 4);
        mask = (m | m >> 16 | m >> 8) & 0xff;
        if mask != 0 {
            break;
        }
    }
    assert_eq!(mask, 1, "vCPU 0's CPU interface mask");
    let lines = u64::from(vgic.lines());
    let targets = mask * 0x0101_0101;
    for i in (32..lines).step_by(4) {
        write(rig, vgic, 0, D, 0x800 + i, 4, targets);
    }
    for i in (32..lines).step_by(16) {
        write(rig, vgic, 0, D, 0xc00 + i / 4, 4, 0);
    }
    for i in (32..lines).step_by(4) {
        write(rig, vgic, 0, D, 0x400 + i, 4, 0xa0a0_a0a0);
    }
    for i in (32..lines).step_by(32) {
        write(rig, vgic, 0, D, 0x380 + i / 8, 4, 0xffff_ffff);
        write(rig, vgic, 0, D, 0x180 + i / 8, 4, 0xffff_ffff);
    }
    write(rig, vgic, 0, D, 0x0, 4, 1);
    for v in 0..rig.vcpus {
        write(rig, vgic, v, D, 0x380, 4, 0xffff_ffff);
        write(rig, vgic, v, D, 0x180, 4, 0xffff_ffff);
        for i in (0..32).step_by(4) {
            write(rig, vgic, v, D, 0x400 + i, 4, 0xa0a0_a0a0);
        }
        write(rig, vgic, v, D, 0x100, 4, 0xffff);
    }
    rig.sync_kicked(vgic);
}

#[test]
fn gicv2_distributor_registers() {
    let (mut rig, mut vgic) = Rig::new(Version::V2, 2);
    linux_v2_init(&mut rig, &mut vgic);
    let typer = read(&mut vgic, 0, D, 0x4, 4);
    assert_eq!(typer & 0x1f, u64::from(vgic.lines() / 32 - 1));
    assert_eq!((typer >> 5) & 0x7, 1, "CPUNumber: two CPU interfaces");
    assert_eq!(typer & 1 << 10, 0, "no Security Extensions");
    assert_eq!(read(&mut vgic, 0, D, 0x0, 4), 1);
    assert_eq!(
        read(&mut vgic, 1, D, 0x800, 4),
        0x0202_0202,
        "vCPU 1's banked mask"
    );
    assert_eq!(read(&mut vgic, 1, D, 0x81c, 1), 0x02);
    // Byte write of an SPI's target (gic_set_affinity in 6.1 uses writeb).
    write(&mut rig, &mut vgic, 0, D, 0x800 + 33, 1, 0x02);
    assert_eq!(read(&mut vgic, 0, D, 0x820, 4), 0x0101_0201);
    write(&mut rig, &mut vgic, 0, D, 0x800, 4, 0xffff_ffff);
    assert_eq!(
        read(&mut vgic, 0, D, 0x800, 4),
        0x0101_0101,
        "banked bytes are read-only"
    );
    // Banked SGI/PPI enables.
    assert_eq!(read(&mut vgic, 0, D, 0x100, 4), 0xffff);
    write(&mut rig, &mut vgic, 1, D, 0x180, 4, 0x1);
    assert_eq!(read(&mut vgic, 1, D, 0x100, 4), 0xfffe);
    assert_eq!(read(&mut vgic, 0, D, 0x100, 4), 0xffff);
    assert_eq!(
        read(&mut vgic, 0, D, 0xc00, 4),
        0xaaaa_aaaa,
        "SGIs edge, read-only"
    );
    assert_eq!(read(&mut vgic, 0, D, 0x80, 4), 0, "Group 0 out of reset");
    assert_eq!(read(&mut vgic, 0, D, 0xfe8, 4) & 0xf0, 0x20, "ArchRev 2");
}

#[test]
fn gicv2_sgis_carry_their_source_one_at_a_time() {
    let (mut rig, mut vgic) = Rig::new(Version::V2, 3);
    linux_v2_init(&mut rig, &mut vgic);
    // vCPUs 1 and 2 both send SGI 5 to vCPU 0 (target list filter).
    write(&mut rig, &mut vgic, 1, D, 0xf00, 4, 0b001 << 16 | 5);
    write(&mut rig, &mut vgic, 2, D, 0xf00, 4, 0b001 << 16 | 5);
    assert_eq!(
        read(&mut vgic, 0, D, 0xf14, 4) >> 8 & 0xff,
        0b110,
        "SPENDSGIR1: SGI 5 from 1 and 2"
    );
    assert_eq!(read(&mut vgic, 0, D, 0x200, 4), 1 << 5, "ISPENDR0");
    rig.sync_kicked(&mut vgic);
    let e = rig.entries(0);
    assert_eq!(e.len(), 1, "one register per SGI");
    assert!(e[0].eoi_maintenance, "another source waits");
    assert_eq!(rig.ack(0), Some((5, 1)));
    rig.eoi(0, 5);
    // EOI maintenance: the core syncs and the next source comes.
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.ack(0), Some((5, 2)));
    rig.eoi(0, 5);
    rig.sync(&mut vgic, 0);
    assert_eq!(rig.valid(0), 0);
    // "All but self" and "self".
    write(&mut rig, &mut vgic, 0, D, 0xf00, 4, 1 << 24 | 7);
    assert_eq!(vgic.take_kicks(), 0b110);
    write(&mut rig, &mut vgic, 0, D, 0xf00, 4, 2 << 24 | 8);
    assert_eq!(vgic.take_kicks(), 0b001);
    // CPENDSGIR clears a source; ISPENDR cannot set an SGI.
    write(&mut rig, &mut vgic, 0, D, 0xf18, 1, 0b1);
    assert_eq!(read(&mut vgic, 0, D, 0xf28, 1), 0);
    write(&mut rig, &mut vgic, 0, D, 0x200, 4, 1 << 9);
    assert_eq!(read(&mut vgic, 0, D, 0x200, 4) & 1 << 9, 0);
    write(&mut rig, &mut vgic, 0, D, 0xf28, 4, 0b100 << 8);
    assert_eq!(
        read(&mut vgic, 0, D, 0x200, 4) & 1 << 9,
        1 << 9,
        "SPENDSGIR sets it"
    );
}

#[test]
fn gicv2_spis_go_to_the_lowest_targeted_cpu_interface() {
    let (mut rig, mut vgic) = Rig::new(Version::V2, 2);
    linux_v2_init(&mut rig, &mut vgic);
    write(&mut rig, &mut vgic, 0, D, 0x100 + 4, 4, 1 << 4); // INTID 36
    write(&mut rig, &mut vgic, 0, D, 0x800 + 36, 1, 0b10);
    write(&mut rig, &mut vgic, 0, D, 0x204, 4, 1 << 4);
    rig.sync_kicked(&mut vgic);
    let e = rig.entries(1);
    assert_eq!(e.len(), 1);
    assert!(!e[0].group1, "Group 0 out of reset, as Linux leaves it");
    write(&mut rig, &mut vgic, 0, D, 0x800 + 36, 1, 0);
    rig.sync_kicked(&mut vgic);
    assert_eq!(rig.valid(1) + rig.valid(0), 0, "no target: held");
}

#[test]
fn spi_storage_covers_the_highest_intid() {
    assert_eq!(spis_for(0), 64);
    assert_eq!(spis_for(33), 64);
    assert_eq!(spis_for(96), 96);
    assert_eq!(spis_for(153), 128);
    assert_eq!(spis_for(1019), 988);
    assert_eq!(spis_for(u32::MAX), 988);
    let storage: &'static mut [Irq] = vec![Irq::IDLE; 2000].leak();
    let mut vgic = Vgic::new(Version::V2, 20, storage);
    assert_eq!(vgic.lines(), 1024, "ITLinesNumber 31");
    assert_eq!(vgic.vcpus(), MAX_VCPUS);
    assert_eq!(vgic.read(0, D, 0x4, 4) & 0x1f, 31);
    let storage: &'static mut [Irq] = vec![Irq::IDLE; 100].leak();
    let vgic = Vgic::new(Version::V3, 1, storage);
    assert_eq!(vgic.lines(), 160, "a partial register counts whole");
}
