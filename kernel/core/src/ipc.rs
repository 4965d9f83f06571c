//! The synchronous IPC state machine of one physical CPU.
//!
//! A call runs the endpoint's server context *on the caller's CPU*: each
//! service partition has a vCPU homed on every CPU it serves, so everything
//! here is per CPU, touched only by that CPU, and needs no lock. The state
//! machine deals in vCPU ids; the kernel keeps the message words in the vCPUs'
//! registers and applies the outcomes (deliver, block, complete, fail).
//!
//! States of a server vCPU on an endpoint: *receiving* (blocked in RECV),
//! *serving* a caller (between delivery and reply), or neither. A caller is
//! *queued* on an endpoint while its server context is busy or down, or
//! *awaiting* the reply of the server serving it.

use abi::Error;

use crate::manifest::{MAX_ENDPOINTS, MAX_VCPUS};

/// A vCPU id (global index).
pub type VcpuId = u16;

/// What a server vCPU is doing for IPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Serving {
    /// Not serving anyone.
    Idle,
    /// Handling `caller`'s message; owes it a reply.
    Caller(VcpuId),
    /// Handling a message whose caller has gone (stopped); the reply is dropped.
    CallerGone,
}

/// Result of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// The server was receiving: deliver the message to it now; the caller
    /// awaits the reply.
    Delivered {
        /// The server vCPU that now serves the caller.
        server: VcpuId,
    },
    /// The server context is busy (or down, for a call that waits for it):
    /// the caller waits in the endpoint's queue.
    Queued,
}

/// Whether a caller waits for a server that is down, or gets an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenDown {
    /// Fail at once with `WrongState` (IPC calls: the client sees an error).
    Fail,
    /// Wait until the server receives again (emulated device accesses: the
    /// guest's access is retried, never lost).
    Wait,
}

/// What became of the callers tied to a vCPU that left its CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Departure {
    /// The caller the departed server was serving, if any: it gets no reply.
    pub orphaned_caller: Option<VcpuId>,
}

/// An optional vCPU id (or endpoint index) as the fast path reads it: the
/// id + 1, 0 for none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
struct Slot(u16);

impl Slot {
    const NONE: Self = Self(0);

    /// `id` must be below `MAX_VCPUS` (or `MAX_ENDPOINTS`): the callers
    /// index arrays with it first.
    fn some(id: u16) -> Self {
        Self(id + 1)
    }

    fn get(self) -> Option<u16> {
        self.0.checked_sub(1)
    }

    fn take(&mut self) -> Option<u16> {
        core::mem::replace(self, Self::NONE).get()
    }

    fn set(&mut self, id: Option<u16>) {
        *self = id.map_or(Self::NONE, Self::some);
    }
}

/// [`Serving`] as the fast path reads it: 0 idle, the caller's id + 1, or
/// [`layout::SERVING_GONE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
struct ServingSlot(u16);

impl ServingSlot {
    const IDLE: Self = Self(0);

    fn get(self) -> Serving {
        match self.0 {
            0 => Serving::Idle,
            layout::SERVING_GONE => Serving::CallerGone,
            c => Serving::Caller(c - 1),
        }
    }

    fn set(&mut self, serving: Serving) {
        self.0 = match serving {
            Serving::Idle => 0,
            Serving::Caller(c) => c + 1,
            Serving::CallerGone => layout::SERVING_GONE,
        };
    }

    fn replace(&mut self, serving: Serving) -> Serving {
        let old = self.get();
        self.set(serving);
        old
    }
}

/// Where the core's IPC fast path (hand-written assembly, `kernel/src/arch/
/// ipc_fast.rs`) finds this state: byte offsets in [`IpcCpu`] of arrays of
/// `u16`, indexed by endpoint (`SERVER`, `RECEIVING`, `HEAD`) or vCPU id
/// (`SERVING`, `QUEUED_ON`), each holding a vCPU id plus one (an endpoint
/// index plus one for `QUEUED_ON`), 0 for none. The fast path makes the
/// state changes of [`IpcCpu::call_receiving`] and
/// [`IpcCpu::reply_and_wait`], no others.
pub mod layout {
    use super::IpcCpu;

    /// The server context of each endpoint.
    pub const SERVER: usize = core::mem::offset_of!(IpcCpu, server);
    /// The server context receiving on each endpoint.
    pub const RECEIVING: usize = core::mem::offset_of!(IpcCpu, receiving);
    /// Whom each vCPU serves: 0 nobody, a caller + 1, or [`SERVING_GONE`].
    pub const SERVING: usize = core::mem::offset_of!(IpcCpu, serving);
    /// The first caller queued on each endpoint.
    pub const HEAD: usize = core::mem::offset_of!(IpcCpu, head);
    /// The endpoint each vCPU is queued on.
    pub const QUEUED_ON: usize = core::mem::offset_of!(IpcCpu, queued_on);
    /// `SERVING` value of a server whose caller has gone (bit 15 set, which
    /// no caller + 1 has).
    pub const SERVING_GONE: u16 = 0xffff;
}

const _: () = assert!(MAX_VCPUS < 0x8000 && MAX_ENDPOINTS < 0x8000);

/// IPC state of one physical CPU.
#[derive(Clone, Debug)]
pub struct IpcCpu {
    /// The server context of each endpoint on this CPU (set at boot): the
    /// only vCPU that receives on it here.
    server: [Slot; MAX_ENDPOINTS],
    /// The server context blocked in RECV on each endpoint, if it is.
    receiving: [Slot; MAX_ENDPOINTS],
    /// What each vCPU (as a server) is doing.
    serving: [ServingSlot; MAX_VCPUS],
    /// Head and tail of each endpoint's queue of callers.
    head: [Slot; MAX_ENDPOINTS],
    tail: [Slot; MAX_ENDPOINTS],
    /// Next caller in the same queue.
    next: [Slot; MAX_VCPUS],
    /// The endpoint each queued caller waits on.
    queued_on: [Slot; MAX_VCPUS],
}

impl Default for IpcCpu {
    fn default() -> Self {
        Self::new()
    }
}

#[inline(always)]
fn index(v: VcpuId) -> Result<usize, Error> {
    let i = usize::from(v);
    if i < MAX_VCPUS {
        Ok(i)
    } else {
        Err(Error::InvalidParameter)
    }
}

#[inline(always)]
fn endpoint_index(e: usize) -> Result<usize, Error> {
    if e < MAX_ENDPOINTS {
        Ok(e)
    } else {
        Err(Error::InvalidParameter)
    }
}

impl IpcCpu {
    /// No one receiving, serving or queued.
    pub const fn new() -> Self {
        Self {
            server: [Slot::NONE; MAX_ENDPOINTS],
            receiving: [Slot::NONE; MAX_ENDPOINTS],
            serving: [ServingSlot::IDLE; MAX_VCPUS],
            head: [Slot::NONE; MAX_ENDPOINTS],
            tail: [Slot::NONE; MAX_ENDPOINTS],
            next: [Slot::NONE; MAX_VCPUS],
            queued_on: [Slot::NONE; MAX_VCPUS],
        }
    }

    /// Makes `server` the server context of `endpoint` on this CPU (boot).
    pub fn set_server(&mut self, endpoint: usize, server: VcpuId) -> Result<(), Error> {
        let e = endpoint_index(endpoint)?;
        index(server)?;
        self.server[e] = Slot::some(server);
        Ok(())
    }

    /// The server context of `endpoint` on this CPU, if it has one.
    pub fn server(&self, endpoint: usize) -> Option<VcpuId> {
        self.server.get(endpoint)?.get()
    }

    /// `caller` calls `endpoint`; `server_up` says whether the partition of
    /// its server context on this CPU is running.
    ///
    /// A server receiving on the endpoint is up (a vCPU that left its CPU
    /// stops receiving, see [`IpcCpu::depart`]), so `server_up` is only
    /// asked when it is not: the common case, a call to a waiting server,
    /// needs nothing but this CPU's state.
    pub fn call(
        &mut self,
        endpoint: usize,
        caller: VcpuId,
        server_up: impl FnOnce() -> bool,
        when_down: WhenDown,
    ) -> Result<CallOutcome, Error> {
        let e = endpoint_index(endpoint)?;
        let c = index(caller)?;
        let server = self.server[e].get().ok_or(Error::NotPresent)?;
        if caller == server || self.queued_on[c].get().is_some() {
            return Err(Error::WrongState);
        }
        if self.take_receiver(e, caller).is_some() {
            return Ok(CallOutcome::Delivered { server });
        }
        if when_down == WhenDown::Fail && !server_up() {
            return Err(Error::WrongState);
        }
        self.enqueue(e, caller);
        Ok(CallOutcome::Queued)
    }

    /// The delivery half of [`IpcCpu::call`]: if endpoint `e`'s server
    /// context receives, it now serves `caller`; returns it. (Only the
    /// server context ever receives, see [`IpcCpu::recv`].)
    #[inline(always)]
    fn take_receiver(&mut self, e: usize, caller: VcpuId) -> Option<VcpuId> {
        let server = self.receiving[e].take()?;
        if let Some(serving) = self.serving.get_mut(usize::from(server)) {
            serving.set(Serving::Caller(caller));
        }
        Some(server)
    }

    /// [`IpcCpu::call`] when it delivers at once, and nothing otherwise:
    /// returns the server context that was receiving on `endpoint` and now
    /// serves `caller`. The IPC fast path takes this; on `None` it leaves the
    /// call to `call`.
    #[inline(always)]
    pub fn call_receiving(&mut self, endpoint: usize, caller: VcpuId) -> Option<VcpuId> {
        let e = endpoint_index(endpoint).ok()?;
        let c = index(caller).ok()?;
        let receiver = self.receiving[e].get()?;
        if receiver == caller || self.queued_on[c].get().is_some() {
            return None;
        }
        self.take_receiver(e, caller)
    }

    fn enqueue(&mut self, e: usize, caller: VcpuId) {
        let c = usize::from(caller);
        self.next[c] = Slot::NONE;
        self.queued_on[c] = Slot::some(e as u16);
        match self.tail[e].get() {
            Some(t) => self.next[usize::from(t)] = Slot::some(caller),
            None => self.head[e] = Slot::some(caller),
        }
        self.tail[e] = Slot::some(caller);
    }

    fn dequeue(&mut self, e: usize) -> Option<VcpuId> {
        let first = self.head[e].get()?;
        let f = usize::from(first);
        self.head[e] = self.next[f];
        if self.head[e].get().is_none() {
            self.tail[e] = Slot::NONE;
        }
        self.next[f] = Slot::NONE;
        self.queued_on[f] = Slot::NONE;
        Some(first)
    }

    fn unlink(&mut self, caller: VcpuId) {
        let c = usize::from(caller);
        let Some(e) = self.queued_on[c].get().map(usize::from) else {
            return;
        };
        let mut prev: Option<VcpuId> = None;
        let mut cur = self.head[e].get();
        while let Some(v) = cur {
            if v == caller {
                let after = self.next[c];
                match prev {
                    Some(p) => self.next[usize::from(p)] = after,
                    None => self.head[e] = after,
                }
                if self.tail[e].get() == Some(caller) {
                    self.tail[e].set(prev);
                }
                break;
            }
            prev = cur;
            cur = self.next[usize::from(v)].get();
        }
        self.next[c] = Slot::NONE;
        self.queued_on[c] = Slot::NONE;
    }

    /// `server` waits for a message on `endpoint`. Returns the caller whose
    /// queued message is delivered at once, or `None` if the server now
    /// blocks receiving.
    /// Only the endpoint's server context on this CPU may receive on it
    /// here (`WrongState` otherwise).
    pub fn recv(&mut self, endpoint: usize, server: VcpuId) -> Result<Option<VcpuId>, Error> {
        let e = endpoint_index(endpoint)?;
        let s = index(server)?;
        if self.serving[s].get() != Serving::Idle || self.server[e].get() != Some(server) {
            return Err(Error::WrongState);
        }
        if let Some(caller) = self.dequeue(e) {
            self.receiving[e] = Slot::NONE;
            self.serving[s].set(Serving::Caller(caller));
            return Ok(Some(caller));
        }
        self.receiving[e] = Slot::some(server);
        Ok(None)
    }

    /// `server` replies to the message it is serving. Returns the caller to
    /// complete, or `None` if that caller has gone (the reply is dropped).
    pub fn reply(&mut self, server: VcpuId) -> Result<Option<VcpuId>, Error> {
        let s = index(server)?;
        match self.serving[s].replace(Serving::Idle) {
            Serving::Caller(c) => Ok(Some(c)),
            Serving::CallerGone => Ok(None),
            Serving::Idle => Err(Error::WrongState),
        }
    }

    /// The caller `server` serves, if it owes one a reply.
    #[inline(always)]
    pub fn serving(&self, server: VcpuId) -> Option<VcpuId> {
        match self.serving.get(usize::from(server))?.get() {
            Serving::Caller(c) => Some(c),
            _ => None,
        }
    }

    /// [`IpcCpu::reply`] then [`IpcCpu::recv`] when the reply goes to a
    /// caller and the receive then blocks (nobody queued), and nothing
    /// otherwise: returns the caller to complete, and `server` now receives
    /// on `endpoint`. The IPC fast path takes this; on `None` it leaves the
    /// call to `reply` and `recv`.
    #[inline(always)]
    pub fn reply_and_wait(&mut self, endpoint: usize, server: VcpuId) -> Option<VcpuId> {
        let e = endpoint_index(endpoint).ok()?;
        let s = index(server).ok()?;
        let Serving::Caller(caller) = self.serving[s].get() else {
            return None;
        };
        if self.head[e].get().is_some() || self.server[e].get() != Some(server) {
            return None;
        }
        self.serving[s].set(Serving::Idle);
        self.receiving[e] = Slot::some(server);
        Some(caller)
    }

    /// Is `caller` waiting in a queue?
    pub fn is_queued(&self, caller: VcpuId) -> bool {
        index(caller).is_ok_and(|c| self.queued_on[c].get().is_some())
    }

    /// The callers queued on `endpoint`, in order.
    pub fn queued(&self, endpoint: usize) -> impl Iterator<Item = VcpuId> + '_ {
        let mut cur = endpoint_index(endpoint)
            .ok()
            .and_then(|e| self.head[e].get());
        core::iter::from_fn(move || {
            let v = cur?;
            cur = self.next[usize::from(v)].get();
            Some(v)
        })
    }

    /// Removes one queued caller (it is failed with an error by the kernel,
    /// for instance because its server went down).
    pub fn cancel(&mut self, caller: VcpuId) {
        if index(caller).is_ok() {
            self.unlink(caller);
        }
    }

    /// Puts `caller` back at the front of `endpoint`'s queue: its server went
    /// down mid-call and the call waits for the server to come back.
    pub fn requeue_front(&mut self, endpoint: usize, caller: VcpuId) -> Result<(), Error> {
        let e = endpoint_index(endpoint)?;
        let c = index(caller)?;
        if self.queued_on[c].get().is_some() {
            return Err(Error::WrongState);
        }
        self.queued_on[c] = Slot::some(e as u16);
        self.next[c] = self.head[e];
        self.head[e] = Slot::some(caller);
        if self.tail[e].get().is_none() {
            self.tail[e] = Slot::some(caller);
        }
        Ok(())
    }

    /// `vcpu` left this CPU for good (its partition stopped). Drops it from
    /// every queue and receiving slot; a server serving it will find its
    /// reply dropped; the caller it was serving is returned to the kernel.
    pub fn depart(&mut self, vcpu: VcpuId) -> Departure {
        let Ok(v) = index(vcpu) else {
            return Departure::default();
        };
        self.unlink(vcpu);
        for r in self.receiving.iter_mut() {
            if r.get() == Some(vcpu) {
                *r = Slot::NONE;
            }
        }
        for s in self.serving.iter_mut() {
            if s.get() == Serving::Caller(vcpu) {
                s.set(Serving::CallerGone);
            }
        }
        let orphaned_caller = match self.serving[v].replace(Serving::Idle) {
            Serving::Caller(c) => Some(c),
            _ => None,
        };
        Departure { orphaned_caller }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EP: usize = 3;
    const SERVER: VcpuId = 10;
    const A: VcpuId = 1;
    const B: VcpuId = 2;

    /// A CPU where `SERVER` is the server context of `EP`.
    fn served() -> IpcCpu {
        let mut ipc = IpcCpu::new();
        assert_eq!(ipc.set_server(EP, SERVER), Ok(()));
        ipc
    }

    #[test]
    fn call_to_a_receiving_server_is_delivered_and_replied() {
        let mut ipc = served();
        assert_eq!(ipc.recv(EP, SERVER), Ok(None));
        assert_eq!(
            ipc.call(EP, A, || true, WhenDown::Fail),
            Ok(CallOutcome::Delivered { server: SERVER })
        );
        assert_eq!(ipc.reply(SERVER), Ok(Some(A)));
        assert_eq!(ipc.reply(SERVER), Err(Error::WrongState), "no second reply");
    }

    #[test]
    fn busy_server_queues_callers_in_order() {
        let mut ipc = served();
        assert_eq!(
            ipc.call(EP, A, || true, WhenDown::Fail),
            Ok(CallOutcome::Queued)
        );
        assert_eq!(
            ipc.call(EP, B, || true, WhenDown::Fail),
            Ok(CallOutcome::Queued)
        );
        assert!(ipc.is_queued(A));
        assert_eq!(ipc.queued(EP).collect::<Vec<_>>(), [A, B]);
        assert_eq!(ipc.recv(EP, SERVER), Ok(Some(A)));
        assert_eq!(
            ipc.recv(EP, SERVER),
            Err(Error::WrongState),
            "must reply first"
        );
        assert_eq!(ipc.reply(SERVER), Ok(Some(A)));
        assert_eq!(ipc.recv(EP, SERVER), Ok(Some(B)));
        assert_eq!(ipc.reply(SERVER), Ok(Some(B)));
        assert_eq!(ipc.recv(EP, SERVER), Ok(None));
    }

    /// The encodings `layout` promises the fast path, on real states.
    #[test]
    fn the_raw_encoding_is_id_plus_one() {
        let mut ipc = served();
        assert_eq!(ipc.server[EP].0, SERVER + 1);
        assert_eq!(ipc.receiving[EP].0, 0, "none");
        assert_eq!(ipc.recv(EP, SERVER), Ok(None));
        assert_eq!(ipc.receiving[EP].0, SERVER + 1);
        assert_eq!(ipc.call_receiving(EP, A), Some(SERVER));
        assert_eq!(ipc.receiving[EP].0, 0);
        assert_eq!(ipc.serving[usize::from(SERVER)].0, A + 1);
        assert_eq!(
            ipc.call(EP, B, || true, WhenDown::Fail),
            Ok(CallOutcome::Queued)
        );
        assert_eq!(ipc.head[EP].0, B + 1);
        assert_eq!(ipc.queued_on[usize::from(B)].0, EP as u16 + 1);
        let _ = ipc.depart(A);
        assert_eq!(ipc.serving[usize::from(SERVER)].0, layout::SERVING_GONE);
        assert_eq!(ipc.reply(SERVER), Ok(None));
        assert_eq!(ipc.serving[usize::from(SERVER)].0, 0, "idle");
    }

    #[test]
    fn call_receiving_delivers_as_call_does_or_changes_nothing() {
        let mut fast = served();
        assert_eq!(fast.call_receiving(EP, A), None, "nobody receives yet");
        assert!(fast.queued(EP).next().is_none());
        assert_eq!(fast.recv(EP, SERVER), Ok(None));
        let mut general = fast.clone();
        assert_eq!(
            fast.call_receiving(EP, SERVER),
            None,
            "a server cannot call itself"
        );
        assert_eq!(fast.call_receiving(MAX_ENDPOINTS, A), None);
        assert_eq!(fast.call_receiving(EP, A), Some(SERVER));
        assert_eq!(
            general.call(EP, A, || true, WhenDown::Fail),
            Ok(CallOutcome::Delivered { server: SERVER })
        );
        assert_eq!(format!("{fast:?}"), format!("{general:?}"));
        assert_eq!(fast.serving(SERVER), Some(A));
        assert_eq!(
            fast.call_receiving(EP, B),
            None,
            "busy: the general path queues"
        );
        assert_eq!(format!("{fast:?}"), format!("{general:?}"));
    }

    #[test]
    fn reply_and_wait_is_reply_then_a_blocking_recv_or_changes_nothing() {
        let mut fast = served();
        assert_eq!(fast.recv(EP, SERVER), Ok(None));
        assert_eq!(fast.reply_and_wait(EP, SERVER), None, "serving nobody");
        assert_eq!(fast.call_receiving(EP, A), Some(SERVER));
        let mut general = fast.clone();
        assert_eq!(fast.reply_and_wait(EP, SERVER), Some(A));
        assert_eq!(general.reply(SERVER), Ok(Some(A)));
        assert_eq!(general.recv(EP, SERVER), Ok(None));
        assert_eq!(format!("{fast:?}"), format!("{general:?}"));
        assert_eq!(fast.serving(SERVER), None);

        // With a caller queued, the receive would deliver it: general path.
        assert_eq!(fast.call_receiving(EP, A), Some(SERVER));
        assert_eq!(
            fast.call(EP, B, || true, WhenDown::Fail),
            Ok(CallOutcome::Queued)
        );
        let before = format!("{fast:?}");
        assert_eq!(fast.reply_and_wait(EP, SERVER), None);
        assert_eq!(format!("{fast:?}"), before);
        // Replying and waiting on an endpoint it does not serve here: the
        // general path (an error).
        let mut other = served();
        assert_eq!(other.set_server(4, SERVER), Ok(()));
        assert_eq!(other.recv(4, SERVER), Ok(None));
        assert_eq!(other.call_receiving(4, A), Some(SERVER));
        assert_eq!(other.set_server(4, 11), Ok(()));
        assert_eq!(other.reply_and_wait(4, SERVER), None);
        // The caller departed: the reply is dropped by the general path.
        let mut gone = served();
        assert_eq!(gone.recv(EP, SERVER), Ok(None));
        assert_eq!(gone.call_receiving(EP, A), Some(SERVER));
        gone.depart(A);
        assert_eq!(gone.reply_and_wait(EP, SERVER), None);
        assert_eq!(gone.reply(SERVER), Ok(None));
    }

    #[test]
    fn a_receiving_server_is_not_asked_whether_it_is_up() {
        let mut ipc = served();
        assert_eq!(ipc.recv(EP, SERVER), Ok(None));
        let asked = core::cell::Cell::new(false);
        let up = || {
            asked.set(true);
            false
        };
        assert_eq!(
            ipc.call(EP, A, up, WhenDown::Fail),
            Ok(CallOutcome::Delivered { server: SERVER })
        );
        assert!(!asked.get(), "only this CPU's state decides a delivery");
        // Busy now: the next caller's fate depends on whether it is up.
        assert_eq!(ipc.call(EP, B, up, WhenDown::Fail), Err(Error::WrongState));
        assert!(asked.get());
    }

    #[test]
    fn down_server_fails_calls_or_queues_device_accesses() {
        let mut ipc = served();
        assert_eq!(
            ipc.call(EP, A, || false, WhenDown::Fail),
            Err(Error::WrongState)
        );
        assert!(!ipc.is_queued(A));
        assert_eq!(
            ipc.call(EP, A, || false, WhenDown::Wait),
            Ok(CallOutcome::Queued)
        );
        // The restarted server picks it up with its first receive.
        assert_eq!(ipc.recv(EP, SERVER), Ok(Some(A)));
    }

    #[test]
    fn bad_arguments_and_states_are_refused() {
        let mut ipc = served();
        assert_eq!(
            ipc.call(MAX_ENDPOINTS, A, || true, WhenDown::Fail),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            ipc.call(EP, MAX_VCPUS as u16, || true, WhenDown::Fail),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            ipc.call(EP, SERVER, || true, WhenDown::Fail),
            Err(Error::WrongState)
        );
        assert_eq!(ipc.recv(EP, MAX_VCPUS as u16), Err(Error::InvalidParameter));
        assert_eq!(ipc.reply(A), Err(Error::WrongState));
        // Only the endpoint's server context receives on it here.
        assert_eq!(ipc.recv(EP, 11), Err(Error::WrongState));
        assert_eq!(ipc.recv(EP, SERVER), Ok(None));
        // An endpoint with no server context on this CPU.
        assert_eq!(ipc.server(4), None);
        assert_eq!(
            ipc.call(4, A, || true, WhenDown::Fail),
            Err(Error::NotPresent)
        );
        assert_eq!(ipc.recv(4, SERVER), Err(Error::WrongState));
        assert_eq!(
            ipc.set_server(MAX_ENDPOINTS, SERVER),
            Err(Error::InvalidParameter)
        );
        // A queued caller cannot call again.
        let mut ipc = served();
        assert_eq!(
            ipc.call(EP, A, || true, WhenDown::Fail),
            Ok(CallOutcome::Queued)
        );
        assert_eq!(ipc.set_server(4, SERVER), Ok(()));
        assert_eq!(
            ipc.call(4, A, || true, WhenDown::Fail),
            Err(Error::WrongState)
        );
        assert_eq!(ipc.requeue_front(EP, A), Err(Error::WrongState));
    }

    #[test]
    fn departing_server_orphans_its_caller_and_stops_receiving() {
        let mut ipc = served();
        assert_eq!(ipc.recv(EP, SERVER), Ok(None));
        assert_eq!(
            ipc.call(EP, A, || true, WhenDown::Wait),
            Ok(CallOutcome::Delivered { server: SERVER })
        );
        assert_eq!(
            ipc.depart(SERVER),
            Departure {
                orphaned_caller: Some(A)
            }
        );
        // The caller is retried first when the server receives again.
        assert_eq!(
            ipc.call(EP, B, || false, WhenDown::Wait),
            Ok(CallOutcome::Queued)
        );
        assert_eq!(ipc.requeue_front(EP, A), Ok(()));
        assert_eq!(ipc.queued(EP).collect::<Vec<_>>(), [A, B]);
        assert_eq!(ipc.recv(EP, SERVER), Ok(Some(A)));
    }

    #[test]
    fn departing_caller_leaves_queues_and_drops_its_reply() {
        let mut ipc = served();
        assert_eq!(
            ipc.call(EP, A, || true, WhenDown::Fail),
            Ok(CallOutcome::Queued)
        );
        assert_eq!(
            ipc.call(EP, B, || true, WhenDown::Fail),
            Ok(CallOutcome::Queued)
        );
        ipc.depart(A);
        assert_eq!(ipc.queued(EP).collect::<Vec<_>>(), [B]);
        assert_eq!(ipc.recv(EP, SERVER), Ok(Some(B)));
        ipc.depart(B);
        assert_eq!(
            ipc.reply(SERVER),
            Ok(None),
            "reply to a departed caller is dropped"
        );
        // Removing from the middle and the tail keeps the queue intact.
        let mut ipc = served();
        for v in [A, B, 5] {
            ipc.call(EP, v, || true, WhenDown::Fail).unwrap();
        }
        ipc.cancel(B);
        ipc.cancel(5);
        ipc.call(EP, 6, || true, WhenDown::Fail).unwrap();
        assert_eq!(ipc.queued(EP).collect::<Vec<_>>(), [A, 6]);
    }
}
