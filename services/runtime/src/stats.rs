//! Summaries of measurement samples (benchmarks print min, median and max).

/// The spread of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Smallest sample.
    pub min: u64,
    /// Middle sample; for an even count, the mean of the two middle samples,
    /// rounded down.
    pub median: u64,
    /// Largest sample.
    pub max: u64,
}

impl Summary {
    /// Summarises `samples` (sorting them in place); `None` when empty.
    pub fn of_samples(samples: &mut [u64]) -> Option<Self> {
        samples.sort_unstable();
        let min = *samples.first()?;
        let max = *samples.last()?;
        let middle = samples.len() / 2;
        let upper = *samples.get(middle)?;
        let median = if samples.len().is_multiple_of(2) {
            let lower = *samples.get(middle.checked_sub(1)?)?;
            // Written so that it cannot overflow: lower <= upper.
            lower + (upper - lower) / 2
        } else {
            upper
        };
        Some(Self { min, median, max })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_count() {
        let mut samples = [9, 1, 5];
        assert_eq!(
            Summary::of_samples(&mut samples),
            Some(Summary {
                min: 1,
                median: 5,
                max: 9
            })
        );
    }

    #[test]
    fn even_count_takes_the_mean_of_the_middle_two() {
        let mut samples = [4, 1, 10, 7];
        assert_eq!(
            Summary::of_samples(&mut samples),
            Some(Summary {
                min: 1,
                median: 5,
                max: 10
            })
        );
        let mut huge = [u64::MAX, u64::MAX - 2];
        assert_eq!(
            Summary::of_samples(&mut huge).map(|s| s.median),
            Some(u64::MAX - 1)
        );
    }

    #[test]
    fn single_and_empty() {
        assert_eq!(
            Summary::of_samples(&mut [3]),
            Some(Summary {
                min: 3,
                median: 3,
                max: 3
            })
        );
        assert_eq!(Summary::of_samples(&mut []), None);
    }
}
