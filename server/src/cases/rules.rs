//! Case rules: which stored records open a case, who owns it, by when, and who it escalates to.
//! Compiled once from the configuration; matching is pure (the warehouse calls it inside the
//! transaction that stores the record, so a record opens its case exactly once).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::NaiveDateTime;
use serde::Deserialize;

use crate::analysis::scale::Measure;
use crate::config::Settings;

/// One `[[case_rules]]` entry as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRuleConfig {
    /// Identifier, shown on each case it opens.
    pub id: String,
    /// A score condition such as `nps <= 6`, `csat <= 2`, `stars < 3`, `ces >= 6`.
    #[serde(default)]
    pub when: Option<String>,
    /// Topics of which the record must carry at least one (with `when`: both must hold).
    #[serde(default)]
    pub topics: Vec<String>,
    /// Markets the rule applies to; default: every market.
    #[serde(default)]
    pub markets: Vec<String>,
    /// Channels the rule applies to; default: every channel.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Who owns the case; default: the market's `cx_owner`.
    #[serde(default)]
    pub owner: Option<String>,
    /// Owners by a record field (`touchpoint` or `attributes.<key>`) and its value; records
    /// whose value is not listed go to `owner`.
    #[serde(default)]
    pub owners: BTreeMap<String, BTreeMap<String, String>>,
    /// Time to resolve, per escalation step, e.g. `48h`.
    #[serde(default = "default_sla")]
    pub sla: String,
    /// Who an overdue case goes to next, in order; default: the market's `cx_owner` (when
    /// someone else owns the case), then the region's `cx_lead`.
    #[serde(default)]
    pub escalate_to: Option<Vec<String>>,
    /// Records that happened longer ago than this open no case (a backfill of history must
    /// not flood owners with old complaints).
    #[serde(default = "default_max_record_age")]
    pub max_record_age: String,
}

fn default_sla() -> String {
    "48h".to_owned()
}

fn default_max_record_age() -> String {
    "30d".to_owned()
}

/// Longest SLA or record age accepted (bounds what a config can make of dates).
const MAX_DURATION: Duration = Duration::from_secs(3650 * 24 * 3600);
/// Rules per configuration, and owners per routing table: enough for any real setup.
const MAX_RULES: usize = 200;
const MAX_ROUTES: usize = 10_000;

/// How a score is compared with the rule's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    AtMost,
    Below,
    AtLeast,
    Above,
    Equal,
}

/// `nps <= 6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScoreCondition {
    measure: Measure,
    comparison: Comparison,
    threshold: u8,
}

impl ScoreCondition {
    fn parse(text: &str) -> Result<ScoreCondition, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [measure, comparison, threshold] = words[..] else {
            return Err(format!(
                "when {text:?}: write a measure, a comparison and a score, e.g. \"nps <= 6\""
            ));
        };
        let measure = Measure::parse(&measure.to_ascii_lowercase()).ok_or_else(|| {
            format!("when {text:?}: the measure must be one of nps, csat, ces, stars")
        })?;
        let comparison = match comparison {
            "<=" => Comparison::AtMost,
            "<" => Comparison::Below,
            ">=" => Comparison::AtLeast,
            ">" => Comparison::Above,
            "=" | "==" => Comparison::Equal,
            other => {
                return Err(format!(
                    "when {text:?}: the comparison {other:?} must be one of <=, <, >=, >, ="
                ))
            }
        };
        let threshold: u8 = threshold
            .parse()
            .ok()
            .filter(|t| measure.scale().contains(t))
            .ok_or_else(|| {
                let scale = measure.scale();
                format!(
                    "when {text:?}: the score must be a whole number from {} to {}",
                    scale.start(),
                    scale.end()
                )
            })?;
        Ok(ScoreCondition {
            measure,
            comparison,
            threshold,
        })
    }

    fn holds(self, score: u8) -> bool {
        match self.comparison {
            Comparison::AtMost => score <= self.threshold,
            Comparison::Below => score < self.threshold,
            Comparison::AtLeast => score >= self.threshold,
            Comparison::Above => score > self.threshold,
            Comparison::Equal => score == self.threshold,
        }
    }
}

/// The record field an owner table routes by.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RouteField {
    Touchpoint,
    Attribute(String),
}

/// What a rule looks at in a stored record.
#[derive(Debug, Clone, Copy)]
pub struct CaseSubject<'a> {
    pub market: &'a str,
    pub channel: &'a str,
    pub occurred_at: NaiveDateTime,
    pub nps: Option<u8>,
    pub csat: Option<u8>,
    pub ces: Option<u8>,
    pub stars: Option<u8>,
    /// '|'-joined topic ids, as the warehouse returns them.
    pub topics: &'a str,
    pub touchpoint: Option<&'a str>,
    /// The record's attributes as JSON object text.
    pub attributes: Option<&'a str>,
}

impl CaseSubject<'_> {
    fn score(&self, measure: Measure) -> Option<u8> {
        match measure {
            Measure::Nps => self.nps,
            Measure::Csat => self.csat,
            Measure::Ces => self.ces,
            Measure::Stars => self.stars,
        }
    }

    fn has_topic(&self, wanted: &BTreeSet<String>) -> bool {
        self.topics.split('|').any(|t| wanted.contains(t))
    }

    fn field(&self, field: &RouteField) -> Option<String> {
        match field {
            RouteField::Touchpoint => self.touchpoint.map(str::to_owned),
            RouteField::Attribute(key) => {
                let attributes: serde_json::Value = serde_json::from_str(self.attributes?).ok()?;
                match attributes.get(key)? {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }
            }
        }
    }
}

/// A case to open: who owns it, the chain it escalates along, and its SLA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub rule: String,
    pub assignee: String,
    /// Who an overdue case goes to next, in order (the assignee not repeated).
    pub escalation: Vec<String>,
    pub sla: Duration,
}

/// A compiled rule.
#[derive(Debug, Clone)]
struct CaseRule {
    id: String,
    score: Option<ScoreCondition>,
    topics: BTreeSet<String>,
    markets: Option<BTreeSet<String>>,
    channels: Option<BTreeSet<String>>,
    owner: Option<String>,
    routes: Option<(RouteField, BTreeMap<String, String>)>,
    sla: Duration,
    escalate_to: Option<Vec<String>>,
    max_record_age: Duration,
}

/// Who owns a market's cases by default and who leads its region.
#[derive(Debug, Clone, Default)]
struct MarketContacts {
    cx_owner: Option<String>,
    cx_lead: Option<String>,
}

/// Every configured rule, in order: the first that matches a record opens its one case.
#[derive(Debug, Clone, Default)]
pub struct CaseRules {
    rules: Vec<CaseRule>,
    contacts: BTreeMap<String, MarketContacts>,
}

impl CaseRules {
    /// No rules: nothing opens a case.
    pub fn none() -> CaseRules {
        CaseRules::default()
    }

    /// Whether any rule is configured.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Compiles the rules of validated settings.
    ///
    /// # Errors
    /// Every problem found, each naming its rule.
    pub fn compile(settings: &Settings) -> Result<CaseRules, Vec<String>> {
        let leads: BTreeMap<&str, &Option<String>> = settings
            .regions
            .iter()
            .map(|r| (r.id.as_str(), &r.cx_lead))
            .collect();
        let contacts: BTreeMap<String, MarketContacts> = settings
            .markets
            .iter()
            .map(|m| {
                let contacts = MarketContacts {
                    cx_owner: m.cx_owner.clone(),
                    cx_lead: leads.get(m.region.as_str()).and_then(|l| (*l).clone()),
                };
                (m.code.as_str().to_owned(), contacts)
            })
            .collect();
        let channels: BTreeSet<&str> = settings.channels.iter().map(|c| c.id.as_str()).collect();
        let mut problems = Vec::new();
        if settings.case_rules.len() > MAX_RULES {
            problems.push(format!("case_rules: at most {MAX_RULES}"));
        }
        let mut ids = BTreeSet::new();
        let mut rules = Vec::new();
        for config in &settings.case_rules {
            if !ids.insert(config.id.as_str()) {
                problems.push(format!("case_rules {}: duplicate id", config.id));
            }
            match compile_rule(config, &contacts, &channels) {
                Ok(rule) => rules.push(rule),
                Err(mut found) => problems.append(&mut found),
            }
        }
        if problems.is_empty() {
            Ok(CaseRules { rules, contacts })
        } else {
            Err(problems)
        }
    }

    /// The case a stored record opens, if any: the first matching rule's.
    pub fn first_match(&self, record: &CaseSubject<'_>, now: NaiveDateTime) -> Option<Opening> {
        let rule = self.rules.iter().find(|rule| rule.matches(record, now))?;
        let contacts = self
            .contacts
            .get(record.market)
            .cloned()
            .unwrap_or_default();
        let routed = rule.routes.as_ref().and_then(|(field, owners)| {
            let value = record.field(field)?;
            owners.get(&value).cloned()
        });
        // Compilation checked that every market the rule covers has an owner.
        let assignee = routed
            .or_else(|| rule.owner.clone())
            .or_else(|| contacts.cx_owner.clone())?;
        let chain = match &rule.escalate_to {
            Some(chain) => chain.clone(),
            None => contacts
                .cx_owner
                .into_iter()
                .chain(contacts.cx_lead)
                .collect(),
        };
        let mut escalation: Vec<String> = Vec::new();
        for next in chain {
            if next != assignee && !escalation.contains(&next) {
                escalation.push(next);
            }
        }
        Some(Opening {
            rule: rule.id.clone(),
            assignee,
            escalation,
            sla: rule.sla,
        })
    }
}

impl CaseRule {
    fn matches(&self, record: &CaseSubject<'_>, now: NaiveDateTime) -> bool {
        let in_scope = self
            .markets
            .as_ref()
            .is_none_or(|m| m.contains(record.market))
            && self
                .channels
                .as_ref()
                .is_none_or(|c| c.contains(record.channel));
        let recent = chrono::Duration::from_std(self.max_record_age)
            .is_ok_and(|age| record.occurred_at >= now - age);
        let score = self.score.is_none_or(|condition| {
            record
                .score(condition.measure)
                .is_some_and(|s| condition.holds(s))
        });
        let topics = self.topics.is_empty() || record.has_topic(&self.topics);
        in_scope && recent && score && topics
    }
}

fn compile_rule(
    config: &CaseRuleConfig,
    contacts: &BTreeMap<String, MarketContacts>,
    channels: &BTreeSet<&str>,
) -> Result<CaseRule, Vec<String>> {
    let id = &config.id;
    let mut problems = Vec::new();
    let mut problem = |text: String| problems.push(format!("case_rules {id}: {text}"));
    if id.is_empty() || id.len() > 64 {
        problem("id must be 1 to 64 characters".to_owned());
    }
    let score = match config.when.as_deref().map(ScoreCondition::parse) {
        Some(Ok(condition)) => Some(condition),
        Some(Err(e)) => {
            problem(e);
            None
        }
        None => None,
    };
    if config.when.is_none() && config.topics.is_empty() {
        problem("give a score condition (when = \"nps <= 6\"), topics, or both".to_owned());
    }
    for market in &config.markets {
        if !contacts.contains_key(market) {
            problem(format!("unknown market {market:?}"));
        }
    }
    for channel in &config.channels {
        if !channels.contains(channel.as_str()) {
            problem(format!("unknown channel {channel:?}"));
        }
    }
    let markets: Vec<&String> = if config.markets.is_empty() {
        contacts.keys().collect()
    } else {
        config.markets.iter().collect()
    };
    if config.owner.is_none() {
        for market in markets {
            if contacts.get(market).is_some_and(|c| c.cx_owner.is_none()) {
                problem(format!(
                    "market {market} has no owner for its cases: set owner here or cx_owner \
                     on the market"
                ));
            }
        }
    }
    let routes = match config.owners.len() {
        0 => None,
        1 => {
            let (field, owners) = config.owners.iter().next().expect("one entry");
            let field = match field.as_str() {
                "touchpoint" => Some(RouteField::Touchpoint),
                other => match other.strip_prefix("attributes.") {
                    Some(key) if !key.is_empty() => Some(RouteField::Attribute(key.to_owned())),
                    _ => None,
                },
            };
            if field.is_none() {
                problem(format!(
                    "owners routes by {field:?}; use touchpoint or attributes.<key>"
                ));
            }
            if owners.len() > MAX_ROUTES {
                problem(format!("owners: at most {MAX_ROUTES} values"));
            }
            field.map(|f| (f, owners.clone()))
        }
        _ => {
            problem("owners routes by one field only".to_owned());
            None
        }
    };
    let mut duration = |name: &str, text: &str| match crate::auth::parse_ttl(text) {
        Ok(d) if !d.is_zero() && d <= MAX_DURATION => d,
        _ => {
            problem(format!(
                "{name} {text:?} must be a positive duration up to 3650d, e.g. 48h"
            ));
            Duration::ZERO
        }
    };
    let sla = duration("sla", &config.sla);
    let max_record_age = duration("max_record_age", &config.max_record_age);
    if !problems.is_empty() {
        return Err(problems);
    }
    let set = |items: &[String]| {
        (!items.is_empty()).then(|| items.iter().cloned().collect::<BTreeSet<_>>())
    };
    Ok(CaseRule {
        id: id.clone(),
        score,
        topics: config.topics.iter().cloned().collect(),
        markets: set(&config.markets),
        channels: set(&config.channels),
        owner: config.owner.clone(),
        routes,
        sla,
        escalate_to: config.escalate_to.clone(),
        max_record_age,
    })
}
