//! Delivery: folding the state of a vCPU's list registers back into the
//! model, and refilling them with the interrupts it should see, highest
//! priority first.

use super::irq::{Irq, NO_VCPU};
use super::lr::{self, LrEntry};
use super::{bitmap, LrSlot, Physical, Version, Vgic, MAX_LRS, PRIVATE_INTIDS};

/// What a `rebuild` left in a vCPU's list registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// At least one register holds a pending interrupt: a WFI must not block.
    pub pending: bool,
    /// More interrupts were deliverable than registers: set the underflow
    /// maintenance interrupt (`lr::HCR_UNDERFLOW`) to refill them later.
    pub overflow: bool,
    /// A physical private interrupt (the timer PPI) is held active for the
    /// guest without a list register linking it: keep its physical active
    /// state with the vCPU when switching it out.
    pub private_hw_held: bool,
}

/// A candidate for a list register and its sort key: active ones first (the
/// guest must find them to deactivate them), then by priority, then INTID.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    key: (bool, u8, u32),
    intid: u32,
}

/// The best `len` candidates seen, sorted.
struct Best {
    slots: [Option<Candidate>; MAX_LRS],
    len: usize,
    offered: usize,
}

impl Best {
    fn new(len: usize) -> Self {
        Self {
            slots: [None; MAX_LRS],
            len: len.min(MAX_LRS),
            offered: 0,
        }
    }

    fn offer(&mut self, candidate: Candidate) {
        self.offered += 1;
        let Some(slots) = self.slots.get_mut(..self.len) else {
            return;
        };
        let position = slots
            .iter()
            .position(|s| s.is_none_or(|s| candidate.key < s.key));
        if let Some(at) = position {
            let mut carry = Some(candidate);
            for slot in slots.iter_mut().skip(at) {
                carry = core::mem::replace(slot, carry);
                if carry.is_none() {
                    break;
                }
            }
        }
    }

    fn chosen(&self) -> impl Iterator<Item = Candidate> + '_ {
        self.slots.iter().take(self.len).flatten().copied()
    }

    fn overflowed(&self) -> bool {
        self.offered > self.len
    }
}

impl Vgic<'_> {
    /// Merges what vCPU `vcpu`'s list registers say — `lrs` as read from the
    /// hardware or the vCPU's saved state — into the model. Every interrupt
    /// `rebuild` placed there comes back: still pending, active (the guest
    /// acknowledged it), or done (it deactivated it). `rebuild` must follow
    /// before the vCPU runs again.
    pub fn fold(&mut self, vcpu: usize, lrs: &[u64]) {
        let version = self.version;
        let Some(cpu) = self.cpus.get_mut(vcpu) else {
            return;
        };
        let mut slots = [None; MAX_LRS];
        for (taken, slot) in slots.iter_mut().zip(cpu.lr_map.iter_mut()).take(lrs.len()) {
            *taken = slot.take();
        }
        for (slot, &raw) in slots.iter().zip(lrs) {
            let Some(slot) = slot else { continue };
            let state = lr::state(version, raw);
            let multi = version == Version::V2 && slot.intid < 16;
            if let Some(irq) = self.irq_mut(vcpu, slot.intid) {
                irq.fold(state, slot.source, multi);
            }
        }
    }

    /// Refills vCPU `vcpu`'s list registers (`lrs`, as many as the hardware
    /// has) from the model: `fold` must have run first. Interrupts that do
    /// not fit stay pending in the model.
    pub fn rebuild(&mut self, vcpu: usize, lrs: &mut [u64], phys: &mut impl Physical) -> Rebuilt {
        lrs.fill(0);
        let mut result = Rebuilt::default();
        let Some(online) = self
            .cpus
            .get(vcpu)
            .filter(|_| vcpu < self.vcpus)
            .map(|c| c.online)
        else {
            return result;
        };
        let count = lrs.len().min(MAX_LRS);
        let mut best = Best::new(if online { count } else { 0 });

        // Private interrupts of this vCPU that may be busy.
        let busy_private = self.cpus.get(vcpu).map_or(0, |c| c.busy);
        for intid in bitmap::bits(busy_private) {
            if let Some(irq) = self.irq_mut(vcpu, intid) {
                if irq.hw && irq.phys_held && !irq.pending() && !irq.active {
                    // The guest cleared a HW interrupt it had not taken:
                    // nobody else will deactivate the physical one.
                    irq.phys_held = false;
                    phys.deactivate(vcpu, intid);
                }
            }
            let Some(irq) = self.irq(vcpu, intid) else {
                continue;
            };
            if irq.active || self.deliverable(irq) {
                best.offer(Candidate {
                    key: (!irq.active, irq.priority, intid),
                    intid,
                });
            }
        }

        // SPIs that may be busy, owned by or routed to this vCPU.
        let me = vcpu as u8;
        for index in self.busy_spis.iter() {
            let intid = PRIVATE_INTIDS + index as u32;
            let Some(irq) = self.spis.get(index) else {
                continue;
            };
            let deliverable = self.deliverable(irq);
            // Pending interrupts go to their target; an active one stays
            // with the vCPU that must deactivate it (and so does its
            // pending state meanwhile: the GIC forwards nothing active).
            let mine = if irq.owner == me {
                irq.active || irq.target == me
            } else {
                irq.owner == NO_VCPU && irq.target == me
            };
            if mine && (irq.active || deliverable) {
                best.offer(Candidate {
                    key: (!irq.active, irq.priority, intid),
                    intid,
                });
            } else if irq.owner == me {
                // No longer for this vCPU (disabled, cleared, routed
                // elsewhere): let its target have it.
                let target = irq.target;
                if let Some(irq) = self.spis.get_mut(index) {
                    irq.owner = NO_VCPU;
                }
                if target != me {
                    self.kick(usize::from(target));
                }
            }
            self.settle_spi(index, phys);
        }

        // Place the chosen ones.
        let chosen: [Option<Candidate>; MAX_LRS] = {
            let mut out = [None; MAX_LRS];
            for (slot, c) in out.iter_mut().zip(best.chosen()) {
                *slot = Some(c);
            }
            out
        };
        for (index, candidate) in chosen.iter().enumerate() {
            let Some(candidate) = candidate else { break };
            let Some((entry, slot)) = self.place(vcpu, candidate.intid) else {
                continue;
            };
            if let Some(raw) = lrs.get_mut(index) {
                *raw = lr::encode(self.version, &entry);
            }
            if let Some(map) = self
                .cpus
                .get_mut(vcpu)
                .and_then(|c| c.lr_map.get_mut(index))
            {
                *map = Some(slot);
            }
            result.pending |= entry.pending;
        }
        result.overflow = online && best.overflowed();

        // SPIs this vCPU owned that did not fit: a pending one waits in the
        // model for whoever it is routed to; an active one stays with this
        // vCPU (only it can deactivate it).
        for index in self.busy_spis.iter() {
            if let Some(irq) = self.spis.get_mut(index) {
                if irq.owner == me && !irq.in_lr && !irq.active {
                    irq.owner = NO_VCPU;
                }
            }
        }
        if let Some(cpu) = self.cpus.get_mut(vcpu) {
            for intid in bitmap::bits(busy_private) {
                let Some(irq) = cpu.private.get_mut(intid as usize) else {
                    continue;
                };
                if !irq.in_lr && !irq.active {
                    irq.owner = NO_VCPU;
                }
                result.private_hw_held |= irq.hw && irq.phys_held && !irq.in_lr;
                if !irq.busy() {
                    cpu.busy &= !(1 << intid);
                }
            }
        }
        result
    }

    /// A HW SPI whose physical interrupt is held for the guest but that is no
    /// longer pending or active in the model (the guest cleared it) gets
    /// the physical one deactivated; an idle SPI leaves the busy set.
    fn settle_spi(&mut self, index: usize, phys: &mut impl Physical) {
        let Some(irq) = self.spis.get_mut(index) else {
            return;
        };
        if irq.hw && irq.phys_held && !irq.in_lr && !irq.pending() && !irq.active {
            irq.phys_held = false;
            phys.deactivate(NO_VCPU.into(), PRIVATE_INTIDS + index as u32);
        }
        if !irq.busy() {
            self.busy_spis.remove(index);
        }
    }

    /// Builds the list-register entry for interrupt `intid` of `vcpu` and
    /// moves its state into it: an edge's pending latch (or a GICv2 SGI's
    /// source) now lives in the register until `fold` brings it back.
    fn place(&mut self, vcpu: usize, intid: u32) -> Option<(LrEntry, LrSlot)> {
        let deliverable = self
            .irq(vcpu, intid)
            .is_some_and(|irq| self.deliverable(irq));
        let multi = self.version == Version::V2 && intid < 16;
        let irq: &mut Irq = self.irq_mut(vcpu, intid)?;
        let mut entry = LrEntry {
            vintid: intid,
            source: 0,
            pending: false,
            active: irq.active,
            hw: irq.hw,
            group1: irq.group1,
            priority: irq.priority,
            eoi_maintenance: false,
        };
        if multi {
            // One source at a time (GICH_LR names one CPUID); the EOI bit
            // brings the core back for the next one.
            if irq.active {
                entry.source = irq.active_source;
                let only_this = irq.sources & !(1 << (irq.active_source & 7)) == 0;
                if deliverable && only_this && irq.sources != 0 {
                    entry.pending = true;
                    irq.sources = 0;
                } else if irq.sources != 0 {
                    entry.eoi_maintenance = true;
                }
            } else if deliverable {
                let source = irq.sources.trailing_zeros() as u8 & 7;
                entry.source = source;
                entry.pending = true;
                irq.sources &= !(1 << source);
                entry.eoi_maintenance = irq.sources != 0;
            }
        } else {
            entry.pending = deliverable;
            if deliverable && (irq.edge || irq.hw) {
                irq.latch = false;
            }
            // Level-sensitive and placed pending: once the guest has taken
            // it the register forgets the line, so sample the line again
            // when the guest is done (it may still be high).
            entry.eoi_maintenance = irq.is_software_level() && entry.pending;
        }
        if entry.hw {
            // The register's HW link now deactivates the physical interrupt.
            irq.phys_held = false;
        }
        irq.owner = vcpu as u8;
        irq.in_lr = true;
        irq.lr_pending = entry.pending;
        Some((
            entry,
            LrSlot {
                intid,
                source: entry.source,
            },
        ))
    }
}
