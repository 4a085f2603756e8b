//! Query-string pieces shared by the analysis routes, parsed into domain types with the
//! house error codes.

use chrono::NaiveDate;

use crate::analysis::scale::Measure;
use crate::auth::Caller;
use crate::catalog::Catalog;
use crate::dates::{parse_day, DateRange};
use crate::domain::{MarketCode, Programme};
use crate::error::ApiError;
use crate::warehouse::queries::{CellQuery, Period};

/// The filters every grouped route takes, as sent.
#[derive(Debug, Clone, Copy)]
pub struct CellFilters<'a> {
    pub markets: Option<&'a str>,
    pub channels: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// The dates `from` and `to` may name.
    pub dates: &'a DateRange,
    /// The configured markets and channels they may name.
    pub catalog: &'a Catalog,
}

impl CellFilters<'_> {
    /// The query for `measure`, with the caller's scope applied to the markets.
    ///
    /// # Errors
    /// `400` for malformed or unknown markets, unknown channels, malformed dates or a
    /// reversed range; `403` for a known market outside the scope.
    pub fn query(
        self,
        caller: &Caller,
        measure: Measure,
        period: Option<Period>,
    ) -> Result<CellQuery, ApiError> {
        let query = CellQuery {
            measure,
            period,
            markets: caller.scope.filter(markets(self.markets, self.catalog)?)?,
            channels: channels(self.channels, self.catalog)?,
            from: date("from", self.from, self.dates)?,
            to: date("to", self.to, self.dates)?,
        };
        ordered(query.from, query.to)?;
        Ok(query)
    }
}

/// `programme=` as a programme; `default` when absent.
///
/// # Errors
/// `400 invalid_programme`.
pub fn programme(text: Option<&str>, default: Programme) -> Result<Programme, ApiError> {
    match text {
        None => Ok(default),
        Some(name) => Programme::parse(name).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_programme",
                format!("unknown programme {name:?}; use transactional or relational"),
            )
        }),
    }
}

/// Splits `a,b,,c` into non-empty parts without the spaces and tabs around them (only those:
/// the served document's list patterns say the same).
pub fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|item| item.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A list parameter (`channels=a,b`). Absent, empty, blank or only commas all mean the
/// same on every endpoint: no filter. A list that selects nothing is never sent on.
pub fn list(text: Option<&str>) -> Option<Vec<String>> {
    text.map(comma_list).filter(|items| !items.is_empty())
}

/// `markets=DE,FR` as configured market codes; blank as [`list`]. A market nobody configured
/// is a mistake to say, not an empty answer.
///
/// # Errors
/// `400 invalid_market` for a malformed code, `400 unknown_market` naming one that is not
/// configured.
pub fn markets(text: Option<&str>, catalog: &Catalog) -> Result<Option<Vec<MarketCode>>, ApiError> {
    let Some(codes) = list(text) else {
        return Ok(None);
    };
    let codes = codes
        .iter()
        // Letters only: `MarketCode::parse` would also forgive other white space.
        .map(|c| {
            if c.bytes().all(|b| b.is_ascii_alphabetic()) {
                MarketCode::parse(c)
            } else {
                Err(format!(
                    "market {c:?} is not an ISO 3166-1 alpha-2 code such as \"DE\""
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request("invalid_market", e))?;
    if let Some(unknown) = codes.iter().find(|c| catalog.market(c).is_none()) {
        let known: Vec<&str> = catalog.market_codes().map(MarketCode::as_str).collect();
        return Err(ApiError::bad_request(
            "unknown_market",
            format!(
                "market {unknown} is not configured; the markets are {}",
                known.join(", ")
            ),
        ));
    }
    Ok(Some(codes))
}

/// `channels=a,b` as configured channel ids; blank as [`list`].
///
/// # Errors
/// `400 unknown_channel` naming a channel that is not configured.
pub fn channels(text: Option<&str>, catalog: &Catalog) -> Result<Option<Vec<String>>, ApiError> {
    let channels = list(text);
    if let Some(unknown) = channels.iter().flatten().find(|c| !catalog.has_channel(c)) {
        let known: Vec<&str> = catalog.channels().map(|(id, _, _)| id).collect();
        return Err(ApiError::bad_request(
            "unknown_channel",
            format!(
                "channel {unknown:?} is not configured; the channels are {}",
                known.join(", ")
            ),
        ));
    }
    Ok(channels)
}

/// A `YYYY-MM-DD` date parameter inside the accepted dates.
///
/// # Errors
/// `400 invalid_date` for another shape, `400 date_out_of_range` outside `dates`.
pub fn date(
    name: &str,
    text: Option<&str>,
    dates: &DateRange,
) -> Result<Option<NaiveDate>, ApiError> {
    text.map(|t| {
        let day = parse_day(t.trim()).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_date",
                format!("{name} {t:?} is not a date like 2026-03-31"),
            )
        })?;
        dates
            .check(name, day)
            .map_err(|e| ApiError::bad_request("date_out_of_range", e))
    })
    .transpose()
}

/// Refuses `from` after `to`.
///
/// # Errors
/// `400 invalid_range`.
pub fn ordered<T: PartialOrd + std::fmt::Display>(
    from: Option<T>,
    to: Option<T>,
) -> Result<(), ApiError> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => Err(ApiError::bad_request(
            "invalid_range",
            format!("from {from} is after to {to}"),
        )),
        _ => Ok(()),
    }
}

/// `measure=nps|csat|ces|stars`, default NPS.
///
/// # Errors
/// `400 invalid_measure`.
pub fn measure(text: Option<&str>) -> Result<Measure, ApiError> {
    match text {
        None => Ok(Measure::Nps),
        Some(name) => Measure::parse(name).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_measure",
                format!("unknown measure {name:?}; use nps, csat, ces or stars"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn catalog() -> Catalog {
        let settings = crate::config::Settings::from_toml(
            crate::config::tests::MINIMAL,
            [],
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        Catalog::new(&settings)
    }

    #[test]
    fn blank_lists_are_no_filter() {
        let catalog = catalog();
        for blank in ["", " ", ",", " , ,", "\t"] {
            assert_eq!(list(Some(blank)), None, "{blank:?}");
            assert!(
                markets(Some(blank), &catalog).unwrap().is_none(),
                "{blank:?}"
            );
            assert!(
                channels(Some(blank), &catalog).unwrap().is_none(),
                "{blank:?}"
            );
        }
        assert_eq!(list(Some(" a, ,b ")), Some(vec!["a".into(), "b".into()]));
        assert_eq!(list(None), None);
    }

    #[test]
    fn unknown_markets_and_channels_are_400s_naming_them() {
        let catalog = catalog();
        let error = markets(Some("FR,XX"), &catalog).unwrap_err();
        assert_eq!(error.code(), "unknown_market");
        assert!(error.to_string().contains("XX") && error.to_string().contains("FR"));
        assert_eq!(
            markets(Some("fr!"), &catalog).unwrap_err().code(),
            "invalid_market"
        );
        assert_eq!(markets(Some("FR"), &catalog).unwrap().unwrap().len(), 1);
        let error = channels(Some("survey.relational,nope"), &catalog).unwrap_err();
        assert_eq!(error.code(), "unknown_channel");
        assert!(error.to_string().contains("\"nope\""));
        assert!(channels(Some("survey.relational"), &catalog).is_ok());
    }

    #[test]
    fn dates_outside_the_range_or_shape_are_400s_with_their_code() {
        let dates = DateRange::default();
        let code = |text: &str| date("from", Some(text), &dates).unwrap_err().code();
        assert_eq!(code("+10000-01-01"), "invalid_date");
        assert_eq!(code("-0001-01-01"), "invalid_date");
        assert_eq!(code("31.12.2026"), "invalid_date");
        assert_eq!(code("1899-12-31"), "date_out_of_range");
        assert_eq!(code("2200-01-01"), "date_out_of_range");
        assert!(date("from", Some("2026-03-31"), &dates).unwrap().is_some());
    }

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any query-string value: a 400 or a value inside every bound.
        #[test]
        fn list_market_and_date_parameters_never_panic(text in "\\PC{0,24}|[-+0-9, ]{0,14}") {
            if let Some(items) = list(Some(&text)) {
                prop_assert!(items.iter().all(|i| !i.is_empty() && i.trim_matches([' ', '\t']) == i));
            }
            if let Ok(Some(codes)) = markets(Some(&text), &catalog()) {
                prop_assert!(!codes.is_empty());
            }
            let dates = DateRange::default();
            if let Ok(Some(day)) = date("from", Some(&text), &dates) {
                prop_assert!(dates.contains(day));
            }
        }
    }
}
