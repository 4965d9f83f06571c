//! The Raspberry Pi mini UART for a partition the configuration gives the
//! AUX page to (`[[partition.passthrough]]` of 0xFE21_5000): the program
//! drives it directly with `platform::bcm2835_aux`, without the core or a
//! console service in the way.

use crate::entry::PARTITION_BASE;
use crate::translation_table::is_device_range;
pub use platform::bcm2835_aux::{baud_divisor, MiniUart};

/// Bytes of the AUX register page (BCM2711 ARM Peripherals §2.1.1).
const AUX_PAGE_SIZE: u64 = 0x1000;

/// The mini UART of the AUX page passed through at `aux_page` (an IPA).
/// `None` unless the page is page aligned and lies in the Device part of
/// the runtime's identity map ([`crate::translation_table`]).
pub fn passthrough(aux_page: u64) -> Option<MiniUart> {
    if !aux_page.is_multiple_of(AUX_PAGE_SIZE)
        || !is_device_range(aux_page, AUX_PAGE_SIZE, PARTITION_BASE)
    {
        return None;
    }
    let base = usize::try_from(aux_page).ok()?;
    // the page lies in a Device-nGnRE block of the identity map (checked
    // above), which holds no RAM the program uses, so the driver's accesses
    // cannot touch Rust-owned memory; if the configuration did not pass the
    // page through, the access faults at stage 2 and the core reports it.
    // Exclusive use is the caller's to arrange: one vCPU drives the UART.
    // SAFETY: sound for the reasons just given.
    Some(unsafe { MiniUart::new(base) })
}
