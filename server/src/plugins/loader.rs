//! Loading plugin libraries and calling them through the C ABI. The only host-side `unsafe`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chorus_plugin_api::abi::{
    ConnectorVTable, EntryFn, InstanceHandle, OwnedBuffer, Status, ABI_VERSION, ENTRY_SYMBOL,
};
use chorus_plugin_api::Manifest;
use libloading::Library;

use super::PluginError;

/// A loaded plugin library. Instances keep it loaded through an `Arc`.
#[derive(Debug, Clone)]
pub struct Plugin {
    library: Arc<LoadedLibrary>,
}

#[derive(Debug)]
struct LoadedLibrary {
    /// The plugin's static function table; valid while `_library` is loaded.
    vtable: *const ConnectorVTable,
    manifest: Manifest,
    path: PathBuf,
    /// Keeps the code behind `vtable` mapped. Dropped last, with the last `Arc`.
    _library: Library,
}

// SAFETY: `vtable` points to an immutable static inside the library, which stays loaded as long
// as this value exists; the functions it names may be called from any thread (ABI contract:
// only one *instance* is restricted to one thread at a time, which `Instance` enforces).
unsafe impl Send for LoadedLibrary {}
// SAFETY: as above; shared references only read the static vtable.
unsafe impl Sync for LoadedLibrary {}

/// Refuses a plugin built for another ABI version, naming both.
pub fn check_abi_version(path: &Path, found: u32) -> Result<(), PluginError> {
    if found == ABI_VERSION {
        Ok(())
    } else {
        Err(PluginError::AbiMismatch {
            path: path.into(),
            found,
            expected: ABI_VERSION,
        })
    }
}

impl Plugin {
    /// Loads a library, checks its ABI version before anything else, then reads its manifest.
    ///
    /// # Errors
    /// When the file cannot be loaded, lacks the entry symbol, has another ABI version or
    /// returns an unreadable manifest.
    pub fn load(path: &Path) -> Result<Plugin, PluginError> {
        // SAFETY: loading runs the library's initialisers. Plugins come from the operator's
        // configured plugin folder and are trusted code, like the server binary itself.
        let library = unsafe { Library::new(path) }.map_err(|e| PluginError::Load {
            path: path.into(),
            message: e.to_string(),
        })?;
        // SAFETY: the entry symbol has the signature `EntryFn` by the ABI contract.
        let entry: EntryFn = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL) }
            .map(|symbol| *symbol)
            .map_err(|e| PluginError::Load {
                path: path.into(),
                message: format!("no entry symbol chorus_connector_entry: {e}"),
            })?;
        // SAFETY: the entry takes no arguments and returns a pointer to a static table.
        let vtable = unsafe { entry() };
        if vtable.is_null() {
            return Err(PluginError::Load {
                path: path.into(),
                message: "entry returned null".into(),
            });
        }
        // SAFETY: non-null and pointing to the plugin's static table; the version is the
        // first field in every ABI version, so it is readable before we trust the rest.
        let found = unsafe { std::ptr::addr_of!((*vtable).abi_version).read() };
        check_abi_version(path, found)?;
        let mut loaded = LoadedLibrary {
            vtable,
            manifest: Manifest {
                name: String::new(),
                version: String::new(),
                source_kind: String::new(),
                description: String::new(),
                config_schema: serde_json::Value::Null,
                records_may_change: false,
            },
            path: path.into(),
            _library: library,
        };
        // SAFETY: the version matched, so the table has the v1 layout.
        let manifest_fn = unsafe { (*vtable).manifest };
        let bytes = loaded.call("manifest", |out| {
            // SAFETY: `out` is a valid buffer slot owned by `call`.
            unsafe { manifest_fn(out) }
        })?;
        loaded.manifest = serde_json::from_slice(&bytes).map_err(|e| PluginError::Garbage {
            plugin: path.display().to_string(),
            message: format!("manifest is not valid JSON: {e}"),
        })?;
        Ok(Plugin {
            library: Arc::new(loaded),
        })
    }

    /// The plugin's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.library.manifest
    }

    /// Where it was loaded from.
    pub fn path(&self) -> &Path {
        &self.library.path
    }

    /// Opens an instance with its settings.
    ///
    /// # Errors
    /// When the plugin refuses the settings or misbehaves.
    pub fn open(&self, settings: &serde_json::Value) -> Result<Instance, PluginError> {
        let config = serde_json::to_vec(settings).expect("a JSON value always encodes");
        let mut handle: InstanceHandle = std::ptr::null_mut();
        let open = self.library.table().open;
        self.library.call("open", |out| {
            // SAFETY: `config` is valid for the call; `handle` and `out` are valid slots.
            unsafe { open(config.as_ptr(), config.len(), &mut handle, out) }
        })?;
        if handle.is_null() {
            return Err(self.library.garbage("open returned Ok without an instance"));
        }
        Ok(Instance {
            library: self.library.clone(),
            handle,
        })
    }
}

impl LoadedLibrary {
    fn table(&self) -> &ConnectorVTable {
        // SAFETY: checked non-null with the right version in `Plugin::load`; static in a
        // library that outlives `self`.
        unsafe { &*self.vtable }
    }

    fn garbage(&self, message: &str) -> PluginError {
        PluginError::Garbage {
            plugin: self.manifest.name.clone(),
            message: message.into(),
        }
    }

    /// Makes one call that fills an output buffer, copies the buffer, hands it back to the
    /// plugin and turns the status into a result.
    fn call(
        &self,
        function: &'static str,
        f: impl FnOnce(*mut OwnedBuffer) -> i32,
    ) -> Result<Vec<u8>, PluginError> {
        let mut buffer = OwnedBuffer::empty();
        let raw_status = f(&mut buffer);
        let bytes = if buffer.ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: the plugin wrote a buffer of `len` initialised bytes that stays valid
            // until we pass it to `free`, which happens right below.
            let copy = unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) }.to_vec();
            let free = self.table().free;
            // SAFETY: the buffer came from this plugin and is freed exactly once.
            unsafe { free(buffer) };
            copy
        };
        let plugin = if self.manifest.name.is_empty() {
            self.path.display().to_string()
        } else {
            self.manifest.name.clone()
        };
        match Status::from_raw(raw_status) {
            Some(Status::Ok) => Ok(bytes),
            Some(status) => Err(PluginError::Call {
                plugin,
                function,
                panicked: status == Status::Panic,
                message: String::from_utf8_lossy(&bytes).into_owned(),
            }),
            None => Err(PluginError::Garbage {
                plugin,
                message: format!("{function} returned unknown status {raw_status}"),
            }),
        }
    }
}

/// One open connector instance. Closed on drop; keeps its library loaded.
#[derive(Debug)]
pub struct Instance {
    library: Arc<LoadedLibrary>,
    handle: InstanceHandle,
}

// SAFETY: the ABI contract requires instances to be movable between threads; `&mut self` on
// every call guarantees that no two threads use the handle at once.
unsafe impl Send for Instance {}

impl Instance {
    /// Asks the plugin to check credentials and reachability.
    ///
    /// # Errors
    /// The plugin's message when the check fails.
    pub fn check(&mut self) -> Result<(), PluginError> {
        let check = self.library.table().check;
        let handle = self.handle;
        self.library.call("check", |out| {
            // SAFETY: `handle` is open and used by this thread only (`&mut self`).
            unsafe { check(handle, out) }
        })?;
        Ok(())
    }

    /// Reads the next batch as raw JSON bytes; the caller parses and validates them.
    ///
    /// # Errors
    /// The plugin's message when the read fails or panics.
    pub fn read(&mut self, cursor: Option<&str>, max_records: u32) -> Result<Vec<u8>, PluginError> {
        let read = self.library.table().read;
        let handle = self.handle;
        let cursor = cursor.unwrap_or("").as_bytes();
        self.library.call("read", |out| {
            // SAFETY: `handle` is open and used by this thread only; `cursor` outlives the call.
            unsafe { read(handle, cursor.as_ptr(), cursor.len(), max_records, out) }
        })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let close = self.library.table().close;
        // SAFETY: the handle came from `open` and is closed exactly once, here.
        unsafe { close(self.handle) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_abi_version_is_refused_naming_both_versions() {
        let err = check_abi_version(Path::new("/plugins/libold.so"), ABI_VERSION + 1).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("ABI version {}", ABI_VERSION + 1)),
            "{message}"
        );
        assert!(
            message.contains(&format!("implements version {ABI_VERSION}")),
            "{message}"
        );
        assert!(check_abi_version(Path::new("x"), ABI_VERSION).is_ok());
    }

    #[test]
    fn a_file_that_is_not_a_library_is_a_load_error() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libfake.so");
        std::fs::write(&fake, b"not an ELF file").unwrap();
        let err = Plugin::load(&fake).unwrap_err();
        assert!(matches!(err, PluginError::Load { .. }), "{err}");
        assert!(Plugin::load(&dir.path().join("missing.so")).is_err());
    }
}
