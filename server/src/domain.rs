//! Small types that cannot hold invalid values; parsed at the edge.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 3166-1 alpha-2 market code such as `DE`: two ASCII capital letters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MarketCode(String);

impl MarketCode {
    /// Parses a code; lower case is accepted and upper-cased.
    ///
    /// # Errors
    /// When the text is not two ASCII letters.
    pub fn parse(text: &str) -> Result<MarketCode, String> {
        let code = text.trim().to_ascii_uppercase();
        if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(MarketCode(code))
        } else {
            Err(format!(
                "market {text:?} is not an ISO 3166-1 alpha-2 code such as \"DE\""
            ))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MarketCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MarketCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MarketCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        MarketCode::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What a caller may do, from the token's `role` claim.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// The command line names roles as the API and its documentation (server/docs/api.md) do (`regional_lead`); the kebab-case
// spelling is accepted too.
#[value(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Reads every market.
    #[value(alias = "hq-analyst")]
    HqAnalyst,
    /// Reads the markets of the regions in the token.
    #[value(alias = "regional-lead")]
    RegionalLead,
    /// Reads the markets in the token.
    #[value(alias = "market-lead")]
    MarketLead,
    /// Manages connectors; reads no feedback.
    Integrator,
}

impl Role {
    /// Whether this role may read feedback data at all (scope decides which markets).
    pub fn reads_feedback(self) -> bool {
        !matches!(self, Role::Integrator)
    }

    /// Whether this role may work cases (HQ analysts read them; integrators neither).
    pub fn works_cases(self) -> bool {
        matches!(self, Role::Admin | Role::RegionalLead | Role::MarketLead)
    }

    /// Whether this role may see connector instances and their runs.
    pub fn sees_connectors(self) -> bool {
        matches!(self, Role::Admin | Role::Integrator | Role::HqAnalyst)
    }

    /// Whether this role may start runs and otherwise operate connectors.
    pub fn operates_connectors(self) -> bool {
        matches!(self, Role::Admin | Role::Integrator)
    }
}

/// A feedback programme. Relational surveys (asked yearly, about the relationship) and
/// transactional feedback (after a contact, purchase or visit) measure different things:
/// channels of different programmes are never combined, not even standardised.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Programme {
    /// The periodic relationship survey.
    Relational,
    /// Feedback on one contact, purchase, visit or review.
    #[default]
    Transactional,
}

impl Programme {
    /// Name in config and API.
    pub fn name(self) -> &'static str {
        match self {
            Programme::Relational => "relational",
            Programme::Transactional => "transactional",
        }
    }

    /// The programme with this name.
    pub fn parse(name: &str) -> Option<Programme> {
        [Programme::Relational, Programme::Transactional]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_roles_as_the_api_does() {
        use clap::ValueEnum;
        for role in Role::value_variants() {
            let api = serde_json::to_value(role).unwrap();
            let name = api.as_str().unwrap();
            assert_eq!(Role::from_str(name, false).unwrap(), *role, "{name}");
            assert_eq!(
                Role::from_str(&name.replace('_', "-"), false).unwrap(),
                *role
            );
        }
    }
}
