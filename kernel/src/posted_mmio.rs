//! Posted MMIO (`abi::posted_mmio`): the registers a device service
//! published for its emulated windows, applied to guest accesses. A load of
//! a published value and a store to a posted register are completed here,
//! on the guest's CPU, without a switch to the service; stores wait in the
//! window's queue until the service drains them (KVM's coalesced MMIO, with
//! capabilities). Everything else goes to the service as a synchronous
//! message (`ipc::device_abort`). The policy — table, queue, arming — is
//! `kernel_core::posted_mmio`; here are the windows, their locks and the
//! two hypercalls.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use abi::posted_mmio::{kind, REGISTER_PAGE};
use abi::Error;
use kernel_core::esr::DataAbort;
use kernel_core::manifest::MAX_PARTITIONS;
use kernel_core::posted_mmio::{
    named_wake, named_window, PageChange, RegisterPage, Store, WindowState,
};
use spin::{Mutex, Once};

use crate::arch::cache;
use crate::ipc::{complete_access, set as set_results, stored_value};
use crate::partition::{self, Partition, Vcpu};
use crate::trap::Effect;
use crate::{cpu, objects};

const OK: u64 = abi::SUCCESS as u64;

/// One emulated device window's posted-MMIO state.
struct Window {
    /// The partition whose window it is.
    partition: usize,
    /// Its index among that partition's devices.
    device: usize,
    /// Endpoint of the service behind it.
    endpoint: u32,
    /// The badge its service knows it by.
    badge: u64,
    /// Its size in bytes.
    size: u64,
    /// Where it is in the guest's address space.
    ipa: u64,
    /// Two vCPUs of the guest (on different CPUs) and the service may
    /// reach it at once.
    state: Mutex<WindowState>,
}

/// Bit `d` of entry `p`: partition `p`'s device `d` has some register
/// published (the manifest holds at most 64 devices). Read before anything
/// else, so an access to a window with nothing published costs a load and
/// a test; a stale bit only sends an access the synchronous way, which is
/// always right, or to the lock, which has the truth.
static PUBLISHED: [AtomicU64; MAX_PARTITIONS] = [const { AtomicU64::new(0) }; MAX_PARTITIONS];

impl Window {
    /// Records in [`PUBLISHED`] whether `state` (this window's, locked) has
    /// registers.
    fn note_published(&self, state: &WindowState) {
        let Some(bits) = PUBLISHED.get(self.partition) else {
            return;
        };
        let bit = 1u64.checked_shl(self.device as u32).unwrap_or(0);
        if state.has_registers() {
            bits.fetch_or(bit, Ordering::Release);
        } else {
            bits.fetch_and(!bit, Ordering::Release);
        }
    }

    /// Carries out what a publish or reset said about the register page
    /// (`state` is this window's, locked, so a map and an unmap never
    /// cross). Mapping cleans the page to the point of coherency first: a
    /// guest's Device-type loads read memory, not the core's caches.
    /// Unmapping invalidates the guest's translations on every CPU, so no
    /// load reads the page once this returns.
    fn apply(&self, state: &mut WindowState, change: PageChange) -> Result<(), Error> {
        let Some(guest) = partition::partition(self.partition) else {
            return Err(Error::NotPresent);
        };
        match change {
            PageChange::None => {}
            PageChange::Map => {
                let page = page_address(state);
                cache::clean_invalidate_to_poc(page, REGISTER_PAGE);
                if guest.ram.map_register_page(self.ipa, page).is_err() {
                    state.map_failed();
                    return Err(Error::InvalidParameter);
                }
            }
            PageChange::Unmap => {
                // Unmapping a page this window mapped cannot fail (no block
                // to split); invalidate whatever happens.
                let _ = guest.ram.unmap_register_page(self.ipa);
                cpu::flush_guest_tlb(guest.vttbr);
            }
        }
        Ok(())
    }
}

/// Physical address of `state`'s register page (the core's memory is
/// identity-mapped).
fn page_address(state: &WindowState) -> u64 {
    core::ptr::from_ref::<RegisterPage>(state.page()) as u64
}

/// Every window of every partition.
struct Windows {
    /// Partition by partition, each in its device order.
    all: Vec<Window>,
    /// Index in `all` of each partition's first window.
    first: Vec<usize>,
}

static WINDOWS: Once<Windows> = Once::new();

/// The windows; none before boot built them.
fn windows() -> Option<&'static Windows> {
    WINDOWS.get()
}

/// Creates every window's state, empty (after the partitions are built).
pub fn build() {
    let mut all = Vec::new();
    let mut first = Vec::new();
    for p in &partition::system().partitions {
        first.push(all.len());
        all.extend(p.devices.iter().enumerate().map(|(device, d)| Window {
            partition: p.id,
            device,
            endpoint: d.endpoint,
            badge: d.badge,
            size: d.size,
            ipa: d.ipa,
            state: Mutex::new(WindowState::new()),
        }));
    }
    WINDOWS.call_once(|| Windows { all, first });
}

/// Device `device` (its index in `p.devices`) of partition `p`.
fn window_of(p: &Partition, device: usize) -> Option<&'static Window> {
    let w = windows()?;
    w.all.get(w.first.get(p.id)?.wrapping_add(device))
}

/// vCPU `id` (`v`, of `p`) trapped on an access at `offset` in its device
/// `device`, with a valid syndrome `da`. A load of a published value gets
/// it; a store to a posted register is queued (signalling the armed
/// notification, if any). Either way the guest steps over the access and
/// runs on at once: `Effect::SwitchTo` itself, which hands the CPU straight
/// back unless a request (the signal's wake-up on this CPU, say) needs the
/// scheduler. `None`: the service must answer it.
///
/// An access to a window with nothing published pays one load and a test
/// here (`mmio_emulated_read_roundtrip` grew from 1,150 to 1,163
/// instructions with this hook; inlined, because a call measured more on
/// both paths).
#[inline(always)]
pub fn complete(
    id: usize,
    v: &Vcpu,
    p: &Partition,
    device: usize,
    offset: u64,
    da: &DataAbort,
) -> Option<Effect> {
    let published = PUBLISHED.get(p.id)?.load(Ordering::Acquire);
    if published.checked_shr(device as u32).unwrap_or(0) & 1 == 0 {
        return None;
    }
    let window = window_of(p, device)?;
    let size = da.access_size_bytes;
    if da.write {
        let value = stored_value(v, da);
        let stored = window.state.lock().store(offset, size, value, v.index);
        let Store::Queued { wake } = stored else {
            return None;
        };
        if let Some(wake) = wake {
            if let Some(n) = objects::notification(wake.notification) {
                objects::signal(n, wake.bits);
            }
        }
        complete_access(&mut v.ctx().regs, true, size, 31, false, false, 0);
    } else {
        let value = window.state.lock().load(offset, size)?;
        complete_access(
            &mut v.ctx().regs,
            false,
            size,
            da.register,
            da.sign_extend,
            da.sixty_four,
            value,
        );
    }
    Some(Effect::SwitchTo(id))
}

/// The window a call from `p` names: x1 = endpoint slot (right `recv`),
/// x2 = the window's badge.
fn named(p: &Partition, slot: u64, badge: u64) -> Result<&'static Window, Error> {
    let all = windows().map_or(&[][..], |w| &w.all[..]);
    let index = named_window(
        &p.caps,
        slot,
        badge,
        all.iter().map(|w| (w.endpoint, w.badge)),
    )?;
    all.get(index).ok_or(Error::NotPresent)
}

/// `MMIO_PUBLISH` from `v` of `p`: x3 = offset, x4 = kind, x5 = value.
pub fn publish(v: &Vcpu, p: &Partition) -> Result<Effect, Error> {
    let regs = &mut v.ctx().regs;
    let [_, slot, badge, offset, kind, value, ..] = regs.x;
    let window = named(p, slot, badge)?;
    {
        let mut state = window.state.lock();
        let change = state.publish(window.size, offset, kind, value)?;
        if kind == kind::READ && state.reads_mapped() {
            // The guest may be reading the page with Device-type loads.
            let word = page_address(&state) + offset;
            cache::clean_invalidate_to_poc(word, 4);
        }
        let applied = window.apply(&mut state, change);
        window.note_published(&state);
        applied?;
    }
    set_results(regs, &[OK]);
    Ok(Effect::ResultOnly)
}

/// `MMIO_DRAIN` from `v` of `p`: x3 = notification slot and x4 = bits to
/// arm (0: none). Returns x1 = the drain status, x2..x6 = the writes.
pub fn drain(v: &Vcpu, p: &Partition) -> Result<Effect, Error> {
    let regs = &mut v.ctx().regs;
    let [_, slot, badge, wake_slot, wake_bits, ..] = regs.x;
    let window = named(p, slot, badge)?;
    let wake = named_wake(&p.caps, wake_slot, wake_bits)?;
    let drained = window.state.lock().drain(wake);
    let [w0, w1, w2, w3, w4] = drained.words;
    set_results(regs, &[OK, drained.status.to_word(), w0, w1, w2, w3, w4]);
    Ok(Effect::ResultOnly)
}

/// Partition `p` stopped: the windows it serves forget what it published,
/// queued and armed, so guests' accesses wait for it the synchronous way
/// until it is back and publishes again. (A stopping guest keeps its own
/// windows' queues: its last words still get printed.)
pub fn server_stopped(p: &Partition) {
    for window in windows().map_or(&[][..], |w| &w.all[..]) {
        if objects::endpoint(window.endpoint).is_some_and(|e| e.server == p.id) {
            let mut state = window.state.lock();
            let change = state.reset();
            // Unmapping cannot fail.
            let _ = window.apply(&mut state, change);
            window.note_published(&state);
        }
    }
}
