//! Logging setup: `tracing` with an env filter (`RUST_LOG`), one span per request (from
//! `tracing-actix-web`) and per connector run. Logs go to stderr; stdout carries only what a
//! person asked for (the address, a token).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `default_filter` applies when `RUST_LOG` is unset. Calling
/// it twice is harmless (tests do).
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// `spawn_blocking` that keeps the caller's span, so what a blocking call logs stays under
/// its request or connector run. Every blocking call goes through it.
pub fn spawn_blocking_with_tracing<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
}
