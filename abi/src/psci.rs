//! PSCI (Arm DEN0022) function ids and return codes, as the core emulates them
//! for partitions and calls them on the platform firmware.

/// PSCI_VERSION.
pub const VERSION: u32 = 0x8400_0000;
/// CPU_SUSPEND, SMC32.
pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
/// CPU_SUSPEND, SMC64.
pub const CPU_SUSPEND_64: u32 = 0xC400_0001;
/// CPU_OFF.
pub const CPU_OFF: u32 = 0x8400_0002;
/// CPU_ON, SMC32.
pub const CPU_ON_32: u32 = 0x8400_0003;
/// CPU_ON, SMC64.
pub const CPU_ON_64: u32 = 0xC400_0003;
/// AFFINITY_INFO, SMC32.
pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
/// AFFINITY_INFO, SMC64.
pub const AFFINITY_INFO_64: u32 = 0xC400_0004;
/// MIGRATE_INFO_TYPE.
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
/// SYSTEM_OFF.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// SYSTEM_RESET.
pub const SYSTEM_RESET: u32 = 0x8400_0009;
/// PSCI_FEATURES.
pub const FEATURES: u32 = 0x8400_000A;
/// SYSTEM_RESET2, SMC32 (PSCI 1.1).
pub const SYSTEM_RESET2_32: u32 = 0x8400_0012;
/// SYSTEM_RESET2, SMC64.
pub const SYSTEM_RESET2_64: u32 = 0xC400_0012;
/// SYSTEM_RESET2 reset type: the one architectural reset, a warm reset
/// (DEN0022 5.17.1). Types with bit 31 set are vendor-specific.
pub const SYSTEM_WARM_RESET: u32 = 0;

/// The PSCI version the core reports to partitions: 1.1.
pub const VERSION_1_1: u32 = 0x0001_0001;
/// MIGRATE_INFO_TYPE answer: trusted OS not present, no migration needed.
pub const MIGRATE_INFO_NOT_PRESENT: u64 = 2;

/// PSCI return codes.
pub mod ret {
    /// SUCCESS.
    pub const SUCCESS: i64 = 0;
    /// NOT_SUPPORTED.
    pub const NOT_SUPPORTED: i64 = -1;
    /// INVALID_PARAMETERS.
    pub const INVALID_PARAMETERS: i64 = -2;
    /// DENIED.
    pub const DENIED: i64 = -3;
    /// ALREADY_ON.
    pub const ALREADY_ON: i64 = -4;
    /// ON_PENDING.
    pub const ON_PENDING: i64 = -5;
    /// INTERNAL_FAILURE.
    pub const INTERNAL_FAILURE: i64 = -6;
    /// INVALID_ADDRESS.
    pub const INVALID_ADDRESS: i64 = -9;
}

/// AFFINITY_INFO answers.
pub mod affinity {
    /// The vCPU is on.
    pub const ON: i64 = 0;
    /// The vCPU is off.
    pub const OFF: i64 = 1;
    /// The vCPU is being turned on.
    pub const ON_PENDING: i64 = 2;
}
