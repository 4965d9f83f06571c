//! The console of last resort, for when `CONSOLE_WRITE` is not available (bare
//! QEMU, used to test the runtime itself): the PL011 the device tree names as
//! stdout (or its only PL011), driven by the platform crate's polled driver.
//! Under Bulkhead the console is the `CONSOLE_WRITE` hypercall and this UART
//! is not touched — except by a program the configuration passes the board's
//! UART through to (the console service), which asks for it with
//! [`passthrough`].

use crate::devicetree;
use crate::entry::PARTITION_BASE;
use crate::translation_table::is_device_range;
use platform::pl011::Pl011;

/// Bytes of a PL011 register block (DDI 0183G §3.2: 4 KiB, ID registers at
/// its top).
const REGISTER_BLOCK_SIZE: u64 = 0x1000;

/// The UART's IPA, looked up once (`None`: there is none).
static BASE: spin::Once<Option<usize>> = spin::Once::new();

fn uart() -> Option<Pl011> {
    let base = *BASE.call_once(|| {
        let uart = devicetree::machine().ok()?.uart?;
        usize::try_from(uart.base).ok()
    });
    // the address is the `reg` of the PL011 node in the device tree,
    // identity mapped as Device memory (it is below 1 GiB, or the runtime maps
    // it as Device anyway); console sends are serialised by the console's lock
    // (or, for a fault report, the sender is the only vCPU still printing).
    // SAFETY: sound for the reasons just given.
    base.map(|base| unsafe { Pl011::new(base) })
}

/// UARTCR's offset (DDI 0183G §3.2).
const CONTROL_REGISTER: usize = 0x30;

/// Writes `bytes` to the fallback UART (with CR before LF for terminals), or
/// drops them if there is none; then waits until they are out.
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
    uart.flush();
    // Rewrite UARTCR with what it holds, as Linux's amba-pl011 console does
    // after every write. Under Bulkhead the console service emulating this
    // UART has the core answer loads from its register page and queue the
    // bytes stored to UARTDR (`abi::posted_mmio`); a store to UARTCR goes
    // to the service, which performs the queued bytes before it answers.
    // So the text is out before the program goes on, as when every store
    // was answered at once, and a program that prints its last line and
    // powers off shows it before the core reports the power-off. (A load
    // would not do: it never reaches the service while the page is mapped.)
    // On hardware it changes nothing.
    if let Some(base) = BASE.get().copied().flatten() {
        let window = crate::mmio::Window::new(base);
        window.write_u32(CONTROL_REGISTER, window.read_u32(CONTROL_REGISTER));
    }
}

/// The PL011 the configuration passed through to this partition at `base`
/// (an IPA), for the program that owns the board's UART. `None` unless the
/// 4 KiB block at `base` is page aligned and lies in the Device part of the
/// runtime's identity map ([`crate::translation_table`]): there it cannot
/// alias any memory the program's Rust code uses, whatever `base` is.
pub fn passthrough(base: u64) -> Option<Pl011> {
    if !base.is_multiple_of(REGISTER_BLOCK_SIZE)
        || !is_device_range(base, REGISTER_BLOCK_SIZE, PARTITION_BASE)
    {
        return None;
    }
    let base = usize::try_from(base).ok()?;
    // the register block lies in a Device-nGnRE block of the identity
    // map (checked above), which holds no RAM the program uses, so the
    // driver's MMIO accesses cannot touch Rust-owned memory; if nothing
    // answers there the access faults at stage 2 and the core reports it.
    // Exclusive use is the caller's to arrange (the console service keeps the
    // UART under a lock); the runtime's own fallback console only writes to a
    // UART when `CONSOLE_WRITE` is unavailable, i.e. not under Bulkhead.
    // SAFETY: sound for the reasons just given.
    Some(unsafe { Pl011::new(base) })
}
