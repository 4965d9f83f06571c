//! `lines count=N`: prints N lines of one fixed pattern through its
//! console, then powers off: a steady stream of whole lines, for checks that
//! nothing else printed on the UART lands inside one of them.

use bulkhead_runtime::{println, psci};

use crate::options;

/// `lines`.
pub fn run() -> ! {
    let count = options::required_number("lines", "count");
    for i in 1..=count {
        println!("line {i:4}: ============================================================");
    }
    println!("lines: done");
    psci::system_off()
}
