//! The calendar each market counts in. A record's instant is stored in UTC; its *day* is the
//! calendar day at that instant in its market's configured time zone (`markets.time_zone`,
//! an IANA name, UTC when unset). Days, weeks and months of every figure, cube and alert are
//! those days, so a response given at 23:30 in Berlin counts on Berlin's day, not London's.

use std::collections::HashMap;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};

/// A market's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketZone(Tz);

impl Default for MarketZone {
    fn default() -> Self {
        MarketZone(Tz::UTC)
    }
}

impl MarketZone {
    /// The zone of an IANA name (`Europe/Berlin`, `UTC`).
    ///
    /// # Errors
    /// A reason naming the value when the name is not in the IANA database.
    pub fn parse(name: &str) -> Result<MarketZone, String> {
        name.parse::<Tz>()
            .map(MarketZone)
            .map_err(|_| format!("{name:?} is not an IANA time zone (e.g. \"Europe/Berlin\")"))
    }

    /// The calendar day in this zone at the UTC instant `at`.
    pub fn day_of(self, at: NaiveDateTime) -> NaiveDate {
        at.and_utc().with_timezone(&self.0).date_naive()
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl fmt::Display for MarketZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'de> Deserialize<'de> for MarketZone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        MarketZone::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// Market code → zone; markets not named count in UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketZones(HashMap<String, MarketZone>);

impl MarketZones {
    /// The zones of `(market, zone)` pairs.
    pub fn new(zones: impl IntoIterator<Item = (String, MarketZone)>) -> MarketZones {
        MarketZones(zones.into_iter().collect())
    }

    /// The zone `market` counts days in.
    pub fn zone(&self, market: &str) -> MarketZone {
        self.0.get(market).copied().unwrap_or_default()
    }

    /// The day of `market` at the UTC instant `at`.
    pub fn day_of(&self, market: &str, at: NaiveDateTime) -> NaiveDate {
        self.zone(market).day_of(at)
    }

    /// The earliest calendar day of any market (UTC included) at the UTC instant `at`: a
    /// period before it has ended in every market.
    pub fn earliest_day(&self, at: NaiveDateTime) -> NaiveDate {
        self.0
            .values()
            .map(|zone| zone.day_of(at))
            .fold(at.date(), NaiveDate::min)
    }

    /// Every market named, with its zone.
    pub fn iter(&self) -> impl Iterator<Item = (&str, MarketZone)> {
        self.0.iter().map(|(market, zone)| (market.as_str(), *zone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        text.parse().unwrap()
    }

    #[test]
    fn days_follow_the_zone_across_daylight_saving() {
        let berlin = MarketZone::parse("Europe/Berlin").unwrap();
        // 22:30Z on 28 March is 23:30 CET; 22:30Z on 29 March is 00:30 CEST on the 30th.
        assert_eq!(
            berlin.day_of(at("2026-03-28T22:30:00")).to_string(),
            "2026-03-28"
        );
        assert_eq!(
            berlin.day_of(at("2026-03-29T22:30:00")).to_string(),
            "2026-03-30"
        );
        let phoenix = MarketZone::parse("America/Phoenix").unwrap();
        assert_eq!(
            phoenix.day_of(at("2026-03-29T03:00:00")).to_string(),
            "2026-03-28"
        );
        assert_eq!(
            MarketZone::default()
                .day_of(at("2026-03-29T23:59:59"))
                .to_string(),
            "2026-03-29"
        );
    }

    #[test]
    fn unknown_names_are_refused_with_the_name() {
        let reason = MarketZone::parse("Europe/Atlantis").unwrap_err();
        assert!(reason.contains("Europe/Atlantis"), "{reason}");
    }

    #[test]
    fn the_earliest_day_is_the_one_of_the_market_furthest_behind() {
        let zones = MarketZones::new([
            (
                "US".to_owned(),
                MarketZone::parse("America/Los_Angeles").unwrap(),
            ),
            ("JP".to_owned(), MarketZone::parse("Asia/Tokyo").unwrap()),
        ]);
        // Monday 02:00Z: still Sunday in Los Angeles.
        assert_eq!(
            zones.earliest_day(at("2026-11-30T02:00:00")).to_string(),
            "2026-11-29"
        );
        let east = MarketZones::new([("JP".to_owned(), MarketZone::parse("Asia/Tokyo").unwrap())]);
        assert_eq!(
            east.earliest_day(at("2026-11-29T20:00:00")).to_string(),
            "2026-11-29"
        );
    }

    #[test]
    fn unnamed_markets_count_in_utc() {
        let zones =
            MarketZones::new([("DE".to_owned(), MarketZone::parse("Europe/Berlin").unwrap())]);
        assert_eq!(zones.zone("FR").name(), "UTC");
        assert_eq!(zones.zone("DE").name(), "Europe/Berlin");
    }
}
