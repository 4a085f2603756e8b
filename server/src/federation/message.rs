//! What a regional node ships to headquarters: one committed change of its warehouse as
//! signed cube deltas, plus, for markets with `residency = "global"`, the redacted records
//! it stored or deleted. Plain JSON, versioned; headquarters checks every value before it
//! touches its warehouse, since a message is input from outside.

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// The format version this build writes and reads.
pub const VERSION: u8 = 1;
/// Score slots `s0..s10` of a cube row.
pub const SLOTS: usize = 11;
/// Largest message headquarters accepts as sent (JetStream's default `max_payload` is 1 MiB).
pub const MAX_BYTES: usize = 1 << 20;
/// Largest JSON a message may inflate to: bounds what a hostile message can make
/// headquarters allocate.
pub const MAX_JSON_BYTES: usize = 4 << 20;
/// Content bytes per message, estimated generously; a change with more is split (deltas add
/// up in any grouping). A record larger than this travels alone (the ingest bounds keep it
/// far below the maximum). Cube rows deflate about tenfold, so a message is far below
/// `MAX_BYTES` as sent.
pub const BUDGET: usize = 2 << 20;
/// Bytes of a cube row besides its strings (escaped, at most twice as long): 11 counts of
/// at most 20 digits, a date, brackets, quotes and commas.
const ROW_OVERHEAD: usize = 11 * 21 + 48;
/// Measures of the cubes, `commented` counting commented records in slot 0.
pub const MEASURES: [&str; 5] = ["nps", "csat", "ces", "stars", "commented"];

/// (market, channel, day, measure, slots): one signed row of `score_counts`.
pub type ScoreRow = (String, String, NaiveDate, String, [i64; SLOTS]);
/// (market, channel, day, topic, measure, slots): one signed row of `topic_counts`.
pub type TopicRow = (String, String, NaiveDate, String, String, [i64; SLOTS]);

/// Why a change was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The node's cubes (and global records) as they were when it joined.
    Snapshot,
    /// A committed batch: new, replaced and duplicate records.
    Batch,
    /// Records erased (GDPR art. 17).
    Erasure,
    /// Topics re-tagged.
    Retag,
    /// Misdated records moved aside by `chorus verify --quarantine`.
    Quarantine,
    /// A market's records recounted on the days of its newly configured time zone.
    Redated,
}

/// One message: part or all of one committed change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub v: u8,
    pub kind: ChangeKind,
    /// The sending node's warehouse file (drawn once per file): a re-created node is
    /// recognised by it.
    pub origin: String,
    /// When the region committed it (UTC): headquarters' `as_of` for its markets.
    pub committed_at: NaiveDateTime,
    #[serde(default)]
    pub scores: Vec<ScoreRow>,
    #[serde(default)]
    pub topics: Vec<TopicRow>,
    /// Rows of the driver cube: the topic field holds a topic set ('|'-joined, sorted).
    #[serde(default)]
    pub drivers: Vec<TopicRow>,
    /// Records of global markets to store (replacing a stored one with the same key).
    #[serde(default)]
    pub records: Vec<ReplicaRecord>,
    /// (instance, external id) of global-market records to delete.
    #[serde(default)]
    pub deleted: Vec<(String, String)>,
}

/// A redacted record as headquarters stores it: never the original text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaRecord {
    pub source_instance: String,
    pub external_id: String,
    pub market: String,
    pub region: String,
    pub channel: String,
    pub touchpoint: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC (DuckDB's JSON form of a TIMESTAMP).
    pub occurred_at: String,
    pub ingested_at: String,
    pub nps: Option<u8>,
    pub csat: Option<u8>,
    pub ces: Option<u8>,
    pub stars: Option<u8>,
    pub text: Option<String>,
    pub language: Option<String>,
    pub language_confidence: Option<f64>,
    pub language_decided_by: Option<String>,
    pub consent_contact: Option<bool>,
    pub attributes: Option<String>,
    pub topics: Option<Vec<String>>,
    pub redactions: Option<Vec<String>>,
}

/// The SQL expression that renders a `records` row as a [`ReplicaRecord`] (JSON text).
pub const REPLICA_JSON: &str = "json_object('source_instance', source_instance, \
    'external_id', external_id, 'market', market, 'region', region, 'channel', channel, \
    'touchpoint', touchpoint, 'occurred_at', occurred_at, 'ingested_at', ingested_at, \
    'nps', nps, 'csat', csat, 'ces', ces, 'stars', stars, 'text', text, 'language', language, \
    'language_confidence', language_confidence, 'language_decided_by', language_decided_by, \
    'consent_contact', consent_contact, 'attributes', attributes, 'topics', topics, \
    'redactions', redactions)::VARCHAR";

/// A message headquarters refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid federation message: {0}")]
pub struct InvalidMessage(pub String);

/// What headquarters knows to check a message against.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// Every configured market.
    pub markets: BTreeSet<String>,
    /// Markets whose records may be replicated.
    pub global_markets: BTreeSet<String>,
    /// Configured channels.
    pub channels: BTreeSet<String>,
}

/// Longest id, channel, topic or timestamp text accepted.
const MAX_NAME: usize = 256;
/// Longest topic set accepted (a comment mentions a few of some dozen topics).
const MAX_TOPIC_SET: usize = 8 * 1024;
/// The measures of driver rows.
const DRIVEN: [&str; 2] = ["nps", "csat"];
/// Longest comment text accepted (the ingest bound is lower).
const MAX_TEXT: usize = 100_000;

impl Change {
    /// An empty change of `kind` committed at `committed_at`.
    pub fn new(kind: ChangeKind, committed_at: NaiveDateTime) -> Change {
        Change {
            v: VERSION,
            kind,
            origin: String::new(),
            committed_at,
            scores: Vec::new(),
            topics: Vec::new(),
            drivers: Vec::new(),
            records: Vec::new(),
            deleted: Vec::new(),
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
            && self.topics.is_empty()
            && self.drivers.is_empty()
            && self.records.is_empty()
            && self.deleted.is_empty()
    }

    /// Splits into messages of at most [`BUDGET`] bytes of content each, packing as much
    /// as fits into each. Nothing is lost or repeated; order within each list is kept.
    pub fn split(self) -> Vec<Change> {
        let empty = Change {
            origin: self.origin.clone(),
            ..Change::new(self.kind, self.committed_at)
        };
        let mut parts = vec![empty.clone()];
        let mut used = 0usize;
        let mut room = |parts: &mut Vec<Change>, size: usize| {
            if used + size > BUDGET && !parts.last().is_some_and(Change::is_empty) {
                parts.push(empty.clone());
                used = 0;
            }
            used += size;
        };
        for row in self.scores {
            room(
                &mut parts,
                2 * (row.0.len() + row.1.len() + row.3.len()) + ROW_OVERHEAD,
            );
            parts.last_mut().expect("one part").scores.push(row);
        }
        for row in self.topics {
            let strings = row.0.len() + row.1.len() + row.3.len() + row.4.len();
            room(&mut parts, 2 * strings + ROW_OVERHEAD);
            parts.last_mut().expect("one part").topics.push(row);
        }
        for row in self.drivers {
            let strings = row.0.len() + row.1.len() + row.3.len() + row.4.len();
            room(&mut parts, 2 * strings + ROW_OVERHEAD);
            parts.last_mut().expect("one part").drivers.push(row);
        }
        for key in self.deleted {
            room(&mut parts, 2 * (key.0.len() + key.1.len()) + 16);
            parts.last_mut().expect("one part").deleted.push(key);
        }
        for record in self.records {
            room(
                &mut parts,
                serde_json::to_string(&record).map_or(BUDGET, |t| t.len()),
            );
            parts.last_mut().expect("one part").records.push(record);
        }
        parts.retain(|p| !p.is_empty());
        parts
    }

    /// Inflates and parses a message body without checking its content against the
    /// configuration: for a node's own outbox, which it wrote itself.
    ///
    /// # Errors
    /// Not deflated JSON of a change, or inflating past `MAX_JSON_BYTES`.
    pub fn decode_own(body: &[u8]) -> Result<Change, InvalidMessage> {
        let mut json = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(
                flate2::read::DeflateDecoder::new(body),
                MAX_JSON_BYTES as u64 + 1,
            ),
            &mut json,
        )
        .map_err(|e| InvalidMessage(format!("not deflated JSON: {e}")))?;
        if json.len() > MAX_JSON_BYTES {
            return Err(InvalidMessage(format!(
                "inflates past {MAX_JSON_BYTES} bytes"
            )));
        }
        serde_json::from_slice(&json).map_err(|e| InvalidMessage(e.to_string()))
    }

    /// Parses and checks a message body.
    ///
    /// # Errors
    /// Naming the first thing wrong: size, JSON, version, an unknown market or channel, a
    /// global record of a regional market, a score off its scale.
    pub fn decode(body: &[u8], expect: &Expectations) -> Result<Change, InvalidMessage> {
        let fail = |m: String| Err(InvalidMessage(m));
        if body.len() > MAX_BYTES {
            return fail(format!("{} bytes (at most {MAX_BYTES})", body.len()));
        }
        let change = Change::decode_own(body)?;
        if change.v != VERSION {
            return fail(format!("version {} (this build reads {VERSION})", change.v));
        }
        if change.origin.is_empty() || change.origin.len() > MAX_NAME {
            return fail(format!("origin of {} bytes", change.origin.len()));
        }
        let cell = |market: &str, channel: &str| -> Result<(), InvalidMessage> {
            if !expect.markets.contains(market) {
                return Err(InvalidMessage(format!("unknown market {market:?}")));
            }
            if !expect.channels.contains(channel) {
                return Err(InvalidMessage(format!("unknown channel {channel:?}")));
            }
            Ok(())
        };
        let measure = |m: &str| -> Result<(), InvalidMessage> {
            if MEASURES.contains(&m) {
                Ok(())
            } else {
                Err(InvalidMessage(format!("unknown measure {m:?}")))
            }
        };
        for (market, channel, _, m, _) in &change.scores {
            cell(market, channel)?;
            measure(m)?;
        }
        for (market, channel, _, topic, m, _) in &change.topics {
            cell(market, channel)?;
            measure(m)?;
            if topic.is_empty() || topic.len() > MAX_NAME {
                return fail(format!("topic of {} bytes", topic.len()));
            }
        }
        for (market, channel, _, set, m, _) in &change.drivers {
            cell(market, channel)?;
            if !DRIVEN.contains(&m.as_str()) {
                return fail(format!("driver rows of measure {m:?}"));
            }
            if set.len() > MAX_TOPIC_SET {
                return fail(format!("a topic set of {} bytes", set.len()));
            }
        }
        for (instance, id) in &change.deleted {
            if instance.len() > MAX_NAME || id.len() > MAX_NAME {
                return fail("a deleted key over 256 bytes".to_owned());
            }
        }
        for record in &change.records {
            record.check(expect)?;
        }
        Ok(change)
    }

    /// The message body: the JSON, deflated (cube rows repeat their keys).
    pub fn encode(&self) -> Vec<u8> {
        use std::io::Write;
        let json = serde_json::to_vec(self).expect("a change serialises");
        let mut encoder = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(json.len() / 4),
            flate2::Compression::fast(),
        );
        encoder
            .write_all(&json)
            .and_then(|()| encoder.finish())
            .expect("deflating into memory cannot fail")
    }

    /// The markets it touches.
    pub fn markets(&self) -> BTreeSet<&str> {
        self.scores
            .iter()
            .map(|r| r.0.as_str())
            .chain(self.topics.iter().map(|r| r.0.as_str()))
            .chain(self.drivers.iter().map(|r| r.0.as_str()))
            .chain(self.records.iter().map(|r| r.market.as_str()))
            .collect()
    }
}

impl ReplicaRecord {
    fn check(&self, expect: &Expectations) -> Result<(), InvalidMessage> {
        let fail = |m: String| Err(InvalidMessage(m));
        if !expect.global_markets.contains(&self.market) {
            return fail(format!(
                "a record of market {:?}, which is not global here",
                self.market
            ));
        }
        if !expect.channels.contains(&self.channel) {
            return fail(format!("unknown channel {:?}", self.channel));
        }
        let names = [
            &self.source_instance,
            &self.external_id,
            &self.region,
            &self.occurred_at,
            &self.ingested_at,
        ];
        if names.iter().any(|n| n.is_empty() || n.len() > MAX_NAME)
            || [&self.touchpoint, &self.language, &self.language_decided_by]
                .iter()
                .any(|n| n.as_ref().is_some_and(|n| n.len() > MAX_NAME))
        {
            return fail(format!(
                "record {:?}: an empty or over-long id or name",
                self.external_id
            ));
        }
        for (name, score, low, high) in [
            ("nps", self.nps, 0, 10),
            ("csat", self.csat, 1, 5),
            ("ces", self.ces, 1, 7),
            ("stars", self.stars, 1, 5),
        ] {
            if score.is_some_and(|s| s < low || s > high) {
                return fail(format!(
                    "record {:?}: {name} outside {low}..={high}",
                    self.external_id
                ));
            }
        }
        if self.text.as_ref().is_some_and(|t| t.len() > MAX_TEXT)
            || self.attributes.as_ref().is_some_and(|t| t.len() > MAX_TEXT)
        {
            return fail(format!("record {:?}: text over 100 kB", self.external_id));
        }
        for list in [&self.topics, &self.redactions].into_iter().flatten() {
            if list.len() > 64 || list.iter().any(|t| t.contains('|') || t.len() > MAX_NAME) {
                return fail(format!(
                    "record {:?}: a topic or redaction list out of bounds",
                    self.external_id
                ));
            }
        }
        for at in [&self.occurred_at, &self.ingested_at] {
            parse_timestamp(at).ok_or_else(|| {
                InvalidMessage(format!(
                    "record {:?}: timestamp {at:?} is not YYYY-MM-DD HH:MM:SS",
                    self.external_id
                ))
            })?;
        }
        Ok(())
    }
}

/// DuckDB's JSON form of a TIMESTAMP.
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()
}
