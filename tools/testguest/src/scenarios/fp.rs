//! FP/SIMD isolation. `fp-keep seed=S count=N [work=W] [slot=E]` loads a
//! pattern drawn from S into q0..q31, FPCR and FPSR, then N times spins W
//! million integer rounds (long enough for the core to switch to other
//! partitions on the CPU, time slices apart) and, with `slot`, calls the
//! endpoint cap E while the pattern is in the registers; after each step it
//! reads the registers back and checks every bit. `fp-server slot=E seed=S`
//! serves endpoint cap E, holding its own pattern in the registers across
//! every `REPLY_RECV`, while its callers run, and checks it when the next
//! call arrives.
//!
//! The pattern is in the registers only inside `fp_probe::hold`, since
//! compiled code may use any vector register. A partition that loses a bit
//! of its FP state to another prints `FAIL`.

use abi::ipc as ids;
use bulkhead_runtime::fp_probe::{hold, FpState, FPCR_WRITABLE, FPSR_WRITABLE};
use bulkhead_runtime::ipc::Endpoint;
use bulkhead_runtime::{println, psci};

use crate::options;

/// A pattern no other seed gives: every register different, every byte of
/// each register too.
fn pattern_of(seed: u64) -> FpState {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut state = FpState::ZERO;
    for q in state.q.iter_mut() {
        *q = u128::from(next()) << 64 | u128::from(next());
    }
    state.fpcr = next() & FPCR_WRITABLE;
    state.fpsr = next() & FPSR_WRITABLE;
    state
}

/// The first register where `read` differs from `want`: which, what it
/// should hold, what it holds.
fn first_difference(want: &FpState, read: &FpState) -> Option<(Register, u128, u128)> {
    let q = want
        .q
        .iter()
        .zip(read.q.iter())
        .enumerate()
        .map(|(index, (want, got))| (Register::Q(index), *want, *got));
    let control = [
        (Register::Fpcr, want.fpcr, read.fpcr),
        (Register::Fpsr, want.fpsr, read.fpsr),
    ]
    .map(|(register, want, got)| (register, u128::from(want), u128::from(got)));
    q.chain(control).find(|(_, want, got)| want != got)
}

/// An FP/SIMD register, for reports.
#[derive(Clone, Copy)]
enum Register {
    Q(usize),
    Fpcr,
    Fpsr,
}

impl core::fmt::Display for Register {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Q(index) => write!(f, "q{index}"),
            Self::Fpcr => f.write_str("FPCR"),
            Self::Fpsr => f.write_str("FPSR"),
        }
    }
}

/// Prints `FAIL` for the first register of `read` that is not `want`'s;
/// true if there was one.
fn lost_bits(who: &str, when: core::fmt::Arguments<'_>, want: &FpState, read: &FpState) -> bool {
    match first_difference(want, read) {
        Some((register, want, got)) => {
            println!("{who}: FAIL {when}: {register} = {got:#x}, not {want:#x}");
            true
        }
        None => false,
    }
}

/// `fp-keep`.
pub fn keep() -> ! {
    let seed = options::required_number("fp-keep", "seed");
    let count = options::required_number("fp-keep", "count");
    let rounds = options::number_or("fp-keep", "work", 4).saturating_mul(1_000_000);
    let slot = options::number("fp-keep", "slot");
    let pattern = pattern_of(seed);
    let mut failures = 0u64;
    for step in 1..=count {
        let mut read = FpState::ZERO;
        let (function, args) = match slot {
            Some(slot) => (ids::CALL, [slot, step, 0, 0, 0, 0]),
            None => (0, [0; 6]),
        };
        let [status, ..] = hold(&pattern, &mut read, rounds, function, args);
        if slot.is_some() && status != 0 {
            println!("fp-keep: FAIL the call of step {step} returned {status:#x}");
            failures += 1;
        }
        if lost_bits("fp-keep", format_args!("step {step}"), &pattern, &read) {
            failures += 1;
        } else {
            println!("fp-keep: step {step}/{count} intact");
        }
    }
    if failures == 0 {
        println!("fp-keep: intact after {count} steps");
    }
    psci::system_off()
}

/// `fp-server`.
pub fn server() -> ! {
    let slot = options::required_number("fp-server", "slot");
    let pattern = pattern_of(options::required_number("fp-server", "seed"));
    let endpoint = Endpoint(slot as u16);
    println!("fp-server: serving endpoint slot {slot}");
    let mut called = received(endpoint.recv());
    let mut served = 0u64;
    loop {
        if !called {
            called = received(endpoint.recv());
            continue;
        }
        // Reply, and hold the pattern while the caller runs, until its next
        // call arrives.
        let mut read = FpState::ZERO;
        let [status, ..] = hold(
            &pattern,
            &mut read,
            0,
            ids::REPLY_RECV,
            [slot, 0, 0, 0, 0, 0],
        );
        served += 1;
        lost_bits(
            "fp-server",
            format_args!("after reply {served}"),
            &pattern,
            &read,
        );
        called = status == 0;
        if !called {
            println!("fp-server: FAIL REPLY_RECV returned {status:#x}");
        }
    }
}

/// Whether a receive brought a call; says `FAIL` if it failed.
fn received<T>(result: Result<T, abi::Error>) -> bool {
    match result {
        Ok(_) => true,
        Err(error) => {
            println!("fp-server: FAIL receive: {error:?}");
            false
        }
    }
}
