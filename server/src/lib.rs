//! Chorus: collects customer feedback from every market through connector plugins into one
//! DuckDB warehouse and answers with honest numbers over a role-scoped HTTP API.
//!
//! # Layout
//! - [`config`]: settings from `config/chorus.toml` and `CHORUS_…__…` variables.
//! - [`dates`]: the one range of dates accepted at every edge; [`market_days`]: the calendar
//!   (time zone) each market counts its days in.
//! - [`domain`]: small validated types (`MarketCode`, `Role`, `Programme`); [`catalog`]: markets, regions
//!   and channels indexed from the config.
//! - [`analysis`] (the crate `chorus-analysis`, `server/analysis/`): pure math and text
//!   functions (NPS, CSAT/CES/stars, intervals, direct standardisation, Holm, monthly windows,
//!   language, topics, drivers). No I/O.
//! - [`plugins`]: loading connector libraries and calling the C ABI (the only host-side unsafe);
//!   [`operations`]: `connectors check` and `plugin inspect`.
//! - [`ingest`]: runs an instance through its plugin, validates, normalises, commits; and the
//!   scheduler.
//! - [`warehouse`]: the DuckDB file: migrations, batch commits with cursors, read queries
//!   (counts per score value), Parquet export.
//! - [`auth`]: JWT validation, scopes, development tokens; [`sso`]: tokens of the company's
//!   identity providers (OIDC keys); [`login`]: the dashboard's one-time sign-in codes;
//!   [`permission`]: what each role may do, as types routes take.
//! - [`federation`]: regions feeding headquarters through NATS JetStream (messages, publishing,
//!   applying); [`events`]: the server-sent event stream of commits and runs.
//! - [`routes`] and [`error`]: the HTTP API and the one mapping of errors to responses;
//!   [`body_deadline`]: every request body arrives in bounded time.
//! - [`cases`]: rules that open cases for unhappy customers, and a case's lifecycle (pure);
//!   [`escalation`]: the job that moves overdue cases along their chain; [`alerting`]: the job
//!   that looks for significant changes; [`webhooks`]: signed event deliveries from the
//!   warehouse's outbox.
//! - [`startup`], [`telemetry`], [`counters`], [`process_metrics`]: wiring, logging,
//!   `/metrics`.
//! - [`bench`]: the ingest and query benchmarks behind `chorus bench ingest|queries`;
//!   [`eval`]: accuracy of language detection and tagging behind `chorus eval`.

pub mod alerting;
pub use chorus_analysis as analysis;
pub mod auth;
pub mod bench;
pub mod body_deadline;
pub mod cases;
pub mod catalog;
pub mod config;
pub mod counters;
pub mod dates;
pub mod domain;
pub mod error;
pub mod escalation;
pub mod eval;
pub mod events;
pub mod federation;
#[cfg(test)]
use chorus_analysis::fuzz;
pub mod ingest;
pub mod login;
pub mod market_days;
pub mod operations;
pub mod permission;
pub mod plugins;
pub mod process_metrics;
pub mod routes;
pub mod sso;
pub mod startup;
pub mod telemetry;
pub mod warehouse;
pub mod webhooks;
