//! Configuration: a TOML file, then `CHORUS_SECTION__KEY` environment variables on top.
//!
//! Secrets never live in the file: the JWT secret is read from the environment variable the
//! file names (`auth.secret_env`), and connector credentials likewise (by later connectors).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::analysis::standardise::ReferenceMix;
use crate::analysis::topics::Taxonomy;
use crate::dates::DateRange;
use crate::domain::{MarketCode, Programme, Role};

/// Everything `chorus serve` needs, as read from `config/chorus.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP listener.
    #[serde(default)]
    pub server: ServerSettings,
    /// The DuckDB file.
    pub warehouse: WarehouseSettings,
    /// Token validation.
    #[serde(default)]
    pub auth: AuthSettings,
    /// Thresholds of the statistics.
    #[serde(default)]
    pub analysis: AnalysisSettings,
    /// Where plugin libraries are and how they are called.
    #[serde(default)]
    pub plugins: PluginSettings,
    /// Comment text: topics, redaction, original text.
    #[serde(default)]
    pub text: TextSettings,
    /// The dates records and queries may name.
    #[serde(default)]
    pub dates: DateRange,
    /// Regions, each a set of markets.
    #[serde(default)]
    pub regions: Vec<RegionConfig>,
    /// Markets (countries).
    #[serde(default)]
    pub markets: Vec<MarketConfig>,
    /// Feedback channels; NPS is never pooled across them.
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    /// Connector instances.
    #[serde(default)]
    pub connectors: Vec<ConnectorConfig>,
    /// Rules that open cases for unhappy customers, first match wins.
    #[serde(default)]
    pub case_rules: Vec<crate::cases::CaseRuleConfig>,
    /// How cases are escalated.
    #[serde(default)]
    pub cases: CaseSettings,
    /// How often significant changes are looked for.
    #[serde(default)]
    pub alerts: AlertSettings,
    /// Endpoints that receive case and alert events.
    #[serde(default)]
    pub webhooks: Vec<crate::webhooks::WebhookConfig>,
    /// How webhook deliveries are made and retried.
    #[serde(default)]
    pub webhook_delivery: crate::webhooks::DeliverySettings,
    /// Regional nodes and headquarters (NATS JetStream); standalone by default.
    #[serde(default)]
    pub federation: crate::federation::FederationSettings,
}

/// The alert job (analysis/alerts.rs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Seconds between two runs (daily by default); the first runs when the server starts.
    pub interval_seconds: u64,
}

impl Default for AlertSettings {
    fn default() -> AlertSettings {
        AlertSettings {
            interval_seconds: 86_400,
        }
    }
}

/// Escalation of overdue cases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaseSettings {
    /// Seconds between two looks for overdue cases.
    pub escalation_interval_seconds: u64,
}

impl Default for CaseSettings {
    fn default() -> CaseSettings {
        CaseSettings {
            escalation_interval_seconds: 60,
        }
    }
}

/// HTTP listener settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to bind, e.g. `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Seconds a request body may take to arrive in full (a slow sender gets 408).
    pub body_timeout_seconds: u64,
    /// Whether `serve` prints a one-time dashboard sign-in link for an admin session (as
    /// Jupyter does); turn off where the server's output is collected into shared logs.
    pub login_link: bool,
    /// Name of the environment variable holding the scrape token of `/metrics`: a scraper
    /// that sends it as `Authorization: Bearer …` also gets the per-market business figures
    /// (cases); without it `/metrics` has operational figures only.
    pub metrics_token_env: String,
    /// The scrape token, read from `metrics_token_env` (never from the file).
    #[serde(skip)]
    pub metrics_token: Option<SecretText>,
}

/// A secret read from the environment; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(…)")
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1 << 20,
            body_timeout_seconds: 10,
            login_link: true,
            metrics_token_env: "CHORUS_METRICS_TOKEN".into(),
            metrics_token: None,
        }
    }
}

/// Warehouse settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSettings {
    /// Path of the DuckDB file; relative paths are relative to the working directory.
    pub path: PathBuf,
}

/// JWT validation settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// Clock skew tolerated on `exp`, in seconds.
    pub leeway_seconds: u64,
    /// Name of the environment variable holding the HS256 secret.
    pub secret_env: String,
    /// Identity providers whose tokens are accepted too (SSO), matched by their `iss`.
    pub issuers: Vec<IssuerSettings>,
}

/// An identity provider (Entra ID, Okta, Keycloak, …) whose signed tokens Chorus accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// Its `iss` claim.
    pub issuer: String,
    /// The `aud` its tokens must carry for Chorus.
    pub audience: String,
    /// The one algorithm its keys sign with: RS256, RS384, RS512, PS256, ES256 or ES384.
    /// Fixed per issuer, so `alg=none` or an HS256 token signed with a public key cannot pass.
    pub algorithm: String,
    /// Where it publishes its keys (JWKS); fetched when a token names an unknown `kid`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Or one static public key (PEM file).
    #[serde(default)]
    pub public_key_pem: Option<PathBuf>,
    /// Least seconds between two JWKS fetches (a flood of unknown `kid`s fetches once).
    #[serde(default = "thirty")]
    pub jwks_refetch_seconds: u64,
    /// The claim holding the caller's groups or roles at the provider.
    #[serde(default = "groups_claim")]
    pub groups_claim: String,
    /// Provider group → what it grants in Chorus. A caller in several groups gets the most
    /// powerful role among them, with the regions and markets of all its groups of that role.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupGrant>,
}

/// What one provider group grants.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupGrant {
    pub role: crate::domain::Role,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub markets: Vec<String>,
}

fn thirty() -> u64 {
    30
}

fn groups_claim() -> String {
    "groups".into()
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            issuer: "chorus".into(),
            audience: "chorus-api".into(),
            leeway_seconds: 30,
            secret_env: "CHORUS_JWT_SECRET".into(),
            issuers: Vec::new(),
        }
    }
}

/// Statistical thresholds (server/DESIGN.md, "Metrics — the math").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisSettings {
    /// Cells with fewer responses are flagged `low_n`, and a market's standardised figure
    /// needs at least this many in every reference channel.
    pub n_min: u64,
    /// Cells with fewer responses have their values withheld.
    pub privacy_floor: u64,
    /// Channel → weight of the reference channel mix used to compare markets (set by HQ;
    /// weights sum to 1). Empty: the channel mix of all markets in the compared period.
    pub reference_mix: BTreeMap<String, f64>,
    /// Numeric driver questions for `/api/v1/drivers`: attribute key (as connectors map
    /// survey columns, e.g. a 1-5 sub-rating) → display name. Records without a number in
    /// every one of them are left out of driver models.
    pub numeric_drivers: BTreeMap<String, String>,
}

impl AnalysisSettings {
    /// The disclosure rule's thresholds.
    pub fn thresholds(&self) -> crate::analysis::disclosure::Thresholds {
        crate::analysis::disclosure::Thresholds {
            privacy_floor: self.privacy_floor,
            n_min: self.n_min,
        }
    }
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            n_min: 30,
            privacy_floor: 5,
            reference_mix: BTreeMap::new(),
            numeric_drivers: BTreeMap::new(),
        }
    }
}

/// What happens to comment texts before storage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextSettings {
    /// Topic taxonomy file (relative paths: to the working directory); none: no tagging.
    pub taxonomy: Option<PathBuf>,
    /// Extra redaction patterns: placeholder name → regular expression.
    pub redact_patterns: BTreeMap<String, String>,
    /// Roles that may read original texts, in markets that keep them.
    pub original_text_roles: Vec<Role>,
    /// Languages detected in every market besides its own (e.g. `["en"]`).
    pub global_languages: Vec<String>,
}

impl TextSettings {
    /// Reads and checks the taxonomy file, if one is configured.
    ///
    /// # Errors
    /// When the file cannot be read or parsed, or its topics are invalid.
    pub fn load_taxonomy(&self) -> Result<Option<Taxonomy>, ConfigError> {
        let Some(path) = &self.taxonomy else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let taxonomy: Taxonomy = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let problems = taxonomy.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(Some(taxonomy))
    }
}

/// Plugin loading and calling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginSettings {
    /// Folder of the plugin libraries; default: the folder of the `chorus` executable, where
    /// `cargo build` puts them.
    pub dir: Option<PathBuf>,
    /// Time limit of one plugin call.
    pub call_timeout_seconds: u64,
    /// Records asked for per `read` call, and committed per transaction. 20,000 stores 1.4x
    /// as fast as 5,000 (`chorus bench ingest --batch-size`), for a few MB more per batch.
    pub batch_size: u32,
    /// Where plugin code runs: `process` (a `chorus plugin-host` child per run, which no
    /// plugin crash can take the server down with) or `in_process` (trusted plugins only).
    pub isolation: Isolation,
    /// Address-space limit of a plugin host child, in MB.
    pub memory_limit_mb: u64,
    /// The `chorus` executable started as plugin host; default: the running one.
    pub host_binary: Option<PathBuf>,
    /// Variables every plugin host gets besides those its settings name (network setup, not
    /// credentials): by default the proxy and CA bundle variables.
    pub host_env: Vec<String>,
}

/// Where plugin code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// In a child process per connector run.
    #[default]
    Process,
    /// In the server's own address space.
    InProcess,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            dir: None,
            call_timeout_seconds: 120,
            batch_size: 20_000,
            isolation: Isolation::Process,
            memory_limit_mb: 2048,
            host_binary: None,
            host_env: [
                "HTTPS_PROXY",
                "https_proxy",
                "HTTP_PROXY",
                "http_proxy",
                "NO_PROXY",
                "no_proxy",
                "SSL_CERT_FILE",
                "SSL_CERT_DIR",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

/// A region: what a regional lead's token names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Identifier used in tokens, e.g. `europe-west`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The region's CX lead: where overdue cases of its markets escalate by default.
    #[serde(default)]
    pub cx_lead: Option<String>,
    /// The region's own Chorus node, where headquarters sends callers for raw feedback.
    #[serde(default)]
    pub node_url: Option<String>,
}

/// A market (country).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    /// ISO 3166-1 alpha-2 code.
    pub code: MarketCode,
    /// Display name.
    pub name: String,
    /// Region id.
    pub region: String,
    /// Who owns the market's cases unless a rule says otherwise (matches a token's `sub`).
    #[serde(default)]
    pub cx_owner: Option<String>,
    /// Expected languages (ISO 639-1), main language first.
    pub languages: Vec<String>,
    /// Keep the original text next to the redacted one (only where local law and policy
    /// allow); readable only by `text.original_text_roles`.
    #[serde(default)]
    pub store_original_text: bool,
    /// Words removed from texts of this market, e.g. staff names (whole words, any case).
    #[serde(default)]
    pub redact_terms: Vec<String>,
    /// Whether redacted records may leave the region (`global`) or only counts (`regional`).
    #[serde(default)]
    pub residency: crate::federation::Residency,
    /// The zone whose calendar days, weeks and months the market's figures count in (IANA
    /// name; UTC when unset). Changing it recounts the market's stored records at the next
    /// start.
    #[serde(default)]
    pub time_zone: crate::market_days::MarketZone,
}

/// A feedback channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// Identifier, e.g. `survey.relational`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `relational` or `transactional` (default): channels of different programmes are
    /// never combined in a comparison.
    #[serde(default)]
    pub programme: Programme,
}

/// One connector instance: a plugin configured for a market (or a market column) and channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// Unique id, used in the API and as the deduplication scope.
    pub id: String,
    /// Plugin library name without prefix and suffix (`survey_csv` for `libsurvey_csv.so`).
    pub plugin: String,
    /// Market of every record, unless records carry their own.
    #[serde(default)]
    pub market: Option<MarketCode>,
    /// Markets this instance may deliver when records carry their market; default: any.
    #[serde(default)]
    pub markets: Vec<MarketCode>,
    /// Channel of every record, unless records carry their own.
    #[serde(default)]
    pub channel: Option<String>,
    /// Seconds between scheduled runs; none: only on demand (and on start).
    #[serde(default)]
    pub interval_seconds: Option<u64>,
    /// Whether to run once when the server starts.
    #[serde(default = "yes")]
    pub run_on_start: bool,
    /// What a changed re-delivery of a stored record does; default: what the plugin's
    /// manifest says (`update` when its records may change, else `keep_first`).
    #[serde(default)]
    pub on_change: Option<crate::warehouse::OnChange>,
    /// Plugin-specific settings, passed to the plugin as JSON.
    #[serde(default = "empty_table")]
    pub settings: toml::Table,
}

fn yes() -> bool {
    true
}

fn empty_table() -> toml::Table {
    toml::Table::new()
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML (after environment overrides) does not describe valid settings.
    #[error("invalid configuration in {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// The settings contradict themselves.
    #[error("invalid configuration: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl Settings {
    /// The calendar each configured market counts its days in.
    pub fn market_zones(&self) -> crate::market_days::MarketZones {
        crate::market_days::MarketZones::new(
            self.markets
                .iter()
                .map(|m| (m.code.to_string(), m.time_zone)),
        )
    }

    /// Reads `path`, applies `CHORUS_…__…` overrides from the process environment, validates.
    ///
    /// # Errors
    /// When the file is unreadable, malformed or inconsistent.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Settings::from_toml(&text, std::env::vars(), path)
    }

    /// Parses TOML text with the given environment overrides, then validates.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
        path: &Path,
    ) -> Result<Settings, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            path: path.into(),
            message,
        };
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        let env: Vec<(String, String)> = env.into_iter().collect();
        for (key, value) in &env {
            apply_override(&mut table, key, value).map_err(parse_error)?;
        }
        let mut settings: Settings = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        settings.server.metrics_token = env
            .iter()
            .find(|(key, value)| *key == settings.server.metrics_token_env && !value.is_empty())
            .map(|(_, value)| SecretText(value.clone()));
        settings.validate().map_err(ConfigError::Invalid)?;
        Ok(settings)
    }

    /// Checks references between sections; returns every problem found.
    ///
    /// # Errors
    /// The list of problems, each naming the offending entry.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let regions: BTreeSet<&str> = self.regions.iter().map(|r| r.id.as_str()).collect();
        let markets: BTreeSet<&MarketCode> = self.markets.iter().map(|m| &m.code).collect();
        let channels: BTreeSet<&str> = self.channels.iter().map(|c| c.id.as_str()).collect();
        if regions.len() != self.regions.len() {
            problems.push("region ids must be unique".to_owned());
        }
        if markets.len() != self.markets.len() {
            problems.push("market codes must be unique".to_owned());
        }
        for market in &self.markets {
            if !regions.contains(market.region.as_str()) {
                problems.push(format!(
                    "market {}: unknown region {:?}",
                    market.code, market.region
                ));
            }
            if market.languages.is_empty() {
                problems.push(format!(
                    "market {}: languages must name at least one",
                    market.code
                ));
            }
        }
        problems.extend(self.federation.problems());
        if self.federation.role == crate::federation::NodeRole::Hq && !self.connectors.is_empty() {
            problems.push(
                "federation.role = \"hq\": headquarters ingests nothing itself \
                 (remove the connectors; the regional nodes run them)"
                    .to_owned(),
            );
        }
        let mut ids = BTreeSet::new();
        for connector in &self.connectors {
            let id = &connector.id;
            if !ids.insert(id.as_str()) {
                problems.push(format!("connector {id}: duplicate id"));
            }
            for market in connector.market.iter().chain(&connector.markets) {
                if !markets.contains(market) {
                    problems.push(format!("connector {id}: unknown market {market}"));
                }
            }
            if let Some(channel) = &connector.channel {
                if !channels.contains(channel.as_str()) {
                    problems.push(format!("connector {id}: unknown channel {channel:?}"));
                }
            }
            if connector.plugin == crate::ingest::PUSH && connector.interval_seconds.is_some() {
                problems.push(format!(
                    "connector {id}: a push instance has no schedule (remove interval_seconds)"
                ));
            }
            if connector.interval_seconds == Some(0) {
                problems.push(format!("connector {id}: interval_seconds must be positive"));
            }
        }
        for key in self.analysis.numeric_drivers.keys() {
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                problems.push(format!(
                    "analysis.numeric_drivers: {key:?} must be lower-case letters, digits and _"
                ));
            }
        }
        if self.analysis.numeric_drivers.len() > 5 {
            problems.push("analysis.numeric_drivers: at most 5".to_owned());
        }
        if self.auth.leeway_seconds > 3600 {
            problems.push("auth.leeway_seconds must be at most 3600".to_owned());
        }
        for issuer in &self.auth.issuers {
            // The same checks the server makes when it starts (and reads static keys).
            if let Err(problem) = crate::sso::Issuer::new(issuer, self.auth.leeway_seconds) {
                problems.push(format!("auth.issuers: {problem}"));
            }
            if issuer.issuer == self.auth.issuer {
                problems.push(format!(
                    "auth.issuers: {} is Chorus's own issuer; a provider needs its own",
                    issuer.issuer
                ));
            }
        }
        if !self.analysis.reference_mix.is_empty() {
            if let Err(problem) = ReferenceMix::new(self.analysis.reference_mix.clone()) {
                problems.push(format!("analysis.reference_mix: {problem}"));
            }
            for channel in self.analysis.reference_mix.keys() {
                if !channels.contains(channel.as_str()) {
                    problems.push(format!(
                        "analysis.reference_mix: unknown channel {channel:?}"
                    ));
                }
            }
            let programmes: BTreeSet<Programme> = self
                .channels
                .iter()
                .filter(|c| self.analysis.reference_mix.contains_key(&c.id))
                .map(|c| c.programme)
                .collect();
            if programmes.len() > 1 {
                problems.push(
                    "analysis.reference_mix: combines relational and transactional channels, \
                     which measure different things; give a mix of one programme"
                        .to_owned(),
                );
            }
        }
        for (name, pattern) in &self.text.redact_patterns {
            if let Err(e) = regex::Regex::new(pattern) {
                problems.push(format!("text.redact_patterns.{name}: {e}"));
            }
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                problems.push(format!(
                    "text.redact_patterns: name {name:?} must match [A-Za-z0-9_]+"
                ));
            }
        }
        if self.analysis.n_min < 2 {
            problems.push("analysis.n_min must be at least 2".to_owned());
        }
        if self.analysis.privacy_floor > self.analysis.n_min {
            problems.push("analysis.privacy_floor must not exceed analysis.n_min".to_owned());
        }
        if self.plugins.batch_size == 0 {
            problems.push("plugins.batch_size must be positive".to_owned());
        }
        if !(1..=7 * 86_400).contains(&self.alerts.interval_seconds) {
            problems.push("alerts.interval_seconds must be 1 to 604800".to_owned());
        }
        if !(1..=86_400).contains(&self.cases.escalation_interval_seconds) {
            problems.push("cases.escalation_interval_seconds must be 1 to 86400".to_owned());
        }
        if let Err(mut found) = crate::cases::CaseRules::compile(self) {
            problems.append(&mut found);
        }
        problems.extend(crate::webhooks::validate(
            &self.webhooks,
            &self.webhook_delivery,
        ));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The configured connector instance with this id.
    pub fn connector(&self, id: &str) -> Option<&ConnectorConfig> {
        self.connectors.iter().find(|c| c.id == id)
    }
}

/// Applies `CHORUS_SERVER__LISTEN=…` as `server.listen`. Variables without `__` are not
/// settings (e.g. `CHORUS_JWT_SECRET`) and are left alone. Values are read as TOML scalars
/// when they parse as one (numbers, booleans), else as strings.
fn apply_override(table: &mut toml::Table, key: &str, value: &str) -> Result<(), String> {
    let Some(path) = key.strip_prefix("CHORUS_") else {
        return Ok(());
    };
    if !path.contains("__") {
        return Ok(());
    }
    let segments: Vec<String> = path.split("__").map(str::to_lowercase).collect();
    let (last, parents) = segments
        .split_last()
        .expect("split yields at least one segment");
    let mut node = table;
    for segment in parents {
        let entry = node
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| format!("{key}: {segment} is not a section"))?;
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    node.insert(last.clone(), parsed);
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One region (`west`), one market (FR), one channel (`survey.relational`).
    pub(crate) const MINIMAL: &str = r#"
        [warehouse]
        path = "x.duckdb"
        [[regions]]
        id = "west"
        name = "West"
        [[markets]]
        code = "FR"
        name = "France"
        region = "west"
        languages = ["fr"]
        [[channels]]
        id = "survey.relational"
        name = "Relational survey"
    "#;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Settings::from_toml(text, env, Path::new("test.toml"))
    }

    #[test]
    fn identity_providers_need_one_asymmetric_algorithm_and_one_key_source() {
        let provider = |algorithm: &str, source: &str| {
            format!(
                "{MINIMAL}\n[[auth.issuers]]\nissuer = \"https://idp\"\naudience = \"chorus\"\n\
                 algorithm = \"{algorithm}\"\n{source}\n"
            )
        };
        let jwks = "jwks_url = \"https://idp/keys\"";
        assert!(parse(&provider("RS256", jwks), &[]).is_ok());
        for (algorithm, source) in [
            ("HS256", jwks),
            ("none", jwks),
            ("RS256", ""),
            (
                "RS256",
                "jwks_url = \"https://idp/keys\"\npublic_key_pem = \"k.pem\"",
            ),
            ("ES256", "public_key_pem = \"no-such-file.pem\""),
        ] {
            let error = parse(&provider(algorithm, source), &[])
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("auth.issuers"),
                "{algorithm} {source}: {error}"
            );
        }
    }

    #[test]
    fn the_shipped_demo_configuration_is_valid() {
        let path =
            Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../config/chorus.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let settings = parse(&text, &[]).unwrap();
        assert!(settings.markets.len() >= 4);
        assert!(settings.regions.len() >= 2);
    }

    #[test]
    fn environment_variables_override_the_file_and_are_typed() {
        let settings = parse(
            MINIMAL,
            &[
                ("CHORUS_SERVER__LISTEN", "0.0.0.0:9000"),
                ("CHORUS_ANALYSIS__N_MIN", "50"),
                ("CHORUS_JWT_SECRET", "not a setting"),
                ("HOME", "/root"),
            ],
        )
        .unwrap();
        assert_eq!(settings.server.listen, "0.0.0.0:9000");
        assert_eq!(settings.analysis.n_min, 50);
    }

    #[test]
    fn unknown_keys_and_broken_references_are_named() {
        let err = parse(
            &format!("{MINIMAL}\n[server]\nlisten = \"x\"\nport = 1\n"),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");

        let bad = format!(
            "{MINIMAL}\n[[connectors]]\nid = \"a\"\nplugin = \"p\"\nmarket = \"DE\"\nchannel = \"app\"\n"
        );
        let err = parse(&bad, &[]).unwrap_err().to_string();
        assert!(err.contains("connector a: unknown market DE"), "{err}");
        assert!(
            err.contains("connector a: unknown channel \"app\""),
            "{err}"
        );
    }

    #[test]
    fn a_market_code_must_be_two_capital_letters() {
        let err = parse(&MINIMAL.replace("\"FR\"", "\"France\""), &[]).unwrap_err();
        assert!(err.to_string().contains("ISO 3166-1"), "{err}");
    }
}
