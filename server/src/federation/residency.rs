//! Which records headquarters may serve: only those of `global` markets are replicated.

use super::Residency;
use crate::catalog::Catalog;

/// A market whose records stay in its region, and where to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaysInRegion {
    pub market: String,
    pub node_url: Option<String>,
}

/// The markets a record listing on headquarters reads. `scoped` is the caller's scope
/// applied to what they asked (`None`: every market); `named` says whether they named
/// markets. Named markets that stay in their region are refused with their node; unnamed
/// ones are left out.
///
/// # Errors
/// The first named market whose records stay in its region.
pub fn replicated_markets(
    catalog: &Catalog,
    scoped: Option<Vec<String>>,
    named: bool,
) -> Result<Vec<String>, StaysInRegion> {
    let is_global = |code: &str| {
        catalog
            .markets()
            .any(|(c, m)| c.as_str() == code && m.residency == Residency::Global)
    };
    let markets: Vec<String> = match scoped {
        Some(markets) => markets,
        None => catalog.markets().map(|(c, _)| c.to_string()).collect(),
    };
    if named {
        if let Some(market) = markets.iter().find(|m| !is_global(m)) {
            let node_url = catalog
                .markets()
                .find(|(c, _)| c.as_str() == market)
                .and_then(|(_, m)| m.node_url.clone());
            return Err(StaysInRegion {
                market: market.clone(),
                node_url,
            });
        }
    }
    Ok(markets.into_iter().filter(|m| is_global(m)).collect())
}
