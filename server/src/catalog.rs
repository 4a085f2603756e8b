//! What the configuration says about markets, regions and channels, indexed for lookups by
//! ingest (validation, language) and auth (scope resolution).

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::language::MarketLanguages;
use crate::config::Settings;
use crate::domain::{MarketCode, Programme};

/// One configured market.
#[derive(Debug)]
pub struct Market {
    /// Display name.
    pub name: String,
    /// Region id.
    pub region: String,
    /// Language detector over the market's languages.
    pub languages: MarketLanguages,
    /// Whether original texts are kept.
    pub store_original_text: bool,
    /// Words redacted from its texts.
    pub redact_terms: Vec<String>,
    /// Whether its redacted records may leave the region.
    pub residency: crate::federation::Residency,
    /// Its region's own node, where its raw feedback is read.
    pub node_url: Option<String>,
}

/// Markets, regions and channels from the configuration.
#[derive(Debug, Default)]
pub struct Catalog {
    markets: BTreeMap<MarketCode, Market>,
    channels: BTreeMap<String, Programme>,
    /// Region id → display name.
    region_names: BTreeMap<String, String>,
    /// Channel id → display name.
    channel_names: BTreeMap<String, String>,
}

impl Catalog {
    /// Indexes validated settings.
    pub fn new(settings: &Settings) -> Catalog {
        Catalog {
            markets: settings
                .markets
                .iter()
                .map(|m| {
                    let market = Market {
                        name: m.name.clone(),
                        region: m.region.clone(),
                        languages: MarketLanguages::new(
                            &m.languages,
                            &settings.text.global_languages,
                        ),
                        store_original_text: m.store_original_text,
                        redact_terms: m.redact_terms.clone(),
                        residency: m.residency,
                        node_url: settings
                            .regions
                            .iter()
                            .find(|r| r.id == m.region)
                            .and_then(|r| r.node_url.clone()),
                    };
                    (m.code.clone(), market)
                })
                .collect(),
            channels: settings
                .channels
                .iter()
                .map(|c| (c.id.clone(), c.programme))
                .collect(),
            region_names: settings
                .regions
                .iter()
                .map(|r| (r.id.clone(), r.name.clone()))
                .collect(),
            channel_names: settings
                .channels
                .iter()
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect(),
        }
    }

    /// Every configured market with its code, in code order.
    pub fn markets(&self) -> impl Iterator<Item = (&MarketCode, &Market)> {
        self.markets.iter()
    }

    /// The display name of a region.
    pub fn region_name(&self, region: &str) -> Option<&str> {
        self.region_names.get(region).map(String::as_str)
    }

    /// Every configured channel: id, display name, programme.
    pub fn channels(&self) -> impl Iterator<Item = (&str, &str, Programme)> {
        self.channels.iter().map(|(id, programme)| {
            let name = self
                .channel_names
                .get(id)
                .map_or(id.as_str(), String::as_str);
            (id.as_str(), name, *programme)
        })
    }

    /// The market with this code.
    pub fn market(&self, code: &MarketCode) -> Option<&Market> {
        self.markets.get(code)
    }

    /// Every configured market code.
    pub fn market_codes(&self) -> impl Iterator<Item = &MarketCode> {
        self.markets.keys()
    }

    /// Markets of a region.
    pub fn markets_in_region<'a>(
        &'a self,
        region: &'a str,
    ) -> impl Iterator<Item = &'a MarketCode> {
        self.markets
            .iter()
            .filter(move |(_, m)| m.region == region)
            .map(|(code, _)| code)
    }

    /// Whether a channel id is configured.
    pub fn has_channel(&self, channel: &str) -> bool {
        self.channels.contains_key(channel)
    }

    /// The programme of a configured channel.
    pub fn programme(&self, channel: &str) -> Option<Programme> {
        self.channels.get(channel).copied()
    }

    /// The configured channels of a programme.
    pub fn channels_of(&self, programme: Programme) -> BTreeSet<String> {
        self.channels
            .iter()
            .filter(|(_, p)| **p == programme)
            .map(|(c, _)| c.clone())
            .collect()
    }
}
