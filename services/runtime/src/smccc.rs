//! Reading SMC Calling Convention results (Arm DEN0028): a call that uses the
//! SMC32/HVC32 convention returns its status in W0, so only the low 32 bits of
//! x0 are meaningful and they are sign-extended; an SMC64 call returns it in X0.

use abi::{smccc::CONV_64, Error};

/// The signed status a call to `function` returned in x0.
#[inline]
pub fn return_code(function: u32, x0: u64) -> i64 {
    if function & CONV_64 != 0 {
        x0 as i64
    } else {
        i64::from(x0 as u32 as i32)
    }
}

/// x0 of a call to `function` as a result: a non-negative status is the
/// value, a negative one the ABI error it names. A negative code the ABI does
/// not define means the callee broke the ABI and reads as `InternalFailure`.
#[inline]
pub fn status(function: u32, x0: u64) -> Result<u64, Error> {
    let code = return_code(function, x0);
    if code >= 0 {
        Ok(x0)
    } else {
        Err(Error::from_code(code).unwrap_or(Error::InternalFailure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smc32_results_are_the_low_word_sign_extended() {
        // PSCI_VERSION is an SMC32 call: upper bits of x0 are not part of it.
        assert_eq!(
            return_code(abi::psci::VERSION, 0xdead_0000_0001_0001),
            0x1_0001
        );
        assert_eq!(return_code(abi::psci::FEATURES, 0xffff_ffff), -1);
        assert_eq!(return_code(abi::psci::FEATURES, u64::MAX), -1);
    }

    #[test]
    fn statuses_map_to_abi_errors() {
        assert_eq!(status(abi::hvc::NULL, 0), Ok(0));
        assert_eq!(
            status(abi::psci::CPU_ON_64, (-4i64) as u64),
            Err(Error::AlreadyOn)
        );
        assert_eq!(
            status(abi::psci::CPU_ON_32, 0xffff_fffe),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            status(abi::hvc::NULL, (-100i64) as u64),
            Err(Error::InternalFailure)
        );
    }

    #[test]
    fn smc64_results_are_the_whole_register() {
        assert_eq!(return_code(abi::hvc::NULL, u64::MAX), -1);
        assert_eq!(return_code(abi::hvc::NULL, 0xffff_ffff), 0xffff_ffff);
        assert_eq!(return_code(abi::psci::CPU_ON_64, (-4i64) as u64), -4);
    }
}
