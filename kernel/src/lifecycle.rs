//! Partition lifecycle: start, stop, restart from the pristine image, and the
//! fault path. A stop is asynchronous: each vCPU leaves its own home CPU, and
//! the CPU that takes the last one off finishes the stop or the restart.
//!
//! With a supervisor (the vmm) in the system, a faulted partition stays
//! stopped as *faulted* and the supervisor is told through the fault
//! notification; it decides restarts. The supervisor itself, and systems
//! without one, get the restart policy applied by the core.

use core::sync::atomic::Ordering;

use kernel_core::manifest::RestartPolicy;
use kernel_core::psci::Power;

use crate::console::{error, info};
use crate::partition::{self, PartState, Partition, Request, StopAction, Vcpu};
use crate::{cpu, gic, objects, timer};

/// Loads a partition and starts it. Loading invalidates its VMID's TLB
/// entries on every CPU (`Partition::load`), so a restart leaves no
/// translation of the previous run behind.
pub fn start(p: &Partition) {
    p.load();
    launch(p);
}

/// Starts a loaded partition: vCPU 0 at the image entry with x0 = the device
/// tree.
pub fn launch(p: &Partition) {
    p.line.lock().clear();
    {
        let mut ctl = p.ctl.lock();
        ctl.state = PartState::Running;
        ctl.live = 1;
    }
    let Some(v0) = partition::vcpu(p.first_vcpu) else {
        return;
    };
    *v0.power.lock() = Power::OnPending;
    post(
        v0,
        Request::Start {
            entry: p.desc.entry_ipa,
            context: p.desc.dtb_ipa,
        },
    );
}

/// Sends a request to a vCPU's home CPU.
pub fn post(v: &Vcpu, req: Request) {
    v.requests.lock().add(req);
    cpu::note_request(v.home);
    if v.home != cpu::this_index() {
        gic::send_reschedule(v.home);
    }
}

/// Begins stopping a partition; `action` decides what happens once every vCPU
/// is off. Does nothing if it is not running.
pub fn stop(p: &Partition, action: StopAction) {
    let finish_now = {
        let mut ctl = p.ctl.lock();
        if ctl.state != PartState::Running {
            return;
        }
        ctl.state = PartState::Stopping;
        ctl.action = action;
        ctl.live == 0
    };
    if finish_now {
        finish(p);
        return;
    }
    for id in p.first_vcpu..p.first_vcpu + p.vcpu_count {
        if let Some(v) = partition::vcpu(id) {
            if *v.power.lock() != Power::Off {
                post(v, Request::Stop);
            }
        }
    }
}

/// Called on the home CPU when one of the partition's vCPUs went off (a stop
/// request or PSCI CPU_OFF).
pub fn vcpu_went_off(p: &Partition) {
    let finish_now = {
        let mut ctl = p.ctl.lock();
        ctl.live = ctl.live.saturating_sub(1);
        if ctl.live == 0 && ctl.state == PartState::Running {
            // Its last vCPU turned itself off: the partition is done.
            ctl.state = PartState::Stopping;
            ctl.action = StopAction::Stop;
        }
        ctl.live == 0 && ctl.state == PartState::Stopping
    };
    if finish_now {
        finish(p);
    }
}

fn is_supervisor(p: &Partition) -> bool {
    objects::objects().supervisor == Some(p.id)
}

fn finish(p: &Partition) {
    crate::posted_mmio::server_stopped(p);
    // A claim of the board UART ends with its holder: the lines the core
    // kept back come out now.
    crate::console::release(p.id);
    p.line.lock().flush(p.name());
    let action = p.ctl.lock().action;
    match action {
        StopAction::Stop | StopAction::Fault => {
            let faulted = action == StopAction::Fault;
            p.ctl.lock().state = if faulted {
                PartState::Faulted
            } else {
                PartState::Stopped
            };
            if faulted {
                info!(
                    "partition \"{}\" stopped as faulted; its supervisor decides",
                    p.name()
                );
                let objs = objects::objects();
                if let Some(n) = objs
                    .fault_notification
                    .and_then(|n| objs.notifications.get(n))
                {
                    objects::signal(n, 1);
                }
            } else {
                info!("partition \"{}\" stopped", p.name());
            }
            let all_down = partition::system()
                .partitions
                .iter()
                .all(|q| matches!(q.ctl.lock().state, PartState::Stopped | PartState::Faulted));
            if all_down {
                info!("all partitions stopped; powering off");
                crate::arch::firmware::system_off();
            }
        }
        StopAction::Restart => {
            let n = p.restarts.fetch_add(1, Ordering::Relaxed) + 1;
            start(p);
            info!(
                "partition \"{}\" restarted from its image (restart {n})",
                p.name()
            );
        }
    }
}

/// A partition faulted: report it, then let its supervisor decide, or apply
/// its restart policy.
pub fn fault(p: &Partition, report: core::fmt::Arguments<'_>) {
    error!("partition \"{}\" faulted: {report}", p.name());
    p.stats.faults.fetch_add(1, Ordering::Relaxed);
    if objects::objects().supervisor.is_some() && !is_supervisor(p) {
        stop(p, StopAction::Fault);
        return;
    }
    let restart = {
        let mut ctl = p.ctl.lock();
        ctl.state == PartState::Running && p.restart_after_fault(&mut ctl, timer::now_ms())
    };
    if !restart && p.desc.restart != RestartPolicy::Never {
        error!(
            "partition \"{}\" reached its restart limit; it stays stopped",
            p.name()
        );
    }
    stop(
        p,
        if restart {
            StopAction::Restart
        } else {
            StopAction::Stop
        },
    );
}

/// The partition powered itself off (PSCI SYSTEM_OFF).
pub fn system_off(p: &Partition) {
    info!("partition \"{}\" powered off", p.name());
    let core_restarts = objects::objects().supervisor.is_none() || is_supervisor(p);
    let action = if core_restarts && p.desc.restart == RestartPolicy::Always {
        StopAction::Restart
    } else {
        StopAction::Stop
    };
    stop(p, action);
}

/// The partition asked for a reset (PSCI SYSTEM_RESET).
pub fn system_reset(p: &Partition) {
    info!("partition \"{}\" requested a reset", p.name());
    stop(p, StopAction::Restart);
}

/// A supervisor's PARTITION_CONTROL: start, stop or restart `p`.
pub fn control(p: &Partition, op: u64) -> Result<(), abi::Error> {
    let state = p.ctl.lock().state;
    match (op, state) {
        (abi::ipc::control::START, PartState::Stopped | PartState::Faulted) => {
            info!("starting partition \"{}\"", p.name());
            start(p);
            Ok(())
        }
        (abi::ipc::control::RESTART, PartState::Stopped | PartState::Faulted) => {
            let n = p.restarts.fetch_add(1, Ordering::Relaxed) + 1;
            start(p);
            info!(
                "partition \"{}\" restarted from its image (restart {n})",
                p.name()
            );
            Ok(())
        }
        (abi::ipc::control::RESTART, PartState::Running) => {
            stop(p, StopAction::Restart);
            Ok(())
        }
        (abi::ipc::control::STOP, PartState::Running) => {
            stop(p, StopAction::Stop);
            Ok(())
        }
        (abi::ipc::control::START | abi::ipc::control::STOP | abi::ipc::control::RESTART, _) => {
            Err(abi::Error::WrongState)
        }
        _ => Err(abi::Error::InvalidParameter),
    }
}
