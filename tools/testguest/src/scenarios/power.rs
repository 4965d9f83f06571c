//! `off` and `reset`: PSCI SYSTEM_OFF, and SYSTEM_RESET followed by a second
//! run that sees its restart count go up.

use bulkhead_runtime::{hvc, println, psci};

/// `off`: power off at once.
pub fn off() -> ! {
    println!("off: powering off");
    psci::system_off()
}

/// `reset`: on the first run ask for a reset; on the next, report and stop.
pub fn reset() -> ! {
    match hvc::partition_info() {
        Ok(info) if info.restart_count == 0 => {
            println!("reset: requesting SYSTEM_RESET");
            psci::system_reset()
        }
        Ok(info) => {
            println!(
                "reset: running again after reset (restart {})",
                info.restart_count
            );
            psci::system_off()
        }
        Err(error) => {
            println!("reset: FAIL PARTITION_INFO got {error:?}");
            psci::system_off()
        }
    }
}
