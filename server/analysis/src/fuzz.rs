//! Shared settings of the property tests over the parsers that take outside input (this
//! crate's and, with the `fuzz` feature, the server's).

use proptest::test_runner::Config;

/// Cases per property: 20,000 by default (several properties make well over 100,000 inputs
/// per `cargo test`); `CHORUS_FUZZ_CASES=1000000` for a longer hunt.
pub fn config() -> Config {
    let cases = std::env::var("CHORUS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    Config {
        cases,
        // Shrinking a failure is worth a few seconds; an endless hunt is not.
        max_shrink_iters: 10_000,
        failure_persistence: None,
        ..Config::default()
    }
}
