//! IPC scenarios. `echo-server slot=S` serves endpoint cap S forever,
//! replying to each message with its first four words plus one and the
//! last plus the caller's badge. `ipc-client slot=S count=N badge=B [nslot=T] [self=P]`
//! calls it N times and checks every reply (and with `self`, a status cap
//! on its own partition, that the core counted N calls), then checks the
//! capability errors: `caps` runs only those checks (`slot=S` names a
//! call-only endpoint cap, `nslot=T` a signal-only notification cap).

use abi::Error;
use bulkhead_runtime::ipc::{Endpoint, Notification, PartitionCap};
use bulkhead_runtime::{println, psci, smp};

use crate::options;

/// A slot no config gives a capability.
const EMPTY_SLOT: u16 = 63;

/// `echo-server`: serves on every vCPU, one per CPU it serves.
pub fn echo_server() -> ! {
    let slot = options::required_number("echo-server", "slot") as u16;
    let others = smp::start_all_others(serve_echo);
    println!(
        "echo-server: serving endpoint slot {slot} on {} vCPUs",
        others + 1
    );
    serve_echo(0)
}

fn serve_echo(_vcpu: usize) -> ! {
    let endpoint = Endpoint(options::required_number("echo-server", "slot") as u16);
    let mut next = endpoint.recv();
    loop {
        match next {
            Ok((badge, [m0, m1, m2, m3, m4])) => {
                // Word by word, so the reply stays in registers (this loop
                // is the server side of `ipc_call_reply_roundtrip`).
                let reply = [
                    m0.wrapping_add(1),
                    m1.wrapping_add(1),
                    m2.wrapping_add(1),
                    m3.wrapping_add(1),
                    m4.wrapping_add(badge),
                ];
                next = endpoint.reply_recv(reply);
            }
            Err(e) => {
                println!("echo-server: receive failed: {e:?}");
                next = endpoint.recv();
            }
        }
    }
}

fn expect_error(
    what: &str,
    got: Result<impl core::fmt::Debug, Error>,
    want: Error,
    failures: &mut u32,
) {
    match got {
        Err(e) if e == want => println!("caps: {what} -> {want:?} ok"),
        other => {
            println!("caps: FAIL {what}: got {other:?}, want {want:?}");
            *failures += 1;
        }
    }
}

fn check_caps(slot: u16, notification_slot: Option<u16>) -> u32 {
    let mut failures = 0;
    expect_error(
        "call on an empty slot",
        Endpoint(EMPTY_SLOT).call([0; 5]),
        Error::BadCapability,
        &mut failures,
    );
    expect_error(
        "call on slot 1000",
        Endpoint(1000).call([0; 5]),
        Error::BadCapability,
        &mut failures,
    );
    expect_error(
        "receive without the recv right",
        Endpoint(slot).recv(),
        Error::MissingRight,
        &mut failures,
    );
    expect_error(
        "signal an endpoint",
        Notification(slot).signal(1),
        Error::BadCapability,
        &mut failures,
    );
    expect_error(
        "control without a partition cap",
        PartitionCap(slot).stop(),
        Error::BadCapability,
        &mut failures,
    );
    if let Some(n) = notification_slot {
        expect_error(
            "wait without the wait right",
            Notification(n).wait(),
            Error::MissingRight,
            &mut failures,
        );
        expect_error(
            "call a notification",
            Endpoint(n).call([0; 5]),
            Error::BadCapability,
            &mut failures,
        );
    }
    failures
}

pub fn client() -> ! {
    let slot = options::required_number("ipc-client", "slot") as u16;
    let count = options::number_or("ipc-client", "count", 100);
    let badge = options::required_number("ipc-client", "badge");
    let endpoint = Endpoint(slot);
    let mut failures = 0u32;
    for i in 0..count {
        let message = [i, i * 2, i * 3, u64::MAX, 7];
        let [w0, w1, w2, w3, w4] = message;
        let want = [w0 + 1, w1 + 1, w2 + 1, w3.wrapping_add(1), w4 + badge];
        match endpoint.call(message) {
            Ok(reply) if reply == want => {}
            other => {
                println!("ipc-client: FAIL call {i}: {other:?}");
                failures += 1;
            }
        }
    }
    println!("ipc-client: {count} calls, {failures} failures");
    if let Some(own) = options::number("ipc-client", "self") {
        match PartitionCap(own as u16).status() {
            Ok(status) if status.ipc_calls == count && status.traps >= count => {
                println!("ipc-client: the core counted {count} calls");
            }
            other => {
                println!("ipc-client: FAIL status after {count} calls: {other:?}");
                failures += 1;
            }
        }
    }
    let notification_slot = options::number("ipc-client", "nslot").map(|n| n as u16);
    failures += check_caps(slot, notification_slot);
    if failures == 0 {
        println!("ipc-client: all ok");
    }
    psci::system_off()
}

pub fn caps() -> ! {
    let slot = options::required_number("caps", "slot") as u16;
    let notification_slot = options::number("caps", "nslot").map(|n| n as u16);
    if check_caps(slot, notification_slot) == 0 {
        println!("caps: all ok");
    }
    psci::system_off()
}
