//! Scenarios that fault on purpose, so tests can check that the core reports
//! the fault and applies the restart policy: `oob` (a read outside the
//! partition's RAM, a stage-2 fault), `undef` (an undefined instruction) and
//! `panic`.

use bulkhead_runtime::{fault, println};

/// An IPA no test configuration gives a partition: 4 GiB.
const OUTSIDE_RAM: u64 = 0x1_0000_0000;

/// Reads [`OUTSIDE_RAM`]; only returns if the read did not fault, after
/// printing why that is an error.
pub fn read_outside_ram(scenario: &str) {
    match fault::read_outside_ram(OUTSIDE_RAM) {
        Ok(value) => println!("{scenario}: ERROR read returned {value:#x}"),
        Err(refused) => println!("{scenario}: ERROR could not probe {OUTSIDE_RAM:#x}: {refused:?}"),
    }
}

/// `oob`.
pub fn oob() -> ! {
    println!("oob: reading outside my RAM");
    read_outside_ram("oob");
    bulkhead_runtime::psci::system_off()
}

/// `undef`.
pub fn undef() -> ! {
    println!("undef: executing UDF");
    fault::undefined_instruction()
}

/// `panic`.
pub fn panic() -> ! {
    panic!("on purpose")
}
