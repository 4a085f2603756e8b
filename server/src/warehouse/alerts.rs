//! Alerts in the warehouse: the counts the alert test needs (from the cubes), the alerts it
//! found (one per market, channel, subject and period), and their `alert.created` events.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use duckdb::{params, params_from_iter};
use serde::Serialize;
use serde_json::json;

use super::{in_list, webhooks, Warehouse, WarehouseError};
use crate::analysis::alerts::{Finding, Period, PeriodKind, ScoreCell, Subject, TopicCell};
use crate::analysis::scale::{Histogram, Measure};

/// Webhook event type of a new alert.
pub const ALERT_CREATED: &str = "alert.created";
/// Alerts per page, at most.
pub const MAX_ALERTS_PER_PAGE: u32 = 1000;

const SLOTS: &str = "sum(s0), sum(s1), sum(s2), sum(s3), sum(s4), sum(s5), sum(s6), sum(s7), \
    sum(s8), sum(s9), sum(s10)";

/// One stored alert as `GET /api/v1/alerts` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub id: i64,
    pub market: String,
    pub channel: String,
    /// `score` or `topic`.
    pub kind: String,
    /// A measure (nps, csat, ces, stars) or a topic id.
    pub subject: String,
    /// `week` or `month`.
    pub period: String,
    /// e.g. `2026-W47`, `2026-10`.
    pub period_label: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// `drop` or `rise`.
    pub direction: String,
    /// The period's headline figure (for topics: share of comments in %).
    pub value: f64,
    pub baseline_value: f64,
    pub n: u64,
    pub baseline_n: u64,
    pub p_value: f64,
    /// Holm-adjusted over every test of the run that found it.
    pub p_adjusted: f64,
    pub created_at: DateTime<Utc>,
}

impl Warehouse {
    /// Score histograms and topic comment counts of every market and channel, in each period
    /// and in its baseline.
    ///
    /// # Errors
    /// On a database error.
    pub fn alert_inputs(
        &self,
        periods: &[Period],
    ) -> Result<(Vec<ScoreCell>, Vec<TopicCell>), WarehouseError> {
        self.read(|c| {
            let mut scores = Vec::new();
            let mut topics = Vec::new();
            for (index, period) in periods.iter().enumerate() {
                let mut statement = c.prepare(&format!(
                    "SELECT market, channel, measure, day >= ?, {SLOTS} FROM score_counts \
                     WHERE day BETWEEN ? AND ? GROUP BY ALL ORDER BY ALL"
                ))?;
                let mut rows =
                    statement.query(params![period.start, period.baseline_start, period.end])?;
                let mut cells: BTreeMap<(String, String, String), [Option<Histogram>; 2]> =
                    BTreeMap::new();
                while let Some(row) = rows.next()? {
                    let measure_name: String = row.get(2)?;
                    let Some(measure) = Measure::parse(&measure_name) else {
                        continue;
                    };
                    let mut histogram = Histogram::new(measure);
                    for score in measure.scale() {
                        let count: i64 = row.get(4 + usize::from(score))?;
                        if count > 0 {
                            let _ = histogram.add(score, count as u64);
                        }
                    }
                    let current: bool = row.get(3)?;
                    let key = (row.get(0)?, row.get(1)?, measure_name);
                    cells.entry(key).or_default()[usize::from(current)] = Some(histogram);
                }
                for ((market, channel, _), [baseline, current]) in cells {
                    if let (Some(current), Some(baseline)) = (current, baseline) {
                        scores.push(ScoreCell {
                            market,
                            channel,
                            period: index,
                            current,
                            baseline,
                        });
                    }
                }
                let mut statement = c.prepare(
                    "SELECT market, channel, topic, day >= ?, sum(s0) FROM topic_counts \
                     WHERE measure = 'commented' AND day BETWEEN ? AND ? GROUP BY ALL",
                )?;
                let mut rows =
                    statement.query(params![period.start, period.baseline_start, period.end])?;
                // (market, channel) → topic → [baseline, current] comments.
                let mut counts: BTreeMap<(String, String), BTreeMap<String, [u64; 2]>> =
                    BTreeMap::new();
                while let Some(row) = rows.next()? {
                    let current: bool = row.get(3)?;
                    let n: i64 = row.get(4)?;
                    counts
                        .entry((row.get(0)?, row.get(1)?))
                        .or_default()
                        .entry(row.get(2)?)
                        .or_default()[usize::from(current)] = n.max(0) as u64;
                }
                for ((market, channel), by_topic) in counts {
                    let all = by_topic.get("*").copied().unwrap_or_default();
                    for (topic, [baseline, current]) in by_topic {
                        if topic != "*" {
                            topics.push(TopicCell {
                                market: market.clone(),
                                channel: channel.clone(),
                                topic,
                                period: index,
                                current: (current, all[1]),
                                baseline: (baseline, all[0]),
                            });
                        }
                    }
                }
            }
            Ok((scores, topics))
        })
    }

    /// Stores the findings of one run; a finding already stored for its period adds nothing.
    /// Returns how many alerts are new.
    ///
    /// # Errors
    /// On a database error; then nothing is stored.
    pub fn store_alerts(
        &self,
        periods: &[Period],
        findings: &[Finding],
        now: NaiveDateTime,
    ) -> Result<u64, WarehouseError> {
        self.write(|connection| {
            let tx = connection.transaction()?;
            let announce = webhooks::subscribed(&tx, ALERT_CREATED)?;
            let mut new = 0;
            for finding in findings {
                let Some(period) = periods.get(finding.period) else {
                    continue;
                };
                let (kind, subject) = match &finding.subject {
                    Subject::Score(measure) => ("score", measure.name().to_owned()),
                    Subject::Topic(topic) => ("topic", topic.clone()),
                };
                let period_kind = match period.kind {
                    PeriodKind::Week => "week",
                    PeriodKind::Month => "month",
                };
                let mut statement = tx.prepare(
                    "INSERT INTO alerts (market, channel, kind, subject, period, period_label, \
                       period_start, period_end, direction, value, baseline_value, n, \
                       baseline_n, p_value, p_adjusted, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT DO NOTHING RETURNING id",
                )?;
                let mut rows = statement.query(params![
                    finding.market,
                    finding.channel,
                    kind,
                    subject,
                    period_kind,
                    period.label,
                    period.start,
                    period.end,
                    finding.direction(),
                    finding.value,
                    finding.baseline_value,
                    finding.n as i64,
                    finding.baseline_n as i64,
                    finding.p_value,
                    finding.p_adjusted,
                    now
                ])?;
                let Some(row) = rows.next()? else {
                    continue;
                };
                let id: i64 = row.get(0)?;
                new += 1;
                if announce {
                    let data = json!({
                        "alert_id": id,
                        "market": finding.market,
                        "channel": finding.channel,
                        "kind": kind,
                        "subject": subject,
                        "period": period.label,
                        "direction": finding.direction(),
                        "value": finding.value,
                        "baseline_value": finding.baseline_value,
                        "p_adjusted": finding.p_adjusted,
                    });
                    webhooks::record(&tx, ALERT_CREATED, data, now)?;
                }
            }
            tx.commit()?;
            Ok(new)
        })
    }

    /// Alerts of `markets` (all without), newest first.
    ///
    /// # Errors
    /// On a database error.
    pub fn alerts(
        &self,
        markets: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<AlertView>, WarehouseError> {
        let mut sql = "SELECT id, market, channel, kind, subject, period, period_label, \
             period_start, period_end, direction, value, baseline_value, n, baseline_n, \
             p_value, p_adjusted, created_at FROM alerts WHERE true"
            .to_owned();
        let mut values: Vec<String> = Vec::new();
        if let Some(markets) = markets {
            sql.push_str(&in_list("market", markets.len()));
            values.extend(markets.iter().cloned());
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            limit.min(MAX_ALERTS_PER_PAGE)
        ));
        self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(values.iter()), |r| {
                Ok(AlertView {
                    id: r.get(0)?,
                    market: r.get(1)?,
                    channel: r.get(2)?,
                    kind: r.get(3)?,
                    subject: r.get(4)?,
                    period: r.get(5)?,
                    period_label: r.get(6)?,
                    period_start: r.get(7)?,
                    period_end: r.get(8)?,
                    direction: r.get(9)?,
                    value: r.get(10)?,
                    baseline_value: r.get(11)?,
                    n: r.get::<_, i64>(12)?.max(0) as u64,
                    baseline_n: r.get::<_, i64>(13)?.max(0) as u64,
                    p_value: r.get(14)?,
                    p_adjusted: r.get(15)?,
                    created_at: r.get::<_, NaiveDateTime>(16)?.and_utc(),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
