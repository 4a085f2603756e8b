//! Operator commands that talk to plugins without a running server:
//! `chorus connectors check <instance>` and `chorus plugin inspect <library>`.

use std::path::Path;

use anyhow::Context;

use crate::config::{PluginSettings, Settings};
use crate::plugins::PluginRegistry;
use crate::startup::{default_plugin_dir, host_limits};

/// A registry as the server would build it from `settings`.
fn registry(settings: &Settings) -> anyhow::Result<PluginRegistry> {
    Ok(PluginRegistry::new(
        settings
            .plugins
            .dir
            .clone()
            .unwrap_or_else(default_plugin_dir),
        settings.plugins.isolation,
        host_limits(&settings.plugins)?,
    ))
}

/// Opens the instance's plugin with its settings and calls its `check` (credentials,
/// reachability). Prints what it did; the error says what failed.
///
/// # Errors
/// When the instance is unknown or the plugin cannot be loaded, opened or checked.
pub fn check_instance(settings: &Settings, instance: &str) -> anyhow::Result<String> {
    let config = settings
        .connector(instance)
        .with_context(|| format!("no connector instance {instance:?} is configured"))?;
    let json = serde_json::to_value(&config.settings).context("settings as JSON")?;
    let mut opened = registry(settings)?
        .open(&config.plugin, &json)
        .with_context(|| format!("instance {instance}: the plugin refused its settings"))?;
    opened
        .connection
        .check()
        .with_context(|| format!("instance {instance}: check failed"))?;
    Ok(format!(
        "instance {instance}: ok ({} {} from {})",
        opened.manifest.name,
        opened.manifest.version,
        opened.path.display()
    ))
}

/// Loads a library and describes it: ABI version and manifest, or why it cannot be loaded.
///
/// # Errors
/// When it is not a loadable Chorus plugin; the message says why.
pub fn inspect(plugins: &PluginSettings, library: &Path) -> anyhow::Result<String> {
    // An absolute path, so that dlopen never searches the library path for a bare name.
    let library = &std::fs::canonicalize(library)
        .with_context(|| format!("{}: no such file", library.display()))?;
    let registry = PluginRegistry::new(
        default_plugin_dir(),
        plugins.isolation,
        host_limits(plugins)?,
    );
    let manifest = &registry.inspect(library)?;
    Ok(format!(
        "{}\n  ABI version: {}\n  name: {}\n  version: {}\n  source kind: {}\n  description: {}\n  settings schema:\n{}",
        library.display(),
        chorus_plugin_api::abi::ABI_VERSION,
        manifest.name,
        manifest.version,
        manifest.source_kind,
        manifest.description,
        serde_json::to_string_pretty(&manifest.config_schema)?
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    ))
}
