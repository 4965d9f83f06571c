//! SMC Calling Convention (Arm DEN0028) function-id fields and the Arm
//! architecture calls the core emulates for every partition.

/// SMCCC_VERSION: returns the implemented SMCCC version (1.1 here).
pub const SMCCC_VERSION: u32 = 0x8000_0000;
/// SMCCC_ARCH_FEATURES: asks whether an Arm architecture call is implemented.
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
/// The version returned by `SMCCC_VERSION`: 1.1.
pub const VERSION_1_1: u32 = 0x0001_0001;

/// Bit 31: fast call.
pub const FAST_CALL: u32 = 1 << 31;
/// Bit 30: SMC64/HVC64 calling convention.
pub const CONV_64: u32 = 1 << 30;

/// The owning entity number, bits 29:24 of a function id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// 0: Arm architecture calls.
    Arch,
    /// 1: CPU service calls.
    Cpu,
    /// 2: SiP service calls.
    Sip,
    /// 3: OEM service calls.
    Oem,
    /// 4: standard secure service calls (PSCI lives here).
    Standard,
    /// 5: standard hypervisor service calls.
    StandardHyp,
    /// 6: vendor-specific hypervisor service calls (Bulkhead's range).
    VendorHyp,
    /// 7..=63: trusted applications, trusted OS, reserved.
    Other(u8),
}

/// Decodes the owner of a function id.
pub fn owner(function_id: u32) -> Owner {
    match ((function_id >> 24) & 0x3f) as u8 {
        0 => Owner::Arch,
        1 => Owner::Cpu,
        2 => Owner::Sip,
        3 => Owner::Oem,
        4 => Owner::Standard,
        5 => Owner::StandardHyp,
        6 => Owner::VendorHyp,
        n => Owner::Other(n),
    }
}

/// True for a fast call (bit 31 set).
pub fn is_fast(function_id: u32) -> bool {
    function_id & FAST_CALL != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_decode() {
        assert_eq!(owner(SMCCC_VERSION), Owner::Arch);
        assert_eq!(owner(crate::psci::CPU_ON_64), Owner::Standard);
        assert_eq!(owner(crate::hvc::NULL), Owner::VendorHyp);
        assert_eq!(owner(crate::hvc::CALL_UID), Owner::VendorHyp);
        assert_eq!(owner(0xFF00_0000), Owner::Other(63));
    }
}
