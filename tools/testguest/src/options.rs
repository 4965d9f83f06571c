//! Scenario options from the boot arguments (`key=value`). A malformed or
//! missing required option is a configuration error: it is reported on a line
//! starting with the scenario's name and the partition aborts.

use bulkhead_runtime::bootargs::InvalidValue;
use bulkhead_runtime::{devicetree, hvc, println};

/// The number given as `key=`, if any.
pub fn number(scenario: &str, key: &str) -> Option<u64> {
    match devicetree::bootargs().parse_u64(key) {
        Ok(value) => value,
        Err(InvalidValue(text)) => {
            println!("{scenario}: option {key}={text:?} is not a number");
            hvc::abort_panic()
        }
    }
}

/// The number given as `key=`, or `default`.
pub fn number_or(scenario: &str, key: &str, default: u64) -> u64 {
    number(scenario, key).unwrap_or(default)
}

/// The number given as `key=`, which the scenario cannot run without.
pub fn required_number(scenario: &str, key: &str) -> u64 {
    match number(scenario, key) {
        Some(value) => value,
        None => {
            println!("{scenario}: needs option {key}=N");
            hvc::abort_panic()
        }
    }
}
