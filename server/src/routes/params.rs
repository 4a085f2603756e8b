//! Query-string pieces shared by the analysis routes, parsed into domain types with the
//! house error codes.

use chrono::NaiveDate;

use crate::analysis::scale::Measure;
use crate::auth::Caller;
use crate::domain::MarketCode;
use crate::error::ApiError;
use crate::warehouse::queries::CellQuery;

/// The filters every grouped route takes, as sent.
#[derive(Debug, Clone, Copy)]
pub struct CellFilters<'a> {
    pub markets: Option<&'a str>,
    pub channels: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
}

impl CellFilters<'_> {
    /// The query for `measure`, with the caller's scope applied to the markets.
    ///
    /// # Errors
    /// `400` for malformed markets or dates or a reversed range, `403` outside the scope.
    pub fn query(
        self,
        caller: &Caller,
        measure: Measure,
        by_month: bool,
    ) -> Result<CellQuery, ApiError> {
        let query = CellQuery {
            measure,
            by_month,
            markets: caller.scope.filter(markets(self.markets)?)?,
            channels: self.channels.map(comma_list),
            from: date("from", self.from)?,
            to: date("to", self.to)?,
        };
        ordered(query.from, query.to)?;
        Ok(query)
    }
}

/// Splits `a,b,,c` into trimmed, non-empty parts.
pub fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `markets=DE,FR` as market codes.
///
/// # Errors
/// `400 invalid_market`.
pub fn markets(text: Option<&str>) -> Result<Option<Vec<MarketCode>>, ApiError> {
    text.map(|m| {
        comma_list(m)
            .iter()
            .map(|c| MarketCode::parse(c))
            .collect::<Result<Vec<_>, _>>()
    })
    .transpose()
    .map_err(|e| ApiError::bad_request("invalid_market", e))
}

/// A `YYYY-MM-DD` date parameter.
///
/// # Errors
/// `400 invalid_date`.
pub fn date(name: &str, text: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    text.map(|t| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| {
            ApiError::bad_request(
                "invalid_date",
                format!("{name} {t:?} is not a date like 2026-03-31"),
            )
        })
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
