//! The closed loop: rules that open cases for unhappy customers ([`rules`]) and the life of a
//! case ([`lifecycle`]). Both are pure; the warehouse stores cases in the transaction of the
//! record that opens them, and the routes let people work them.

pub mod lifecycle;
pub mod rules;

pub use lifecycle::{Resolution, Status, TransitionError};
pub use rules::{CaseRuleConfig, CaseRules, CaseSubject, Opening};

#[cfg(test)]
mod tests;
