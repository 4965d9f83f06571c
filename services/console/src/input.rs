//! The input switch: bytes typed on the board's UART go to one guest at a
//! time, the focused one; an escape key, Ctrl-\ (0x1c), followed by a
//! command key, moves the focus or asks the console for something.
//!
//! After Ctrl-\:
//! - `1`..`9`: input goes to that guest (in `devices=` order, from 1);
//! - `n`: input goes to the next guest (wrapping; reaches guests past 9);
//! - `l`: dump the focused guest's log;
//! - Ctrl-\: send one Ctrl-\ to the focused guest;
//! - anything else: print the help.

/// The escape key: Ctrl-\ (FS, 0x1c), which terminals send as is and
/// which rarely means anything to a guest.
pub const ESCAPE: u8 = 0x1c;

/// What one typed byte amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputEvent {
    /// Nothing yet (the escape key, waiting for its command; or input with
    /// no guest to take it).
    Nothing,
    /// `byte` goes to guest `guest`.
    Deliver {
        /// Index of the guest.
        guest: usize,
        /// The byte.
        byte: u8,
    },
    /// Input now goes to guest `guest`.
    Focus {
        /// Index of the guest.
        guest: usize,
    },
    /// Show the log of guest `guest` (the focused one).
    DumpLog {
        /// Index of the guest.
        guest: usize,
    },
    /// The command key was not one of the commands: show the help.
    Help,
}

/// Which guest has the input, and whether an escape is pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputSwitch {
    guests: usize,
    focus: usize,
    escaped: bool,
}

impl InputSwitch {
    /// Input for `guests` guests, focused on the first.
    pub const fn new(guests: usize) -> Self {
        Self {
            guests,
            focus: 0,
            escaped: false,
        }
    }

    /// The guest that has the input, if there is any guest.
    pub fn focus(&self) -> Option<usize> {
        (self.focus < self.guests).then_some(self.focus)
    }

    /// Takes one typed byte.
    pub fn feed(&mut self, byte: u8) -> InputEvent {
        if !self.escaped {
            if byte == ESCAPE {
                self.escaped = true;
                return InputEvent::Nothing;
            }
            return self.deliver(byte);
        }
        self.escaped = false;
        match byte {
            ESCAPE => self.deliver(ESCAPE),
            b'1'..=b'9' => {
                let guest = usize::from(byte - b'1');
                if guest < self.guests {
                    self.focus = guest;
                    InputEvent::Focus { guest }
                } else {
                    InputEvent::Help
                }
            }
            b'n' if self.guests > 0 => {
                self.focus = (self.focus + 1) % self.guests;
                InputEvent::Focus { guest: self.focus }
            }
            b'l' => match self.focus() {
                Some(guest) => InputEvent::DumpLog { guest },
                None => InputEvent::Help,
            },
            _ => InputEvent::Help,
        }
    }

    fn deliver(&self, byte: u8) -> InputEvent {
        match self.focus() {
            Some(guest) => InputEvent::Deliver { guest, byte },
            None => InputEvent::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(switch: &mut InputSwitch, bytes: &[u8]) -> Vec<InputEvent> {
        bytes.iter().map(|&b| switch.feed(b)).collect()
    }

    #[test]
    fn input_goes_to_the_first_guest_at_first() {
        let mut switch = InputSwitch::new(2);
        assert_eq!(switch.focus(), Some(0));
        assert_eq!(
            feed_all(&mut switch, b"ab"),
            vec![
                InputEvent::Deliver {
                    guest: 0,
                    byte: b'a'
                },
                InputEvent::Deliver {
                    guest: 0,
                    byte: b'b'
                },
            ]
        );
    }

    #[test]
    fn escape_and_a_digit_switch_focus() {
        let mut switch = InputSwitch::new(3);
        assert_eq!(
            feed_all(&mut switch, &[ESCAPE, b'2', b'x']),
            vec![
                InputEvent::Nothing,
                InputEvent::Focus { guest: 1 },
                InputEvent::Deliver {
                    guest: 1,
                    byte: b'x'
                },
            ]
        );
        assert_eq!(switch.focus(), Some(1));
        // A digit past the last guest changes nothing and shows the help.
        assert_eq!(
            feed_all(&mut switch, &[ESCAPE, b'4']),
            vec![InputEvent::Nothing, InputEvent::Help]
        );
        assert_eq!(switch.focus(), Some(1));
        // A digit without the escape is ordinary input.
        assert_eq!(
            switch.feed(b'3'),
            InputEvent::Deliver {
                guest: 1,
                byte: b'3'
            }
        );
    }

    #[test]
    fn next_wraps_around() {
        let mut switch = InputSwitch::new(2);
        assert_eq!(
            feed_all(&mut switch, &[ESCAPE, b'n']).last(),
            Some(&InputEvent::Focus { guest: 1 })
        );
        assert_eq!(
            feed_all(&mut switch, &[ESCAPE, b'n']).last(),
            Some(&InputEvent::Focus { guest: 0 })
        );
    }

    #[test]
    fn double_escape_sends_one_escape() {
        let mut switch = InputSwitch::new(1);
        assert_eq!(
            feed_all(&mut switch, &[ESCAPE, ESCAPE, ESCAPE]),
            vec![
                InputEvent::Nothing,
                InputEvent::Deliver {
                    guest: 0,
                    byte: ESCAPE
                },
                InputEvent::Nothing,
            ]
        );
    }

    #[test]
    fn log_and_help_commands() {
        let mut switch = InputSwitch::new(2);
        assert_eq!(
            feed_all(
                &mut switch,
                &[ESCAPE, b'2', ESCAPE, b'l', ESCAPE, b'?', b'z']
            ),
            vec![
                InputEvent::Nothing,
                InputEvent::Focus { guest: 1 },
                InputEvent::Nothing,
                InputEvent::DumpLog { guest: 1 },
                InputEvent::Nothing,
                InputEvent::Help,
                InputEvent::Deliver {
                    guest: 1,
                    byte: b'z'
                },
            ]
        );
    }

    #[test]
    fn without_guests_input_goes_nowhere() {
        let mut switch = InputSwitch::new(0);
        assert_eq!(switch.focus(), None);
        assert_eq!(
            feed_all(
                &mut switch,
                &[b'a', ESCAPE, b'1', ESCAPE, b'n', ESCAPE, b'l']
            ),
            vec![
                InputEvent::Nothing,
                InputEvent::Nothing,
                InputEvent::Help,
                InputEvent::Nothing,
                InputEvent::Help,
                InputEvent::Nothing,
                InputEvent::Help,
            ]
        );
    }
}
