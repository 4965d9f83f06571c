//! Sizes ("16MiB", 4096) and durations ("500ms", "10s", "2m") as written in
//! configs, and the human-readable sizes used in messages.

/// 1 KiB.
pub const KIB: u64 = 1 << 10;
/// 1 MiB.
pub const MIB: u64 = 1 << 20;
/// 1 GiB.
pub const GIB: u64 = 1 << 30;

/// What a size in a config may look like, for error messages.
pub const SIZE_HINT: &str =
    "use a number of bytes or a number followed by KiB, MiB or GiB, such as 4096 or \"16MiB\"";

/// What a duration in a config may look like, for error messages.
pub const DURATION_HINT: &str =
    "use a whole number followed by ms, s or m, such as \"500ms\", \"10s\" or \"2m\"";

/// Parses a size string: a decimal number of bytes, optionally followed by
/// `KiB`, `MiB` or `GiB` (a space between number and unit is allowed).
pub fn parse_size(text: &str) -> Option<u64> {
    let (number, unit) = split_number(text.trim())?;
    let multiplier = match unit.trim_start() {
        "" | "B" => 1,
        "KiB" => KIB,
        "MiB" => MIB,
        "GiB" => GIB,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// Parses a duration string into milliseconds: a whole number followed by
/// `ms`, `s` or `m`. The result must fit the manifest's 32-bit field.
pub fn parse_duration_ms(text: &str) -> Option<u32> {
    let (number, unit) = split_number(text.trim())?;
    let multiplier = match unit.trim_start() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        _ => return None,
    };
    u32::try_from(number.checked_mul(multiplier)?).ok()
}

/// Splits leading decimal digits from the rest; `None` without digits or on overflow.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, rest) = text.split_at(digits_end);
    if digits.is_empty() {
        return None;
    }
    Some((digits.parse().ok()?, rest))
}

/// Formats a byte count in the largest binary unit that divides it exactly,
/// so messages say "16 MiB" rather than "16777216 bytes".
pub fn format_size(bytes: u64) -> String {
    for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}

/// Whole MiB in `bytes`, rounded up (for amounts needed).
pub fn mib_rounded_up(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

/// Whole MiB in `bytes`, rounded down (for amounts available).
pub fn mib_rounded_down(bytes: u64) -> u64 {
    bytes / MIB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("512KiB"), Some(512 * KIB));
        assert_eq!(parse_size("16MiB"), Some(16 * MIB));
        assert_eq!(parse_size("16 MiB"), Some(16 * MIB));
        assert_eq!(parse_size("1GiB"), Some(GIB));
        assert_eq!(parse_size("0"), Some(0));
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in [
            "",
            "MiB",
            "16MB",
            "16mib",
            "1.5GiB",
            "-4",
            "16 MiB x",
            "99999999999999GiB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn durations_parse_to_milliseconds() {
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("10s"), Some(10_000));
        assert_eq!(parse_duration_ms("2m"), Some(120_000));
        assert_eq!(parse_duration_ms("10"), None);
        assert_eq!(parse_duration_ms("10h"), None);
        assert_eq!(parse_duration_ms("5000000m"), None);
    }

    #[test]
    fn sizes_format_in_the_largest_exact_unit() {
        assert_eq!(format_size(16 * MIB), "16 MiB");
        assert_eq!(format_size(GIB), "1 GiB");
        assert_eq!(format_size(1536 * KIB), "1536 KiB");
        assert_eq!(format_size(100), "100 bytes");
        assert_eq!(format_size(0), "0 bytes");
        assert_eq!(mib_rounded_up(MIB + 1), 2);
        assert_eq!(mib_rounded_down(2 * MIB - 1), 1);
    }
}
