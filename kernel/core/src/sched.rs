//! Per-CPU scheduling policy: fixed priorities, round robin inside a priority,
//! vCPUs blocked in WFI until a deadline. One `RunQueue` per physical CPU holds
//! the vCPUs homed there; vCPUs never migrate, so it needs no locking of its own.

use crate::manifest::MAX_VCPUS;

/// Most vCPUs homed on one physical CPU.
pub const MAX_LOCAL_VCPUS: usize = 16;

/// Scheduling state of one vCPU on its home CPU. Word-sized, with fixed
/// values, for the core's IPC fast path ([`layout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum RunState {
    /// Ready to run (or running).
    Runnable = 0,
    /// Waiting (WFI): until `wake_at` if set, or until made runnable.
    Blocked = 1,
    /// Not started, powered off, or its partition is stopped.
    Off = 2,
}

/// A wake-up deadline in counter ticks, or none ([`Deadline::NEVER`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
struct Deadline(u64);

impl Deadline {
    /// No deadline (a tick count the counter never reaches).
    const NEVER: Self = Self(u64::MAX);

    fn new(at: Option<u64>) -> Self {
        at.map_or(Self::NEVER, |t| Self(t.min(u64::MAX - 1)))
    }

    fn get(self) -> Option<u64> {
        (self != Self::NEVER).then_some(self.0)
    }
}

/// `wake_at` and `state` come first and together, so that the fast path
/// sets both with one store pair.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Entry {
    wake_at: Deadline,
    state: RunState,
    vcpu: usize,
    /// When it was last switched to; the smallest runs next among equals.
    last_picked: u64,
    priority: u8,
}

/// Where the core's IPC fast path (hand-written assembly, `kernel/src/arch/
/// ipc_fast.rs`) finds a run queue's state: it makes the changes of
/// [`RunQueue::hand_over`] and no others.
pub mod layout {
    use super::{Entry, RunQueue};

    /// Offset in an entry of the wake-up deadline, followed by the state.
    pub const WAKE_AT: usize = core::mem::offset_of!(Entry, wake_at);
    /// Offset in the queue of the current vCPU's id ([`NO_CURRENT`]: none).
    pub const CURRENT: usize = core::mem::offset_of!(RunQueue, current);
    /// `wake_at` of a vCPU with no deadline.
    pub const NO_DEADLINE: u64 = super::Deadline::NEVER.0;
    /// `current` with no current vCPU.
    pub const NO_CURRENT: usize = usize::MAX;
    /// `state` values.
    pub const RUNNABLE: u64 = super::RunState::Runnable as u64;
    /// See [`RUNNABLE`].
    pub const BLOCKED: u64 = super::RunState::Blocked as u64;
}

const _: () = assert!(core::mem::offset_of!(Entry, state) == layout::WAKE_AT + 8);

/// Errors from [`RunQueue::add`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedError {
    /// More than [`MAX_LOCAL_VCPUS`] on one CPU.
    Full,
    /// The vCPU is already in the queue.
    Duplicate,
}

/// The vCPUs of one physical CPU.
#[derive(Debug)]
pub struct RunQueue {
    /// The first `len` entries are in use (vCPUs are only ever added).
    entries: [Entry; MAX_LOCAL_VCPUS],
    len: usize,
    /// Slot of each global vCPU id in `entries`, or [`NO_SLOT`].
    slot_of: [u8; MAX_VCPUS],
    /// The current vCPU, or [`layout::NO_CURRENT`].
    current: usize,
    picks: u64,
}

/// `slot_of` value of a vCPU not homed here.
const NO_SLOT: u8 = u8::MAX;

const EMPTY: Entry = Entry {
    vcpu: usize::MAX,
    priority: 0,
    state: RunState::Off,
    wake_at: Deadline::NEVER,
    last_picked: 0,
};

impl Default for RunQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl RunQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            entries: [EMPTY; MAX_LOCAL_VCPUS],
            len: 0,
            slot_of: [NO_SLOT; MAX_VCPUS],
            current: layout::NO_CURRENT,
            picks: 0,
        }
    }

    /// Adds a vCPU (global id, below `manifest::MAX_VCPUS`) in state `Off`.
    pub fn add(&mut self, vcpu: usize, priority: u8) -> Result<(), SchedError> {
        let Some(&slot) = self.slot_of.get(vcpu) else {
            return Err(SchedError::Full);
        };
        if slot != NO_SLOT {
            return Err(SchedError::Duplicate);
        }
        if self.len == MAX_LOCAL_VCPUS {
            return Err(SchedError::Full);
        }
        self.entries[self.len] = Entry {
            vcpu,
            priority,
            ..EMPTY
        };
        self.slot_of[vcpu] = self.len as u8;
        self.len += 1;
        Ok(())
    }

    fn live(&self) -> &[Entry] {
        &self.entries[..self.len]
    }

    /// `slot_of` holds only slots below `len` (or [`NO_SLOT`], past the end
    /// of `entries`), so the slot alone finds a live entry.
    #[inline(always)]
    fn entry_mut(&mut self, vcpu: usize) -> Option<&mut Entry> {
        let slot = usize::from(*self.slot_of.get(vcpu)?);
        self.entries.get_mut(slot)
    }

    /// Byte offset in this queue of vCPU `vcpu`'s entry, if it is homed
    /// here (fixed once added), for the IPC fast path ([`layout`]).
    pub fn entry_offset(&self, vcpu: usize) -> Option<usize> {
        let slot = usize::from(*self.slot_of.get(vcpu)?);
        (slot < self.len).then(|| {
            core::mem::offset_of!(RunQueue, entries) + slot * core::mem::size_of::<Entry>()
        })
    }

    fn entry_priority(&self, vcpu: usize) -> Option<u8> {
        let slot = usize::from(*self.slot_of.get(vcpu)?);
        self.live().get(slot).map(|e| e.priority)
    }

    /// The state of a vCPU, if it is homed here.
    pub fn state(&self, vcpu: usize) -> Option<RunState> {
        let slot = usize::from(*self.slot_of.get(vcpu)?);
        self.live().get(slot).map(|e| e.state)
    }

    /// Makes a vCPU runnable (start, wake).
    pub fn set_runnable(&mut self, vcpu: usize) {
        if let Some(e) = self.entry_mut(vcpu) {
            e.state = RunState::Runnable;
            e.wake_at = Deadline::NEVER;
        }
    }

    /// Blocks a vCPU until `wake_at` (counter ticks) or until made runnable.
    pub fn block(&mut self, vcpu: usize, wake_at: Option<u64>) {
        if let Some(e) = self.entry_mut(vcpu) {
            e.state = RunState::Blocked;
            e.wake_at = Deadline::new(wake_at);
        }
        if self.current == vcpu {
            self.current = layout::NO_CURRENT;
        }
    }

    /// Takes a vCPU off the CPU (powered off or partition stopped).
    pub fn set_off(&mut self, vcpu: usize) {
        if let Some(e) = self.entry_mut(vcpu) {
            e.state = RunState::Off;
            e.wake_at = Deadline::NEVER;
        }
        if self.current == vcpu {
            self.current = layout::NO_CURRENT;
        }
    }

    /// Wakes every blocked vCPU whose deadline is at or before `now`;
    /// true if any woke.
    pub fn wake_expired(&mut self, now: u64) -> bool {
        let mut woke = false;
        for e in self.entries[..self.len].iter_mut() {
            if e.state == RunState::Blocked && e.wake_at.get().is_some_and(|t| t <= now) {
                e.state = RunState::Runnable;
                e.wake_at = Deadline::NEVER;
                woke = true;
            }
        }
        woke
    }

    /// The earliest wake deadline of a blocked vCPU.
    pub fn next_wake(&self) -> Option<u64> {
        self.live()
            .iter()
            .filter(|e| e.state == RunState::Blocked)
            .filter_map(|e| e.wake_at.get())
            .min()
    }

    /// Records that `vcpu` runs now without a pick: an IPC call or reply
    /// hands the CPU straight to the vCPU that must run next.
    pub fn set_current(&mut self, vcpu: usize) {
        if self.state(vcpu) == Some(RunState::Runnable) {
            self.current = vcpu;
        }
    }

    /// An IPC call or reply hands the CPU from `from` to `to` (both homed
    /// here): `from` blocks without a deadline, `to` becomes runnable and
    /// runs now without a pick. The same as `block(from, None)`,
    /// `set_runnable(to)` and `set_current(to)`, in one pass.
    #[inline(always)]
    pub fn hand_over(&mut self, from: usize, to: usize) {
        if let Some(e) = self.entry_mut(from) {
            e.state = RunState::Blocked;
            e.wake_at = Deadline::NEVER;
        }
        self.current = layout::NO_CURRENT;
        if let Some(e) = self.entry_mut(to) {
            e.state = RunState::Runnable;
            e.wake_at = Deadline::NEVER;
            self.current = to;
        }
    }

    /// The vCPU chosen by the last [`Self::pick`], if still running.
    pub fn current(&self) -> Option<usize> {
        (self.current != layout::NO_CURRENT).then_some(self.current)
    }

    fn top_priority(&self) -> Option<u8> {
        self.live()
            .iter()
            .filter(|e| e.state == RunState::Runnable)
            .map(|e| e.priority)
            .max()
    }

    /// True when another runnable vCPU shares the top priority with the
    /// current one, so a time slice must be armed to rotate between them.
    pub fn needs_time_slice(&self) -> bool {
        let Some(top) = self.top_priority() else {
            return false;
        };
        self.live()
            .iter()
            .filter(|e| e.state == RunState::Runnable && e.priority == top)
            .count()
            > 1
    }

    /// Chooses the vCPU to run. The current vCPU keeps the CPU unless a
    /// higher priority is runnable or `slice_expired` (then the least recently
    /// picked vCPU of the top priority runs: round robin).
    pub fn pick(&mut self, slice_expired: bool) -> Option<usize> {
        let top = self.top_priority()?;
        if let Some(cur) = self.current() {
            let keep = self.state(cur) == Some(RunState::Runnable)
                && self.entry_priority(cur) == Some(top);
            if keep && !(slice_expired && self.needs_time_slice()) {
                return Some(cur);
            }
        }
        let next = self
            .live()
            .iter()
            .filter(|e| e.state == RunState::Runnable && e.priority == top)
            .min_by_key(|e| e.last_picked)
            .map(|e| e.vcpu)?;
        self.picks += 1;
        let stamp = self.picks;
        if let Some(e) = self.entry_mut(next) {
            e.last_picked = stamp;
        }
        self.current = next;
        Some(next)
    }

    /// Number of vCPUs homed here.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if no vCPU is homed here.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(prios: &[(usize, u8)]) -> RunQueue {
        let mut q = RunQueue::new();
        for &(v, p) in prios {
            q.add(v, p).unwrap();
            q.set_runnable(v);
        }
        q
    }

    #[test]
    fn empty_and_off_queues_pick_nothing() {
        let mut q = RunQueue::new();
        assert_eq!(q.pick(false), None);
        q.add(3, 1).unwrap();
        assert_eq!(q.pick(false), None);
        assert_eq!(q.add(3, 1), Err(SchedError::Duplicate));
    }

    #[test]
    fn higher_priority_runs_first_and_preempts() {
        let mut q = queue(&[(1, 5), (2, 9)]);
        assert_eq!(q.pick(false), Some(2));
        q.block(2, Some(100));
        assert_eq!(q.pick(false), Some(1));
        assert!(!q.wake_expired(99));
        assert!(q.wake_expired(100));
        assert_eq!(q.pick(false), Some(2), "woken high priority preempts");
    }

    #[test]
    fn round_robin_only_on_slice_expiry() {
        let mut q = queue(&[(1, 5), (2, 5), (3, 5)]);
        let first = q.pick(false).unwrap();
        assert_eq!(q.pick(false), Some(first), "no rotation without expiry");
        let mut seen = [first, 0, 0];
        seen[1] = q.pick(true).unwrap();
        seen[2] = q.pick(true).unwrap();
        seen.sort_unstable();
        assert_eq!(seen, [1, 2, 3]);
        assert!(q.needs_time_slice());
    }

    #[test]
    fn single_vcpu_keeps_running_through_expiry() {
        let mut q = queue(&[(7, 1)]);
        assert_eq!(q.pick(false), Some(7));
        assert_eq!(q.pick(true), Some(7));
        assert!(!q.needs_time_slice());
    }

    #[test]
    fn blocked_without_deadline_waits_for_wake() {
        let mut q = queue(&[(1, 1)]);
        q.block(1, None);
        assert!(!q.wake_expired(u64::MAX));
        assert_eq!(q.next_wake(), None);
        assert_eq!(q.pick(false), None);
        q.set_runnable(1);
        assert_eq!(q.pick(false), Some(1));
    }

    #[test]
    fn hand_over_is_block_set_runnable_and_set_current() {
        let mut separate = queue(&[(1, 100), (2, 200), (3, 100)]);
        separate.block(2, Some(5));
        assert_eq!(separate.pick(false), Some(1));
        let mut together = queue(&[(1, 100), (2, 200), (3, 100)]);
        together.block(2, Some(5));
        assert_eq!(together.pick(false), Some(1));

        separate.block(1, None);
        separate.set_runnable(2);
        separate.set_current(2);
        together.hand_over(1, 2);
        for q in [&separate, &together] {
            assert_eq!(q.current(), Some(2));
            assert_eq!(q.state(1), Some(RunState::Blocked));
            assert_eq!(q.state(2), Some(RunState::Runnable));
            assert_eq!(q.next_wake(), None, "neither keeps a deadline");
        }
        assert_eq!(separate.pick(false), together.pick(false));

        // A vCPU not homed here never becomes current.
        together.hand_over(2, 40);
        assert_eq!(together.current(), None);
        assert_eq!(together.state(2), Some(RunState::Blocked));
    }

    /// The words `layout` promises the fast path, on real states.
    #[test]
    fn hand_over_leaves_the_words_layout_names() {
        let mut q = queue(&[(1, 100), (2, 200)]);
        q.block(2, Some(5));
        assert_eq!(q.pick(false), Some(1));
        q.hand_over(1, 2);
        let entry = |q: &RunQueue, v: usize| q.entries[usize::from(q.slot_of[v])];
        for (v, state) in [(1, layout::BLOCKED), (2, layout::RUNNABLE)] {
            let e = entry(&q, v);
            assert_eq!((e.wake_at.0, e.state as u64), (layout::NO_DEADLINE, state));
            let slot = usize::from(q.slot_of[v]);
            assert_eq!(
                q.entry_offset(v),
                Some(
                    core::mem::offset_of!(RunQueue, entries) + slot * core::mem::size_of::<Entry>()
                )
            );
        }
        assert_eq!(q.current, 2);
        q.block(2, None);
        assert_eq!(q.current, layout::NO_CURRENT);
    }

    #[test]
    fn entries_have_fixed_distinct_offsets_and_deadlines_stay_deadlines() {
        let mut q = queue(&[(4, 1), (9, 2)]);
        let (a, b) = (q.entry_offset(4), q.entry_offset(9));
        assert!(a.is_some() && b.is_some() && a != b);
        assert_eq!(q.entry_offset(5), None, "not homed here");
        assert_eq!(q.entry_offset(MAX_VCPUS), None);
        q.add(5, 1).unwrap();
        assert_eq!((q.entry_offset(4), q.entry_offset(9)), (a, b));
        // The largest tick count is still a deadline, not "none".
        q.block(4, Some(u64::MAX));
        assert_eq!(q.next_wake(), Some(u64::MAX - 1));
        assert_eq!(q.current(), None);
        assert_eq!(q.pick(false), Some(9));
        assert_eq!(q.current(), Some(9));
    }

    #[test]
    fn next_wake_is_the_earliest() {
        let mut q = queue(&[(1, 1), (2, 1), (3, 1)]);
        q.block(1, Some(50));
        q.block(2, Some(20));
        assert_eq!(q.next_wake(), Some(20));
        q.set_off(3);
        assert_eq!(q.state(3), Some(RunState::Off));
    }

    #[test]
    fn queue_capacity_is_enforced() {
        let mut q = RunQueue::new();
        for v in 0..MAX_LOCAL_VCPUS {
            q.add(v, 0).unwrap();
        }
        assert_eq!(q.add(99, 0), Err(SchedError::Full));
        assert_eq!(q.len(), MAX_LOCAL_VCPUS);
    }
}
