//! Pure analysis: statistics and text functions. No I/O, no async, no clock.

pub mod alerts;
pub mod comparison;
pub mod disclosure;
pub mod drivers;
pub mod estimate;
pub mod function_words;
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
