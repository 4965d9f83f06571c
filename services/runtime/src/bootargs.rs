//! The kernel command line of a partition (`/chosen/bootargs`): whitespace
//! separated words, each either a flag or a `key=value` option.

use core::str::FromStr;

/// A command line, borrowed from the device tree (or any string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootArgs<'a> {
    text: &'a str,
}

/// The text of an option whose value did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidValue<'a>(pub &'a str);

impl<'a> BootArgs<'a> {
    /// Wraps a command line.
    pub const fn new(text: &'a str) -> Self {
        Self { text }
    }

    /// The whole command line.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The words of the command line, in order.
    pub fn words(&self) -> impl Iterator<Item = &'a str> {
        self.text.split_ascii_whitespace()
    }

    /// The value of `key=value`; when the key appears more than once the last
    /// one wins, as on Linux. `key=` gives `Some("")`.
    pub fn value(&self, key: &str) -> Option<&'a str> {
        self.words()
            .filter_map(|word| word.split_once('='))
            .filter(|(name, _)| *name == key)
            .map(|(_, value)| value)
            .last()
    }

    /// Is the bare word `flag` (without `=`) present?
    pub fn has_flag(&self, flag: &str) -> bool {
        self.words().any(|word| word == flag)
    }

    /// Parses the value of `key` with [`FromStr`]; `Ok(None)` when absent.
    pub fn parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, InvalidValue<'a>> {
        self.value(key)
            .map(|text| text.parse().map_err(|_| InvalidValue(text)))
            .transpose()
    }

    /// Parses the value of `key` as an unsigned number, decimal or `0x` hex
    /// (`_` separators allowed); `Ok(None)` when absent.
    pub fn parse_u64(&self, key: &str) -> Result<Option<u64>, InvalidValue<'a>> {
        self.value(key)
            .map(|text| parse_u64(text).ok_or(InvalidValue(text)))
            .transpose()
    }
}

/// Parses decimal or `0x`-prefixed hexadecimal, ignoring `_` separators.
pub fn parse_u64(text: &str) -> Option<u64> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    let mut value: u64 = 0;
    let mut any_digit = false;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let digit = c.to_digit(radix)?;
        value = value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(digit))?;
        any_digit = true;
    }
    any_digit.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_and_flags() {
        let args = BootArgs::new("  scenario=ticks count=5\tverbose fault_after=2 ");
        assert_eq!(args.value("scenario"), Some("ticks"));
        assert_eq!(args.value("count"), Some("5"));
        assert_eq!(args.value("fault_after"), Some("2"));
        assert_eq!(args.value("period_ms"), None);
        assert!(args.has_flag("verbose"));
        assert!(!args.has_flag("scenario"));
        assert_eq!(args.words().count(), 4);
    }

    #[test]
    fn last_occurrence_wins_and_empty_values_are_kept() {
        let args = BootArgs::new("count=1 count=2 empty= a=b=c");
        assert_eq!(args.value("count"), Some("2"));
        assert_eq!(args.value("empty"), Some(""));
        assert_eq!(args.value("a"), Some("b=c"));
        assert_eq!(args.value("b"), None);
    }

    #[test]
    fn key_must_match_exactly() {
        let args = BootArgs::new("counter=3");
        assert_eq!(args.value("count"), None);
    }

    #[test]
    fn parses_numbers() {
        let args = BootArgs::new("n=42 h=0x1_0000 bad=4x2 empty= big=18446744073709551616");
        assert_eq!(args.parse_u64("n"), Ok(Some(42)));
        assert_eq!(args.parse_u64("h"), Ok(Some(0x1_0000)));
        assert_eq!(args.parse_u64("missing"), Ok(None));
        assert_eq!(args.parse_u64("bad"), Err(InvalidValue("4x2")));
        assert_eq!(args.parse_u64("empty"), Err(InvalidValue("")));
        assert_eq!(
            args.parse_u64("big"),
            Err(InvalidValue("18446744073709551616"))
        );
        assert_eq!(args.parse::<u8>("n"), Ok(Some(42)));
        assert_eq!(args.parse::<u8>("h"), Err(InvalidValue("0x1_0000")));
    }

    #[test]
    fn parse_u64_edge_cases() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("0x"), None);
        assert_eq!(parse_u64("_"), None);
        assert_eq!(parse_u64("0XfF"), Some(255));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64("-1"), None);
    }
}
