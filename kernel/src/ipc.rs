//! IPC hypercalls and emulated-device forwarding: applies the decisions of
//! `kernel_core::ipc` to vCPU registers and run queues. A call delivers the
//! caller's message into its server's registers on the same CPU and blocks
//! the caller; the server's reply completes the caller directly. Notifications
//! wake their waiter wherever it is homed.

use core::sync::atomic::Ordering;

use abi::ipc::{self, mmio::Access, rights, ObjectKind, PartitionStatus};
use abi::Error;
use kernel_core::esr::DataAbort;
use kernel_core::ipc::{CallOutcome, IpcCpu, WhenDown};

use crate::arch::vectors::GuestRegs;
use crate::partition::{self, IpcWait, PartState, Partition, Vcpu};
use crate::trap::Effect;
use crate::{cpu, gic, lifecycle, objects};

const OK: u64 = abi::SUCCESS as u64;

fn err(e: Error) -> u64 {
    e.code() as u64
}

/// Writes a call's results into x0, x1, … of `regs`.
pub fn set(regs: &mut GuestRegs, values: &[u64]) {
    for (slot, value) in regs.x.iter_mut().zip(values) {
        *slot = *value;
    }
}

/// The calls the IPC fast path takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastCall {
    /// `CALL`.
    Call,
    /// `REPLY_RECV`.
    ReplyRecv,
}

/// Where the IPC fast path hands the CPU: the vCPU that runs next, with its
/// partition.
pub struct Handoff {
    /// Its global id.
    pub id: usize,
    /// The vCPU.
    pub vcpu: &'static Vcpu,
    /// Its partition.
    pub partition: &'static Partition,
}

/// The IPC fast path in Rust, behind the one in assembly (`arch::ipc_fast`,
/// which makes the same changes for the cases it takes and leaves the rest
/// here): CALL and REPLY_RECV from vCPU `id` of `system` (loaded
/// on the CPU whose IPC state is `state`) in their common case, decided from
/// this CPU's state alone: a call to the endpoint's server context waiting
/// here, or a reply to a caller waiting here by a server that then waits
/// again with nobody queued. The capability is checked as on every call.
/// Returns the vCPU that runs next, with the message (or reply) in its
/// registers and both IPC waits updated; the caller hands the CPU over
/// (`cpu::hand_over` blocks `id` and runs the returned vCPU). Anything else
/// (errors, queues, a server busy or down, other calls) returns `None` with
/// nothing changed, for [`hypercall`].
#[inline(always)]
pub fn fast(
    system: &'static partition::System,
    state: &mut IpcCpu,
    id: usize,
    v: &Vcpu,
    p: &Partition,
    call: FastCall,
) -> Option<Handoff> {
    let ctx = v.ctx();
    let slot = ctx.regs.x[1];
    if call == FastCall::Call {
        let cap = p
            .caps
            .lookup(slot, ObjectKind::Endpoint, rights::CALL)
            .ok()?;
        let server_id = state.server(cap.object as usize)?;
        let server = system.vcpus.get(usize::from(server_id))?;
        let server_partition = system.partitions.get(server.partition)?;
        state.call_receiving(cap.object as usize, id as u16)?;
        ctx.regs.ipc_calls += 1;
        ctx.ipc = IpcWait::Call {
            endpoint: cap.object,
            badge: cap.badge,
        };
        let x = &ctx.regs.x;
        deliver(server, cap.badge, [x[2], x[3], x[4], x[5], x[6]]);
        return Some(Handoff {
            id: usize::from(server_id),
            vcpu: server,
            partition: server_partition,
        });
    }
    let cap = p
        .caps
        .lookup(slot, ObjectKind::Endpoint, rights::RECV)
        .ok()?;
    let caller_id = usize::from(state.serving(id as u16)?);
    let caller = system.vcpus.get(caller_id)?;
    let caller_partition = system.partitions.get(caller.partition)?;
    if !matches!(
        caller.ctx().ipc,
        IpcWait::Call { .. } | IpcWait::Mmio { .. }
    ) {
        return None;
    }
    state.reply_and_wait(cap.object as usize, id as u16)?;
    let x = &ctx.regs.x;
    finish_wait(caller, Ok([x[2], x[3], x[4], x[5], x[6]]));
    ctx.ipc = IpcWait::Recv {
        endpoint: cap.object,
    };
    Some(Handoff {
        id: caller_id,
        vcpu: caller,
        partition: caller_partition,
    })
}

/// Handles an IPC call from vCPU `id`; `fid` is in the abi::ipc range.
pub fn hypercall(id: usize, v: &Vcpu, p: &Partition, fid: u32) -> Effect {
    let (x1, x2) = {
        let x = &v.ctx().regs.x;
        (x[1], x[2])
    };
    let result = match fid {
        ipc::CALL => call(id, v, p, x1),
        ipc::RECV => receive(id, v, p, x1, false),
        ipc::REPLY_RECV => receive(id, v, p, x1, true),
        ipc::SIGNAL => signal(p, x1, x2),
        ipc::WAIT => wait(id, v, p, x1, true),
        ipc::POLL => wait(id, v, p, x1, false),
        ipc::IRQ_ACK => irq_ack(p, x1),
        ipc::PARTITION_CONTROL => control(p, x1, x2),
        ipc::PARTITION_STATUS => status(v, p, x1),
        ipc::MMIO_PUBLISH => crate::posted_mmio::publish(v, p),
        ipc::MMIO_DRAIN => crate::posted_mmio::drain(v, p),
        _ => Err(Error::NotSupported),
    };
    match result {
        Ok(effect) => effect,
        Err(e) => {
            set(&mut v.ctx().regs, &[err(e)]);
            Effect::ResultOnly
        }
    }
}

fn call(id: usize, v: &Vcpu, p: &Partition, slot: u64) -> Result<Effect, Error> {
    let cap = p.caps.lookup(slot, ObjectKind::Endpoint, rights::CALL)?;
    v.ctx().regs.ipc_calls += 1;
    send(
        id,
        v,
        cap.object,
        IpcWait::Call {
            endpoint: cap.object,
            badge: cap.badge,
        },
        WhenDown::Fail,
    )
}

/// The message a sender with registers `regs` carries while it waits as
/// `wait`: its x2..x6 for a call, the access for a device.
fn message_of(wait: &IpcWait, regs: &GuestRegs) -> (u64, [u64; ipc::MESSAGE_WORDS]) {
    match *wait {
        IpcWait::Call { badge, .. } => {
            let x = &regs.x;
            (badge, [x[2], x[3], x[4], x[5], x[6]])
        }
        IpcWait::Mmio { badge, access, .. } => (badge, access.to_words()),
        _ => (0, [0; ipc::MESSAGE_WORDS]),
    }
}

/// Hands a message to `server`: it returns from its RECV/REPLY_RECV with it
/// (the caller makes it runnable).
fn deliver(server: &Vcpu, badge: u64, words: [u64; ipc::MESSAGE_WORDS]) {
    let s = server.ctx();
    s.ipc = IpcWait::None;
    let [w0, w1, w2, w3, w4] = words;
    s.regs.x[..7].copy_from_slice(&[OK, badge, w0, w1, w2, w3, w4]);
}

/// Is the partition serving `ep` running? Asked only when its server
/// context here is not already waiting for a message.
fn server_running(ep: &objects::Endpoint) -> bool {
    partition::partition(ep.server).is_some_and(|s| s.ctl.lock().state == PartState::Running)
}

/// Sends for vCPU `id` on `endpoint`, blocking it as `wait` until the reply.
/// A server waiting on this CPU gets the message at once and the CPU.
/// (Inlined so that `wait` is built in place, not copied.)
#[inline(always)]
fn send(
    id: usize,
    v: &Vcpu,
    endpoint: u32,
    wait: IpcWait,
    when_down: WhenDown,
) -> Result<Effect, Error> {
    let outcome = cpu::with_ipc(|ipc| {
        ipc.call(
            endpoint as usize,
            id as u16,
            || objects::endpoint(endpoint).is_some_and(server_running),
            when_down,
        )
    })?;
    cpu::block(id, None);
    let ctx = v.ctx();
    ctx.ipc = wait;
    let CallOutcome::Delivered { server } = outcome else {
        return Ok(Effect::StateChanged);
    };
    let server_id = usize::from(server);
    let Some(s) = partition::vcpu(server_id) else {
        return Ok(Effect::StateChanged);
    };
    let (badge, words) = message_of(&ctx.ipc, &ctx.regs);
    deliver(s, badge, words);
    cpu::set_runnable(server_id);
    Ok(Effect::SwitchTo(server_id))
}

fn receive(
    id: usize,
    v: &Vcpu,
    p: &Partition,
    slot: u64,
    reply_first: bool,
) -> Result<Effect, Error> {
    let cap = p.caps.lookup(slot, ObjectKind::Endpoint, rights::RECV)?;
    let mut replied_to = None;
    if reply_first {
        let reply = {
            let x = &v.ctx().regs.x;
            [x[2], x[3], x[4], x[5], x[6]]
        };
        if let Some(caller) = cpu::with_ipc(|ipc| ipc.reply(id as u16))? {
            complete(usize::from(caller), Ok(reply));
            replied_to = Some(usize::from(caller));
        }
    }
    let next = cpu::with_ipc(|ipc| ipc.recv(cap.object as usize, id as u16))?;
    match next.and_then(|c| partition::vcpu(usize::from(c))) {
        Some(caller) => {
            let ctx = caller.ctx();
            let (badge, words) = message_of(&ctx.ipc, &ctx.regs);
            deliver(v, badge, words);
            Ok(Effect::StateChanged)
        }
        None => {
            v.ctx().ipc = IpcWait::Recv {
                endpoint: cap.object,
            };
            cpu::block(id, None);
            // The reply returns straight to the caller it completes.
            Ok(replied_to.map_or(Effect::StateChanged, Effect::SwitchTo))
        }
    }
}

/// Finishes a caller's wait with a reply (or an error) and makes it
/// runnable: a call returns it in x0..x5; a device access completes the
/// guest's load or store.
fn complete(caller_id: usize, reply: Result<[u64; ipc::MESSAGE_WORDS], Error>) {
    let Some(caller) = partition::vcpu(caller_id) else {
        return;
    };
    if finish_wait(caller, reply) {
        cpu::set_runnable(caller_id);
    }
}

/// [`complete`] but for making it runnable: false if `caller` was not
/// waiting for a reply.
#[inline(always)]
fn finish_wait(caller: &Vcpu, reply: Result<[u64; ipc::MESSAGE_WORDS], Error>) -> bool {
    let ctx = caller.ctx();
    match ctx.ipc {
        IpcWait::Call { .. } => {
            ctx.ipc = IpcWait::None;
            match reply {
                Ok(w) => set(&mut ctx.regs, &[OK, w[0], w[1], w[2], w[3], w[4]]),
                Err(e) => set(&mut ctx.regs, &[err(e)]),
            }
            true
        }
        IpcWait::Mmio { .. } => {
            finish_device_access(caller, reply.unwrap_or_default());
            true
        }
        _ => false,
    }
}

/// [`finish_wait`] of a device access: a load gets the value (truncated and
/// sign-extended as its syndrome said), the guest steps over the access, and
/// the device's interrupt line takes the level the reply gives.
#[inline(never)]
fn finish_device_access(caller: &Vcpu, w: [u64; ipc::MESSAGE_WORDS]) {
    let ctx = caller.ctx();
    let IpcWait::Mmio {
        device,
        access,
        register,
        sign_extend,
        sixty_four,
        ..
    } = core::mem::take(&mut ctx.ipc)
    else {
        return;
    };
    complete_access(
        &mut ctx.regs,
        access.write,
        access.size,
        register,
        sign_extend,
        sixty_four,
        w[0],
    );
    let virq = partition::partition(caller.partition)
        .and_then(|p| p.devices.get(usize::from(device)))
        .map_or(0, |d| d.virq);
    if virq != 0 {
        crate::vgic::set_device_line(caller, virq, w[1] != 0);
    }
}

/// Completes a guest's trapped access to a device window: a load of `size`
/// bytes puts `value` in its target `register` (not XZR), truncated and
/// sign-extended as the syndrome said (ISS.SSE, ISS.SF); the guest steps
/// over the instruction (partitions run A64 only: 4 bytes).
pub fn complete_access(
    regs: &mut GuestRegs,
    write: bool,
    size: u8,
    register: u8,
    sign_extend: bool,
    sixty_four: bool,
    value: u64,
) {
    if !write && register != 31 {
        if let Some(x) = regs.x.get_mut(usize::from(register)) {
            *x = kernel_core::esr::loaded_register_value(value, size, sign_extend, sixty_four);
        }
    }
    regs.elr += 4;
}

/// A stage-2 abort at `ipa` (syndrome `da`) inside one of `p`'s emulated
/// device windows: completes it here if its service published what it
/// needs (`posted_mmio`), else forwards it to the service. `None` if `ipa`
/// is in no window.
pub fn device_abort(
    id: usize,
    v: &Vcpu,
    p: &Partition,
    ipa: u64,
    da: &DataAbort,
) -> Option<Result<Effect, &'static str>> {
    let (index, device) = p
        .devices
        .iter()
        .enumerate()
        .find(|(_, d)| ipa >= d.ipa && ipa - d.ipa < d.size)?;
    if !da.isv {
        return Some(Err("access to an emulated device with no valid syndrome (a load/store pair, writeback or SIMD access)"));
    }
    if let Some(done) = crate::posted_mmio::complete(id, v, p, index, ipa - device.ipa, da) {
        return Some(Ok(done));
    }
    let access = Access {
        write: da.write,
        size: da.access_size_bytes,
        offset: ipa - device.ipa,
        value: stored_value(v, da),
        vcpu: v.index as u32,
    };
    let wait = IpcWait::Mmio {
        endpoint: device.endpoint,
        badge: device.badge,
        device: index as u16,
        access,
        register: da.register,
        sign_extend: da.sign_extend,
        sixty_four: da.sixty_four,
    };
    Some(
        send(id, v, device.endpoint, wait, WhenDown::Wait)
            .map_err(|_| "its device's service has no context on this CPU"),
    )
}

/// The value a trapped store writes: its source register (XZR reads 0) cut
/// to the access size; 0 for a load.
pub fn stored_value(v: &Vcpu, da: &DataAbort) -> u64 {
    if !da.write {
        return 0;
    }
    let value = v
        .ctx()
        .regs
        .x
        .get(usize::from(da.register))
        .copied()
        .unwrap_or(0);
    match da.access_size_bytes {
        8.. => value,
        size => value & ((1u64 << (u32::from(size) * 8)) - 1),
    }
}

/// vCPU `id` left its CPU for good: tidy its IPC ties. A caller it was
/// serving gets an error (a call) or is retried when a server receives
/// again (a device access); callers queued for it fail if they are calls.
pub fn departed(id: usize, v: &Vcpu) {
    let gone = cpu::with_ipc(|ipc| ipc.depart(id as u16));
    let was = core::mem::take(&mut v.ctx().ipc);
    if let IpcWait::Wait { index } = was {
        if let Some(n) = objects::notification(index) {
            let mut waiter = n.waiter.lock();
            if *waiter == Some(id) {
                *waiter = None;
            }
        }
    }
    if let Some(caller) = gone.orphaned_caller.map(usize::from) {
        fail_or_retry(caller);
    }
    // Calls queued on endpoints this vCPU serves here fail now; device
    // accesses stay queued for the restarted server.
    let this_cpu = cpu::this_index();
    for (e, ep) in objects::objects().endpoints.iter().enumerate() {
        if ep.server_vcpu.get(this_cpu).copied().flatten() != Some(id as u16) {
            continue;
        }
        let queued: heapless_ids::Ids = cpu::with_ipc(|ipc| ipc.queued(e).collect());
        for caller in queued.iter().map(|&c| usize::from(c)) {
            let is_call = partition::vcpu(caller)
                .is_some_and(|c| matches!(c.ctx().ipc, IpcWait::Call { .. }));
            if is_call {
                cpu::with_ipc(|ipc| ipc.cancel(caller as u16));
                complete(caller, Err(Error::WrongState));
            }
        }
    }
}

fn fail_or_retry(caller: usize) {
    let Some(c) = partition::vcpu(caller) else {
        return;
    };
    match c.ctx().ipc {
        IpcWait::Mmio { endpoint, .. } => {
            let _ = cpu::with_ipc(|ipc| ipc.requeue_front(endpoint as usize, caller as u16));
        }
        IpcWait::Call { .. } => complete(caller, Err(Error::WrongState)),
        _ => {}
    }
}

/// A fixed list of vCPU ids, to walk a queue while changing it.
mod heapless_ids {
    use kernel_core::ipc::VcpuId;
    use platform::machine::FixedVec;

    /// Up to 64 vCPU ids.
    pub struct Ids(FixedVec<VcpuId, 64>);

    impl FromIterator<VcpuId> for Ids {
        fn from_iter<I: IntoIterator<Item = VcpuId>>(iter: I) -> Self {
            let mut v = FixedVec::new();
            for id in iter {
                let _ = v.push(id);
            }
            Self(v)
        }
    }

    impl Ids {
        /// The ids.
        pub fn iter(&self) -> core::slice::Iter<'_, VcpuId> {
            self.0.as_slice().iter()
        }
    }
}

fn signal(p: &Partition, slot: u64, bits: u64) -> Result<Effect, Error> {
    let cap = p
        .caps
        .lookup(slot, ObjectKind::Notification, rights::SIGNAL)?;
    let n = objects::notification(cap.object).ok_or(Error::NotPresent)?;
    objects::signal(n, bits);
    Ok(Effect::StateChanged)
}

fn wait(id: usize, v: &Vcpu, p: &Partition, slot: u64, block: bool) -> Result<Effect, Error> {
    let cap = p
        .caps
        .lookup(slot, ObjectKind::Notification, rights::WAIT)?;
    let n = objects::notification(cap.object).ok_or(Error::NotPresent)?;
    let bits = n.word.swap(0, Ordering::AcqRel);
    if bits != 0 || !block {
        set(&mut v.ctx().regs, &[OK, bits]);
        return Ok(Effect::ResultOnly);
    }
    {
        let mut waiter = n.waiter.lock();
        if waiter.is_some_and(|w| w != id) {
            return Err(Error::WrongState);
        }
        *waiter = Some(id);
    }
    v.ctx().ipc = IpcWait::Wait { index: cap.object };
    cpu::block(id, None);
    // A signal between the swap and the registration found no waiter: check.
    if n.word.load(Ordering::Acquire) != 0 {
        notified(id, v);
    }
    Ok(Effect::StateChanged)
}

/// A notification vCPU `id` waits on was signalled: if bits are there,
/// complete its WAIT.
pub fn notified(id: usize, v: &Vcpu) {
    let ctx = v.ctx();
    let IpcWait::Wait { index } = ctx.ipc else {
        return;
    };
    let Some(n) = objects::notification(index) else {
        return;
    };
    let bits = n.word.swap(0, Ordering::AcqRel);
    if bits == 0 {
        *n.waiter.lock() = Some(id);
        return;
    }
    {
        let mut waiter = n.waiter.lock();
        if *waiter == Some(id) {
            *waiter = None;
        }
    }
    ctx.ipc = IpcWait::None;
    set(&mut ctx.regs, &[OK, bits]);
    cpu::set_runnable(id);
}

fn irq_ack(p: &Partition, slot: u64) -> Result<Effect, Error> {
    let cap = p
        .caps
        .lookup(slot, ObjectKind::Notification, rights::WAIT)?;
    let n = objects::notification(cap.object).ok_or(Error::NotPresent)?;
    if n.irq == 0 {
        return Err(Error::InvalidParameter);
    }
    gic::deactivate_spi(n.irq);
    Ok(Effect::ResultOnly)
}

fn control(p: &Partition, slot: u64, op: u64) -> Result<Effect, Error> {
    let cap = p
        .caps
        .lookup(slot, ObjectKind::Partition, rights::CONTROL)?;
    let target = partition::partition(cap.object as usize).ok_or(Error::NotPresent)?;
    lifecycle::control(target, op)?;
    Ok(Effect::StateChanged)
}

fn status(v: &Vcpu, p: &Partition, slot: u64) -> Result<Effect, Error> {
    let cap = p.caps.lookup(slot, ObjectKind::Partition, rights::STATUS)?;
    let target = partition::partition(cap.object as usize).ok_or(Error::NotPresent)?;
    let state = match target.ctl.lock().state {
        PartState::Running => ipc::PartitionState::Running,
        PartState::Stopping => ipc::PartitionState::Stopping,
        PartState::Stopped => ipc::PartitionState::Stopped,
        PartState::Faulted => ipc::PartitionState::Faulted,
    };
    let s = PartitionStatus {
        state,
        restarts: partition::restarts(target),
        faults: target.stats.faults.load(Ordering::Relaxed),
        traps: partition::traps(target),
        injected_irqs: target.stats.injected_irqs.load(Ordering::Relaxed),
        ipc_calls: partition::ipc_calls(target),
    };
    let w = s.to_words();
    set(&mut v.ctx().regs, &[OK, w[0], w[1], w[2], w[3], w[4]]);
    Ok(Effect::ResultOnly)
}
