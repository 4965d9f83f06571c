//! The bare-metal test guest: one program whose boot arguments pick a
//! scenario (`scenario=NAME`, plus `key=value` options) that exercises one
//! part of the core's contract with partitions. Every line it prints starts
//! with the scenario's name, so test transcripts are easy to grep.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod options;
mod scenarios;

use bulkhead_runtime::{devicetree, hvc, println};

bulkhead_runtime::entry!(main);

fn main(_device_tree: usize) -> ! {
    let Some(name) = devicetree::bootargs().value("scenario") else {
        println!("testguest: no scenario=NAME in the boot arguments");
        hvc::abort_panic()
    };
    match scenarios::find(name) {
        Some(scenario) => scenario(),
        None => {
            println!(
                "testguest: unknown scenario {name:?} (known: {})",
                scenarios::NAMES
            );
            hvc::abort_panic()
        }
    }
}
