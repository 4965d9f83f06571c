//! The Bulkhead EL2 core: boots, builds partitions from the appended manifest,
//! and then lives in trap handling — hypercalls, faults, interrupts and
//! scheduling — for the life of the machine.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod boot;
mod console;
mod cpu;
mod gic;
mod guest_exception;
mod guest_ram;
mod ipc;
mod lifecycle;
mod mm;
mod objects;
mod partition;
mod posted_mmio;
mod sysreg_trap;
mod timer;
mod trap;
mod vgic;

use core::panic::PanicInfo;

use arch::vectors::El2Frame;
use kernel_core::esr::{self, ExceptionClass};

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    console::force_unlock();
    console::core_line("PANIC:", format_args!("CPU {}: {info}", cpu::this_index()));
    arch::firmware::halt()
}

/// An exception taken at EL2 itself: a bug in the core (or a stack overflow
/// into a guard page). Report everything and stop this CPU.
#[no_mangle]
extern "C" fn rust_el2_exception(frame: &El2Frame) {
    console::force_unlock();
    let class = ExceptionClass::from_esr(frame.esr);
    let detail = if matches!(
        class,
        ExceptionClass::DataAbortSame | ExceptionClass::InstrAbortSame
    ) {
        esr::fault_status_name((frame.esr & 0x3f) as u8)
    } else {
        ""
    };
    console::core_line(
        "PANIC:",
        format_args!(
            "CPU {}: unexpected exception at EL2: {} {detail} (ESR {:#x}), FAR {:#x}, ELR {:#x}, SPSR {:#x}, SP {:#x}",
            cpu::this_index(),
            class.name(),
            frame.esr,
            frame.far,
            frame.elr,
            frame.spsr,
            frame.sp
        ),
    );
    for (i, pair) in frame.x.chunks(4).enumerate() {
        let mut line = [0u64; 4];
        line[..pair.len()].copy_from_slice(pair);
        console::raw(format_args!(
            "    x{:<2} {:#018x} {:#018x} {:#018x} {:#018x}\n",
            i * 4,
            line[0],
            line[1],
            line[2],
            line[3]
        ));
    }
    console::core_line("ERROR", format_args!("CPU {} stopped", cpu::this_index()));
    arch::firmware::halt()
}
