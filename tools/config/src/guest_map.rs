//! The guest-visible device map: where every partition finds its interrupt
//! controller and emulated devices. It copies QEMU `virt`'s map (hw/arm/virt.c
//! `base_memmap`), so a guest built for QEMU `virt` runs unchanged on any board.

use std::ops::Range;

/// IPAs the tool reserves for the guest's interrupt controller: no memory
/// region, device window, passthrough or shared mapping may overlap them.
/// Covers every GIC frame below (QEMU `virt` puts its GIC, ITS and
/// redistributors in the same 16 MiB).
pub const GIC_WINDOW: Range<u64> = 0x0800_0000..0x0900_0000;

/// The distributor and redistributor frames the core emulates, at the
/// addresses the core decodes them (`kernel_core::vgic::guest_map`, the one
/// definition): GICD at 0x0800_0000 (64 KiB on GICv3, 4 KiB on GICv2), and on
/// GICv3 one 128 KiB redistributor (RD_base + SGI_base) per vCPU from
/// 0x080A_0000.
pub use kernel_core::vgic::guest_map::{
    GICD_IPA, GICD_V2_SIZE, GICD_V3_SIZE, GICR_IPA, GICR_STRIDE as GICR_FRAME_SIZE,
};
/// GICv2 CPU interface (GICC), backed by the board's virtual CPU interface (GICV).
pub const GICC_IPA: u64 = 0x0801_0000;
/// GICv2 CPU interface size: 8 KiB, GICC_DIR lives at 0x1000 (GICv2 spec, 4.1.3).
pub const GICC_SIZE: u64 = 0x2000;
/// Where QEMU `virt` has its PL011, and so where configs conventionally put a
/// guest's emulated UART (`[[partition.device]] kind = "pl011"`). Nothing is
/// reserved there: a partition without a UART may use the IPAs for anything.
pub const UART_IPA: u64 = 0x0900_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gic_frame_lies_inside_the_reserved_window() {
        let max_vcpus = kernel_core::manifest::MAX_VCPUS_PER_PARTITION as u64;
        let frames = [
            (GICD_IPA, GICD_V3_SIZE),
            (GICD_IPA, GICD_V2_SIZE),
            (GICR_IPA, GICR_FRAME_SIZE * max_vcpus),
            (GICC_IPA, GICC_SIZE),
        ];
        for (base, size) in frames {
            assert!(GIC_WINDOW.start <= base && base + size <= GIC_WINDOW.end);
        }
        // The conventional UART address is free for a device window.
        assert!(!GIC_WINDOW.contains(&UART_IPA));
    }
}
