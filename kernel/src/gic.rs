//! The physical interrupt controller as the core uses it — acknowledge, drop
//! priority, deactivate, SGIs, PPI active state — and the list registers of the
//! virtual CPU interface, for GICv3 (system registers) and GICv2 (MMIO) behind
//! one interface.

use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU8, AtomicUsize, Ordering};

use aarch64_cpu::registers::*;
use kernel_core::MAX_CPUS;
use platform::{gicv2, gicv3};
use spin::Once;

use crate::arch::sysreg::{isb, read_sysreg, write_sysreg};

/// SGI the core uses to make another CPU look at its mailbox.
pub const SGI_RESCHEDULE: u32 = 1;

/// Most list registers the core uses.
pub const MAX_LRS: usize = 16;

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
}

static GIC: Once<Gic> = Once::new();

fn gic() -> Option<&'static Gic> {
    GIC.get()
}

/// Is the GIC a GICv3?
#[inline(always)]
pub fn is_v3() -> bool {
    IS_V3.load(Ordering::Relaxed)
}

/// Sets up the distributor (boot CPU, once).
pub fn init(frames: Frames, mpidrs: &[u64]) {
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
        }
    });
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

/// Per-CPU setup: CPU interface with EOImode = 1, the core's PPIs enabled,
/// the virtual interface enabled.
pub fn init_cpu(cpu: usize, ppis: &[u32]) {
    let Some(g) = gic() else { return };
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
            gich.set_hcr(1); // GICH_HCR.En
            gich.list_registers().min(MAX_LRS)
        }
        Controller::V3 { .. } => {
            if let Some(rd) = redistributor(g, cpu) {
                rd.init();
                for &p in ppis {
                    rd.enable(p);
                }
            }
            // ICC_SRE_EL2: SRE | DFB | DIB | Enable (EL1 may use ICC_SRE_EL1).
            write_sysreg!("icc_sre_el2", 0xf);
            isb();
            write_sysreg!("icc_pmr_el1", 0xff);
            write_sysreg!("icc_bpr1_el1", 0);
            // ICC_CTLR_EL1.EOImode = 1: EOIR drops priority, DIR deactivates.
            write_sysreg!("icc_ctlr_el1", 1 << 1);
            write_sysreg!("icc_igrpen1_el1", 1);
            isb();
            ICH_HCR_EL2.set(1); // En
            ((ICH_VTR_EL2.get() & 0x1f) as usize + 1).min(MAX_LRS)
        }
    };
    LR_COUNT.store(lrs as u8, Ordering::Release);
    ALL_LRS.store(((1u32 << lrs) - 1) as u16, Ordering::Release);
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
            let mask = g
                .cpu_masks
                .get(cpu)
                .map_or(1, |m| m.load(Ordering::Acquire).max(1));
            gicd.enable(intid, mask);
        }
        Controller::V3 { gicd, .. } => {
            if let Some(&mpidr) = g.mpidrs.get(cpu) {
                gicd.enable_spi(intid, mpidr);
            }
        }
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

/// The virtual CPU interface state of one vCPU: list registers and the
/// control registers the guest changes (VMCR, active priorities).
#[derive(Clone, Copy, Debug, Default)]
pub struct VgicState {
    lrs: [u64; MAX_LRS],
    /// Bit n set when `lrs[n]` holds an interrupt.
    live: u16,
    vmcr: u64,
    apr0: u64,
    apr1: u64,
    /// Was the physical virtual-timer PPI active (HW-linked, not yet
    /// deactivated by the guest) when this vCPU was switched out?
    pub vtimer_active: bool,
}

/// An interrupt to put in a list register.
#[derive(Clone, Copy, Debug)]
pub struct VirtualIrq {
    /// INTID the guest sees.
    pub vintid: u32,
    /// Physical INTID the guest's EOI deactivates (HW bit), if any.
    pub pintid: Option<u32>,
    /// Priority (8-bit; GICv2 keeps the top 5 bits).
    pub priority: u8,
}

/// Number of list registers, the same on every CPU; set by `init_cpu`.
static LR_COUNT: AtomicU8 = AtomicU8::new(0);

/// The GIC is a GICv3 (set by `init`; read on every switch, so kept apart
/// from the controller behind its `Once`).
static IS_V3: AtomicBool = AtomicBool::new(false);

/// Bit n set for each list register n (`LR_COUNT` as a mask).
static ALL_LRS: AtomicU16 = AtomicU16::new(0);

fn lrs() -> usize {
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

/// Bitmap of the list registers in use on this CPU.
fn live_lrs() -> u16 {
    let mask = ((1u32 << lrs()) - 1) as u16;
    let empty = match gic().map(|g| &g.ctrl) {
        Some(Controller::V2 { gich, .. }) => gich.empty_lrs() as u16,
        Some(Controller::V3 { .. }) => read_sysreg!("ich_elrsr_el2") as u16,
        None => mask,
    };
    !empty & mask
}

/// State bits of a list register: 0 = invalid (GICv3 [63:62], GICv2 [29:28]).
fn lr_state(v: u64) -> u64 {
    if is_v3() {
        v >> 62
    } else {
        (v >> 28) & 0b11
    }
}

fn lr_vintid(v: u64) -> u32 {
    if is_v3() {
        v as u32
    } else {
        (v & 0x3ff) as u32
    }
}

/// Encodes a pending list-register entry. GICv3 (ICH_LR<n>_EL2, §12.5.8):
/// State [63:62] = pending, HW [61], Group [60] = 1, Priority [55:48],
/// pINTID [44:32], vINTID [31:0]. GICv2 (GICH_LR<n>, §5.3.8): HW [31],
/// Grp1 [30] = 0 (guests on GICv2 take Group 0 as IRQ), State [29:28],
/// Priority [27:23], PhysicalID [19:10], VirtualID [9:0].
fn encode_lr(irq: VirtualIrq) -> u64 {
    if is_v3() {
        let mut v = 0b01 << 62 | 1 << 60 | u64::from(irq.priority) << 48 | u64::from(irq.vintid);
        if let Some(p) = irq.pintid {
            v |= 1 << 61 | u64::from(p & 0x1fff) << 32;
        }
        v
    } else {
        let mut v = 0b01 << 28 | u64::from(irq.priority >> 3) << 23 | u64::from(irq.vintid & 0x3ff);
        if let Some(p) = irq.pintid {
            v |= 1 << 31 | u64::from(p & 0x3ff) << 10;
        }
        v
    }
}

/// Puts `irq` in a free list register of the running vCPU. False if every
/// list register is busy or the interrupt is already listed.
pub fn inject(irq: VirtualIrq) -> bool {
    let n = lrs();
    let mut free = None;
    for i in 0..n {
        let v = read_lr(i);
        if lr_state(v) == 0 {
            free.get_or_insert(i);
        } else if lr_vintid(v) == irq.vintid {
            return false;
        }
    }
    match free {
        Some(i) => {
            write_lr(i, encode_lr(irq));
            true
        }
        None => false,
    }
}

/// New list-register value for a level change of a software interrupt, or
/// `None` to leave it: raising makes it pending (keeping an active state),
/// lowering withdraws a pending state the guest has not acknowledged yet.
fn relevel(lr: u64, high: bool) -> Option<u64> {
    let state = lr_state(lr);
    let (shift, mask) = if is_v3() {
        (62, 0b11u64 << 62)
    } else {
        (28, 0b11u64 << 28)
    };
    let new_state = match (state, high) {
        (0b10, true) => 0b11,
        (0b01, false) => 0b00,
        (0b11, false) => 0b10,
        _ => return None,
    };
    Some((lr & !mask) | new_state << shift)
}

/// Sets the line of software (non-HW) virtual interrupt `vintid` on the
/// loaded vCPU. Returns true if it was newly made pending.
pub fn set_line(vintid: u32, priority: u8, high: bool) -> bool {
    for i in 0..lrs() {
        let v = read_lr(i);
        if lr_state(v) != 0 && lr_vintid(v) == vintid {
            if let Some(new) = relevel(v, high) {
                write_lr(i, new);
                return high;
            }
            return false;
        }
    }
    high && inject(VirtualIrq {
        vintid,
        pintid: None,
        priority,
    })
}

/// True if any list register of the running vCPU holds a pending interrupt
/// (a WFI must then not block).
pub fn has_pending() -> bool {
    (0..lrs()).any(|i| lr_state(read_lr(i)) & 0b01 != 0)
}

impl VgicState {
    /// As [`set_line`], on a vCPU that is not loaded (its saved state).
    pub fn set_line(&mut self, vintid: u32, priority: u8, high: bool) -> bool {
        let n = lrs();
        // Only live entries mean anything; the others are stale.
        let live = |i: usize| self.live & (1 << i) != 0;
        for i in 0..n {
            let v = self.lrs[i];
            if live(i) && lr_state(v) != 0 && lr_vintid(v) == vintid {
                if let Some(new) = relevel(v, high) {
                    self.lrs[i] = new;
                    if lr_state(new) == 0 {
                        self.live &= !(1 << i);
                    }
                    return high;
                }
                return false;
            }
        }
        if !high {
            return false;
        }
        match (0..n).find(|&i| !live(i) || lr_state(self.lrs[i]) == 0) {
            Some(i) => {
                self.lrs[i] = encode_lr(VirtualIrq {
                    vintid,
                    pintid: None,
                    priority,
                });
                self.live |= 1 << i;
                true
            }
            None => false,
        }
    }

    /// Saves the virtual interface of the running vCPU and clears it.
    pub fn save(&mut self, cpu: usize, vtimer_ppi: u32) {
        // Only list registers in use are read and cleared (ICH_ELRSR_EL2 /
        // GICH_ELRSR0 name the empty ones): most switches have none.
        let live = live_lrs();
        self.live = live;
        if live != 0 {
            for i in 0..lrs() {
                if live & (1 << i) != 0 {
                    self.lrs[i] = read_lr(i);
                    write_lr(i, 0);
                }
            }
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
        // register in use, no injected timer interrupt can be active.
        self.vtimer_active = live != 0 && ppi_active(cpu, vtimer_ppi);
        if self.vtimer_active {
            set_ppi_active(cpu, vtimer_ppi, false);
        }
    }

    /// [`VgicState::save`] of the running vCPU into `self`, then
    /// [`VgicState::restore`] of `next`, for a switch between two vCPUs. The
    /// common case on GICv3 — no list register in use on either side, as
    /// between services and guests with no interrupt in flight — moves only
    /// the control registers (VMCR, active priorities).
    pub fn switch(&mut self, next: &VgicState, cpu: usize, vtimer_ppi: u32) {
        if next.live == 0 && !next.vtimer_active && is_v3() {
            let empty = read_sysreg!("ich_elrsr_el2") as u16;
            let all = ALL_LRS.load(Ordering::Relaxed);
            if empty & all == all {
                self.live = 0;
                self.vtimer_active = false;
                self.vmcr = ICH_VMCR_EL2.get();
                self.apr0 = ICH_AP0R0_EL2.get();
                self.apr1 = ICH_AP1R0_EL2.get();
                ICH_VMCR_EL2.set(next.vmcr);
                ICH_AP0R0_EL2.set(next.apr0);
                ICH_AP1R0_EL2.set(next.apr1);
                return;
            }
        }
        self.save(cpu, vtimer_ppi);
        next.restore(cpu, vtimer_ppi);
    }

    /// Loads this vCPU's virtual interface state.
    pub fn restore(&self, cpu: usize, vtimer_ppi: u32) {
        // The hardware list registers are all empty here (`save` cleared
        // them): only the live ones need writing, and most switches have none.
        if self.live != 0 {
            for i in 0..lrs() {
                if self.live & (1 << i) != 0 {
                    write_lr(i, self.lrs[i]);
                }
            }
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
