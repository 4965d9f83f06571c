//! The physical interrupt controller as the core uses it — acknowledge, drop
//! priority, deactivate, SGIs, PPI active state, passed-through SPIs — and
//! the virtual CPU interface's registers (list registers, maintenance,
//! VMCR, active priorities) with their per-vCPU save and restore, for GICv3
//! (system registers) and GICv2 (MMIO) behind one interface. What goes into
//! the list registers is decided by `kernel_core::vgic` (see `vgic.rs`).

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use aarch64_cpu::registers::*;
use kernel_core::vgic::lr::{self, HCR_ENABLE};
use kernel_core::MAX_CPUS;
use platform::{gicv2, gicv3};
use spin::Once;

use crate::arch::sysreg::{isb, read_sysreg, write_sysreg};

pub use kernel_core::vgic::MAX_LRS;

/// SGI the core uses to make another CPU look at its mailbox.
pub const SGI_RESCHEDULE: u32 = 1;

/// The virtual CPU interface's maintenance interrupt when the device tree
/// does not name it: PPI 9 on QEMU `virt` and the Pi 4's GIC-400.
const DEFAULT_MAINTENANCE_INTID: u32 = 25;

/// An acknowledged interrupt: INTID plus the raw IAR value to hand back.
#[derive(Clone, Copy, Debug)]
pub struct Acked {
    /// Interrupt ID.
    pub intid: u32,
    raw: u32,
}

/// Physical GIC frames, from the device tree.
#[derive(Clone, Copy, Debug)]
pub enum Frames {
    /// GICv2: distributor, CPU interface, virtual interface control.
    V2 {
        /// GICD base.
        gicd: usize,
        /// GICC base.
        gicc: usize,
        /// GICH base.
        gich: usize,
    },
    /// GICv3: distributor and the redistributor region.
    V3 {
        /// GICD base.
        gicd: usize,
        /// First redistributor.
        gicr: usize,
        /// Size of the redistributor region.
        gicr_size: usize,
    },
}

enum Controller {
    V2 {
        gicd: gicv2::Distributor,
        gicc: gicv2::CpuInterface,
        gich: gicv2::HypInterface,
    },
    V3 {
        gicd: gicv3::Distributor,
        gicr: usize,
        gicr_size: usize,
    },
}

struct Gic {
    ctrl: Controller,
    /// GICv2: each CPU's interface mask for SGI targeting.
    cpu_masks: [AtomicU8; MAX_CPUS],
    /// MPIDR of each logical CPU (GICv3 SGI targeting, redistributor lookup).
    mpidrs: [u64; MAX_CPUS],
    /// Each CPU's redistributor, once found (GICv3).
    redists: [AtomicUsize; MAX_CPUS],
    /// INTID of the maintenance interrupt.
    maintenance: u32,
}

static GIC: Once<Gic> = Once::new();

fn gic() -> Option<&'static Gic> {
    GIC.get()
}

impl Gic {
    /// GICv2: the ITARGETSR mask that names logical CPU `cpu` (CPU
    /// interface 0 until that CPU has reported its own).
    fn v2_target_mask(&self, cpu: usize) -> u8 {
        self.cpu_masks
            .get(cpu)
            .map_or(1, |m| m.load(Ordering::Acquire).max(1))
    }
}

/// Is the GIC a GICv3?
#[inline(always)]
pub fn is_v3() -> bool {
    IS_V3.load(Ordering::Relaxed)
}

/// Sets up the distributor (boot CPU, once). `maintenance` is the virtual
/// CPU interface's maintenance PPI from the device tree, if it names one.
pub fn init(frames: Frames, mpidrs: &[u64], maintenance: Option<u32>) {
    let mut table = [u64::MAX; MAX_CPUS];
    for (slot, m) in table.iter_mut().zip(mpidrs) {
        *slot = *m;
    }
    GIC.call_once(|| {
        let ctrl = match frames {
            // SAFETY: the frames come from the device tree and are mapped as
            // device memory by the EL2 stage-1 map; only the core drives them.
            Frames::V2 { gicd, gicc, gich } => unsafe {
                Controller::V2 {
                    gicd: gicv2::Distributor::new(gicd),
                    gicc: gicv2::CpuInterface::new(gicc),
                    gich: gicv2::HypInterface::new(gich),
                }
            },
            Frames::V3 {
                gicd,
                gicr,
                gicr_size,
            } => {
                // SAFETY: as above.
                let gicd = unsafe { gicv3::Distributor::new(gicd) };
                Controller::V3 {
                    gicd,
                    gicr,
                    gicr_size,
                }
            }
        };
        match &ctrl {
            Controller::V2 { gicd, .. } => gicd.init(),
            Controller::V3 { gicd, .. } => gicd.init(),
        }
        IS_V3.store(matches!(ctrl, Controller::V3 { .. }), Ordering::Release);
        Gic {
            ctrl,
            cpu_masks: [const { AtomicU8::new(0) }; MAX_CPUS],
            mpidrs: table,
            redists: [const { AtomicUsize::new(0) }; MAX_CPUS],
            maintenance: maintenance.unwrap_or(DEFAULT_MAINTENANCE_INTID),
        }
    });
}

/// INTID of the virtual CPU interface's maintenance interrupt.
pub fn maintenance_intid() -> u32 {
    gic().map_or(DEFAULT_MAINTENANCE_INTID, |g| g.maintenance)
}

fn redistributor(g: &Gic, cpu: usize) -> Option<gicv3::Redistributor> {
    let Controller::V3 {
        gicr, gicr_size, ..
    } = g.ctrl
    else {
        return None;
    };
    let cached = g.redists.get(cpu)?.load(Ordering::Relaxed);
    if cached != 0 {
        // SAFETY: `cached` was found by `Redistributor::find` in the mapped GICR range.
        return Some(unsafe { gicv3::Redistributor::at(cached) });
    }
    let mpidr = *g.mpidrs.get(cpu)?;
    // SAFETY: the region is the mapped GICR range from the device tree.
    let found = unsafe { gicv3::Redistributor::find(gicr, gicr_size, mpidr) }?;
    g.redists.get(cpu)?.store(found.base(), Ordering::Relaxed);
    Some(found)
}

/// Per-CPU setup: CPU interface with EOImode = 1, the core's PPIs and the
/// maintenance interrupt enabled, the virtual interface enabled with every
/// list register empty (their reset values are UNKNOWN).
pub fn init_cpu(cpu: usize, ppis: &[u32]) -> bool {
    let Some(g) = gic() else { return false };
    let mut sre_switched = false;
    let maintenance = [g.maintenance];
    let ppis = ppis.iter().chain(&maintenance);
    let lrs = match &g.ctrl {
        Controller::V2 { gicd, gicc, gich } => {
            let mask = gicd.init_cpu();
            if let Some(m) = g.cpu_masks.get(cpu) {
                m.store(mask, Ordering::Release);
            }
            for &p in ppis {
                gicd.enable(p, 0);
            }
            gicc.init();
            gich.set_hcr(HCR_ENABLE as u32);
            gich.list_registers().min(MAX_LRS)
        }
        Controller::V3 { .. } => {
            if let Some(rd) = redistributor(g, cpu) {
                rd.init();
                for &p in ppis {
                    rd.enable(p);
                }
            }
            // ICC_SRE_EL2: SRE | DFB | DIB, Enable = 0: EL1 accesses to
            // ICC_SRE_EL1 trap to EL2 (IHI 0069H §12.5.26), where every
            // guest reads the fixed SRE | DFB | DIB, so the register is
            // never switched (KVM does the same).
            write_sysreg!("icc_sre_el2", ICC_SRE_EL2_SRE_DFB_DIB);
            isb();
            sre_switched = el1_sre_needs_switching();
            write_sysreg!("icc_pmr_el1", 0xff);
            write_sysreg!("icc_bpr1_el1", 0);
            // ICC_CTLR_EL1.EOImode = 1: EOIR drops priority, DIR deactivates.
            write_sysreg!("icc_ctlr_el1", 1 << 1);
            write_sysreg!("icc_igrpen1_el1", 1);
            isb();
            ICH_HCR_EL2.set(HCR_ENABLE);
            ((ICH_VTR_EL2.get() & 0x1f) as usize + 1).min(MAX_LRS)
        }
    };
    LR_COUNT.store(lrs as u8, Ordering::Release);
    for n in 0..lrs {
        write_lr(n, 0);
    }
    sre_switched
}

/// ICC_SRE_EL2 with SRE, DFB and DIB set and Enable clear (IHI 0069H
/// §12.5.26).
const ICC_SRE_EL2_SRE_DFB_DIB: u64 = 0x7;
/// ICC_SRE_EL2.Enable.
const ICC_SRE_EL2_ENABLE: u64 = 1 << 3;

/// Gives EL1's ICC_SRE_EL1 the value every GICv3 guest has and says
/// whether it must still be switched between vCPUs: only if EL1 reaches it
/// (an implementation may make ICC_SRE_EL2.Enable RAO/WI) and a write can
/// change it (its bits are RAO/WI where the GIC has no legacy interface).
fn el1_sre_needs_switching() -> bool {
    let guest = crate::arch::context::ICC_SRE_EL1_GUEST;
    let trapped = read_sysreg!("icc_sre_el2") & ICC_SRE_EL2_ENABLE == 0;
    let mut fixed = true;
    if !trapped {
        write_sysreg!("icc_sre_el1", 0);
        isb();
        fixed = read_sysreg!("icc_sre_el1") == guest;
    }
    write_sysreg!("icc_sre_el1", guest);
    isb();
    !(trapped || fixed)
}

/// Acknowledges the highest-priority pending physical interrupt.
pub fn ack() -> Option<Acked> {
    match &gic()?.ctrl {
        Controller::V2 { gicc, .. } => gicc.ack().map(|raw| Acked {
            intid: raw & 0x3ff,
            raw,
        }),
        Controller::V3 { .. } => {
            let raw = read_sysreg!("icc_iar1_el1") as u32;
            let intid = raw & 0xff_ffff;
            (intid < 1020).then_some(Acked { intid, raw })
        }
    }
}

/// Drops the running priority of an acknowledged interrupt.
pub fn priority_drop(irq: Acked) {
    let Some(g) = gic() else { return };
    match &g.ctrl {
        Controller::V2 { gicc, .. } => gicc.priority_drop(irq.raw),
        Controller::V3 { .. } => write_sysreg!("icc_eoir1_el1", u64::from(irq.raw)),
    }
}

/// Deactivates an interrupt the core handled itself.
pub fn deactivate(irq: Acked) {
    let Some(g) = gic() else { return };
    match &g.ctrl {
        Controller::V2 { gicc, .. } => gicc.deactivate(irq.raw),
        Controller::V3 { .. } => write_sysreg!("icc_dir_el1", u64::from(irq.raw)),
    }
}

/// Routes SPI `intid` to logical CPU `cpu` and enables it.
pub fn enable_spi(intid: u32, cpu: usize) {
    let Some(g) = gic() else { return };
    match &g.ctrl {
        Controller::V2 { gicd, .. } => {
            let mask = g.v2_target_mask(cpu);
            gicd.enable(intid, mask);
        }
        Controller::V3 { gicd, .. } => {
            if let Some(&mpidr) = g.mpidrs.get(cpu) {
                gicd.enable_spi(intid, mpidr);
            }
        }
    }
}

/// Enables or disables SPI `intid` at the distributor (a passed-through SPI
/// follows its guest's virtual enable).
pub fn set_spi_enabled(intid: u32, enabled: bool) {
    let Some(g) = gic() else { return };
    match &g.ctrl {
        Controller::V2 { gicd, .. } => gicd.irqs().set_enabled(intid, enabled),
        Controller::V3 { gicd, .. } => gicd.irqs().set_enabled(intid, enabled),
    }
}

/// Gives SPI `intid` the core's group and priority and routes it to logical
/// CPU `cpu`, leaving it enabled or not.
pub fn route_spi(intid: u32, cpu: usize) {
    let Some(g) = gic() else { return };
    match &g.ctrl {
        Controller::V2 { gicd, .. } => {
            let mask = g.v2_target_mask(cpu);
            gicd.irqs().set_targets(intid, mask);
            gicd.irqs().set_priority(intid, gicv2::DEFAULT_PRIORITY);
        }
        Controller::V3 { gicd, .. } => {
            if let Some(&mpidr) = g.mpidrs.get(cpu) {
                gicd.configure_spi(intid, mpidr);
            }
        }
    }
}

/// Makes SPI `intid` edge-triggered or level-sensitive.
pub fn set_spi_edge(intid: u32, edge: bool) {
    let Some(g) = gic() else { return };
    match &g.ctrl {
        Controller::V2 { gicd, .. } => gicd.irqs().set_edge(intid, edge),
        Controller::V3 { gicd, .. } => gicd.irqs().set_edge(intid, edge),
    }
}

/// Clears the active state of SPI `intid` through the distributor, from any
/// CPU: re-arms an interrupt whose handling a partition finished (IRQ_ACK).
pub fn deactivate_spi(intid: u32) {
    let Some(g) = gic() else { return };
    match &g.ctrl {
        Controller::V2 { gicd, .. } => gicd.set_active(intid, false),
        Controller::V3 { gicd, .. } => gicd.set_active(intid, false),
    }
}

/// Sends the reschedule SGI to logical CPU `cpu`.
pub fn send_reschedule(cpu: usize) {
    let Some(g) = gic() else { return };
    match &g.ctrl {
        Controller::V2 { gicd, .. } => {
            let mask = g
                .cpu_masks
                .get(cpu)
                .map_or(0, |m| m.load(Ordering::Acquire));
            if mask != 0 {
                gicd.send_sgi(SGI_RESCHEDULE, mask);
            }
        }
        Controller::V3 { .. } => {
            let Some(&mpidr) = g.mpidrs.get(cpu) else {
                return;
            };
            // ICC_SGI1R_EL1 (GIC spec §12.11.2): Aff3 [55:48], Aff2 [39:32],
            // INTID [27:24], Aff1 [23:16], RS [47:44], TargetList [15:0].
            let aff0 = mpidr & 0xff;
            let value = ((mpidr >> 32) & 0xff) << 48
                | ((mpidr >> 16) & 0xff) << 32
                | u64::from(SGI_RESCHEDULE) << 24
                | ((mpidr >> 8) & 0xff) << 16
                | (aff0 >> 4) << 44
                | 1 << (aff0 & 0xf);
            crate::arch::sysreg::dsb_ish();
            write_sysreg!("icc_sgi1r_el1", value);
            isb();
        }
    }
}

/// Is PPI `intid` active on this CPU?
pub fn ppi_active(cpu: usize, intid: u32) -> bool {
    let Some(g) = gic() else { return false };
    match &g.ctrl {
        Controller::V2 { gicd, .. } => gicd.is_active(intid),
        Controller::V3 { .. } => redistributor(g, cpu).is_some_and(|rd| rd.is_active(intid)),
    }
}

/// Sets or clears the active state of PPI `intid` on this CPU.
pub fn set_ppi_active(cpu: usize, intid: u32, active: bool) {
    let Some(g) = gic() else { return };
    match &g.ctrl {
        Controller::V2 { gicd, .. } => gicd.set_active(intid, active),
        Controller::V3 { .. } => {
            if let Some(rd) = redistributor(g, cpu) {
                rd.set_active(intid, active);
            }
        }
    }
}

/// Number of list registers, the same on every CPU; set by `init_cpu`.
static LR_COUNT: AtomicU8 = AtomicU8::new(0);

/// The GIC is a GICv3 (set by `init`; read on every switch, so kept apart
/// from the controller behind its `Once`).
static IS_V3: AtomicBool = AtomicBool::new(false);

/// Number of list registers the hardware has (at most [`MAX_LRS`]).
pub fn lr_count() -> usize {
    usize::from(LR_COUNT.load(Ordering::Acquire)).min(MAX_LRS)
}

fn read_lr_v3(n: usize) -> u64 {
    match n {
        0 => ICH_LR0_EL2.get(),
        1 => ICH_LR1_EL2.get(),
        2 => ICH_LR2_EL2.get(),
        3 => ICH_LR3_EL2.get(),
        4 => ICH_LR4_EL2.get(),
        5 => ICH_LR5_EL2.get(),
        6 => ICH_LR6_EL2.get(),
        7 => ICH_LR7_EL2.get(),
        8 => ICH_LR8_EL2.get(),
        9 => ICH_LR9_EL2.get(),
        10 => ICH_LR10_EL2.get(),
        11 => ICH_LR11_EL2.get(),
        12 => ICH_LR12_EL2.get(),
        13 => ICH_LR13_EL2.get(),
        14 => ICH_LR14_EL2.get(),
        _ => ICH_LR15_EL2.get(),
    }
}

fn write_lr_v3(n: usize, v: u64) {
    match n {
        0 => ICH_LR0_EL2.set(v),
        1 => ICH_LR1_EL2.set(v),
        2 => ICH_LR2_EL2.set(v),
        3 => ICH_LR3_EL2.set(v),
        4 => ICH_LR4_EL2.set(v),
        5 => ICH_LR5_EL2.set(v),
        6 => ICH_LR6_EL2.set(v),
        7 => ICH_LR7_EL2.set(v),
        8 => ICH_LR8_EL2.set(v),
        9 => ICH_LR9_EL2.set(v),
        10 => ICH_LR10_EL2.set(v),
        11 => ICH_LR11_EL2.set(v),
        12 => ICH_LR12_EL2.set(v),
        13 => ICH_LR13_EL2.set(v),
        14 => ICH_LR14_EL2.set(v),
        _ => ICH_LR15_EL2.set(v),
    }
}

fn read_lr(n: usize) -> u64 {
    match gic().map(|g| &g.ctrl) {
        Some(Controller::V2 { gich, .. }) => u64::from(gich.lr(n)),
        Some(Controller::V3 { .. }) => read_lr_v3(n),
        None => 0,
    }
}

fn write_lr(n: usize, v: u64) {
    match gic().map(|g| &g.ctrl) {
        Some(Controller::V2 { gich, .. }) => gich.set_lr(n, v as u32),
        Some(Controller::V3 { .. }) => write_lr_v3(n, v),
        None => {}
    }
}

/// The list-register encoding of this machine's GIC.
pub fn version() -> kernel_core::vgic::Version {
    if is_v3() {
        kernel_core::vgic::Version::V3
    } else {
        kernel_core::vgic::Version::V2
    }
}

/// Reads this CPU's list registers (the loaded vCPU's) into `lrs`.
pub fn read_lrs(lrs: &mut [u64]) {
    for (n, slot) in lrs.iter_mut().enumerate().take(lr_count()) {
        *slot = read_lr(n);
    }
}

/// Writes this CPU's list registers and the maintenance controls (an
/// `ICH_HCR_EL2` / `GICH_HCR` value) for the loaded vCPU.
pub fn write_lrs(lrs: &[u64], hcr: u64) {
    for (n, value) in lrs.iter().enumerate().take(lr_count()) {
        write_lr(n, *value);
    }
    write_hcr(hcr);
}

fn write_hcr(hcr: u64) {
    match gic().map(|g| &g.ctrl) {
        Some(Controller::V2 { gich, .. }) => gich.set_hcr(hcr as u32),
        Some(Controller::V3 { .. }) => ICH_HCR_EL2.set(hcr),
        None => {}
    }
}

/// Turns off maintenance requests while no vCPU is loaded (an underflow
/// request would fire with the registers empty).
pub fn quiet_maintenance() {
    write_hcr(HCR_ENABLE);
}

/// ICH_MISR_EL2 / GICH_MISR: nonzero when a maintenance condition holds.
fn maintenance_status() -> u32 {
    match gic().map(|g| &g.ctrl) {
        Some(Controller::V2 { gich, .. }) => gich.misr(),
        Some(Controller::V3 { .. }) => read_sysreg!("ich_misr_el2") as u32,
        None => 0,
    }
}

/// Bitmap of the list registers the hardware says hold something (the
/// complement of ICH_ELRSR_EL2 / GICH_ELRSR0).
fn occupied_lrs() -> u16 {
    let mask = ((1u32 << lr_count()) - 1) as u16;
    let empty = match gic().map(|g| &g.ctrl) {
        Some(Controller::V2 { gich, .. }) => gich.empty_lrs() as u16,
        Some(Controller::V3 { .. }) => read_sysreg!("ich_elrsr_el2") as u16,
        None => mask,
    };
    !empty & mask
}

/// True if any list register of the running vCPU holds a pending interrupt
/// (a WFI must then not block).
pub fn has_pending() -> bool {
    let version = version();
    (0..lr_count()).any(|n| lr::state(version, read_lr(n)).pending)
}

/// The virtual CPU interface state of one vCPU while it is not loaded: the
/// list registers the model filled, the maintenance controls, and the
/// control registers the guest changes (VMCR, active priorities).
///
/// `repr(C)` with the flags first, in one 64-bit word, then HCR, VMCR and
/// the active priorities: the IPC fast path tells a quiet switch from the
/// first two words and moves the control registers itself ([`layout`]).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct VgicState {
    /// Bit n set when `lrs[n]` may hold an interrupt (the others are 0).
    live: u16,
    /// The model holds the physical timer PPI active for this vCPU without
    /// a list register linking it (see `Rebuilt::private_hw_held`).
    pub timer_held: bool,
    /// Was the physical virtual-timer PPI active (HW-linked, not yet
    /// deactivated by the guest) when this vCPU was switched out?
    pub vtimer_active: bool,
    /// A maintenance condition held when it was switched out: sync its list
    /// registers with the model when it is loaded again.
    pub needs_sync: bool,
    /// Always zero (the rest of the flags word).
    _reserved: [u8; 3],
    /// ICH_HCR_EL2 / GICH_HCR for this vCPU (En, UIE); 0 reads as En alone.
    hcr: u64,
    vmcr: u64,
    apr0: u64,
    apr1: u64,
    lrs: [u64; MAX_LRS],
}

/// Where the IPC fast path finds a [`VgicState`]. A switch is quiet
/// ([`VgicState::switch`] moves only VMCR and the active priorities) when
/// the outgoing vCPU's flags word masked with `OUTGOING_FLAGS` is 0 (no live
/// list register, no timer held) and the incoming one's whole flags word is
/// 0 (also no timer PPI to re-activate and no sync due), and neither HCR
/// has a bit above En.
pub mod layout {
    use super::VgicState;
    use core::mem::offset_of;

    /// The flags word: `live` (bytes 0-1), `timer_held`, `vtimer_active`,
    /// `needs_sync`, then zeros.
    pub const FLAGS: usize = offset_of!(VgicState, live);
    /// The flags that make a switch out not quiet (`live`, `timer_held`).
    pub const OUTGOING_FLAGS: u64 = 0xff_ffff;
    /// `vtimer_active`, which a quiet switch out clears.
    pub const VTIMER_ACTIVE: usize = offset_of!(VgicState, vtimer_active);
    /// ICH_HCR_EL2 (right after the flags).
    pub const HCR: usize = offset_of!(VgicState, hcr);
    /// ICH_VMCR_EL2, then ICH_AP0R0_EL2.
    pub const VMCR: usize = offset_of!(VgicState, vmcr);
    /// ICH_AP1R0_EL2.
    pub const APR1: usize = offset_of!(VgicState, apr1);

    const _: () = assert!(offset_of!(VgicState, live) == 0);
    const _: () = assert!(offset_of!(VgicState, timer_held) == 2);
    const _: () = assert!(offset_of!(VgicState, needs_sync) == 4);
    const _: () = assert!(HCR == FLAGS + 8 && offset_of!(VgicState, apr0) == VMCR + 8);
}

impl VgicState {
    /// The list registers as saved (0 for those that hold nothing).
    pub fn saved_lrs(&self, lrs: &mut [u64]) {
        for (n, slot) in lrs.iter_mut().enumerate() {
            *slot = if self.live & (1 << n) != 0 {
                self.lrs.get(n).copied().unwrap_or(0)
            } else {
                0
            };
        }
    }

    /// Records the list-register contents and maintenance controls a sync
    /// produced (for a loaded vCPU, also written to the hardware).
    pub fn set_lrs(&mut self, lrs: &[u64], hcr: u64) {
        self.live = 0;
        for (n, value) in lrs.iter().enumerate().take(MAX_LRS) {
            if let Some(slot) = self.lrs.get_mut(n) {
                *slot = *value;
            }
            if *value != 0 {
                self.live |= 1 << n;
            }
        }
        self.hcr = hcr;
    }

    /// Saves the virtual interface of the running vCPU and clears it.
    pub fn save(&mut self, cpu: usize, vtimer_ppi: u32) {
        // Only list registers the model filled are read and cleared, and of
        // those only the ones the hardware says still hold something: most
        // switches have none, and cost nothing here.
        if self.live != 0 {
            if maintenance_status() != 0 {
                // An EOI or underflow the maintenance interrupt has not told
                // the core about yet: sync when it comes back.
                self.needs_sync = true;
            }
            let occupied = occupied_lrs() & self.live;
            for n in 0..lr_count() {
                if self.live & (1 << n) != 0 {
                    if let Some(slot) = self.lrs.get_mut(n) {
                        *slot = if occupied & (1 << n) != 0 {
                            read_lr(n)
                        } else {
                            0
                        };
                    }
                    write_lr(n, 0);
                }
            }
            self.live = occupied;
        }
        if self.hcr & !HCR_ENABLE != 0 {
            write_hcr(HCR_ENABLE);
        }
        match gic().map(|g| &g.ctrl) {
            Some(Controller::V2 { gich, .. }) => {
                self.vmcr = u64::from(gich.vmcr());
                self.apr0 = u64::from(gich.apr());
            }
            Some(Controller::V3 { .. }) => {
                self.vmcr = ICH_VMCR_EL2.get();
                self.apr0 = ICH_AP0R0_EL2.get();
                self.apr1 = ICH_AP1R0_EL2.get();
            }
            None => {}
        }
        // A HW-linked timer interrupt keeps the physical PPI active until the
        // guest deactivates it; carry that with the vCPU, not the CPU, so the
        // next vCPU's timer can fire (as KVM does on vcpu_put). With no list
        // register in use and none held by the model, it cannot be active.
        self.vtimer_active = (self.live != 0 || self.timer_held) && ppi_active(cpu, vtimer_ppi);
        if self.vtimer_active {
            set_ppi_active(cpu, vtimer_ppi, false);
        }
    }

    /// [`VgicState::save`] of the running vCPU into `self`, then
    /// [`VgicState::restore`] of `next`, for a switch between two vCPUs. The
    /// common case on GICv3 — on both sides no list register filled, no
    /// maintenance interrupt asked for, no timer interrupt held, as between
    /// services and guests with no interrupt in flight — moves only the
    /// control registers (VMCR, active priorities): the list registers are
    /// all empty then, and ICH_HCR_EL2 is at En.
    pub fn switch(&mut self, next: &VgicState, cpu: usize, vtimer_ppi: u32) {
        if self.is_quiet() && next.is_quiet() && !next.vtimer_active && is_v3() {
            self.vtimer_active = false;
            self.vmcr = ICH_VMCR_EL2.get();
            self.apr0 = ICH_AP0R0_EL2.get();
            self.apr1 = ICH_AP1R0_EL2.get();
            ICH_VMCR_EL2.set(next.vmcr);
            ICH_AP0R0_EL2.set(next.apr0);
            ICH_AP1R0_EL2.set(next.apr1);
            return;
        }
        self.save(cpu, vtimer_ppi);
        next.restore(cpu, vtimer_ppi);
    }

    /// Nothing in the list registers or the maintenance controls, and no
    /// timer interrupt held by the model: `save` and `restore` then only
    /// move VMCR and the active priorities.
    #[inline(always)]
    fn is_quiet(&self) -> bool {
        self.live == 0 && self.hcr & !HCR_ENABLE == 0 && !self.timer_held
    }

    /// Loads this vCPU's virtual interface state.
    pub fn restore(&self, cpu: usize, vtimer_ppi: u32) {
        // The hardware list registers are all empty here (`save` cleared
        // them): only the live ones need writing, and most switches have none.
        if self.live != 0 {
            for n in 0..lr_count() {
                if self.live & (1 << n) != 0 {
                    write_lr(n, self.lrs.get(n).copied().unwrap_or(0));
                }
            }
        }
        if self.hcr & !HCR_ENABLE != 0 {
            write_hcr(self.hcr);
        }
        match gic().map(|g| &g.ctrl) {
            Some(Controller::V2 { gich, .. }) => {
                gich.set_vmcr(self.vmcr as u32);
                gich.set_apr(self.apr0 as u32);
            }
            Some(Controller::V3 { .. }) => {
                ICH_VMCR_EL2.set(self.vmcr);
                ICH_AP0R0_EL2.set(self.apr0);
                ICH_AP1R0_EL2.set(self.apr1);
            }
            None => {}
        }
        if self.vtimer_active {
            set_ppi_active(cpu, vtimer_ppi, true);
        }
    }
}
