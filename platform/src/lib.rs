//! Board support for Bulkhead: what each supported board is (for the config
//! tool), what the device tree says about the machine at boot, and the MMIO
//! drivers the core and partitions use (PL011, GICv2, GICv3, the Raspberry
//! Pi's PM watchdog and mini UART).
#![cfg_attr(not(test), no_std)]

pub mod bcm2835_aux;
pub mod bcm2835_pm;
pub mod board;
pub mod gic_irqs;
pub mod gicv2;
pub mod gicv3;
pub mod machine;
pub mod pl011;
pub mod rpi4;
