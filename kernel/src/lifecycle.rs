//! Partition lifecycle: start, stop, restart from the pristine image, and the
//! fault path. A stop is asynchronous: each vCPU leaves its own home CPU, and
//! the CPU that takes the last one off finishes the stop or the restart.

use core::sync::atomic::Ordering;

use kernel_core::psci::Power;

use crate::console::{error, info};
use crate::partition::{self, PartState, Partition, Request, StopAction, Vcpu};
use crate::{cpu, gic, timer};

/// Loads a partition and starts it.
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
    {
        let mut slot = v.request.lock();
        // A stop wins over a start that has not been taken yet.
        if !(req != Request::Stop && *slot == Some(Request::Stop)) {
            *slot = Some(req);
        }
    }
    cpu::note_request(v.home);
    if v.home != cpu::this_index() {
        gic::send_reschedule(v.home);
    }
}

/// Begins stopping a partition; `action` decides what happens once every vCPU
/// is off. Does nothing if it is already stopping or stopped.
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

fn finish(p: &Partition) {
    p.line.lock().flush(p.name());
    let action = p.ctl.lock().action;
    match action {
        StopAction::Stop => {
            p.ctl.lock().state = PartState::Stopped;
            info!("partition \"{}\" stopped", p.name());
            if partition::system()
                .partitions
                .iter()
                .all(|q| q.ctl.lock().state == PartState::Stopped)
            {
                info!("all partitions stopped; powering off");
                crate::arch::firmware::system_off();
            }
        }
        StopAction::Restart => {
            let n = p.restarts.fetch_add(1, Ordering::Relaxed) + 1;
            cpu::flush_guest_tlb(p.vttbr);
            start(p);
            info!(
                "partition \"{}\" restarted from its image (restart {n})",
                p.name()
            );
        }
    }
}

/// A partition faulted: report it and apply its restart policy.
pub fn fault(p: &Partition, report: core::fmt::Arguments<'_>) {
    error!("partition \"{}\" faulted: {report}", p.name());
    let restart = {
        let mut ctl = p.ctl.lock();
        ctl.state == PartState::Running && p.restart_after_fault(&mut ctl, timer::now())
    };
    if !restart && p.desc.restart != kernel_core::manifest::RestartPolicy::Never {
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
    let action = if p.desc.restart == kernel_core::manifest::RestartPolicy::Always {
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
