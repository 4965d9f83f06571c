//! Notifications across CPUs. `notify-ping signal=S wait=W count=N` signals
//! notification cap S and waits on W, N times; `notify-pong signal=S wait=W`
//! on another CPU answers each signal. The pinger reports the round trips,
//! and with `pmu = true` the benchmark `notification_signal_to_wake`: half a
//! round trip, a signal on one CPU to the waiter running on another.

use bulkhead_runtime::ipc::Notification;
use bulkhead_runtime::{pmu, println, psci};

use crate::options;
use crate::scenarios::bench;

fn caps(scenario: &str) -> (Notification, Notification) {
    let signal = options::required_number(scenario, "signal") as u16;
    let wait = options::required_number(scenario, "wait") as u16;
    (Notification(signal), Notification(wait))
}

pub fn ping() -> ! {
    let (signal, wait) = caps("notify-ping");
    let count = options::number_or("notify-ping", "count", 100) as usize;
    let measure = options::number_or("notify-ping", "bench", 0) != 0;
    if measure {
        pmu::enable_cycle_counter();
    }
    let mut samples = [0u64; bench::SAMPLES];
    let mut failures = 0;
    for i in 0..count {
        let start = pmu_now(measure);
        let signalled = signal.signal(1);
        let woken = wait.wait();
        let elapsed = pmu_now(measure).wrapping_sub(start);
        if signalled.is_err() || woken != Ok(1) {
            println!("notify: FAIL round trip {i}: signal {signalled:?}, wait {woken:?}");
            failures += 1;
        }
        if let Some(slot) = samples.get_mut(i) {
            *slot = elapsed / 2;
        }
    }
    println!("notify: {count} round trips, {failures} failures");
    if measure {
        bench::report(
            "notification_signal_to_wake",
            &mut samples[..count.min(bench::SAMPLES)],
        );
    }
    psci::system_off()
}

fn pmu_now(measure: bool) -> u64 {
    if measure {
        pmu::cycles()
    } else {
        0
    }
}

pub fn pong() -> ! {
    let (signal, wait) = caps("notify-pong");
    loop {
        match wait.wait() {
            Ok(_) => {
                let _ = signal.signal(1);
            }
            Err(e) => {
                println!("notify-pong: wait failed: {e:?}");
                psci::system_off()
            }
        }
    }
}
