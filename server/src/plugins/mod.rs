//! Connector plugins: finding, loading and calling them, in a child process per run
//! (`plugins.isolation = "process"`, the default) or in the server's own (`in_process`).

pub mod host;
mod hosted;
mod loader;
mod protocol;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chorus_plugin_api::Manifest;

use hosted::named_variables;
pub use hosted::{HostLimits, HostedInstance};
pub use loader::{check_abi_version, Instance, Plugin};

use crate::config::Isolation;

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
    /// The plugin host child died during a call.
    #[error("plugin {plugin}: plugin host {cause} during {function}")]
    HostDied {
        plugin: String,
        function: &'static str,
        cause: String,
    },
    /// A call did not return in time.
    #[error("plugin call {function} did not return within {seconds} s")]
    Timeout {
        function: &'static str,
        seconds: u64,
    },
}

/// An open connector instance, wherever its plugin runs.
#[derive(Debug)]
pub enum Connection {
    InProcess(Instance),
    Hosted(HostedInstance),
}

impl Connection {
    /// Asks the plugin to check credentials and reachability.
    ///
    /// # Errors
    /// The plugin's message, or how its host failed.
    pub fn check(&mut self) -> Result<(), PluginError> {
        match self {
            Connection::InProcess(instance) => instance.check(),
            Connection::Hosted(hosted) => hosted.check(),
        }
    }

    /// Reads the next batch as raw JSON bytes; the caller parses and validates them.
    ///
    /// # Errors
    /// The plugin's message, or how its host failed.
    pub fn read(&mut self, cursor: Option<&str>, max_records: u32) -> Result<Vec<u8>, PluginError> {
        match self {
            Connection::InProcess(instance) => instance.read(cursor, max_records),
            Connection::Hosted(hosted) => hosted.read(cursor, max_records),
        }
    }
}

/// An instance just opened, with what its plugin says of itself.
#[derive(Debug)]
pub struct Opened {
    pub connection: Connection,
    pub manifest: Manifest,
    pub path: PathBuf,
}

/// Loads plugins by name from one folder: into the server, where they stay loaded, or into a
/// child process per opened instance.
#[derive(Debug)]
pub struct PluginRegistry {
    /// Folder holding `lib<name>.so` (or the platform's equivalent).
    dir: PathBuf,
    isolation: Isolation,
    limits: HostLimits,
    /// Plugins loaded in process so far. Failures are not cached: a fixed library is picked
    /// up next time.
    loaded: Mutex<HashMap<String, Plugin>>,
}

/// Extra time the server gives a child to enforce its own call limit before giving up on it.
const HOST_GRACE: Duration = Duration::from_secs(5);

impl PluginRegistry {
    /// A registry over `dir`.
    pub fn new(dir: PathBuf, isolation: Isolation, limits: HostLimits) -> PluginRegistry {
        PluginRegistry {
            dir,
            isolation,
            limits,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The time limit to put around one blocking call with [`call_blocking`]: a child enforces
    /// the call limit itself (and is killed), so the outer limit is only a backstop there.
    pub fn call_limit(&self) -> Duration {
        match self.isolation {
            Isolation::InProcess => self.limits.call_limit,
            Isolation::Process => self.limits.call_limit + HOST_GRACE,
        }
    }

    /// Opens an instance of plugin `name` with its settings.
    ///
    /// # Errors
    /// When the plugin cannot be loaded or refuses the settings, or its host fails.
    pub fn open(&self, name: &str, settings: &serde_json::Value) -> Result<Opened, PluginError> {
        self.open_library(&self.path_of(name), Some(name), settings)
    }

    /// Opens an instance of the library at `path`; `name` caches it in process mode.
    ///
    /// # Errors
    /// As [`PluginRegistry::open`].
    pub fn open_library(
        &self,
        path: &Path,
        name: Option<&str>,
        settings: &serde_json::Value,
    ) -> Result<Opened, PluginError> {
        match self.isolation {
            Isolation::InProcess => {
                let plugin = match name {
                    Some(name) => self.get(name)?,
                    None => Plugin::load(path)?,
                };
                Ok(Opened {
                    connection: Connection::InProcess(plugin.open(settings)?),
                    manifest: plugin.manifest().clone(),
                    path: plugin.path().into(),
                })
            }
            Isolation::Process => {
                let (mut hosted, manifest) = HostedInstance::spawn(
                    path,
                    &named_variables(settings, &self.limits.pass_env),
                    &self.limits,
                )?;
                hosted.open(settings)?;
                Ok(Opened {
                    connection: Connection::Hosted(hosted),
                    manifest,
                    path: path.into(),
                })
            }
        }
    }

    /// The manifest of the library at `path`, loaded the way instances are.
    ///
    /// # Errors
    /// When it is not a loadable plugin.
    pub fn inspect(&self, path: &Path) -> Result<Manifest, PluginError> {
        match self.isolation {
            Isolation::InProcess => Ok(Plugin::load(path)?.manifest().clone()),
            Isolation::Process => Ok(HostedInstance::spawn(path, &[], &self.limits)?.1),
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

    /// The plugin called `name`, loaded into this process on first use.
    fn get(&self, name: &str) -> Result<Plugin, PluginError> {
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
