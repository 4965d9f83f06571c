//! `ping`: the calls every partition can make answer as the ABI says —
//! Bulkhead's own, the SMCCC and PSCI queries, unknown ids, the SMC conduit
//! and a malformed CONSOLE_WRITE. Each check prints `ping: <check> ok` or
//! `ping: FAIL <check> got <value>`; all are run even after a failure.

use abi::{hvc as ids, psci as psci_ids, smccc as arch};
use bulkhead_runtime::hvc::{self, Conduit};
use bulkhead_runtime::{console, println, psci, smccc, smp};

/// A function id in the Bulkhead range that does not exist.
const UNKNOWN_ID: u32 = 0xC600_1234;
/// Sent with a length of 1000: the core must clamp it to 40 bytes, which are
/// exactly this line.
const CLAMPED_LINE: &[u8; ids::CONSOLE_WRITE_MAX] = b"ping: console write clamped to 40 bytes\n";
const OVERLONG_LENGTH: u64 = 1000;
/// PSCI_FEATURES: the function is implemented (no feature flags).
const IMPLEMENTED: i64 = 0;
/// SMCCC / PSCI: the function does not exist.
const NOT_SUPPORTED: i64 = -1;

/// Counts failed checks.
#[derive(Default)]
struct Checks {
    failed: u32,
}

impl Checks {
    fn report(&mut self, check: &str, passed: bool, got: impl core::fmt::Display) {
        if passed {
            println!("ping: {check} ok");
        } else {
            println!("ping: FAIL {check} got {got}");
            self.failed += 1;
        }
    }

    fn expect(&mut self, check: &str, got: i64, want: i64) {
        self.report(check, got == want, got);
    }
}

/// Makes a raw call and returns its status code.
fn status(conduit: Conduit, function: u32, args: [u64; 6]) -> Result<i64, hvc::RefusedCall> {
    hvc::call_via(conduit, function, args).map(|[x0, ..]| smccc::return_code(function, x0))
}

/// Reports a raw call's status against `want`.
fn check_status(checks: &mut Checks, check: &str, conduit: Conduit, function: u32, want: i64) {
    match status(conduit, function, [0; 6]) {
        Ok(code) => checks.expect(check, code, want),
        Err(refused) => checks.report(check, false, format_args!("{refused:?}")),
    }
}

pub fn run() -> ! {
    let mut checks = Checks::default();

    check_status(&mut checks, "NULL", Conduit::Hvc, ids::NULL, 0);

    match hvc::partition_info() {
        Ok(info) => checks.report(
            "PARTITION_INFO",
            info.vcpu_index == smp::current_vcpu() as u64,
            format_args!("vCPU {} on vCPU {}", info.vcpu_index, smp::current_vcpu()),
        ),
        Err(error) => checks.report("PARTITION_INFO", false, format_args!("{error:?}")),
    }

    checks.expect(
        "SMCCC_VERSION",
        psci::smccc_version(),
        i64::from(arch::VERSION_1_1),
    );
    checks.expect(
        "PSCI_VERSION",
        i64::from(psci::version()),
        i64::from(psci_ids::VERSION_1_1),
    );
    checks.expect(
        "PSCI_FEATURES(CPU_ON_64)",
        psci::features(psci_ids::CPU_ON_64),
        IMPLEMENTED,
    );
    checks.expect(
        "PSCI_FEATURES(0xC6001234)",
        psci::features(UNKNOWN_ID),
        NOT_SUPPORTED,
    );
    check_status(
        &mut checks,
        "unknown id 0xC6001234",
        Conduit::Hvc,
        UNKNOWN_ID,
        NOT_SUPPORTED,
    );
    check_status(&mut checks, "NULL via SMC", Conduit::Smc, ids::NULL, 0);
    for (check, function) in [
        ("NULL via HVC #1", ids::NULL),
        ("CALL via HVC #1", abi::ipc::CALL),
    ] {
        checks.expect(
            check,
            hvc::call_with_immediate_one(function) as i64,
            NOT_SUPPORTED,
        );
    }

    let uid = hvc::call_uid();
    checks.report(
        "CALL_UID",
        uid == ids::UID,
        format_args!("{:#x} {:#x} {:#x} {:#x}", uid[0], uid[1], uid[2], uid[3]),
    );

    // Nothing of ours may be pending when the raw line goes out.
    console::flush();
    let (words, _) = ids::pack_console_bytes(CLAMPED_LINE);
    let [w0, w1, w2, w3, w4] = words;
    match status(
        Conduit::Hvc,
        ids::CONSOLE_WRITE,
        [OVERLONG_LENGTH, w0, w1, w2, w3, w4],
    ) {
        Ok(code) => checks.report("CONSOLE_WRITE clamp", code >= 0, code),
        Err(refused) => checks.report("CONSOLE_WRITE clamp", false, format_args!("{refused:?}")),
    }

    if checks.failed == 0 {
        println!("ping: all ok");
    } else {
        println!("ping: {} checks failed", checks.failed);
    }
    psci::system_off()
}
