//! The virtual GIC of a partition, as pure state and logic: the virtual
//! distributor (SPIs), each vCPU's redistributor (SGIs, PPIs), the register
//! emulation a guest reaches through its GICD/GICR frames (GICv3, IHI 0069H
//! §12.9-12.10) or GICD frame (GICv2, IHI 0048B §4.3), SGI routing, and the
//! mapping of all that onto the list registers of the virtual CPU interface.
//! GICv3 and GICv2 share one model; only the register maps and list-register
//! encodings differ. The core applies its decisions to the hardware
//! (kernel/src/vgic.rs); nothing here touches hardware.
//!
//! How delivery works (the KVM scheme, with the list registers as a cache of
//! the model):
//! - Every source — a physical interrupt the core took, a device line, a
//!   doorbell, an SGI, a guest's GICD_ISPENDR write — changes the model and
//!   records which vCPUs must look again (`take_kicks`).
//! - A vCPU's list registers are synchronised on its home CPU: `fold` merges
//!   what the guest did with them (acknowledged, deactivated) back into the
//!   model, `rebuild` refills them with the highest-priority deliverable
//!   interrupts (active ones first, as they must stay where the guest can
//!   deactivate them).
//! - More deliverable interrupts than list registers: `rebuild` says so and
//!   the core sets the underflow maintenance interrupt; when the guest has
//!   drained the registers the core syncs again.
//! - Level-sensitive software interrupts are placed with the EOI bit, so the
//!   guest's deactivation raises a maintenance interrupt and the line is
//!   sampled again (it may still be high).

mod bitmap;
mod delivery;
mod gicv2;
mod gicv3;
mod irq;
pub mod lr;
mod registers;
pub mod sgi;

#[cfg(test)]
mod tests;

pub use delivery::Rebuilt;
pub use irq::Irq;
use irq::NO_VCPU;

/// Most vCPUs of a partition (GICv2 has eight CPU interfaces).
pub const MAX_VCPUS: usize = crate::manifest::MAX_VCPUS_PER_PARTITION;
/// Most list registers the model fills (ICH_VTR_EL2.ListRegs allows 16).
pub const MAX_LRS: usize = 16;
/// SGIs and PPIs: the interrupts private to each vCPU.
pub const PRIVATE_INTIDS: u32 = 32;
/// INTIDs 1020..=1023 are special (IHI 0069H §2.2.1): SPIs end below.
pub const FIRST_SPECIAL_INTID: u32 = 1020;
/// Most SPIs: INTIDs 32..=1019.
pub const MAX_SPIS: usize = (FIRST_SPECIAL_INTID - PRIVATE_INTIDS) as usize;
/// Priority bits implemented: five, as QEMU's and the GIC-400's virtual CPU
/// interfaces have (GICH_LR keeps five); lower bits are RAZ/WI.
pub const PRIORITY_MASK: u8 = 0xf8;
/// The lowest number of SPIs a partition's distributor implements, so that a
/// guest has some to use even when its configuration names none.
pub const MIN_SPIS: u32 = 64;

/// A set of vCPUs of one partition, bit `i` for vCPU `i`.
pub type VcpuMask = u32;
const _: () = assert!(MAX_VCPUS <= VcpuMask::BITS as usize && MAX_VCPUS < NO_VCPU as usize);

/// Where a partition finds its virtual GIC frames (the same as QEMU `virt`;
/// tools/config's `guest_map` describes them in the guest's device tree).
pub mod guest_map {
    /// The distributor (GICD), GICv3 and GICv2.
    pub const GICD_IPA: u64 = 0x0800_0000;
    /// GICv3 distributor frame size.
    pub const GICD_V3_SIZE: u64 = 0x1_0000;
    /// GICv2 distributor frame size.
    pub const GICD_V2_SIZE: u64 = 0x1000;
    /// First GICv3 redistributor; vCPU `i`'s is `i * GICR_STRIDE` above it.
    pub const GICR_IPA: u64 = 0x080A_0000;
    /// One redistributor: RD_base and SGI_base frames, 64 KiB each.
    pub const GICR_STRIDE: u64 = 0x2_0000;
}

/// GIC architecture version the partition sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// GICv2: memory-mapped CPU interface, GICD with banked SGI/PPI registers.
    V2,
    /// GICv3: system-register CPU interface, affinity routing, one GICR per vCPU.
    V3,
}

/// A register frame of the virtual GIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The distributor.
    Distributor,
    /// The redistributor (RD_base and SGI_base) of vCPU `n` (GICv3).
    Redistributor(usize),
}

/// What the model asks of the physical GIC for interrupts linked to
/// physical ones (HW). The core implements it; the host tests record it.
pub trait Physical {
    /// Enables or disables a passed-through SPI at the physical distributor
    /// (the guest enabled or disabled its virtual twin).
    fn set_enabled(&mut self, intid: u32, enabled: bool);
    /// Routes a passed-through SPI to the physical CPU of vCPU `vcpu`.
    fn route(&mut self, intid: u32, vcpu: usize);
    /// Sets a passed-through SPI's trigger mode.
    fn set_edge(&mut self, intid: u32, edge: bool);
    /// Deactivates the physical interrupt behind HW interrupt `intid`, which
    /// the guest will no longer deactivate itself. For a PPI, this is only
    /// asked from `rebuild` of vCPU `vcpu`, on its home CPU.
    fn deactivate(&mut self, vcpu: usize, intid: u32);
}

/// The per-vCPU part of the model.
#[derive(Clone, Copy, Debug)]
struct VcpuIrqs {
    /// SGIs 0..=15, PPIs 16..=31.
    private: [Irq; PRIVATE_INTIDS as usize],
    /// Bit per SGI/PPI that may be busy (see `Irq::busy`): `rebuild` looks
    /// only at these.
    busy: u32,
    /// What each list register was last filled with.
    lr_map: [Option<LrSlot>; MAX_LRS],
    /// GICR_WAKER.ProcessorSleep.
    asleep: bool,
    /// Powered on: only then does `rebuild` fill its list registers.
    online: bool,
}

/// The interrupt a list register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LrSlot {
    intid: u32,
    /// GICv2 SGI source.
    source: u8,
}

/// The virtual GIC of one partition. The SPI storage is lent by the caller
/// (`lines - 32` of them), so that the model needs no allocator.
#[derive(Debug)]
pub struct Vgic<'s> {
    version: Version,
    vcpus: usize,
    /// Lines reported, a multiple of 32: GICD_TYPER.ITLinesNumber + 1 = lines / 32.
    lines: u32,
    /// GICD_CTLR.EnableGrp0.
    enable_group0: bool,
    /// GICD_CTLR.EnableGrp1 (EnableGrp1A for GICv3).
    enable_group1: bool,
    cpus: [VcpuIrqs; MAX_VCPUS],
    spis: &'s mut [Irq],
    /// Bit per SPI that may be busy (see `Irq::busy`): `rebuild` looks only
    /// at these.
    busy_spis: bitmap::SpiSet,
    /// vCPUs whose list registers must be synchronised with the model.
    kicks: VcpuMask,
}

/// How many SPIs a partition's distributor needs to implement every INTID
/// up to `highest` (and at least [`MIN_SPIS`]): whole registers of 32, at
/// most [`MAX_SPIS`]. The kernel lends that many [`Irq`]s to [`Vgic::new`].
pub fn spis_for(highest: u32) -> usize {
    let wanted = highest
        .saturating_add(1)
        .saturating_sub(PRIVATE_INTIDS)
        .max(MIN_SPIS);
    let rounded = wanted.div_ceil(32).saturating_mul(32) as usize;
    rounded.min(MAX_SPIS)
}

impl<'s> Vgic<'s> {
    /// A distributor for `vcpus` vCPUs (at most [`MAX_VCPUS`]) whose SPIs
    /// live in `spis` (at most [`MAX_SPIS`] are used). GICD_TYPER reports
    /// whole registers of 32 lines; INTIDs without storage are RAZ/WI.
    /// Everything is in its reset state.
    pub fn new(version: Version, vcpus: usize, spis: &'s mut [Irq]) -> Self {
        let usable = spis.len().min(MAX_SPIS);
        let (spis, _) = spis.split_at_mut(usable);
        let idle = VcpuIrqs {
            private: [Irq::IDLE; PRIVATE_INTIDS as usize],
            busy: 0,
            lr_map: [None; MAX_LRS],
            asleep: true,
            online: false,
        };
        let mut vgic = Self {
            version,
            vcpus: vcpus.clamp(1, MAX_VCPUS),
            lines: (PRIVATE_INTIDS + usable as u32).div_ceil(32) * 32,
            enable_group0: false,
            enable_group1: false,
            cpus: [idle; MAX_VCPUS],
            spis,
            busy_spis: bitmap::SpiSet::new(),
            kicks: 0,
        };
        vgic.reset_state();
        vgic
    }

    /// The architecture version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Number of vCPUs.
    pub fn vcpus(&self) -> usize {
        self.vcpus
    }

    /// Interrupt lines GICD_TYPER reports (32 × (ITLinesNumber + 1)).
    pub fn lines(&self) -> u32 {
        self.lines
    }

    /// The reset state of every interrupt (IGROUPR resets to Group 1 for a
    /// GICv3 partition, whose guests use Group 1 only, and to Group 0 for
    /// GICv2, as KVM does); HW links are kept.
    fn reset_state(&mut self) {
        let group1 = self.version == Version::V3;
        self.enable_group0 = false;
        self.enable_group1 = false;
        for cpu in &mut self.cpus {
            for (intid, irq) in cpu.private.iter_mut().enumerate() {
                *irq = Irq {
                    group1,
                    // SGIs are always edge-triggered (ICFGR0 is read-only).
                    edge: intid < 16,
                    hw: irq.hw,
                    ..Irq::IDLE
                };
            }
            cpu.busy = 0;
            cpu.lr_map = [None; MAX_LRS];
            cpu.asleep = true;
            cpu.online = false;
        }
        for irq in self.spis.iter_mut() {
            *irq = Irq {
                group1,
                hw: irq.hw,
                ..Irq::IDLE
            };
        }
        self.busy_spis = bitmap::SpiSet::new();
        for index in 0..self.spis.len() {
            self.retarget_spi(index);
        }
        self.kicks = 0;
    }

    /// Back to the reset state (a partition restart). Physical interrupts
    /// held for the guest are deactivated and passed-through SPIs disabled;
    /// every vCPU is offline and its list registers are forgotten (the core
    /// clears them with its vCPU state).
    pub fn reset(&mut self, phys: &mut impl Physical) {
        for (index, irq) in self.spis.iter().enumerate() {
            if irq.hw {
                let intid = PRIVATE_INTIDS + index as u32;
                phys.set_enabled(intid, false);
                if irq.phys_held || irq.in_lr || irq.active {
                    phys.deactivate(NO_VCPU.into(), intid);
                }
            }
        }
        self.reset_state();
    }

    /// Links SPI `intid` to the physical interrupt with the same INTID (a
    /// passthrough). False if the partition's distributor has no such SPI.
    pub fn link_physical_spi(&mut self, intid: u32, phys: &mut impl Physical) -> bool {
        let Some(index) = intid.checked_sub(PRIVATE_INTIDS) else {
            return false;
        };
        let Some(irq) = self.spis.get_mut(index as usize) else {
            return false;
        };
        irq.hw = true;
        phys.set_enabled(intid, irq.enabled);
        phys.set_edge(intid, irq.edge);
        let target = usize::from(irq.target);
        if target < self.vcpus {
            phys.route(intid, target);
        }
        true
    }

    /// Links PPI `intid` of every vCPU to the physical PPI (the virtual timer).
    pub fn link_physical_ppi(&mut self, intid: u32) {
        if !(16..PRIVATE_INTIDS).contains(&intid) {
            return;
        }
        for cpu in &mut self.cpus {
            if let Some(irq) = cpu.private.get_mut(intid as usize) {
                irq.hw = true;
            }
        }
    }

    /// Interrupt `intid` as vCPU `bank` sees it (SGIs and PPIs are banked).
    fn irq(&self, bank: usize, intid: u32) -> Option<&Irq> {
        if intid < PRIVATE_INTIDS {
            if bank >= self.vcpus {
                return None;
            }
            self.cpus.get(bank)?.private.get(intid as usize)
        } else {
            self.spis.get((intid - PRIVATE_INTIDS) as usize)
        }
    }

    fn irq_mut(&mut self, bank: usize, intid: u32) -> Option<&mut Irq> {
        if intid < PRIVATE_INTIDS {
            if bank >= self.vcpus {
                return None;
            }
            self.cpus.get_mut(bank)?.private.get_mut(intid as usize)
        } else {
            self.spis.get_mut((intid - PRIVATE_INTIDS) as usize)
        }
    }

    /// Is `irq`'s group enabled at the distributor (GICD_CTLR)?
    fn group_enabled(&self, irq: &Irq) -> bool {
        if irq.group1 {
            self.enable_group1
        } else {
            self.enable_group0
        }
    }

    /// GICD_CTLR.EnableGrp0/EnableGrp1 (the same bits in both maps): every
    /// vCPU looks again when they change.
    fn set_group_enables(&mut self, group0: bool, group1: bool) {
        if (group0, group1) != (self.enable_group0, self.enable_group1) {
            self.enable_group0 = group0;
            self.enable_group1 = group1;
            self.kicks |= sgi::all_vcpus(self.vcpus);
        }
    }

    /// Pending, enabled and its group enabled: the distributor forwards it.
    fn deliverable(&self, irq: &Irq) -> bool {
        irq.pending() && irq.enabled && self.group_enabled(irq)
    }

    /// Asks for vCPU `vcpu`'s list registers to be synchronised.
    fn kick(&mut self, vcpu: usize) {
        if vcpu < self.vcpus {
            self.kicks |= 1 << vcpu;
        }
    }

    /// After a change to interrupt `intid` (as seen by vCPU `bank`): marks
    /// it busy and kicks the vCPUs that may have to deliver or withdraw it.
    fn touched(&mut self, bank: usize, intid: u32) {
        let Some(irq) = self.irq(bank, intid) else {
            return;
        };
        if !irq.busy() {
            return;
        }
        let (owner, target) = (irq.owner, irq.target);
        if intid < PRIVATE_INTIDS {
            if let Some(cpu) = self.cpus.get_mut(bank) {
                cpu.busy |= 1 << intid;
            }
            self.kick(bank);
        } else {
            let index = (intid - PRIVATE_INTIDS) as usize;
            self.busy_spis.insert(index);
            self.kick(usize::from(target));
        }
        self.kick(usize::from(owner));
    }

    /// The vCPUs whose list registers must be synchronised since the last
    /// call; the core does it on their home CPUs.
    pub fn take_kicks(&mut self) -> VcpuMask {
        core::mem::take(&mut self.kicks)
    }

    /// Recomputes where SPI `index` goes (after IROUTER/ITARGETSR or a vCPU
    /// waking); returns the new target if it changed.
    fn retarget_spi(&mut self, index: usize) -> Option<Option<usize>> {
        let vcpus = self.vcpus;
        let first_awake = (0..vcpus)
            .find(|&v| self.cpus.get(v).is_some_and(|c| c.online && !c.asleep))
            .unwrap_or(0);
        let version = self.version;
        let irq = self.spis.get_mut(index)?;
        let target = match version {
            // Affinity routing: Aff0 names the vCPU, Aff1/Aff2 must be 0;
            // IRM = 1 lets the distributor pick any participating vCPU.
            Version::V3 if irq.any_vcpu => first_awake,
            Version::V3 if irq.route >> 8 == 0 => irq.route as usize,
            Version::V3 => usize::from(NO_VCPU),
            // GICv2: 1-of-N among the CPU interfaces named; the lowest.
            Version::V2 => irq.targets.trailing_zeros() as usize,
        };
        let target = if target < vcpus {
            target as u8
        } else {
            NO_VCPU
        };
        if irq.target == target {
            return None;
        }
        irq.target = target;
        Some((usize::from(target) < vcpus).then_some(usize::from(target)))
    }

    /// Applies a routing change of SPI `intid`: the physical SPI follows a
    /// HW one, and the old and new targets look again.
    fn rerouted(&mut self, intid: u32, phys: &mut impl Physical) {
        let index = (intid - PRIVATE_INTIDS) as usize;
        if let Some(new) = self.retarget_spi(index) {
            let hw = self.spis.get(index).is_some_and(|irq| irq.hw);
            if let (true, Some(vcpu)) = (hw, new) {
                phys.route(intid, vcpu);
            }
        }
        self.touched(0, intid);
    }

    // ---------------------------------------------------------- sources

    /// Makes interrupt `intid` pending, as an edge would (a doorbell, a
    /// GICv3 SGI, the occurrence of a physical interrupt the core took for a
    /// HW one). `vcpu` names the bank for SGIs and PPIs. Returns true if it
    /// was not pending before.
    pub fn pend(&mut self, vcpu: usize, intid: u32) -> bool {
        let Some(irq) = self.irq_mut(vcpu, intid) else {
            return false;
        };
        let newly = !irq.pending_visible();
        irq.latch = true;
        if irq.hw {
            irq.phys_held = true;
        }
        if irq.in_lr {
            irq.pending_written = true;
        }
        self.touched(vcpu, intid);
        newly
    }

    /// Sets the input line of interrupt `intid` (an emulated device's
    /// interrupt output; `vcpu` names the bank for a PPI). A level-sensitive
    /// interrupt is pending while the line is high; an edge-triggered one
    /// latches a rising edge. Returns true if this made it pending.
    pub fn set_line(&mut self, vcpu: usize, intid: u32, high: bool) -> bool {
        let Some(irq) = self.irq_mut(vcpu, intid) else {
            return false;
        };
        if irq.hw {
            return false;
        }
        let was = irq.pending_visible();
        let rising = high && !irq.line;
        irq.line = high;
        if irq.edge && rising {
            irq.latch = true;
            if irq.in_lr {
                irq.pending_written = true;
            }
        }
        let now = irq.pending_visible() || (irq.edge && rising);
        self.touched(vcpu, intid);
        now && !was
    }

    /// Sends an SGI from vCPU `sender` through ICC_SGI1R_EL1 (`group1`) or
    /// ICC_SGI0R_EL1 / ICC_ASGI1R_EL1 (Group 0): a Group 0 request only
    /// makes Group 0 SGIs pending (IHI 0069H §12.11.16, with GICD_CTLR.DS =
    /// 1). Returns the number of vCPUs it was made pending on.
    pub fn send_sgi_v3(&mut self, sender: usize, value: u64, group1: bool) -> u32 {
        let request = sgi::decode_sgi1r(value, sender, self.vcpus);
        let mut count = 0;
        for target in 0..self.vcpus {
            if request.targets & (1 << target) == 0 {
                continue;
            }
            let allowed = self
                .irq(target, request.intid)
                .is_some_and(|irq| group1 || !irq.group1);
            if allowed {
                self.pend(target, request.intid);
                count += 1;
            }
        }
        count
    }

    /// Sends an SGI from vCPU `sender` through GICD_SGIR (GICv2): pending
    /// from `sender` on each target. Returns the number of targets.
    fn send_sgi_v2(&mut self, sender: usize, value: u32) -> u32 {
        let request = sgi::decode_sgir(value, sender, self.vcpus);
        let mut count = 0;
        for target in 0..self.vcpus {
            if request.targets & (1 << target) == 0 {
                continue;
            }
            if let Some(irq) = self.irq_mut(target, request.intid) {
                irq.sources |= 1 << (sender & 7);
                if irq.in_lr {
                    irq.pending_written = true;
                }
                self.touched(target, request.intid);
                count += 1;
            }
        }
        count
    }

    // ------------------------------------------------------ vCPU power

    /// vCPU `vcpu` is powered on (again): a CPU comes out of reset with
    /// nothing active and its list registers empty (the core resets its
    /// virtual CPU interface), and whatever was pending for it before is
    /// still pending. Its private HW interrupts (the timer) start idle.
    pub fn vcpu_started(&mut self, vcpu: usize, phys: &mut impl Physical) {
        if vcpu >= self.vcpus {
            return;
        }
        self.forget_list_registers(vcpu);
        if let Some(cpu) = self.cpus.get_mut(vcpu) {
            for irq in cpu.private.iter_mut() {
                irq.active = false;
                irq.owner = NO_VCPU;
                if irq.hw {
                    irq.latch = false;
                    irq.phys_held = false;
                }
            }
            cpu.online = true;
        }
        // SPIs it kept active die with its CPU interface state.
        for index in 0..self.spis.len() {
            let intid = PRIVATE_INTIDS + index as u32;
            let Some(irq) = self.spis.get_mut(index) else {
                continue;
            };
            if usize::from(irq.owner) == vcpu {
                irq.owner = NO_VCPU;
                irq.active = false;
                if irq.hw && irq.phys_held && !irq.pending() {
                    irq.phys_held = false;
                    phys.deactivate(vcpu, intid);
                }
                self.touched(0, intid);
            }
        }
        self.retarget_all();
        self.kick(vcpu);
    }

    /// vCPU `vcpu` is powered off: `rebuild` leaves its list registers
    /// empty from now on (the core folds them first).
    pub fn vcpu_stopped(&mut self, vcpu: usize) {
        if let Some(cpu) = self.cpus.get_mut(vcpu) {
            cpu.online = false;
        }
        self.retarget_all();
    }

    /// Treats every list register of `vcpu` as lost: an interrupt placed
    /// pending is pending again in the model, nothing is active.
    fn forget_list_registers(&mut self, vcpu: usize) {
        let Some(cpu) = self.cpus.get_mut(vcpu) else {
            return;
        };
        let slots = core::mem::replace(&mut cpu.lr_map, [None; MAX_LRS]);
        let version = self.version;
        for slot in slots.into_iter().flatten() {
            let pending = self.irq(vcpu, slot.intid).is_some_and(|irq| irq.lr_pending);
            let multi = version == Version::V2 && slot.intid < 16;
            if let Some(irq) = self.irq_mut(vcpu, slot.intid) {
                let state = lr::LrState {
                    pending,
                    active: false,
                };
                irq.fold(state, slot.source, multi);
                irq.phys_held = false;
            }
            self.touched(vcpu, slot.intid);
        }
    }

    /// IRM = 1 SPIs follow the set of awake vCPUs.
    fn retarget_all(&mut self) {
        if self.version != Version::V3 {
            return;
        }
        for index in 0..self.spis.len() {
            if self.spis.get(index).is_some_and(|irq| irq.any_vcpu)
                && self.retarget_spi(index).is_some()
            {
                self.touched(0, PRIVATE_INTIDS + index as u32);
            }
        }
    }

    // ---------------------------------------------------------- MMIO

    /// The frame and offset of guest IPA `ipa`, if it lies in one of this
    /// partition's virtual GIC frames.
    pub fn frame_at(&self, ipa: u64) -> Option<(Frame, u64)> {
        use guest_map::*;
        let gicd_size = match self.version {
            Version::V3 => GICD_V3_SIZE,
            Version::V2 => GICD_V2_SIZE,
        };
        if let Some(offset) = ipa.checked_sub(GICD_IPA).filter(|&o| o < gicd_size) {
            return Some((Frame::Distributor, offset));
        }
        if self.version == Version::V3 {
            let offset = ipa.checked_sub(GICR_IPA)?;
            let vcpu = usize::try_from(offset / GICR_STRIDE).ok()?;
            if vcpu < self.vcpus {
                return Some((Frame::Redistributor(vcpu), offset % GICR_STRIDE));
            }
        }
        None
    }

    /// A guest load of `size` bytes at `offset` in `frame`, by vCPU
    /// `accessor`. Unimplemented registers, reserved offsets and widths the
    /// register does not support read as zero.
    pub fn read(&mut self, accessor: usize, frame: Frame, offset: u64, size: u8) -> u64 {
        if !is_aligned(offset, size) {
            return 0;
        }
        match (self.version, frame) {
            (Version::V3, Frame::Distributor) => self.gicd_v3_read(offset, size),
            (Version::V3, Frame::Redistributor(vcpu)) => self.gicr_read(vcpu, offset, size),
            (Version::V2, Frame::Distributor) => self.gicd_v2_read(accessor, offset, size),
            (Version::V2, Frame::Redistributor(_)) => 0,
        }
    }

    /// A guest store of `size` bytes of `value` at `offset` in `frame`, by
    /// vCPU `accessor`. Read-only and unimplemented registers, reserved
    /// offsets and unsupported widths ignore it.
    pub fn write(
        &mut self,
        accessor: usize,
        frame: Frame,
        offset: u64,
        size: u8,
        value: u64,
        phys: &mut impl Physical,
    ) {
        if !is_aligned(offset, size) {
            return;
        }
        let value = match size {
            1 => value & 0xff,
            2 => value & 0xffff,
            4 => value & 0xffff_ffff,
            _ => value,
        };
        match (self.version, frame) {
            (Version::V3, Frame::Distributor) => self.gicd_v3_write(offset, size, value, phys),
            (Version::V3, Frame::Redistributor(vcpu)) => {
                self.gicr_write(vcpu, offset, size, value, phys)
            }
            (Version::V2, Frame::Distributor) => {
                self.gicd_v2_write(accessor, offset, size, value, phys)
            }
            (Version::V2, Frame::Redistributor(_)) => {}
        }
    }
}

/// Every GIC register access is naturally aligned (IHI 0069H §12.1.3);
/// anything else is treated as a reserved access.
fn is_aligned(offset: u64, size: u8) -> bool {
    matches!(size, 1 | 2 | 4 | 8) && offset.is_multiple_of(u64::from(size))
}
