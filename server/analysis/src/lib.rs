//! Pure analysis: statistics and text functions. No I/O, no async, no clock; no DuckDB, actix
//! or tokio among the dependencies, so `cargo test -p chorus-analysis` runs the statistics in
//! seconds. The server re-exports it as `chorus::analysis`; `server/DESIGN.md` holds the math.

pub mod alerts;
pub mod comparison;
pub mod disclosure;
pub mod drivers;
pub mod estimate;
pub mod function_words;
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;
pub mod language;
pub mod multiple;
pub mod normal;
pub mod nps;
pub mod proportion;
pub mod redact;
pub mod scale;
pub mod standardise;
#[cfg(test)]
mod testing;
pub mod topics;
pub mod trend;
pub mod words;
