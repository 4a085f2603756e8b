//! App Store territories (ISO 3166-1 alpha-3) to markets (alpha-2).

/// Territories of the App Store in Europe, the Americas and Asia-Pacific that companies most
/// often configure; `Settings::territories` adds or overrides entries.
const TERRITORIES: &[(&str, &str)] = &[
    ("ARE", "AE"),
    ("ARG", "AR"),
    ("AUS", "AU"),
    ("AUT", "AT"),
    ("BEL", "BE"),
    ("BGR", "BG"),
    ("BRA", "BR"),
    ("CAN", "CA"),
    ("CHE", "CH"),
    ("CHL", "CL"),
    ("CHN", "CN"),
    ("COL", "CO"),
    ("CYP", "CY"),
    ("CZE", "CZ"),
    ("DEU", "DE"),
    ("DNK", "DK"),
    ("EGY", "EG"),
    ("ESP", "ES"),
    ("EST", "EE"),
    ("FIN", "FI"),
    ("FRA", "FR"),
    ("GBR", "GB"),
    ("GRC", "GR"),
    ("HKG", "HK"),
    ("HRV", "HR"),
    ("HUN", "HU"),
    ("IDN", "ID"),
    ("IND", "IN"),
    ("IRL", "IE"),
    ("ISL", "IS"),
    ("ISR", "IL"),
    ("ITA", "IT"),
    ("JPN", "JP"),
    ("KOR", "KR"),
    ("LTU", "LT"),
    ("LUX", "LU"),
    ("LVA", "LV"),
    ("MAR", "MA"),
    ("MEX", "MX"),
    ("MLT", "MT"),
    ("MYS", "MY"),
    ("NLD", "NL"),
    ("NOR", "NO"),
    ("NZL", "NZ"),
    ("PER", "PE"),
    ("PHL", "PH"),
    ("POL", "PL"),
    ("PRT", "PT"),
    ("ROU", "RO"),
    ("SAU", "SA"),
    ("SGP", "SG"),
    ("SRB", "RS"),
    ("SVK", "SK"),
    ("SVN", "SI"),
    ("SWE", "SE"),
    ("THA", "TH"),
    ("TUR", "TR"),
    ("TWN", "TW"),
    ("UKR", "UA"),
    ("USA", "US"),
    ("VNM", "VN"),
    ("ZAF", "ZA"),
];

/// The market of a territory, from `overrides` first.
pub fn market_of(
    territory: &str,
    overrides: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    overrides.get(territory).cloned().or_else(|| {
        TERRITORIES
            .iter()
            .find(|(t, _)| *t == territory)
            .map(|(_, m)| (*m).to_owned())
    })
}
