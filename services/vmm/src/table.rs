//! The status table the vmm prints: a `vmm: status` line, a heading, then one
//! line per partition with its state and the core's counters (restarts,
//! faults, traps, injected IRQs, IPC calls), in columns aligned to the widest
//! entry. Every line starts with `vmm: `.

use abi::ipc::PartitionStatus;
use abi::Error;
use core::fmt;
use kernel_core::manifest::MAX_PARTITIONS;
use platform::machine::{FixedVec, Full};

/// The column headings.
const HEADINGS: [&str; COLUMNS] = [
    "partition",
    "state",
    "restarts",
    "faults",
    "traps",
    "irqs",
    "ipc calls",
];
const COLUMNS: usize = 7;
/// Columns before this one are text (left-aligned); from it on, numbers
/// (right-aligned).
const FIRST_NUMBER_COLUMN: usize = 2;
/// Between columns.
const GAP: &str = "  ";
/// The state column of a partition whose status cannot be read.
const UNREADABLE: &str = "unreadable";
/// A counter that cannot be read.
const ABSENT: &str = "-";

/// One partition's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusRow<'a> {
    /// The partition's name.
    pub name: &'a str,
    /// What `PARTITION_STATUS` said.
    pub status: Result<PartitionStatus, Error>,
}

impl Default for StatusRow<'_> {
    fn default() -> Self {
        Self {
            name: "",
            status: Err(Error::NotPresent),
        }
    }
}

impl<'a> StatusRow<'a> {
    fn cells(&self) -> [Cell<'a>; COLUMNS] {
        match self.status {
            Ok(status) => [
                Cell::Text(self.name),
                Cell::Text(status.state.name()),
                Cell::Number(u64::from(status.restarts)),
                Cell::Number(u64::from(status.faults)),
                Cell::Number(status.traps),
                Cell::Number(status.injected_irqs),
                Cell::Number(status.ipc_calls),
            ],
            Err(_) => [
                Cell::Text(self.name),
                Cell::Text(UNREADABLE),
                Cell::Text(ABSENT),
                Cell::Text(ABSENT),
                Cell::Text(ABSENT),
                Cell::Text(ABSENT),
                Cell::Text(ABSENT),
            ],
        }
    }
}

/// The whole table; its [`fmt::Display`] writes every line, each ending in
/// a newline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusTable<'a> {
    rows: FixedVec<StatusRow<'a>, MAX_PARTITIONS>,
}

impl<'a> StatusTable<'a> {
    /// A table without partitions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a partition's line.
    pub fn push(&mut self, row: StatusRow<'a>) -> Result<(), Full> {
        self.rows.push(row)
    }

    /// The lines so far.
    pub fn rows(&self) -> &[StatusRow<'a>] {
        self.rows.as_slice()
    }

    fn widths(&self) -> [usize; COLUMNS] {
        let mut widths = HEADINGS.map(str::len);
        for row in self.rows.iter() {
            for (width, cell) in widths.iter_mut().zip(row.cells()) {
                *width = (*width).max(cell.width());
            }
        }
        widths
    }
}

impl fmt::Display for StatusTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths = self.widths();
        writeln!(f, "vmm: status")?;
        write_line(f, &widths, HEADINGS.map(Cell::Text))?;
        for row in self.rows.iter() {
            write_line(f, &widths, row.cells())?;
        }
        Ok(())
    }
}

fn write_line(
    f: &mut fmt::Formatter<'_>,
    widths: &[usize; COLUMNS],
    cells: [Cell<'_>; COLUMNS],
) -> fmt::Result {
    write!(f, "vmm: ")?;
    for (column, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        if column > 0 {
            f.write_str(GAP)?;
        }
        if column < FIRST_NUMBER_COLUMN {
            // The last text column is followed by others, so padding it
            // leaves no trailing spaces.
            write!(f, "{cell:<width$}")?;
        } else {
            write!(f, "{cell:>width$}")?;
        }
    }
    writeln!(f)
}

/// One entry of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell<'a> {
    Text(&'a str),
    Number(u64),
}

impl Cell<'_> {
    /// Characters it prints (names are ASCII, checked by the settings).
    fn width(&self) -> usize {
        match *self {
            Self::Text(text) => text.chars().count(),
            Self::Number(mut number) => {
                let mut digits = 1;
                while number >= 10 {
                    number /= 10;
                    digits += 1;
                }
                digits
            }
        }
    }
}

impl fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Delegating keeps the caller's width and alignment.
        match self {
            Self::Text(text) => f.pad(text),
            Self::Number(number) => fmt::Display::fmt(number, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::ipc::PartitionState;
    use std::format;

    fn row(name: &str, state: PartitionState, counters: [u64; 5]) -> StatusRow<'_> {
        let [restarts, faults, traps, injected_irqs, ipc_calls] = counters;
        StatusRow {
            name,
            status: Ok(PartitionStatus {
                state,
                restarts: restarts as u32,
                faults: faults as u32,
                traps,
                injected_irqs,
                ipc_calls,
            }),
        }
    }

    #[test]
    fn columns_align_to_the_widest_entry() {
        let mut table = StatusTable::new();
        table
            .push(row("console", PartitionState::Running, [0, 0, 1234, 56, 7]))
            .unwrap();
        table
            .push(row(
                "a-long-guest-name",
                PartitionState::Faulted,
                [12, 13, 9_876_543_210, 0, 100_000],
            ))
            .unwrap();
        table
            .push(StatusRow {
                name: "gone",
                status: Err(Error::BadCapability),
            })
            .unwrap();
        let expected = "\
vmm: status
vmm: partition          state       restarts  faults       traps  irqs  ipc calls
vmm: console            running            0       0        1234    56          7
vmm: a-long-guest-name  faulted           12      13  9876543210     0     100000
vmm: gone               unreadable         -       -           -     -          -
";
        assert_eq!(format!("{table}"), expected);
        assert_eq!(table.rows().len(), 3);
    }

    #[test]
    fn an_empty_table_has_its_heading() {
        let table = StatusTable::new();
        assert_eq!(
            format!("{table}"),
            "vmm: status\nvmm: partition  state  restarts  faults  traps  irqs  ipc calls\n"
        );
    }

    #[test]
    fn the_largest_counters_fit() {
        let mut table = StatusTable::new();
        table
            .push(row(
                "p",
                PartitionState::Stopping,
                [u64::from(u32::MAX), 0, u64::MAX, 0, 0],
            ))
            .unwrap();
        let text = format!("{table}");
        assert!(text.contains(&format!("stopping  {}", u32::MAX)));
        assert!(text.contains(&format!("{}", u64::MAX)));
        let lines: std::vec::Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(lines[0].len(), lines[1].len());
    }

    #[test]
    fn a_full_table_refuses_more_rows() {
        let mut table = StatusTable::new();
        for _ in 0..MAX_PARTITIONS {
            table.push(StatusRow::default()).unwrap();
        }
        assert_eq!(table.push(StatusRow::default()), Err(Full));
    }

    #[test]
    fn number_widths() {
        assert_eq!(Cell::Number(0).width(), 1);
        assert_eq!(Cell::Number(9).width(), 1);
        assert_eq!(Cell::Number(10).width(), 2);
        assert_eq!(Cell::Number(u64::MAX).width(), 20);
        assert_eq!(Cell::Text("abc").width(), 3);
    }
}
