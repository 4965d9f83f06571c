//! IPC hypercalls and emulated-device forwarding: applies the decisions of
//! `kernel_core::ipc` to vCPU registers and run queues. A call delivers the
//! caller's message into its server's registers on the same CPU and blocks
//! the caller; the server's reply completes the caller directly. Notifications
//! wake their waiter wherever it is homed.

use core::sync::atomic::Ordering;

use abi::ipc::{self, mmio::Access, rights, ObjectKind, PartitionStatus};
use abi::Error;
use kernel_core::esr::DataAbort;
use kernel_core::ipc::{CallOutcome, WhenDown};

use crate::arch::vectors::GuestRegs;
use crate::partition::{self, IpcWait, PartState, Partition, Stats, Vcpu};
use crate::trap::Effect;
use crate::{cpu, gic, lifecycle, objects};

const OK: u64 = abi::SUCCESS as u64;

fn err(e: Error) -> u64 {
    e.code() as u64
}

fn set(regs: &mut GuestRegs, values: &[u64]) {
    for (slot, value) in regs.x.iter_mut().zip(values) {
        *slot = *value;
    }
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
    Stats::bump(&p.stats.ipc_calls);
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

/// The message a blocked sender carries: its x2..x6 for a call, the access
/// for a device.
fn message_of(v: &Vcpu) -> (u64, [u64; ipc::MESSAGE_WORDS]) {
    let ctx = v.ctx();
    match ctx.ipc {
        IpcWait::Call { badge, .. } => {
            let x = &ctx.regs.x;
            (badge, [x[2], x[3], x[4], x[5], x[6]])
        }
        IpcWait::Mmio { badge, access, .. } => (badge, access.to_words()),
        _ => (0, [0; ipc::MESSAGE_WORDS]),
    }
}

/// Hands `caller`'s message to `server`: the server returns from its
/// RECV/REPLY_RECV with it and becomes runnable.
fn deliver(server_id: usize, caller_id: usize) {
    let (Some(server), Some(caller)) = (partition::vcpu(server_id), partition::vcpu(caller_id))
    else {
        return;
    };
    let (badge, words) = message_of(caller);
    let s = server.ctx();
    s.ipc = IpcWait::None;
    set(
        &mut s.regs,
        &[OK, badge, words[0], words[1], words[2], words[3], words[4]],
    );
    cpu::set_runnable(server_id);
}

/// Sends for vCPU `id` on `endpoint`, blocking it until the reply.
fn send(
    id: usize,
    v: &Vcpu,
    endpoint: u32,
    wait: IpcWait,
    when_down: WhenDown,
) -> Result<Effect, Error> {
    let ep = objects::endpoint(endpoint).ok_or(Error::NotPresent)?;
    let this_cpu = cpu::this_index();
    let server = ep
        .server_vcpu
        .get(this_cpu)
        .copied()
        .flatten()
        .ok_or(Error::NotPresent)?;
    let server_up =
        partition::partition(ep.server).is_some_and(|s| s.ctl.lock().state == PartState::Running);
    let outcome =
        cpu::with_ipc(|ipc| ipc.call(endpoint as usize, id as u16, server, server_up, when_down))?;
    v.ctx().ipc = wait;
    cpu::block(id, None);
    if let CallOutcome::Delivered { server } = outcome {
        deliver(usize::from(server), id);
        return Ok(Effect::SwitchTo(usize::from(server)));
    }
    Ok(Effect::StateChanged)
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
    match next {
        Some(caller) => {
            deliver(id, usize::from(caller));
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

/// Finishes a caller's wait with a reply (or an error): a call returns it in
/// x0..x5; a device access completes the guest's load or store.
fn complete(caller_id: usize, reply: Result<[u64; ipc::MESSAGE_WORDS], Error>) {
    let Some(caller) = partition::vcpu(caller_id) else {
        return;
    };
    let ctx = caller.ctx();
    match core::mem::take(&mut ctx.ipc) {
        IpcWait::Call { .. } => match reply {
            Ok(w) => set(&mut ctx.regs, &[OK, w[0], w[1], w[2], w[3], w[4]]),
            Err(e) => set(&mut ctx.regs, &[err(e)]),
        },
        IpcWait::Mmio {
            device,
            access,
            register,
            sign_extend,
            sixty_four,
            ..
        } => {
            let w = reply.unwrap_or_default();
            if !access.write && register != 31 {
                ctx.regs.x[usize::from(register)] = kernel_core::esr::loaded_register_value(
                    w[0],
                    access.size,
                    sign_extend,
                    sixty_four,
                );
            }
            ctx.regs.elr += 4;
            let virq = partition::partition(caller.partition)
                .and_then(|p| p.devices.get(usize::from(device)))
                .map_or(0, |d| d.virq);
            if virq != 0 {
                crate::vgic::set_device_line(caller, virq, w[1] != 0);
            }
        }
        other => {
            ctx.ipc = other;
            return;
        }
    }
    cpu::set_runnable(caller_id);
}

/// A stage-2 abort at `ipa` inside one of `p`'s emulated device windows:
/// forwards the access to the device's service. `None` if `ipa` is in no
/// window.
pub fn device_abort(
    id: usize,
    v: &Vcpu,
    p: &Partition,
    ipa: u64,
    esr: u64,
) -> Option<Result<Effect, &'static str>> {
    let (index, device) = p
        .devices
        .iter()
        .enumerate()
        .find(|(_, d)| ipa >= d.ipa && ipa - d.ipa < d.size)?;
    let da = DataAbort::decode(esr);
    if !da.isv {
        return Some(Err("access to an emulated device with no valid syndrome (a load/store pair, writeback or SIMD access)"));
    }
    let access = Access {
        write: da.write,
        size: da.access_size_bytes,
        offset: ipa - device.ipa,
        value: stored_value(v, &da),
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
        ipc_calls: target.stats.ipc_calls.load(Ordering::Relaxed),
    };
    let w = s.to_words();
    set(&mut v.ctx().regs, &[OK, w[0], w[1], w[2], w[3], w[4]]);
    Ok(Effect::ResultOnly)
}
