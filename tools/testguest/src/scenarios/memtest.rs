//! `memtest`: tests every word of the partition's RAM outside its own image,
//! stacks and device tree, and reports how much passed or the first failure.

use bulkhead_runtime::memtest::{self, FreeRamError};
use bulkhead_runtime::{println, psci};

const BYTES_PER_KIB: u64 = 1024;

pub fn run() -> ! {
    let result = memtest::test_free_ram(|piece| {
        println!("memtest: testing {:#x}..{:#x}", piece.start, piece.end);
    });
    match result {
        Ok(0) => println!("memtest: FAIL no free RAM to test"),
        Ok(bytes) => println!("memtest: {} KiB ok", bytes / BYTES_PER_KIB),
        Err(FreeRamError::Failure(failure)) => println!(
            "memtest: FAIL at {:#x}: wrote {:#x}, read {:#x}",
            failure.address, failure.expected, failure.found
        ),
        Err(error) => println!("memtest: FAIL {error:?}"),
    }
    psci::system_off()
}
