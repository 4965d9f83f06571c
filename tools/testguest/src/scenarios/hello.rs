//! `hello`: the partition says who it is (PARTITION_INFO) and powers off.

use bulkhead_runtime::{hvc, println, psci};

pub fn run() -> ! {
    match hvc::partition_info() {
        Ok(info) => println!(
            "hello: partition {} vCPU {}, restart {}",
            info.partition_id, info.vcpu_index, info.restart_count
        ),
        Err(error) => println!("hello: FAIL PARTITION_INFO got {error:?}"),
    }
    psci::system_off()
}
