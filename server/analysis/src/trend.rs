//! Monthly series of one market and channel: trailing windows and the change against the
//! market's own baseline. Windows add counts of the same market, channel and measure over
//! months, which is legitimate; channels and markets are never added together.

use std::collections::BTreeMap;
use std::fmt;

use super::scale::{Histogram, Measure};

/// A calendar month, ordered and countable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(i32);

impl Month {
    /// The month of a year (1-12); `None` when out of range.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        (1..=12)
            .contains(&month)
            .then(|| Month(year * 12 + month as i32 - 1))
    }

    /// Parses `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        let digits =
            |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return None;
        }
        Month::new(year.parse().ok()?, month.parse().ok()?)
    }

    /// Year.
    pub fn year(self) -> i32 {
        self.0.div_euclid(12)
    }

    /// Month of the year, 1-12.
    pub fn month(self) -> u32 {
        self.0.rem_euclid(12) as u32 + 1
    }

    /// The month `n` months later (earlier for negative `n`).
    pub fn plus(self, n: i32) -> Month {
        Month(self.0 + n)
    }

    /// Months from `self` to `last`, both included; empty when `last` is earlier.
    pub fn through(self, last: Month) -> impl Iterator<Item = Month> {
        (self.0..=last.0).map(Month)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

/// One cell's histograms by month.
#[derive(Debug, Clone)]
pub struct MonthlySeries {
    measure: Measure,
    months: BTreeMap<Month, Histogram>,
}

impl MonthlySeries {
    /// An empty series.
    pub fn new(measure: Measure) -> MonthlySeries {
        MonthlySeries {
            measure,
            months: BTreeMap::new(),
        }
    }

    /// Adds a month's counts (merged if the month is already there).
    pub fn add(&mut self, month: Month, histogram: &Histogram) {
        self.months
            .entry(month)
            .or_insert_with(|| Histogram::new(self.measure))
            .merge(histogram);
    }

    /// Counts of the `length` months ending with `last`.
    pub fn window(&self, last: Month, length: u32) -> Histogram {
        let mut total = Histogram::new(self.measure);
        for (_, histogram) in self.months.range(last.plus(1 - length as i32)..=last) {
            total.merge(histogram);
        }
        total
    }

    /// Counts of the 12 months before `month`: the baseline a month is compared with.
    pub fn baseline_before(&self, month: Month) -> Histogram {
        self.window(month.plus(-1), 12)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_count_and_print() {
        let m = Month::parse("2026-01").unwrap();
        assert_eq!(m.plus(-1).to_string(), "2025-12");
        assert_eq!(m.plus(23).to_string(), "2027-12");
        assert_eq!(m.through(m.plus(2)).count(), 3);
        assert_eq!(m.through(m.plus(-1)).count(), 0);
        for bad in [
            "2026-13", "2026-00", "2026-1", "26-01", "2026/01", "", "+100-01", "-001-01", "2026-+1",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any text: `None`, or a month that prints back as the text.
        #[test]
        fn months_parse_only_what_they_print(text in "\\PC{0,8}|[-+0-9]{0,8}") {
            if let Some(month) = Month::parse(&text) {
                proptest::prop_assert_eq!(month.to_string(), text);
            }
        }
    }

    #[test]
    fn windows_add_exactly_their_months() {
        let mut series = MonthlySeries::new(Measure::Nps);
        let start = Month::parse("2025-01").unwrap();
        for (i, month) in start.through(start.plus(23)).enumerate() {
            let mut h = Histogram::new(Measure::Nps);
            h.add(10, i as u64 + 1).unwrap();
            series.add(month, &h);
        }
        let last = start.plus(23); // holds 24 responses
        assert_eq!(series.window(last, 1).n(), 24);
        assert_eq!(series.window(last, 3).n(), 24 + 23 + 22);
        assert_eq!(series.window(last, 12).n(), (13..=24).sum::<u64>());
        assert_eq!(series.baseline_before(last).n(), (12..=23).sum::<u64>());
        // Before the first month there is nothing.
        assert_eq!(series.baseline_before(start).n(), 0);
    }
}
