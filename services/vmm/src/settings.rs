//! The vmm's boot arguments: the partitions it supervises (in start order,
//! with their capability slots and restart rules), its fault notification,
//! how often it prints the status table, and its control endpoint. The
//! format is described in the crate documentation.

use crate::restart::{parse_policy, RestartPolicy, RestartRule, MAX_RESTARTS_IN_WINDOW};
use bulkhead_runtime::bootargs::{parse_u64, BootArgs};
use core::fmt;
use kernel_core::manifest::{MAX_CAP_SLOTS, MAX_NAME_LEN, MAX_PARTITIONS};
use platform::machine::FixedVec;

/// Boot-argument key: the supervised partitions.
pub const PARTITIONS_KEY: &str = "partitions";
/// Boot-argument key: the fault notification's slot.
pub const FAULTS_KEY: &str = "faults";
/// Boot-argument key: the status table period.
pub const STATUS_MS_KEY: &str = "status_ms";
/// Boot-argument key: the control endpoint's slot.
pub const CONTROL_KEY: &str = "control";

/// Separates the partitions in `partitions=`.
const ENTRY_SEPARATOR: char = ',';
/// Separates the fields of one partition.
const FIELD_SEPARATOR: char = ':';

/// A slot in the vmm's capability table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct CapSlot(pub u16);

impl CapSlot {
    /// Parses a slot number (decimal or `0x` hex) below the manifest's
    /// [`MAX_CAP_SLOTS`].
    fn parse(text: &str) -> Option<Self> {
        let number = parse_u64(text)?;
        if number >= MAX_CAP_SLOTS as u64 {
            return None;
        }
        u16::try_from(number).ok().map(CapSlot)
    }
}

impl fmt::Display for CapSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One partition the vmm supervises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Supervised<'a> {
    /// Its partition capability (CONTROL and STATUS rights).
    pub slot: CapSlot,
    /// Its name, for messages and the status table.
    pub name: &'a str,
    /// Its restart rule.
    pub rule: RestartRule,
}

/// Everything the boot arguments tell the vmm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings<'a> {
    partitions: FixedVec<Supervised<'a>, MAX_PARTITIONS>,
    /// The fault notification (WAIT right), signalled by the core when a
    /// partition faults; without one the vmm polls.
    pub faults: Option<CapSlot>,
    /// Print the status table every this many milliseconds; 0 prints it only
    /// when something changes.
    pub status_ms: u64,
    /// The endpoint the vmm serves status requests on, if any.
    pub control: Option<CapSlot>,
}

/// What is wrong with the boot arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsError<'a> {
    /// A key's value is not a number, or not a capability slot.
    BadValue {
        /// The key.
        key: &'static str,
        /// Its value.
        value: &'a str,
    },
    /// A `partitions=` entry is malformed.
    BadEntry {
        /// The entry.
        entry: &'a str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// More partitions than a system can have.
    TooManyPartitions,
    /// A partition name appears twice.
    DuplicateName(&'a str),
    /// Two capabilities share a slot.
    DuplicateSlot(CapSlot),
}

impl fmt::Display for SettingsError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadValue { key, value } => {
                write!(f, "boot argument {key}={value} is not a valid ")?;
                if *key == STATUS_MS_KEY {
                    write!(f, "number")
                } else {
                    write!(f, "capability slot (0 to {})", MAX_CAP_SLOTS - 1)
                }
            }
            Self::BadEntry { entry, why } => {
                write!(f, "partition entry \"{entry}\" {why}")
            }
            Self::TooManyPartitions => {
                write!(f, "more than {MAX_PARTITIONS} partitions are listed")
            }
            Self::DuplicateName(name) => write!(f, "partition \"{name}\" is listed twice"),
            Self::DuplicateSlot(slot) => write!(f, "capability slot {slot} is used twice"),
        }
    }
}

impl<'a> Settings<'a> {
    /// Reads the vmm's settings from its boot arguments.
    pub fn from_bootargs(args: &BootArgs<'a>) -> Result<Self, SettingsError<'a>> {
        // The config tool leaves out a key whose list would be empty.
        let list = args.value(PARTITIONS_KEY).unwrap_or_default();
        let faults = optional_slot(args, FAULTS_KEY)?;
        let control = optional_slot(args, CONTROL_KEY)?;
        let status_ms = match args.value(STATUS_MS_KEY) {
            None => 0,
            Some(value) => parse_u64(value).ok_or(SettingsError::BadValue {
                key: STATUS_MS_KEY,
                value,
            })?,
        };

        let mut partitions = FixedVec::new();
        for entry in list
            .split(ENTRY_SEPARATOR)
            .filter(|entry| !entry.is_empty())
        {
            let supervised = parse_entry(entry)?;
            if partitions
                .iter()
                .any(|p: &Supervised<'_>| p.name == supervised.name)
            {
                return Err(SettingsError::DuplicateName(supervised.name));
            }
            partitions
                .push(supervised)
                .map_err(|_| SettingsError::TooManyPartitions)?;
        }

        let settings = Self {
            partitions,
            faults,
            status_ms,
            control,
        };
        settings.check_slots_distinct()?;
        Ok(settings)
    }

    /// The supervised partitions, in start order.
    pub fn partitions(&self) -> &[Supervised<'a>] {
        self.partitions.as_slice()
    }

    /// Every slot must name one capability: a slot given twice is a
    /// configuration mistake that would make the vmm control the wrong thing.
    fn check_slots_distinct(&self) -> Result<(), SettingsError<'a>> {
        let slots = self
            .partitions
            .iter()
            .map(|p| p.slot)
            .chain(self.faults)
            .chain(self.control);
        for (index, slot) in slots.clone().enumerate() {
            if slots.clone().skip(index + 1).any(|other| other == slot) {
                return Err(SettingsError::DuplicateSlot(slot));
            }
        }
        Ok(())
    }
}

fn optional_slot<'a>(
    args: &BootArgs<'a>,
    key: &'static str,
) -> Result<Option<CapSlot>, SettingsError<'a>> {
    args.value(key)
        .map(|value| CapSlot::parse(value).ok_or(SettingsError::BadValue { key, value }))
        .transpose()
}

/// `<slot>:<name>:<policy>[:<max>:<window_ms>]`.
fn parse_entry(entry: &str) -> Result<Supervised<'_>, SettingsError<'_>> {
    let bad = |why| SettingsError::BadEntry { entry, why };
    let mut fields = entry.split(FIELD_SEPARATOR);
    let slot = fields.next().and_then(CapSlot::parse).ok_or(bad(
        "does not start with a capability slot (<slot>:<name>:<policy>[:<max>:<window_ms>])",
    ))?;
    let name = fields.next().filter(|name| is_valid_name(name)).ok_or(bad(
        "has no valid partition name (1 to 32 printable characters)",
    ))?;
    let policy = fields
        .next()
        .and_then(parse_policy)
        .ok_or(bad("has no restart policy (never, on-crash or always)"))?;
    let limit = fields.next();
    let window = fields.next();
    if fields.next().is_some() {
        return Err(bad("has too many fields"));
    }
    let rule = match (policy, limit, window) {
        (RestartPolicy::OnCrash, Some(limit), Some(window)) => {
            let max_restarts = parse_u64(limit)
                .and_then(|max| u32::try_from(max).ok())
                .filter(|max| (1..=MAX_RESTARTS_IN_WINDOW).contains(max))
                .ok_or(bad("has a restart maximum that is not 1 to 1000"))?;
            let window_ms = parse_u64(window).filter(|&ms| ms > 0).ok_or(bad(
                "has a restart window that is not a positive number of ms",
            ))?;
            RestartRule {
                policy,
                max_restarts,
                window_ms,
            }
        }
        (RestartPolicy::OnCrash, _, _) => {
            return Err(bad("uses on-crash without :<max>:<window_ms>"));
        }
        (_, None, None) => RestartRule {
            policy,
            max_restarts: 0,
            window_ms: 0,
        },
        (_, _, _) => return Err(bad("gives a restart limit to a policy other than on-crash")),
    };
    Ok(Supervised { slot, name, rule })
}

/// Names are printed in quotes and table columns: 1 to [`MAX_NAME_LEN`]
/// printable ASCII characters (the config tool allows fewer still).
fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings<'_>, SettingsError<'_>> {
        Settings::from_bootargs(&BootArgs::new(text))
    }

    #[test]
    fn reads_a_full_command_line() {
        let settings = parse(
            "partitions=2:console:always,3:linux:on-crash:3:60000,0x4:probe:never \
             faults=1 status_ms=500 control=5",
        )
        .unwrap();
        assert_eq!(
            settings.partitions(),
            &[
                Supervised {
                    slot: CapSlot(2),
                    name: "console",
                    rule: RestartRule::ALWAYS,
                },
                Supervised {
                    slot: CapSlot(3),
                    name: "linux",
                    rule: RestartRule {
                        policy: RestartPolicy::OnCrash,
                        max_restarts: 3,
                        window_ms: 60_000,
                    },
                },
                Supervised {
                    slot: CapSlot(4),
                    name: "probe",
                    rule: RestartRule::NEVER,
                },
            ]
        );
        assert_eq!(settings.faults, Some(CapSlot(1)));
        assert_eq!(settings.status_ms, 500);
        assert_eq!(settings.control, Some(CapSlot(5)));
    }

    #[test]
    fn optional_keys_default() {
        let settings = parse("faults=0 partitions=1:a:never").unwrap();
        assert_eq!(settings.status_ms, 0);
        assert_eq!(settings.control, None);
        assert_eq!(settings.partitions().len(), 1);
        let settings = parse("partitions=1:a:never").unwrap();
        assert_eq!(settings.faults, None);
        // Keys other services get are ignored.
        let settings = parse("uart=0x9000000 devices=0x100:a irq_slot=3").unwrap();
        assert!(settings.partitions().is_empty());
        assert_eq!(settings.faults, None);
    }

    #[test]
    fn an_empty_list_supervises_nothing() {
        let settings = parse("partitions= faults=0").unwrap();
        assert!(settings.partitions().is_empty());
        // Stray separators are tolerated.
        let settings = parse("partitions=,1:a:never,, faults=0").unwrap();
        assert_eq!(settings.partitions().len(), 1);
    }

    #[test]
    fn an_absent_list_supervises_nothing() {
        // The config tool leaves out `partitions=` when the list is empty.
        assert!(parse("faults=0").unwrap().partitions().is_empty());
    }

    #[test]
    fn bad_values() {
        assert_eq!(
            parse("partitions= faults=x"),
            Err(SettingsError::BadValue {
                key: FAULTS_KEY,
                value: "x"
            })
        );
        assert_eq!(
            parse("partitions= faults=64"),
            Err(SettingsError::BadValue {
                key: FAULTS_KEY,
                value: "64"
            })
        );
        assert_eq!(
            parse("partitions= faults=1 control=-1"),
            Err(SettingsError::BadValue {
                key: CONTROL_KEY,
                value: "-1"
            })
        );
        assert_eq!(
            parse("partitions= faults=1 status_ms=soon"),
            Err(SettingsError::BadValue {
                key: STATUS_MS_KEY,
                value: "soon"
            })
        );
        assert!(parse("partitions= faults=63").is_ok());
    }

    fn entry_error(entry: &str) -> &'static str {
        match parse_entry(entry) {
            Err(SettingsError::BadEntry { entry: e, why }) => {
                assert_eq!(e, entry);
                why
            }
            other => panic!("{entry}: {other:?}"),
        }
    }

    #[test]
    fn bad_entries() {
        assert!(entry_error("x:a:never").contains("capability slot"));
        assert!(entry_error("99:a:never").contains("capability slot"));
        assert!(entry_error("1").contains("name"));
        assert!(entry_error("1::never").contains("name"));
        assert!(entry_error("1:\"q\":never").contains("name"));
        assert!(entry_error("1:abcdefghijabcdefghijabcdefghijabc:never").contains("name"));
        assert!(entry_error("1:a").contains("policy"));
        assert!(entry_error("1:a:sometimes").contains("policy"));
        assert!(entry_error("1:a:on-crash").contains("without"));
        assert!(entry_error("1:a:on-crash:3").contains("without"));
        assert!(entry_error("1:a:on-crash:0:100").contains("maximum"));
        assert!(entry_error("1:a:on-crash:1001:100").contains("maximum"));
        assert!(entry_error("1:a:on-crash:x:100").contains("maximum"));
        assert!(entry_error("1:a:on-crash:3:0").contains("window"));
        assert!(entry_error("1:a:on-crash:3:y").contains("window"));
        assert!(entry_error("1:a:on-crash:3:100:7").contains("too many"));
        assert!(entry_error("1:a:never:3:100").contains("other than on-crash"));
        assert!(entry_error("1:a:always:3").contains("other than on-crash"));
        // The longest name fits.
        assert!(parse_entry("1:abcdefghijabcdefghijabcdefghijab:never").is_ok());
    }

    #[test]
    fn an_entry_error_surfaces_from_the_command_line() {
        assert!(matches!(
            parse("partitions=1:a:never,2:b faults=0"),
            Err(SettingsError::BadEntry { entry: "2:b", .. })
        ));
    }

    #[test]
    fn duplicates_are_refused() {
        assert_eq!(
            parse("partitions=1:a:never,2:a:always faults=0"),
            Err(SettingsError::DuplicateName("a"))
        );
        assert_eq!(
            parse("partitions=1:a:never,1:b:always faults=0"),
            Err(SettingsError::DuplicateSlot(CapSlot(1)))
        );
        assert_eq!(
            parse("partitions=1:a:never faults=1"),
            Err(SettingsError::DuplicateSlot(CapSlot(1)))
        );
        assert_eq!(
            parse("partitions=1:a:never faults=2 control=2"),
            Err(SettingsError::DuplicateSlot(CapSlot(2)))
        );
        assert_eq!(
            parse("partitions=1:a:never faults=2 control=1"),
            Err(SettingsError::DuplicateSlot(CapSlot(1)))
        );
    }

    #[test]
    fn at_most_a_system_full_of_partitions() {
        let mut list = std::string::String::from("partitions=");
        for n in 0..=MAX_PARTITIONS {
            list.push_str(&std::format!("{}:p{n}:never,", n + 1));
        }
        list.push_str(" faults=0");
        assert_eq!(parse(&list), Err(SettingsError::TooManyPartitions));
    }

    #[test]
    fn errors_read_as_sentences() {
        let cases: [(SettingsError<'_>, &str); 6] = [
            (
                SettingsError::BadValue {
                    key: "faults",
                    value: "x",
                },
                "boot argument faults=x is not a valid capability slot (0 to 63)",
            ),
            (
                SettingsError::BadValue {
                    key: "status_ms",
                    value: "x",
                },
                "boot argument status_ms=x is not a valid number",
            ),
            (
                SettingsError::BadEntry {
                    entry: "1:a",
                    why: "has no restart policy",
                },
                "partition entry \"1:a\" has no restart policy",
            ),
            (
                SettingsError::TooManyPartitions,
                "more than 16 partitions are listed",
            ),
            (
                SettingsError::DuplicateName("a"),
                "partition \"a\" is listed twice",
            ),
            (
                SettingsError::DuplicateSlot(CapSlot(3)),
                "capability slot 3 is used twice",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(std::format!("{error}"), text);
        }
    }
}
