//! The core's side of the virtual GIC: each partition's model
//! (`kernel_core::vgic`) under its lock, applied to the hardware. Every
//! virtual interrupt source comes through here — the virtual timer,
//! emulated device lines, notification doorbells, passed-through SPIs, SGIs
//! — and so do guest accesses to the GICD/GICR frames (emulated here, not
//! forwarded to a service) and trapped ICC_SGI*R_EL1 writes.
//!
//! A vCPU's list registers are synchronised with the model (`fold` then
//! `rebuild`) only on its home CPU: right away when that is this CPU,
//! otherwise through a `Request::VgicSync` and the reschedule SGI. The
//! model lock is taken only when a partition has virtual interrupt work;
//! switching between vCPUs with nothing in flight (the IPC fast path)
//! never takes it.

use core::sync::atomic::{AtomicU8, Ordering};

use alloc::vec;
use kernel_core::esr::{self, DataAbort, SysRegAccess};
use kernel_core::manifest::{Manifest, PartitionDesc};
use kernel_core::vgic::{
    self, guest_map, lr, Frame, Irq, Physical, Rebuilt, VcpuMask, Version, Vgic,
    FIRST_SPECIAL_INTID, MAX_LRS, MAX_VCPUS,
};
use spin::Mutex;

use crate::cpu::{self, VTIMER_INTID};
use crate::partition::{self, Partition, Request, Stats, Vcpu};
use crate::{gic, guest_exception, lifecycle};

/// A partition's virtual GIC.
pub type Model = Mutex<Vgic<'static>>;

/// Builds partition `desc`'s virtual GIC with enough SPIs for every
/// interrupt its configuration names (device lines, doorbells, passed-through
/// SPIs); the virtual timer PPI is linked to the physical one.
pub fn new_model(
    manifest: &Manifest<'_>,
    id: usize,
    desc: &PartitionDesc<'_>,
    vcpus: usize,
) -> Model {
    let version = if manifest.board().gic_version() == 3 {
        Version::V3
    } else {
        Version::V2
    };
    let devices = manifest.devices_of(desc).map(|d| d.virq);
    let doorbells = (0..manifest.notification_count())
        .map(|n| manifest.notification(n))
        .filter(|n| n.virq_partition as usize == id)
        .map(|n| n.virq);
    let passthrough = manifest.interrupts_of(desc).map(|i| i.intid);
    let highest = devices
        .chain(doorbells)
        .chain(passthrough)
        .max()
        .unwrap_or(0);
    // Lent to the model for the life of the core: partitions are never freed.
    let spis: &'static mut [Irq] = vec![Irq::IDLE; vgic::spis_for(highest)].leak();
    let mut model = Vgic::new(version, vcpus.min(MAX_VCPUS), spis);
    model.link_physical_ppi(VTIMER_INTID);
    Mutex::new(model)
}

/// For each physical SPI passed through: its partition's index + 1 (0 = none).
static PASSTHROUGH: [AtomicU8; FIRST_SPECIAL_INTID as usize] =
    [const { AtomicU8::new(0) }; FIRST_SPECIAL_INTID as usize];

/// Passes physical SPI `intid` through to partition `p` as the same virtual
/// INTID, linked with the HW bit: the guest's enable of its virtual SPI
/// enables the physical one, its routing routes it to the home CPU of the
/// target vCPU, and its EOI deactivates it. Called by the boot code for
/// each `[[partition.passthrough]] irq`.
pub fn attach_passthrough(p: &Partition, intid: u32) -> Result<(), &'static str> {
    let slot = PASSTHROUGH
        .get(intid as usize)
        .filter(|_| intid >= vgic::PRIVATE_INTIDS)
        .ok_or("is not an SPI")?;
    let owner = u8::try_from(p.id + 1).map_err(|_| "belongs to too many partitions")?;
    if slot
        .compare_exchange(0, owner, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err("is already passed through");
    }
    let home = partition::vcpu(p.first_vcpu).map_or(0, |v| v.home);
    gic::route_spi(intid, home);
    let linked = {
        let mut hw = Hardware::for_partition(p);
        p.vgic.lock().link_physical_spi(intid, &mut hw)
    };
    if linked {
        Ok(())
    } else {
        slot.store(0, Ordering::Release);
        Err("is beyond the partition's virtual distributor")
    }
}

/// Physical interrupt `intid` fired and was acknowledged (priority dropped,
/// still active): if it is passed through, make its virtual twin pending;
/// the guest's EOI will deactivate it. False if it is not passed through.
pub fn passthrough_fired(intid: u32) -> bool {
    let owner = PASSTHROUGH
        .get(intid as usize)
        .map_or(0, |o| o.load(Ordering::Acquire));
    let Some(p) = owner
        .checked_sub(1)
        .and_then(|i| partition::partition(usize::from(i)))
    else {
        return false;
    };
    let newly = with_model(p, |model, _| model.pend(0, intid));
    if newly {
        Stats::bump(&p.stats.injected_irqs);
    }
    true
}

/// Back to the reset state (the partition is being loaded).
pub fn reset(p: &Partition) {
    let mut hw = Hardware::for_partition(p);
    p.vgic.lock().reset(&mut hw);
}

/// Runs `f` on partition `p`'s model, then has every vCPU it kicked
/// synchronised.
fn with_model<R>(p: &Partition, f: impl FnOnce(&mut Vgic<'static>, &mut Hardware<'_>) -> R) -> R {
    let mut hw = Hardware::for_partition(p);
    let (result, kicks) = {
        let mut model = p.vgic.lock();
        let result = f(&mut model, &mut hw);
        (result, model.take_kicks())
    };
    deliver_kicks(p, kicks);
    result
}

/// The physical GIC as the model sees it, for one partition (and, during a
/// sync, one of its vCPUs).
struct Hardware<'a> {
    partition: &'a Partition,
    /// The vCPU being synchronised (index in the partition), if any.
    vcpu: Option<usize>,
    /// The model released the physical timer PPI that vCPU held.
    timer_released: bool,
}

impl<'a> Hardware<'a> {
    fn for_partition(partition: &'a Partition) -> Self {
        Self {
            partition,
            vcpu: None,
            timer_released: false,
        }
    }
}

impl Physical for Hardware<'_> {
    fn set_enabled(&mut self, intid: u32, enabled: bool) {
        gic::set_spi_enabled(intid, enabled);
    }

    fn route(&mut self, intid: u32, vcpu: usize) {
        if let Some(v) = partition::vcpu(self.partition.first_vcpu + vcpu) {
            gic::route_spi(intid, v.home);
        }
    }

    fn set_edge(&mut self, intid: u32, edge: bool) {
        gic::set_spi_edge(intid, edge);
    }

    fn deactivate(&mut self, vcpu: usize, intid: u32) {
        if intid >= vgic::PRIVATE_INTIDS {
            gic::deactivate_spi(intid);
        } else if intid == VTIMER_INTID && self.vcpu == Some(vcpu) {
            // Applied by `sync_one` on the vCPU's home CPU, to the hardware
            // or to its saved state.
            self.timer_released = true;
        }
    }
}

/// Synchronises vCPU `id`'s list registers with its partition's model, on
/// its home CPU (this one), running `f` on the model in between: fold what
/// the guest did, apply `f`, refill. Works on the hardware when the vCPU is
/// loaded, on its saved state otherwise. Returns `f`'s result and the other
/// vCPUs to kick.
fn sync_one<R>(
    id: usize,
    v: &Vcpu,
    p: &Partition,
    f: impl FnOnce(&mut Vgic<'static>, &mut Hardware<'_>) -> R,
) -> (R, VcpuMask) {
    let cpu = cpu::this_index();
    let loaded = cpu::loaded().is_some_and(|(loaded, _)| loaded == id);
    let count = gic::lr_count();
    let mut buffer = [0u64; MAX_LRS];
    let lrs = buffer.get_mut(..count).unwrap_or_default();
    let ctx = v.ctx();
    if loaded {
        gic::read_lrs(lrs);
    } else {
        ctx.vgic.saved_lrs(lrs);
    }
    let mut hw = Hardware {
        partition: p,
        vcpu: Some(v.index),
        timer_released: false,
    };
    let (result, rebuilt, kicks): (R, Rebuilt, VcpuMask) = {
        let mut model = p.vgic.lock();
        model.fold(v.index, lrs);
        let result = f(&mut model, &mut hw);
        let rebuilt = model.rebuild(v.index, lrs, &mut hw);
        (result, rebuilt, model.take_kicks())
    };
    let hcr = lr::HCR_ENABLE
        | if rebuilt.overflow {
            lr::HCR_UNDERFLOW
        } else {
            0
        };
    ctx.vgic.set_lrs(lrs, hcr);
    ctx.vgic.timer_held = rebuilt.private_hw_held;
    if loaded {
        gic::write_lrs(lrs, hcr);
        if hw.timer_released {
            gic::set_ppi_active(cpu, VTIMER_INTID, false);
        }
    } else if hw.timer_released {
        ctx.vgic.vtimer_active = false;
    }
    if rebuilt.pending {
        cpu::wake_from_wfi(id, v);
    }
    (result, kicks & !(1 << v.index))
}

/// Synchronises the vCPUs in `kicks` (of partition `p`): on this CPU now,
/// on their home CPUs through a request.
fn deliver_kicks(p: &Partition, mut kicks: VcpuMask) {
    let this_cpu = cpu::this_index();
    // Each local sync may kick others; a bound keeps a pathological cycle
    // from holding the CPU (what is left goes through the request path).
    let mut budget = 4 * MAX_VCPUS;
    while kicks != 0 {
        let index = kicks.trailing_zeros() as usize;
        kicks &= kicks - 1;
        let id = p.first_vcpu + index;
        let Some(v) = partition::vcpu(id).filter(|_| index < p.vcpu_count) else {
            continue;
        };
        if v.home == this_cpu && budget > 0 {
            budget -= 1;
            let ((), more) = sync_one(id, v, p, |_, _| ());
            kicks |= more;
        } else {
            lifecycle::post(v, Request::VgicSync);
        }
    }
}

/// Synchronises vCPU `id` (homed here) with its model: a request from
/// another CPU, a maintenance interrupt, a vCPU loaded with a maintenance
/// condition pending.
pub fn sync(id: usize, v: &Vcpu) {
    let Some(p) = partition::partition(v.partition) else {
        return;
    };
    let ((), kicks) = sync_one(id, v, p, |_, _| ());
    deliver_kicks(p, kicks);
}

/// The maintenance interrupt fired on this CPU: an EOI of an interrupt that
/// asked for it (a level line to sample, a GICv2 SGI's next source) or an
/// underflow with more interrupts waiting. Syncs the loaded vCPU.
pub fn maintenance() {
    match cpu::loaded() {
        Some((id, v)) => sync(id, v),
        None => gic::quiet_maintenance(),
    }
}

/// The loaded vCPU `id`'s virtual timer fired: the physical PPI is
/// acknowledged and priority-dropped; the model holds it for the guest,
/// whose EOI deactivates it through the HW bit.
pub fn timer_fired(id: usize, v: &Vcpu) {
    let Some(p) = partition::partition(v.partition) else {
        return;
    };
    let (newly, kicks) = sync_one(id, v, p, |model, _| model.pend(v.index, VTIMER_INTID));
    if newly {
        Stats::bump(&p.stats.injected_irqs);
    }
    deliver_kicks(p, kicks);
}

/// An emulated device's interrupt line changed (its service's reply to an
/// access by vCPU `v`; a PPI line is that vCPU's).
pub fn set_device_line(v: &Vcpu, intid: u32, high: bool) {
    let Some(p) = partition::partition(v.partition) else {
        return;
    };
    if with_model(p, |model, _| model.set_line(v.index, intid, high)) {
        Stats::bump(&p.stats.injected_irqs);
    }
}

/// A notification bound to partition `target`'s virtual interrupt `intid`
/// was signalled (a doorbell): make it pending (a PPI on vCPU 0).
pub fn ring_doorbell(target: usize, intid: u32) {
    let Some(p) = partition::partition(target) else {
        return;
    };
    if with_model(p, |model, _| model.pend(0, intid)) {
        Stats::bump(&p.stats.injected_irqs);
    }
}

/// vCPU `id` (homed here) was just reset for a start: its CPU interface is
/// new; what was pending for it still is.
pub fn vcpu_started(id: usize, v: &Vcpu) {
    let Some(p) = partition::partition(v.partition) else {
        return;
    };
    let index = v.index;
    // The model kicks it: `with_model` syncs it here, its home CPU.
    with_model(p, |model, hw| model.vcpu_started(index, hw));
    let _ = id;
}

/// vCPU `id` (homed here) is going off: fold its list registers into the
/// model and leave them empty.
pub fn vcpu_stopped(id: usize, v: &Vcpu) {
    let Some(p) = partition::partition(v.partition) else {
        return;
    };
    let index = v.index;
    let ((), kicks) = sync_one(id, v, p, |model, _| model.vcpu_stopped(index));
    deliver_kicks(p, kicks);
}

/// A stage-2 data abort at `ipa` by the loaded vCPU `id`: if it lies in the
/// partition's GICD or GICR frames, emulate the access (the PC steps over
/// it). `None` if the IPA is not the virtual GIC's.
pub fn mmio_abort(
    id: usize,
    v: &Vcpu,
    p: &Partition,
    ipa: u64,
    esr_value: u64,
) -> Option<Result<(), &'static str>> {
    let window =
        guest_map::GICD_IPA..guest_map::GICR_IPA + MAX_VCPUS as u64 * guest_map::GICR_STRIDE;
    if !window.contains(&ipa) {
        return None;
    }
    let (frame, offset): (Frame, u64) = p.vgic.lock().frame_at(ipa)?;
    let da = DataAbort::decode(esr_value);
    if !da.isv {
        return Some(Err(
            "access to the virtual GIC with no valid syndrome (a load/store pair, writeback or SIMD access)",
        ));
    }
    let size = da.access_size_bytes;
    let stored = crate::ipc::stored_value(v, &da);
    let index = v.index;
    let (loaded_value, kicks) = sync_one(id, v, p, |model, hw| {
        if da.write {
            model.write(index, frame, offset, size, stored, hw);
            0
        } else {
            model.read(index, frame, offset, size)
        }
    });
    let regs = &mut v.ctx().regs;
    if !da.write {
        if let Some(slot) = regs.x.get_mut(usize::from(da.register)) {
            *slot = esr::loaded_register_value(loaded_value, size, da.sign_extend, da.sixty_four);
        }
    }
    regs.elr += esr::instruction_length(esr_value);
    deliver_kicks(p, kicks);
    Some(Ok(()))
}

/// ICC_SGI1R_EL1, ICC_ASGI1R_EL1, ICC_SGI0R_EL1 (IHI 0069H §12.11): op0 3,
/// op1 0, CRn 12, CRm 11, op2 5, 6, 7. A GICv3 guest's writes trap to EL2
/// while HCR_EL2.IMO is set.
const ICC_SGI1R_EL1: u32 = esr::sysreg_key(3, 0, 12, 11, 5);
const ICC_ASGI1R_EL1: u32 = esr::sysreg_key(3, 0, 12, 11, 6);
const ICC_SGI0R_EL1: u32 = esr::sysreg_key(3, 0, 12, 11, 7);

/// A trapped system-register access of the loaded vCPU `id` that belongs to
/// the virtual GIC: the SGI generation registers. False if it is not one.
pub fn trapped_sysreg(id: usize, v: &Vcpu, p: &Partition, esr_value: u64) -> bool {
    let access = SysRegAccess::decode(esr_value);
    let group1 = match access.encoding() {
        ICC_SGI1R_EL1 => true,
        ICC_ASGI1R_EL1 | ICC_SGI0R_EL1 => false,
        _ => return false,
    };
    if gic::version() != Version::V3 {
        return false;
    }
    if access.read {
        // Write-only registers: reading them is UNDEFINED.
        guest_exception::inject_undefined(v);
        return true;
    }
    let value = v
        .ctx()
        .regs
        .x
        .get(usize::from(access.register))
        .copied()
        .unwrap_or(0);
    let index = v.index;
    let (sent, kicks) = sync_one(id, v, p, |model, _| model.send_sgi_v3(index, value, group1));
    for _ in 0..sent {
        Stats::bump(&p.stats.injected_irqs);
    }
    v.ctx().regs.elr += esr::instruction_length(esr_value);
    deliver_kicks(p, kicks);
    true
}
