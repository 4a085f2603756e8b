//! The one definition of the dates Chorus accepts, applied at every edge: records from
//! connectors and pushes, query parameters, months and cursors.
//!
//! Feedback is never dated in year 0 or in year 10000; such a date is a typo, a unit error
//! or an attack. Refusing it where it enters keeps every stored record readable: `YYYY-MM`
//! months, DuckDB's date arithmetic and the API's formats all assume four-digit years.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

/// First and last day (both included) a record or a query may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    earliest: NaiveDate,
    latest: NaiveDate,
}

impl Default for DateRange {
    fn default() -> Self {
        DateRange {
            earliest: NaiveDate::from_ymd_opt(1900, 1, 1).expect("a valid date"),
            latest: NaiveDate::from_ymd_opt(2199, 12, 31).expect("a valid date"),
        }
    }
}

impl DateRange {
    /// A range of four-digit years, `earliest` not after `latest`.
    ///
    /// # Errors
    /// A reason naming the offending bound.
    pub fn new(earliest: NaiveDate, latest: NaiveDate) -> Result<DateRange, String> {
        for (name, day) in [("earliest", earliest), ("latest", latest)] {
            if !(1..=9999).contains(&day.year()) {
                return Err(format!("dates.{name} {day} must have a four-digit year"));
            }
        }
        if earliest > latest {
            return Err(format!(
                "dates.earliest {earliest} is after dates.latest {latest}"
            ));
        }
        Ok(DateRange { earliest, latest })
    }

    /// First day accepted.
    pub fn earliest(&self) -> NaiveDate {
        self.earliest
    }

    /// Last day accepted.
    pub fn latest(&self) -> NaiveDate {
        self.latest
    }

    /// Whether `day` is inside.
    pub fn contains(&self, day: NaiveDate) -> bool {
        (self.earliest..=self.latest).contains(&day)
    }

    /// Whether the day of `time` is inside.
    pub fn contains_time(&self, time: NaiveDateTime) -> bool {
        self.contains(time.date())
    }

    /// `what` at `day` when inside, else a reason naming the range.
    ///
    /// # Errors
    /// `"{what} 1850-01-01 is outside the dates Chorus accepts (1900-01-01 to 2199-12-31)"`.
    pub fn check(&self, what: &str, day: NaiveDate) -> Result<NaiveDate, String> {
        if self.contains(day) {
            Ok(day)
        } else {
            Err(format!(
                "{what} {day} is outside the dates Chorus accepts ({self})"
            ))
        }
    }
}

impl fmt::Display for DateRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}", self.earliest, self.latest)
    }
}

/// The times a record may carry when it arrives at `now`: inside the range, and at most a
/// day ahead of `now` (a source's clock may run a little fast; feedback from the future
/// is an error).
#[derive(Debug, Clone, Copy)]
pub struct RecordWindow {
    range: DateRange,
    latest: NaiveDateTime,
}

impl DateRange {
    /// The window of records arriving at `now`.
    pub fn for_records_at(&self, now: DateTime<Utc>) -> RecordWindow {
        RecordWindow {
            range: *self,
            latest: (now + Duration::days(1)).naive_utc(),
        }
    }
}

impl RecordWindow {
    /// `time` when a record may carry it; `raw` is the value as sent, for the reason.
    ///
    /// # Errors
    /// `occurred_at … is in the future` or `… is outside the dates Chorus accepts (…)`.
    pub fn check(&self, time: NaiveDateTime, raw: &str) -> Result<NaiveDateTime, String> {
        if time > self.latest {
            return Err(format!("occurred_at {raw} is in the future"));
        }
        if !self.range.contains_time(time) {
            return Err(format!(
                "occurred_at {raw} is outside the dates Chorus accepts ({})",
                self.range
            ));
        }
        Ok(time)
    }
}

/// Parses exactly `YYYY-MM-DD`: four-digit year, two-digit month and day. chrono's `%Y`
/// alone would also take `+10000` or `-0001`.
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    let shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The `[dates]` section as written: two `YYYY-MM-DD` strings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDateRange {
    earliest: String,
    latest: String,
}

impl<'de> Deserialize<'de> for DateRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawDateRange::deserialize(deserializer)?;
        let day = |name: &str, text: &str| {
            parse_day(text).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "dates.{name} {text:?} is not a date like 1900-01-01"
                ))
            })
        };
        DateRange::new(day("earliest", &raw.earliest)?, day("latest", &raw.latest)?)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_default_range_is_1900_to_2199() {
        let range = DateRange::default();
        assert!(range.contains(day(1900, 1, 1)) && range.contains(day(2199, 12, 31)));
        assert!(!range.contains(day(1899, 12, 31)) && !range.contains(day(2200, 1, 1)));
        assert_eq!(
            range.check("from", day(1850, 1, 1)).unwrap_err(),
            "from 1850-01-01 is outside the dates Chorus accepts (1900-01-01 to 2199-12-31)"
        );
    }

    #[test]
    fn only_plain_four_digit_days_parse() {
        assert_eq!(parse_day("2026-03-31"), Some(day(2026, 3, 31)));
        for bad in [
            "+10000-01-01",
            "+2026-01-01",
            "-0001-01-01",
            "0000-00-00",
            "2026-3-31",
            "2026-02-30",
            "2026-03-31 ",
            "２０２６-03-31",
            "",
        ] {
            assert_eq!(parse_day(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn configured_ranges_need_four_digit_years_in_order() {
        assert!(DateRange::new(day(2000, 1, 1), day(1999, 1, 1)).is_err());
        assert!(DateRange::new(day(0, 1, 1), day(1999, 1, 1)).is_err());
        assert!(DateRange::new(day(1, 1, 1), day(10000, 1, 1)).is_err());
        let range: DateRange =
            toml::from_str("earliest = \"1950-01-01\"\nlatest = \"2100-12-31\"").unwrap();
        assert_eq!(range.to_string(), "1950-01-01 to 2100-12-31");
        assert!(
            toml::from_str::<DateRange>("earliest = \"1950\"\nlatest = \"2100-12-31\"").is_err()
        );
    }

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any text: no panic, and whatever parses prints back as itself.
        #[test]
        fn parse_day_never_panics_and_round_trips(text in "\\PC{0,12}|[-+0-9]{0,12}") {
            if let Some(day) = parse_day(&text) {
                prop_assert_eq!(day.format("%Y-%m-%d").to_string(), text);
            }
        }
    }
}

/// Serde writers for the UTC `NaiveDateTime`s the warehouse stores: RFC 3339 with its offset
/// (`2026-10-31T23:34:00Z`), as the OpenAPI document's `date-time` promises. Without them,
/// chrono writes a naive time, which a client must guess the zone of.
pub mod rfc3339 {
    use std::collections::BTreeMap;

    use chrono::{NaiveDateTime, SecondsFormat};
    use serde::ser::SerializeMap;
    use serde::Serializer;

    fn text(time: &NaiveDateTime) -> String {
        time.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// One time.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(time: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(time))
    }

    /// An optional time (`null` when absent).
    ///
    /// # Errors
    /// The serializer's.
    pub fn option<S: Serializer>(time: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => s.serialize_str(&text(time)),
            None => s.serialize_none(),
        }
    }

    /// An optional map of times (`as_of` per market).
    ///
    /// # Errors
    /// The serializer's.
    pub fn map<S: Serializer>(
        times: &Option<BTreeMap<String, NaiveDateTime>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let Some(times) = times else {
            return s.serialize_none();
        };
        let mut map = s.serialize_map(Some(times.len()))?;
        for (key, time) in times {
            map.serialize_entry(key, &text(time))?;
        }
        map.end()
    }
}
