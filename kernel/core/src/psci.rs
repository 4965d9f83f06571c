//! PSCI emulation policy for partitions (Arm DEN0022): decodes a call and
//! decides its outcome from the partition's vCPU power states. The kernel
//! applies the outcome (starting a vCPU on its home CPU, stopping, resetting).

use abi::psci::{self, affinity, ret};

/// Power state of one vCPU as PSCI sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    /// Off: CPU_ON may start it.
    Off,
    /// CPU_ON accepted, not yet running on its home CPU.
    OnPending,
    /// Running or runnable.
    On,
}

/// What the kernel must do after a PSCI call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return this value in x0 to the caller.
    Return(i64),
    /// Start vCPU `index` at `entry` with x0 = `context`; the caller gets
    /// SUCCESS. The kernel marks it `OnPending` before returning.
    StartVcpu {
        /// vCPU index within the partition.
        index: usize,
        /// Entry IPA.
        entry: u64,
        /// Value for the new vCPU's x0.
        context: u64,
    },
    /// Power the calling vCPU off (CPU_OFF); the call does not return.
    OffSelf,
    /// Wait for an interrupt, then return SUCCESS (CPU_SUSPEND, standby).
    Suspend,
    /// Stop the whole partition (SYSTEM_OFF).
    SystemOff,
    /// Restart the partition from its pristine image (SYSTEM_RESET).
    SystemReset,
    /// A warm reset (SYSTEM_RESET2 type 0). Linux asks for one after a
    /// kernel panic when booted with `reboot=panic_warm`, and for nothing
    /// else unless told `reboot=warm`: the kernel treats it as a crash.
    SystemWarmReset,
}

/// Is `fid` a PSCI function the core implements for partitions?
pub fn implemented(fid: u32) -> bool {
    matches!(
        fid,
        psci::VERSION
            | psci::CPU_SUSPEND_32
            | psci::CPU_SUSPEND_64
            | psci::CPU_OFF
            | psci::CPU_ON_32
            | psci::CPU_ON_64
            | psci::AFFINITY_INFO_32
            | psci::AFFINITY_INFO_64
            | psci::MIGRATE_INFO_TYPE
            | psci::SYSTEM_OFF
            | psci::SYSTEM_RESET
            | psci::SYSTEM_RESET2_32
            | psci::SYSTEM_RESET2_64
            | psci::FEATURES
    )
}

/// The vCPU index an MPIDR names: Aff0, with Aff1..Aff3 zero (the core gives
/// each partition a flat `VMPIDR_EL2` numbering).
fn vcpu_of_mpidr(mpidr: u64, vcpus: usize) -> Option<usize> {
    let affinity_bits = mpidr & 0xff_00ff_ffff;
    if affinity_bits > 0xff {
        return None;
    }
    let index = (affinity_bits & 0xff) as usize;
    (index < vcpus).then_some(index)
}

/// Decides a PSCI call from vCPU `caller`. `args` are x1..x3 as the caller
/// passed them, `power` the partition's vCPUs, `entry_ok` whether an entry
/// IPA lies in the partition's executable RAM.
pub fn handle(
    fid: u32,
    args: [u64; 3],
    power: &[Power],
    entry_ok: impl Fn(u64) -> bool,
) -> Outcome {
    // SMC32 calls use only the low 32 bits of each argument (SMCCC 1.1 §2.6).
    let wide = fid & abi::smccc::CONV_64 != 0;
    let arg = |i: usize| if wide { args[i] } else { args[i] & 0xffff_ffff };
    match fid {
        psci::VERSION => Outcome::Return(i64::from(psci::VERSION_1_1)),
        psci::FEATURES => {
            let queried = arg(0) as u32;
            Outcome::Return(if implemented(queried) {
                ret::SUCCESS
            } else {
                ret::NOT_SUPPORTED
            })
        }
        psci::MIGRATE_INFO_TYPE => Outcome::Return(psci::MIGRATE_INFO_NOT_PRESENT as i64),
        psci::CPU_ON_32 | psci::CPU_ON_64 => {
            let Some(index) = vcpu_of_mpidr(arg(0), power.len()) else {
                return Outcome::Return(ret::INVALID_PARAMETERS);
            };
            let entry = arg(1);
            match power.get(index) {
                Some(Power::On) => Outcome::Return(ret::ALREADY_ON),
                Some(Power::OnPending) => Outcome::Return(ret::ON_PENDING),
                Some(Power::Off) if !entry_ok(entry) => Outcome::Return(ret::INVALID_ADDRESS),
                Some(Power::Off) => Outcome::StartVcpu {
                    index,
                    entry,
                    context: arg(2),
                },
                None => Outcome::Return(ret::INVALID_PARAMETERS),
            }
        }
        psci::AFFINITY_INFO_32 | psci::AFFINITY_INFO_64 => {
            // Only level 0 (a single vCPU) is meaningful in a flat topology.
            if arg(1) != 0 {
                return Outcome::Return(ret::INVALID_PARAMETERS);
            }
            match vcpu_of_mpidr(arg(0), power.len()).and_then(|i| power.get(i)) {
                Some(Power::On) => Outcome::Return(affinity::ON),
                Some(Power::Off) => Outcome::Return(affinity::OFF),
                Some(Power::OnPending) => Outcome::Return(affinity::ON_PENDING),
                None => Outcome::Return(ret::INVALID_PARAMETERS),
            }
        }
        psci::CPU_OFF => Outcome::OffSelf,
        psci::CPU_SUSPEND_32 | psci::CPU_SUSPEND_64 => Outcome::Suspend,
        psci::SYSTEM_OFF => Outcome::SystemOff,
        psci::SYSTEM_RESET => Outcome::SystemReset,
        // Only the architectural warm reset; vendor-specific and reserved
        // types are invalid here (DEN0022 5.17.2).
        psci::SYSTEM_RESET2_32 | psci::SYSTEM_RESET2_64 => {
            if arg(0) as u32 == psci::SYSTEM_WARM_RESET && arg(0) >> 32 == 0 {
                Outcome::SystemWarmReset
            } else {
                Outcome::Return(ret::INVALID_PARAMETERS)
            }
        }
        _ => Outcome::Return(ret::NOT_SUPPORTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: core::ops::Range<u64> = 0x4000_0000..0x4100_0000;

    fn call(fid: u32, args: [u64; 3], power: &[Power]) -> Outcome {
        handle(fid, args, power, |e| RAM.contains(&e))
    }

    #[test]
    fn version_features_migrate() {
        assert_eq!(
            call(psci::VERSION, [0; 3], &[Power::On]),
            Outcome::Return(0x10001)
        );
        assert_eq!(
            call(
                psci::FEATURES,
                [u64::from(psci::CPU_ON_64), 0, 0],
                &[Power::On]
            ),
            Outcome::Return(0)
        );
        assert_eq!(
            call(psci::FEATURES, [0xC600_1234, 0, 0], &[Power::On]),
            Outcome::Return(-1)
        );
        assert_eq!(
            call(psci::MIGRATE_INFO_TYPE, [0; 3], &[Power::On]),
            Outcome::Return(2)
        );
        assert_eq!(call(0x8400_00FF, [0; 3], &[Power::On]), Outcome::Return(-1));
    }

    #[test]
    fn cpu_on_every_path() {
        let p = [Power::On, Power::Off, Power::OnPending];
        assert_eq!(
            call(psci::CPU_ON_64, [1, 0x4000_1000, 77], &p),
            Outcome::StartVcpu {
                index: 1,
                entry: 0x4000_1000,
                context: 77
            }
        );
        assert_eq!(
            call(psci::CPU_ON_64, [0, 0x4000_1000, 0], &p),
            Outcome::Return(ret::ALREADY_ON)
        );
        assert_eq!(
            call(psci::CPU_ON_64, [2, 0x4000_1000, 0], &p),
            Outcome::Return(ret::ON_PENDING)
        );
        assert_eq!(
            call(psci::CPU_ON_64, [3, 0x4000_1000, 0], &p),
            Outcome::Return(ret::INVALID_PARAMETERS)
        );
        assert_eq!(
            call(psci::CPU_ON_64, [0x100, 0x4000_1000, 0], &p),
            Outcome::Return(ret::INVALID_PARAMETERS)
        );
        assert_eq!(
            call(psci::CPU_ON_64, [1, 0x1000, 0], &p),
            Outcome::Return(ret::INVALID_ADDRESS)
        );
        // SMC32 truncates arguments to 32 bits.
        assert_eq!(
            call(
                psci::CPU_ON_32,
                [0xFFFF_FFFF_0000_0001, 0x4000_2000, 0x1_0000_0005],
                &p
            ),
            Outcome::StartVcpu {
                index: 1,
                entry: 0x4000_2000,
                context: 5
            }
        );
    }

    #[test]
    fn affinity_info_every_path() {
        let p = [Power::On, Power::Off, Power::OnPending];
        assert_eq!(
            call(psci::AFFINITY_INFO_64, [0, 0, 0], &p),
            Outcome::Return(affinity::ON)
        );
        assert_eq!(
            call(psci::AFFINITY_INFO_64, [1, 0, 0], &p),
            Outcome::Return(affinity::OFF)
        );
        assert_eq!(
            call(psci::AFFINITY_INFO_32, [2, 0, 0], &p),
            Outcome::Return(affinity::ON_PENDING)
        );
        assert_eq!(
            call(psci::AFFINITY_INFO_64, [0, 1, 0], &p),
            Outcome::Return(ret::INVALID_PARAMETERS)
        );
        assert_eq!(
            call(psci::AFFINITY_INFO_64, [9, 0, 0], &p),
            Outcome::Return(ret::INVALID_PARAMETERS)
        );
    }

    #[test]
    fn power_calls() {
        assert_eq!(call(psci::CPU_OFF, [0; 3], &[Power::On]), Outcome::OffSelf);
        assert_eq!(
            call(psci::CPU_SUSPEND_64, [0; 3], &[Power::On]),
            Outcome::Suspend
        );
        assert_eq!(
            call(psci::SYSTEM_OFF, [0; 3], &[Power::On]),
            Outcome::SystemOff
        );
        assert_eq!(
            call(psci::SYSTEM_RESET, [0; 3], &[Power::On]),
            Outcome::SystemReset
        );
        for fid in [psci::SYSTEM_RESET2_32, psci::SYSTEM_RESET2_64] {
            assert_eq!(call(fid, [0, 0, 0], &[Power::On]), Outcome::SystemWarmReset);
            assert_eq!(
                call(fid, [0x8000_0000, 0, 0], &[Power::On]),
                Outcome::Return(ret::INVALID_PARAMETERS)
            );
            assert_eq!(
                call(psci::FEATURES, [u64::from(fid), 0, 0], &[Power::On]),
                Outcome::Return(ret::SUCCESS)
            );
        }
        assert_eq!(
            call(psci::SYSTEM_RESET2_64, [1, 0, 0], &[Power::On]),
            Outcome::Return(ret::INVALID_PARAMETERS)
        );
    }
}
