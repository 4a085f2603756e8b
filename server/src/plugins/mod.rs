//! Connector plugins: finding, loading and calling them.

mod loader;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub use loader::{check_abi_version, Instance, Plugin};

/// Errors of the plugin layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The library could not be loaded or has no entry symbol.
    #[error("cannot load plugin {path}: {message}")]
    Load { path: PathBuf, message: String },
    /// The library was built against another ABI version.
    #[error("plugin {path} implements ABI version {found}, this server implements version {expected}; rebuild the plugin against chorus-plugin-api {expected}")]
    AbiMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    /// The plugin reported an error or panicked.
    #[error("plugin {plugin}: {function} {}: {message}", if *.panicked { "panicked" } else { "failed" })]
    Call {
        plugin: String,
        function: &'static str,
        panicked: bool,
        message: String,
    },
    /// The plugin returned something that breaks the contract.
    #[error("plugin {plugin} broke the contract: {message}")]
    Garbage { plugin: String, message: String },
    /// A call did not return in time.
    #[error("plugin call {function} did not return within {seconds} s")]
    Timeout {
        function: &'static str,
        seconds: u64,
    },
}

/// Loads plugins by name from one folder and keeps them loaded.
#[derive(Debug)]
pub struct PluginRegistry {
    /// Folder holding `lib<name>.so` (or the platform's equivalent).
    dir: PathBuf,
    /// Plugins loaded so far. Failures are not cached: a fixed library is picked up next time.
    loaded: Mutex<HashMap<String, Plugin>>,
}

impl PluginRegistry {
    /// A registry over `dir`.
    pub fn new(dir: PathBuf) -> PluginRegistry {
        PluginRegistry {
            dir,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The folder plugins are loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The library file of a plugin name.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(libloading::library_filename(name))
    }

    /// The plugin called `name`, loading it on first use.
    ///
    /// # Errors
    /// When it cannot be loaded.
    pub fn get(&self, name: &str) -> Result<Plugin, PluginError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(plugin) = loaded.get(name) {
            return Ok(plugin.clone());
        }
        let plugin = Plugin::load(&self.path_of(name))?;
        tracing::info!(plugin = name, path = %plugin.path().display(), version = %plugin.manifest().version, "loaded plugin");
        loaded.insert(name.to_owned(), plugin.clone());
        Ok(plugin)
    }
}

/// Runs a blocking plugin call on tokio's blocking pool with a time limit, inside the current
/// tracing span. On timeout the call keeps its thread until it returns; its result is dropped.
///
/// # Errors
/// [`PluginError::Timeout`], or the call's own error.
pub fn call_blocking<T: Send + 'static>(
    function: &'static str,
    limit: Duration,
    f: impl FnOnce() -> Result<T, PluginError> + Send + 'static,
) -> impl Future<Output = Result<T, PluginError>> {
    let task = crate::telemetry::spawn_blocking_with_tracing(f);
    async move {
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(PluginError::Garbage {
                plugin: "?".into(),
                message: format!("{function} call crashed its thread: {join_error}"),
            }),
            Err(_) => Err(PluginError::Timeout {
                function,
                seconds: limit.as_secs(),
            }),
        }
    }
}
