//! The console of last resort, for when `CONSOLE_WRITE` is not available (bare
//! QEMU, used to test the runtime itself): the PL011 the device tree names as
//! stdout (or its only PL011), driven by the platform crate's polled driver.
//! Under Bulkhead the console is the `CONSOLE_WRITE` hypercall and this UART
//! is not touched.

use crate::devicetree;
use platform::pl011::Pl011;

/// The UART's IPA, looked up once (`None`: there is none).
static BASE: spin::Once<Option<usize>> = spin::Once::new();

fn uart() -> Option<Pl011> {
    let base = *BASE.call_once(|| {
        let uart = devicetree::machine().ok()?.uart?;
        usize::try_from(uart.base).ok()
    });
    // SAFETY: the address is the `reg` of the PL011 node in the device tree,
    // identity mapped as Device memory (it is below 1 GiB, or the runtime maps
    // it as Device anyway); console sends are serialised by the console's lock
    // (or, for a fault report, the sender is the only vCPU still printing).
    base.map(|base| unsafe { Pl011::new(base) })
}

/// Writes `bytes` to the fallback UART (with CR before LF for terminals), or
/// drops them if there is none.
pub(crate) fn write_fallback(bytes: &[u8]) {
    let Some(uart) = uart() else {
        return;
    };
    for &byte in bytes {
        if byte == b'\n' {
            uart.write_byte(b'\r');
        }
        uart.write_byte(byte);
    }
}
