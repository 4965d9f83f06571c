//! Ranges of intermediate physical addresses and the arithmetic the runtime
//! needs on them: which parts of a RAM region are left once the program's own
//! image, stacks and device tree are taken out.

/// A half-open range `[start, end)` of IPAs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpaRange {
    /// First address in the range.
    pub start: u64,
    /// First address after the range.
    pub end: u64,
}

impl IpaRange {
    /// The range `[start, start + size)`; `None` if it wraps past 2^64.
    pub fn from_start_size(start: u64, size: u64) -> Option<Self> {
        Some(Self {
            start,
            end: start.checked_add(size)?,
        })
    }

    /// Size in bytes (0 for an empty or inverted range).
    pub fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// True when the range holds no address.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Does the range hold `address`?
    pub fn contains(&self, address: u64) -> bool {
        self.start <= address && address < self.end
    }

    /// The largest sub-range whose ends are multiples of `alignment` (a power
    /// of two); `None` if nothing aligned is left.
    pub fn shrink_to_alignment(&self, alignment: u64) -> Option<Self> {
        if !alignment.is_power_of_two() {
            return None;
        }
        let mask = alignment - 1;
        let start = self.start.checked_add(mask)? & !mask;
        let end = self.end & !mask;
        (start < end).then_some(Self { start, end })
    }
}

/// Calls `visit` with each maximal piece of `region` that no range in `holes`
/// covers, in ascending order. Holes may overlap each other, stick out of the
/// region, or be empty.
pub fn for_each_free_piece(region: IpaRange, holes: &[IpaRange], mut visit: impl FnMut(IpaRange)) {
    let mut cursor = region.start;
    while cursor < region.end {
        // Inside a hole: jump past the furthest-reaching hole covering cursor.
        if let Some(hole_end) = holes
            .iter()
            .filter(|h| h.contains(cursor))
            .map(|h| h.end)
            .max()
        {
            cursor = hole_end;
            continue;
        }
        // Free from cursor up to the next hole (or the end of the region).
        let next_hole = holes
            .iter()
            .filter(|h| !h.is_empty() && h.start > cursor && h.start < region.end)
            .map(|h| h.start)
            .min()
            .unwrap_or(region.end);
        visit(IpaRange {
            start: cursor,
            end: next_hole,
        });
        cursor = next_hole;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, end: u64) -> IpaRange {
        IpaRange { start, end }
    }

    fn pieces(region: IpaRange, holes: &[IpaRange]) -> Vec<IpaRange> {
        let mut out = Vec::new();
        for_each_free_piece(region, holes, |piece| out.push(piece));
        out
    }

    #[test]
    fn no_holes_gives_the_region() {
        assert_eq!(pieces(range(10, 20), &[]), vec![range(10, 20)]);
    }

    #[test]
    fn holes_in_the_middle_and_at_the_ends() {
        // Image at the start, DTB in the middle, unsorted.
        let holes = [range(50, 60), range(0, 20)];
        assert_eq!(
            pieces(range(0, 100), &holes),
            vec![range(20, 50), range(60, 100)]
        );
        // A hole reaching past the end.
        assert_eq!(pieces(range(0, 100), &[range(90, 200)]), vec![range(0, 90)]);
    }

    #[test]
    fn overlapping_nested_and_empty_holes() {
        let holes = [range(10, 30), range(20, 40), range(12, 15), range(70, 70)];
        assert_eq!(
            pieces(range(0, 100), &holes),
            vec![range(0, 10), range(40, 100)]
        );
    }

    #[test]
    fn fully_covered_region_gives_nothing() {
        assert!(pieces(range(10, 20), &[range(0, 100)]).is_empty());
        assert!(pieces(range(10, 10), &[]).is_empty());
    }

    #[test]
    fn adjacent_holes_leave_no_gap() {
        assert_eq!(
            pieces(range(0, 30), &[range(0, 10), range(10, 20)]),
            vec![range(20, 30)]
        );
    }

    #[test]
    fn range_helpers() {
        assert_eq!(IpaRange::from_start_size(u64::MAX, 2), None);
        assert_eq!(IpaRange::from_start_size(4, 4), Some(range(4, 8)));
        assert_eq!(range(8, 4).size(), 0);
        assert!(range(8, 4).is_empty());
        assert!(range(4, 8).contains(4) && !range(4, 8).contains(8));
        assert_eq!(range(1, 17).shrink_to_alignment(8), Some(range(8, 16)));
        assert_eq!(range(1, 15).shrink_to_alignment(8), None);
        assert_eq!(range(0, 16).shrink_to_alignment(3), None);
        assert_eq!(range(u64::MAX - 2, u64::MAX).shrink_to_alignment(8), None);
    }
}
