//! End-to-end tests: the real application on a random port, a fresh DuckDB file per test,
//! plugins loaded with libloading from their built libraries, real HS256 JWTs.
//! Set `TEST_LOG=1` to see the server's logs.

mod browser;
mod helpers;

mod alerts;
mod auth;
mod cases;
mod changes;
mod compare;
mod crash_recovery;
mod dashboard;
mod drivers;
mod duckdb_library;
mod erasure;
mod errors;
mod export;
mod federation;
mod hostile;
mod isolation;
mod languages;
mod nps;
mod openapi;
mod operations;
mod plugin_failures;
mod push;
mod scheduling;
mod session;
mod sso;
mod text;
mod time_zones;
mod webhooks;
