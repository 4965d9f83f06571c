//! What the console learns from its boot arguments (`/chosen/bootargs`, set
//! by the configuration): which capability slots to use, where the board's
//! UART is, and which guests it serves. The format is in the crate docs.

use bulkhead_runtime::bootargs::{parse_u64, BootArgs};
use core::fmt;
use platform::machine::FixedVec;

/// Most guests one console serves (the manifest's partition limit).
pub const MAX_GUESTS: usize = 16;

/// One emulated PL011: the badge its accesses arrive with, the name of the
/// guest that has it, and the slot of the notification that raises its
/// interrupt in the guest (its doorbell), if the configuration gives one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestDevice<'a> {
    /// The device's badge.
    pub badge: u64,
    /// The guest partition's name, for line prefixes.
    pub name: &'a str,
    /// Notification slot (right `SIGNAL`) bound to the device's interrupt.
    pub doorbell: Option<u16>,
}

/// The console's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<'a> {
    /// `endpoint_slot`: slot of the console endpoint (right `RECV`).
    pub endpoint_slot: u16,
    /// `irq_slot`: slot of the notification bound to the UART's interrupt
    /// (right `WAIT`); without it there is no input.
    pub irq_slot: Option<u16>,
    /// `input_vcpu`: the vCPU that waits for input instead of serving.
    pub input_vcpu: Option<usize>,
    /// `uart`: IPA of the board's PL011, passed through to the console.
    pub uart: Option<u64>,
    /// `devices` (with `doorbells`): the guests, in order.
    pub guests: FixedVec<GuestDevice<'a>, MAX_GUESTS>,
}

/// Something wrong in the boot arguments; the console reports it and goes
/// on without the part concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsError<'a> {
    /// `key=text` where a number was expected (or it is out of range).
    BadNumber {
        /// The option.
        key: &'static str,
        /// Its value.
        text: &'a str,
    },
    /// A list entry that is not `badge:value`.
    BadEntry {
        /// The option.
        key: &'static str,
        /// The entry.
        entry: &'a str,
    },
    /// More entries than [`MAX_GUESTS`]; this one and the rest are ignored.
    TooManyEntries {
        /// The option.
        key: &'static str,
        /// The first entry left out.
        entry: &'a str,
    },
    /// Two devices with one badge; the second is ignored.
    DuplicateBadge {
        /// The badge.
        badge: u64,
    },
    /// A doorbell for a badge that no device has.
    UnknownBadge {
        /// The badge.
        badge: u64,
    },
}

impl fmt::Display for SettingsError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadNumber { key, text } => {
                write!(f, "{key}={text}: not a number in range, ignored")
            }
            Self::BadEntry { key, entry } => {
                write!(f, "{key}: entry \"{entry}\" is not badge:value, ignored")
            }
            Self::TooManyEntries { key, entry } => write!(
                f,
                "{key}: more than {MAX_GUESTS} entries; \"{entry}\" and the rest are ignored"
            ),
            Self::DuplicateBadge { badge } => {
                write!(
                    f,
                    "devices: badge {badge:#x} given twice; the second is ignored"
                )
            }
            Self::UnknownBadge { badge } => {
                write!(f, "doorbells: no device has badge {badge:#x}; ignored")
            }
        }
    }
}

/// The comma-separated `badge:value` entries of list option `key`: each
/// as (entry text, badge, value), or the error that it is malformed.
fn entries<'a>(
    args: &BootArgs<'a>,
    key: &'static str,
) -> impl Iterator<Item = Result<(&'a str, u64, &'a str), SettingsError<'a>>> + 'a {
    let list = args.value(key).unwrap_or("");
    list.split(',')
        .filter(|entry| !entry.is_empty())
        .map(move |entry| {
            entry
                .split_once(':')
                .and_then(|(badge, value)| Some((entry, parse_u64(badge)?, value)))
                .filter(|(_, _, value)| !value.is_empty())
                .ok_or(SettingsError::BadEntry { key, entry })
        })
}

/// Option `key` as a number that fits `T`.
fn number<'a, T: TryFrom<u64>>(
    args: &BootArgs<'a>,
    key: &'static str,
    report: &mut impl FnMut(SettingsError<'a>),
) -> Option<T> {
    let text = args.value(key)?;
    let value = parse_u64(text).and_then(|value| T::try_from(value).ok());
    if value.is_none() {
        report(SettingsError::BadNumber { key, text });
    }
    value
}

impl<'a> Settings<'a> {
    /// Reads the boot arguments; each problem goes to `report` and the
    /// entry concerned is left out.
    pub fn parse(args: &BootArgs<'a>, mut report: impl FnMut(SettingsError<'a>)) -> Self {
        let endpoint_slot = number(args, "endpoint_slot", &mut report).unwrap_or(0);
        let irq_slot = number(args, "irq_slot", &mut report);
        let input_vcpu = number(args, "input_vcpu", &mut report);
        let uart = number(args, "uart", &mut report);

        // Doorbells first, so that each device finds its own as it is added.
        let mut doorbells: FixedVec<(u64, u16), MAX_GUESTS> = FixedVec::new();
        for entry in entries(args, "doorbells") {
            let (text, badge, slot_text) = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    report(error);
                    continue;
                }
            };
            let Some(slot) = parse_u64(slot_text).and_then(|slot| u16::try_from(slot).ok()) else {
                report(SettingsError::BadNumber {
                    key: "doorbells",
                    text: slot_text,
                });
                continue;
            };
            if doorbells.push((badge, slot)).is_err() {
                report(SettingsError::TooManyEntries {
                    key: "doorbells",
                    entry: text,
                });
                break;
            }
        }

        let mut guests: FixedVec<GuestDevice<'a>, MAX_GUESTS> = FixedVec::new();
        for entry in entries(args, "devices") {
            let (text, badge, name) = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    report(error);
                    continue;
                }
            };
            if guests.iter().any(|guest| guest.badge == badge) {
                report(SettingsError::DuplicateBadge { badge });
                continue;
            }
            let doorbell = doorbells
                .iter()
                .find(|(known, _)| *known == badge)
                .map(|&(_, slot)| slot);
            let device = GuestDevice {
                badge,
                name,
                doorbell,
            };
            if guests.push(device).is_err() {
                report(SettingsError::TooManyEntries {
                    key: "devices",
                    entry: text,
                });
                break;
            }
        }
        for &(badge, _) in doorbells.iter() {
            if !guests.iter().any(|guest| guest.badge == badge) {
                report(SettingsError::UnknownBadge { badge });
            }
        }

        Settings {
            endpoint_slot,
            irq_slot,
            input_vcpu,
            uart,
            guests,
        }
    }

    /// The index of the guest whose device has `badge`.
    pub fn guest_index(&self, badge: u64) -> Option<usize> {
        self.guests.iter().position(|guest| guest.badge == badge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Settings<'_>, Vec<String>) {
        let mut errors = Vec::new();
        let settings = Settings::parse(&BootArgs::new(text), |e| errors.push(e.to_string()));
        (settings, errors)
    }

    #[test]
    fn full_command_line() {
        let (settings, errors) = parse(
            "endpoint_slot=2 irq_slot=1 input_vcpu=4 uart=0x0900_0000 \
             devices=0x100:hello,0x101:ticker doorbells=0x101:6,0x100:5",
        );
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(settings.endpoint_slot, 2);
        assert_eq!(settings.irq_slot, Some(1));
        assert_eq!(settings.input_vcpu, Some(4));
        assert_eq!(settings.uart, Some(0x0900_0000));
        assert_eq!(
            settings.guests.as_slice(),
            &[
                GuestDevice {
                    badge: 0x100,
                    name: "hello",
                    doorbell: Some(5)
                },
                GuestDevice {
                    badge: 0x101,
                    name: "ticker",
                    doorbell: Some(6)
                },
            ]
        );
        assert_eq!(settings.guest_index(0x101), Some(1));
        assert_eq!(settings.guest_index(0x102), None);
    }

    #[test]
    fn defaults() {
        let (settings, errors) = parse("");
        assert!(errors.is_empty());
        assert_eq!(settings.endpoint_slot, 0);
        assert_eq!(settings.irq_slot, None);
        assert_eq!(settings.input_vcpu, None);
        assert_eq!(settings.uart, None);
        assert!(settings.guests.is_empty());
    }

    #[test]
    fn bad_values_are_reported_and_left_out() {
        let (settings, errors) = parse(
            "endpoint_slot=70000 irq_slot=x devices=0x100:a,junk,7:,0x100:b,0x102:c \
             doorbells=0x100:1,0x999:2,0x102:nope",
        );
        assert_eq!(settings.endpoint_slot, 0);
        assert_eq!(settings.irq_slot, None);
        assert_eq!(
            settings
                .guests
                .iter()
                .map(|g| (g.badge, g.name, g.doorbell))
                .collect::<Vec<_>>(),
            vec![(0x100, "a", Some(1)), (0x102, "c", None)]
        );
        assert_eq!(
            errors,
            vec![
                "endpoint_slot=70000: not a number in range, ignored",
                "irq_slot=x: not a number in range, ignored",
                "doorbells=nope: not a number in range, ignored",
                "devices: entry \"junk\" is not badge:value, ignored",
                "devices: entry \"7:\" is not badge:value, ignored",
                "devices: badge 0x100 given twice; the second is ignored",
                "doorbells: no device has badge 0x999; ignored",
            ]
        );
    }

    #[test]
    fn too_many_devices() {
        let list: Vec<String> = (0..18).map(|i| format!("{}:g{i}", 0x100 + i)).collect();
        let text = format!("devices={}", list.join(","));
        let (settings, errors) = parse(&text);
        assert_eq!(settings.guests.len(), MAX_GUESTS);
        assert_eq!(settings.guests.last().map(|g| g.name), Some("g15"));
        assert_eq!(
            errors,
            vec!["devices: more than 16 entries; \"272:g16\" and the rest are ignored"]
        );
    }
}
