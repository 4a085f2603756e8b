//! The C types that cross the plugin boundary. `#[repr(C)]` only; no logic.

use std::ffi::c_void;

/// The ABI version this crate describes. Bumped on any change to [`ConnectorVTable`].
pub const ABI_VERSION: u32 = 1;

/// The one symbol a plugin exports: `extern "C" fn() -> *const ConnectorVTable`.
///
/// The name carries no version, so the host can read the version field of a newer or older
/// plugin and refuse it with a message instead of a missing-symbol error.
pub const ENTRY_SYMBOL: &[u8] = b"chorus_connector_entry\0";

/// Signature of the entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const ConnectorVTable;

/// Outcome of a call. Anything but `Ok` comes with a UTF-8 message in the output buffer.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The call succeeded; the output buffer holds its result.
    Ok = 0,
    /// The connector reported an error (bad config, unreachable source, ...).
    Error = 1,
    /// The connector panicked; the panic was caught at the boundary.
    Panic = 2,
    /// The host passed something unusable (null pointer, non-UTF-8 input).
    InvalidInput = 3,
}

impl Status {
    /// Reads a raw status code, treating unknown values as `None`.
    pub fn from_raw(raw: i32) -> Option<Status> {
        match raw {
            0 => Some(Status::Ok),
            1 => Some(Status::Error),
            2 => Some(Status::Panic),
            3 => Some(Status::InvalidInput),
            _ => None,
        }
    }
}

/// Bytes allocated by the plugin and handed to the host. The host copies them and returns the
/// buffer through [`ConnectorVTable::free`]; it never frees it itself.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuffer {
    /// Start of the bytes; null for an empty buffer.
    pub ptr: *mut u8,
    /// Number of initialised bytes.
    pub len: usize,
    /// Allocation capacity, needed by the plugin to free it.
    pub cap: usize,
}

impl OwnedBuffer {
    /// A buffer that owns nothing.
    pub const fn empty() -> OwnedBuffer {
        OwnedBuffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }
}

/// Opaque handle to one connector instance, created by `open` and destroyed by `close`.
pub type InstanceHandle = *mut c_void;

/// The function table a plugin exposes. Field order is part of the ABI.
#[repr(C)]
#[derive(Debug)]
pub struct ConnectorVTable {
    /// Must equal [`ABI_VERSION`]; read by the host before anything else.
    pub abi_version: u32,
    /// Writes the manifest JSON ([`crate::Manifest`]) to `out`.
    pub manifest: unsafe extern "C" fn(out: *mut OwnedBuffer) -> i32,
    /// Opens an instance from `config` (UTF-8 JSON, host-owned) and stores its handle in
    /// `instance`. On error `out` holds the message.
    pub open: unsafe extern "C" fn(
        config: *const u8,
        config_len: usize,
        instance: *mut InstanceHandle,
        out: *mut OwnedBuffer,
    ) -> i32,
    /// Checks credentials and reachability. On error `out` holds the message.
    pub check: unsafe extern "C" fn(instance: InstanceHandle, out: *mut OwnedBuffer) -> i32,
    /// Reads up to `max_records` after `cursor` (UTF-8, host-owned; length 0 means "from the
    /// start") and writes a [`crate::Batch`] as JSON to `out`.
    pub read: unsafe extern "C" fn(
        instance: InstanceHandle,
        cursor: *const u8,
        cursor_len: usize,
        max_records: u32,
        out: *mut OwnedBuffer,
    ) -> i32,
    /// Destroys an instance. The handle is invalid afterwards.
    pub close: unsafe extern "C" fn(instance: InstanceHandle),
    /// Frees a buffer this plugin allocated.
    pub free: unsafe extern "C" fn(buffer: OwnedBuffer),
}
