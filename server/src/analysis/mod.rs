//! Pure analysis: statistics and text functions. No I/O, no async, no clock.

pub mod language;
pub mod normal;
pub mod nps;
