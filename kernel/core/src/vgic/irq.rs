//! The state of one virtual interrupt: what the guest programmed (enable,
//! group, priority, trigger, routing) and where it is in its life (pending
//! latch, line level, active, held in a list register).

use super::lr::LrState;

/// Marks "no vCPU" in the one-byte vCPU fields.
pub(super) const NO_VCPU: u8 = u8::MAX;

/// One interrupt of a partition's virtual GIC: an SPI, or an SGI/PPI of one
/// vCPU. The kernel allocates the SPI storage (`Irq::IDLE` each) and hands
/// it to [`super::Vgic::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Irq {
    /// GICD_ISENABLER: forwarded when pending.
    pub(super) enabled: bool,
    /// GICD_IGROUPR: Group 1 (else Group 0).
    pub(super) group1: bool,
    /// GICD_IPRIORITYR, implemented bits only.
    pub(super) priority: u8,
    /// GICD_ICFGR: edge-triggered (else level-sensitive).
    pub(super) edge: bool,
    /// Pending latch: an edge, a software pend (ISPENDR), an SGI (GICv3) or
    /// a physical occurrence of a HW interrupt the core took.
    pub(super) latch: bool,
    /// Level of the input line (level-sensitive software interrupts).
    pub(super) line: bool,
    /// Active.
    pub(super) active: bool,
    /// Linked to the physical interrupt with the same INTID (the virtual
    /// timer PPI, a passed-through SPI).
    pub(super) hw: bool,
    /// HW only: the physical interrupt is active on the guest's behalf while
    /// no list register links it (the guest has not taken it yet).
    pub(super) phys_held: bool,
    /// GICv2 SGIs: bit `s` set when pending from source CPU `s`.
    pub(super) sources: u8,
    /// GICv2 SGIs: the source of the active instance.
    pub(super) active_source: u8,
    /// The vCPU whose list registers hold it (or that keeps it active while
    /// its list registers overflowed), or [`NO_VCPU`].
    pub(super) owner: u8,
    /// In one of the owner's list registers right now.
    pub(super) in_lr: bool,
    /// Placed in that list register with its pending bit.
    pub(super) lr_pending: bool,
    /// Someone else wrote the pending state while a list register of a
    /// running vCPU held it: at fold-back the model's value wins.
    pub(super) pending_written: bool,
    /// As `pending_written`, for the active state.
    pub(super) active_written: bool,
    /// GICD_IROUTER (GICv3 SPIs): Aff2.Aff1.Aff0 in bits [23:0].
    pub(super) route: u32,
    /// GICD_IROUTER.Interrupt_Routing_Mode: any participating vCPU.
    pub(super) any_vcpu: bool,
    /// GICD_ITARGETSR (GICv2 SPIs): CPU interface mask.
    pub(super) targets: u8,
    /// The vCPU the routing resolves to, or [`NO_VCPU`].
    pub(super) target: u8,
}

impl Irq {
    /// A disabled, idle interrupt, Group 0, priority 0, level-sensitive,
    /// routed nowhere; [`super::Vgic::new`] sets each one's reset state.
    pub const IDLE: Irq = Irq {
        enabled: false,
        group1: false,
        priority: 0,
        edge: false,
        latch: false,
        line: false,
        active: false,
        hw: false,
        phys_held: false,
        sources: 0,
        active_source: 0,
        owner: NO_VCPU,
        in_lr: false,
        lr_pending: false,
        pending_written: false,
        active_written: false,
        route: 0,
        any_vcpu: false,
        targets: 0,
        target: NO_VCPU,
    };

    /// Level-sensitive and driven by a line the model tracks (not HW).
    pub(super) fn is_software_level(&self) -> bool {
        !self.edge && !self.hw
    }

    /// Pending in the model (not counting a pending state a list register
    /// holds).
    pub(super) fn pending(&self) -> bool {
        self.latch || self.sources != 0 || (self.is_software_level() && self.line)
    }

    /// Pending as a register read reports it: the model's, or the list
    /// register's as last seen.
    pub(super) fn pending_visible(&self) -> bool {
        self.pending() || (self.in_lr && self.lr_pending)
    }

    /// Worth the delivery logic's attention: pending, active, held in a
    /// list register or holding its physical twin active.
    pub(super) fn busy(&self) -> bool {
        self.pending() || self.active || self.owner != NO_VCPU || self.phys_held
    }

    /// Merges the state a list register reports back into the model.
    /// `source` is the GICv2 SGI source the register named; `multi_source`
    /// says the interrupt is a GICv2 SGI.
    pub(super) fn fold(&mut self, state: LrState, source: u8, multi_source: bool) {
        self.in_lr = false;
        if !self.active_written {
            self.active = state.active;
            if multi_source && state.active {
                self.active_source = source;
            }
        }
        if !self.pending_written {
            if multi_source {
                if state.pending {
                    self.sources |= 1 << (source & 7);
                }
            } else if self.edge || self.hw {
                // The pending state moved into the register when it was
                // placed; it comes back if the guest has not taken it.
                if state.pending {
                    self.latch = true;
                }
            } else if !state.pending {
                // Level-sensitive: acknowledging consumes a software pend
                // (IHI 0069H §4.1.2); the line keeps it pending if high.
                self.latch = false;
            }
        }
        if self.hw {
            // A HW register the guest has not deactivated still has the
            // physical interrupt active.
            self.phys_held = !state.is_invalid();
        }
        self.lr_pending = false;
        self.pending_written = false;
        self.active_written = false;
    }
}
