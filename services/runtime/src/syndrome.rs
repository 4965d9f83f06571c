//! Decoding why an exception was taken to EL1: the exception class in
//! ESR_EL1 (Arm ARM DDI 0487, D23.2.41 "ESR_EL1", field EC) and the encodings of
//! the hypercall instructions the runtime needs to recognise.

/// ESR_ELx.EC value for "unknown reason": among others, an instruction that
/// is UNDEFINED at this exception level (`UDF`, or `HVC` with no EL2).
pub const EC_UNKNOWN: u8 = 0x00;

/// Encoding of `HVC #0` (Arm ARM C6.2.x "HVC": 0xD4000002 | imm16 << 5).
pub const HVC_0: u32 = 0xD400_0002;
/// Encoding of `SMC #0` (Arm ARM C6.2.x "SMC": 0xD4000003 | imm16 << 5).
pub const SMC_0: u32 = 0xD400_0003;

/// The exception class, ESR_ELx bits \[31:26\].
pub fn exception_class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3f) as u8
}

/// Is `instruction` the `HVC #0` or `SMC #0` the runtime uses for calls?
pub fn is_runtime_call_instruction(instruction: u32) -> bool {
    instruction == HVC_0 || instruction == SMC_0
}

/// A short human description of an exception class, for fault reports.
pub fn describe_class(class: u8) -> &'static str {
    match class {
        0x00 => "undefined instruction",
        0x01 => "trapped WFI/WFE",
        0x07 => "trapped FP/SIMD access",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "trapped system register access",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort",
        0x22 => "misaligned PC",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort",
        0x26 => "misaligned SP",
        0x2c => "trapped floating-point exception",
        0x2f => "SError",
        0x30..=0x35 => "debug exception",
        0x3c => "BRK",
        _ => "unexpected exception",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_decode() {
        // A data abort at EL1 (EC 0x25) with IL set and a translation fault DFSC.
        assert_eq!(exception_class(0x9600_0004), 0x25);
        assert_eq!(describe_class(exception_class(0x9600_0004)), "data abort");
        // UDF #0 at EL1: EC 0, IL 1.
        assert_eq!(exception_class(0x0200_0000), EC_UNKNOWN);
        assert_eq!(describe_class(0x3f), "unexpected exception");
    }

    #[test]
    fn hypercall_instructions_are_recognised() {
        assert!(is_runtime_call_instruction(HVC_0));
        assert!(is_runtime_call_instruction(SMC_0));
        // HVC #1 and UDF #0 are not calls the runtime makes.
        assert!(!is_runtime_call_instruction(0xD400_0022));
        assert!(!is_runtime_call_instruction(0));
    }
}
