//! Secondary-CPU bring-up policy: how to start one physical CPU at the core's
//! entry point, through PSCI `CPU_ON` or a spin-table release address, as the
//! device tree's `enable-method` says. The hardware steps sit behind
//! [`BootOps`] so that the exact sequence is tested on the host.

use core::fmt;

use abi::psci;

/// How the device tree says a CPU is started (`enable-method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableMethod {
    /// `"psci"`: PSCI `CPU_ON` through the conduit the `/psci` node names.
    Psci,
    /// `"spin-table"`: the CPU spins in firmware, polling `release_addr`
    /// (`cpu-release-addr`), and jumps to whatever non-zero address appears there.
    SpinTable {
        /// Physical address of the CPU's 64-bit release word.
        release_addr: u64,
    },
}

/// Which instruction reaches the PSCI firmware (`/psci` `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `SMC #0`, to EL3 firmware (or to QEMU's built-in PSCI).
    Smc,
    /// `HVC #0`, to a hypervisor below us; only when the core itself runs nested.
    Hvc,
}

/// The hardware steps of a CPU start, done by the kernel on the target and by a
/// recording fake in tests.
pub trait BootOps {
    /// Issues PSCI `CPU_ON` (SMC64 function id [`psci::CPU_ON_64`]) through
    /// `conduit` with the target MPIDR, entry point and context id; returns x0.
    fn psci_cpu_on(&mut self, conduit: Conduit, mpidr: u64, entry_pa: u64, context: u64) -> i64;
    /// Stores `entry_pa` at physical `addr` as one 64-bit (little-endian) store.
    fn write_release_addr(&mut self, addr: u64, entry_pa: u64);
    /// Cleans `[addr, addr + len)` from the data caches to the Point of
    /// Coherency and completes (`DSB`) before returning, so a CPU spinning with
    /// its MMU and caches off reads the new value and a following SEV cannot
    /// overtake the clean.
    fn clean_dcache_to_poc(&mut self, addr: u64, len: u64);
    /// Executes `SEV` to wake CPUs waiting in `WFE`.
    fn send_event(&mut self);
}

/// Why a CPU could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// PSCI `CPU_ON` returned this error code.
    Psci(i64),
    /// The CPU uses PSCI but the device tree names no PSCI conduit.
    NoConduit,
    /// The entry point is not 4-byte aligned, so it cannot hold an instruction.
    MisalignedEntry {
        /// The entry point asked for.
        entry_pa: u64,
    },
    /// The spin-table release address is not 8-byte aligned; a single 64-bit
    /// store, which the spinning CPU's firmware reads, needs it.
    MisalignedReleaseAddr {
        /// The release address from the device tree.
        release_addr: u64,
    },
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Psci(code) => {
                write!(
                    f,
                    "PSCI CPU_ON failed with {} ({code})",
                    psci_return_name(*code)
                )
            }
            Self::NoConduit => write!(
                f,
                "the CPU's enable-method is PSCI but the device tree has no usable /psci node"
            ),
            Self::MisalignedEntry { entry_pa } => {
                write!(f, "the entry point {entry_pa:#x} is not 4-byte aligned")
            }
            Self::MisalignedReleaseAddr { release_addr } => {
                write!(
                    f,
                    "the spin-table release address {release_addr:#x} is not 8-byte aligned"
                )
            }
        }
    }
}

/// The PSCI name of a return code (Arm DEN0022, "Return error codes").
fn psci_return_name(code: i64) -> &'static str {
    match code {
        psci::ret::SUCCESS => "SUCCESS",
        psci::ret::NOT_SUPPORTED => "NOT_SUPPORTED",
        psci::ret::INVALID_PARAMETERS => "INVALID_PARAMETERS",
        psci::ret::DENIED => "DENIED",
        psci::ret::ALREADY_ON => "ALREADY_ON",
        psci::ret::ON_PENDING => "ON_PENDING",
        psci::ret::INTERNAL_FAILURE => "INTERNAL_FAILURE",
        psci::ret::INVALID_ADDRESS => "INVALID_ADDRESS",
        _ => "an unknown error",
    }
}

/// Starts the CPU `mpidr` at `entry_pa`.
///
/// - PSCI: `CPU_ON(mpidr, entry_pa, context)` through `conduit`; the CPU starts
///   at `entry_pa` with `x0 = context`.
/// - Spin-table (Linux Documentation/arch/arm64/booting.rst, "spin-table"):
///   `entry_pa` is written to the release address as a 64-bit little-endian
///   value, cleaned to the Point of Coherency (the spinning CPU runs with its
///   caches off) and announced with `SEV`. The firmware passes no context in
///   this case, so `context` is not used: the entry code finds its per-CPU data
///   by reading MPIDR_EL1 and looking it up in a table the boot CPU filled in
///   before calling this.
pub fn start_secondary(
    ops: &mut impl BootOps,
    method: EnableMethod,
    conduit: Option<Conduit>,
    mpidr: u64,
    entry_pa: u64,
    context: u64,
) -> Result<(), BootError> {
    if !entry_pa.is_multiple_of(4) {
        return Err(BootError::MisalignedEntry { entry_pa });
    }
    match method {
        EnableMethod::Psci => {
            let conduit = conduit.ok_or(BootError::NoConduit)?;
            match ops.psci_cpu_on(conduit, mpidr, entry_pa, context) {
                psci::ret::SUCCESS => Ok(()),
                code => Err(BootError::Psci(code)),
            }
        }
        EnableMethod::SpinTable { release_addr } => {
            if !release_addr.is_multiple_of(8) {
                return Err(BootError::MisalignedReleaseAddr { release_addr });
            }
            ops.write_release_addr(release_addr, entry_pa);
            ops.clean_dcache_to_poc(release_addr, 8);
            ops.send_event();
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Op {
        CpuOn {
            conduit: Conduit,
            mpidr: u64,
            entry_pa: u64,
            context: u64,
        },
        WriteRelease {
            addr: u64,
            entry_pa: u64,
        },
        Clean {
            addr: u64,
            len: u64,
        },
        Sev,
    }

    struct Recorder {
        ops: Vec<Op>,
        psci_answer: i64,
    }

    impl Recorder {
        fn answering(psci_answer: i64) -> Self {
            Self {
                ops: Vec::new(),
                psci_answer,
            }
        }
    }

    impl BootOps for Recorder {
        fn psci_cpu_on(
            &mut self,
            conduit: Conduit,
            mpidr: u64,
            entry_pa: u64,
            context: u64,
        ) -> i64 {
            self.ops.push(Op::CpuOn {
                conduit,
                mpidr,
                entry_pa,
                context,
            });
            self.psci_answer
        }

        fn write_release_addr(&mut self, addr: u64, entry_pa: u64) {
            self.ops.push(Op::WriteRelease { addr, entry_pa });
        }

        fn clean_dcache_to_poc(&mut self, addr: u64, len: u64) {
            self.ops.push(Op::Clean { addr, len });
        }

        fn send_event(&mut self) {
            self.ops.push(Op::Sev);
        }
    }

    const ENTRY: u64 = 0x4008_1000;

    #[test]
    fn psci_cpu_on_through_the_named_conduit() {
        for conduit in [Conduit::Smc, Conduit::Hvc] {
            let mut ops = Recorder::answering(psci::ret::SUCCESS);
            start_secondary(
                &mut ops,
                EnableMethod::Psci,
                Some(conduit),
                0x8000_0102,
                ENTRY,
                0xdead,
            )
            .unwrap();
            assert_eq!(
                ops.ops,
                [Op::CpuOn {
                    conduit,
                    mpidr: 0x8000_0102,
                    entry_pa: ENTRY,
                    context: 0xdead
                }]
            );
        }
    }

    #[test]
    fn psci_errors_are_reported() {
        for code in [
            psci::ret::ALREADY_ON,
            psci::ret::INVALID_ADDRESS,
            psci::ret::DENIED,
            -77,
        ] {
            let mut ops = Recorder::answering(code);
            assert_eq!(
                start_secondary(
                    &mut ops,
                    EnableMethod::Psci,
                    Some(Conduit::Smc),
                    1,
                    ENTRY,
                    0
                ),
                Err(BootError::Psci(code))
            );
        }
        let text = alloc::format!("{}", BootError::Psci(psci::ret::ALREADY_ON));
        assert_eq!(text, "PSCI CPU_ON failed with ALREADY_ON (-4)");
        assert!(alloc::format!("{}", BootError::Psci(-77)).contains("unknown"));
    }

    #[test]
    fn psci_without_a_conduit_does_nothing() {
        let mut ops = Recorder::answering(psci::ret::SUCCESS);
        assert_eq!(
            start_secondary(&mut ops, EnableMethod::Psci, None, 1, ENTRY, 0),
            Err(BootError::NoConduit)
        );
        assert!(ops.ops.is_empty());
    }

    #[test]
    fn spin_table_writes_cleans_then_wakes() {
        // The Raspberry Pi 4's release addresses for CPUs 0-3.
        for (mpidr, release_addr) in [(0, 0xd8), (1, 0xe0), (2, 0xe8), (3, 0xf0)] {
            let mut ops = Recorder::answering(psci::ret::NOT_SUPPORTED);
            // A PSCI conduit being present does not matter to a spin-table CPU.
            start_secondary(
                &mut ops,
                EnableMethod::SpinTable { release_addr },
                Some(Conduit::Smc),
                mpidr,
                0x8_1000,
                0x1234,
            )
            .unwrap();
            assert_eq!(
                ops.ops,
                [
                    Op::WriteRelease {
                        addr: release_addr,
                        entry_pa: 0x8_1000
                    },
                    Op::Clean {
                        addr: release_addr,
                        len: 8
                    },
                    Op::Sev,
                ]
            );
        }
    }

    #[test]
    fn misaligned_addresses_are_refused_before_any_step() {
        let mut ops = Recorder::answering(psci::ret::SUCCESS);
        assert_eq!(
            start_secondary(
                &mut ops,
                EnableMethod::SpinTable { release_addr: 0xdc },
                None,
                1,
                ENTRY,
                0
            ),
            Err(BootError::MisalignedReleaseAddr { release_addr: 0xdc })
        );
        assert_eq!(
            start_secondary(
                &mut ops,
                EnableMethod::Psci,
                Some(Conduit::Smc),
                1,
                ENTRY + 2,
                0
            ),
            Err(BootError::MisalignedEntry {
                entry_pa: ENTRY + 2
            })
        );
        assert_eq!(
            start_secondary(
                &mut ops,
                EnableMethod::SpinTable { release_addr: 0xd8 },
                None,
                1,
                ENTRY + 1,
                0
            ),
            Err(BootError::MisalignedEntry {
                entry_pa: ENTRY + 1
            })
        );
        assert!(ops.ops.is_empty());
        assert!(alloc::format!(
            "{}",
            BootError::MisalignedReleaseAddr { release_addr: 0xdc }
        )
        .contains("0xdc"));
    }
}
