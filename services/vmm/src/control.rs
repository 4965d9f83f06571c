//! The vmm's control protocol: requests other partitions send with `CALL` on
//! the vmm's control endpoint (boot argument `control=<slot>`), and the
//! replies.
//!
//! Request: word 0 = operation, words 1..4 ignored (reserved, send 0).
//! Reply: word 0 = 0 on success, or the negative [`abi::Error`] code as a
//! two's-complement word (`NotSupported` for an unknown operation); words
//! 1..4 = 0.
//!
//! | word 0 | operation |
//! |---|---|
//! | 1 ([`PRINT_STATUS`]) | print the status table on the vmm's console |

use abi::ipc::MESSAGE_WORDS;
use abi::Error;

/// Operation: print the status table.
pub const PRINT_STATUS: u64 = 1;

/// A request the vmm understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlRequest {
    /// Print the status table.
    PrintStatus,
}

impl ControlRequest {
    /// Reads a message; an unknown operation is `NotSupported`.
    pub fn decode(words: [u64; MESSAGE_WORDS]) -> Result<Self, Error> {
        match words {
            [PRINT_STATUS, ..] => Ok(Self::PrintStatus),
            _ => Err(Error::NotSupported),
        }
    }
}

/// The reply words for the outcome of a request.
pub fn reply(outcome: Result<(), Error>) -> [u64; MESSAGE_WORDS] {
    let status = match outcome {
        Ok(()) => 0,
        // Two's complement, as x0 carries errors (SMCCC).
        Err(error) => error.code() as u64,
    };
    [status, 0, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_status_is_operation_one() {
        assert_eq!(
            ControlRequest::decode([1, 0, 0, 0, 0]),
            Ok(ControlRequest::PrintStatus)
        );
        // Reserved words do not matter.
        assert_eq!(
            ControlRequest::decode([1, 7, 7, 7, 7]),
            Ok(ControlRequest::PrintStatus)
        );
    }

    #[test]
    fn other_operations_are_not_supported() {
        for op in [0, 2, u64::MAX] {
            assert_eq!(
                ControlRequest::decode([op, 0, 0, 0, 0]),
                Err(Error::NotSupported)
            );
        }
    }

    #[test]
    fn replies() {
        assert_eq!(reply(Ok(())), [0; MESSAGE_WORDS]);
        let [word, rest @ ..] = reply(Err(Error::NotSupported));
        assert_eq!(word as i64, -1);
        assert_eq!(Error::from_code(word as i64), Some(Error::NotSupported));
        assert_eq!(rest, [0; MESSAGE_WORDS - 1]);
    }
}
