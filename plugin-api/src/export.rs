//! Generated C entry points. The only `unsafe` on the plugin side lives here.
//!
//! [`export_connector!`](crate::export_connector) instantiates [`vtable`] for a connector type;
//! each function below turns raw pointers into safe values, calls the [`Connector`], catches any
//! panic and writes the result or the error message to the output buffer.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::abi::{ConnectorVTable, InstanceHandle, OwnedBuffer, Status, ABI_VERSION};
use crate::connector::{Connector, ConnectorError};

/// Generates the entry symbol for a type implementing [`Connector`].
///
/// ```
/// use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest};
///
/// struct Empty;
///
/// impl Connector for Empty {
///     fn manifest() -> Manifest {
///         Manifest {
///             name: "empty".into(),
///             version: "0.1.0".into(),
///             source_kind: "survey".into(),
///             description: "Has no records.".into(),
///             config_schema: serde_json::json!({"type": "object"}),
///             records_may_change: false,
///         }
///     }
///     fn open(_settings: serde_json::Value) -> Result<Self, ConnectorError> {
///         Ok(Empty)
///     }
///     fn check(&mut self) -> Result<(), ConnectorError> {
///         Ok(())
///     }
///     fn read(&mut self, _cursor: Option<&str>, _max: usize) -> Result<Batch, ConnectorError> {
///         Ok(Batch::default())
///     }
/// }
///
/// chorus_plugin_api::export_connector!(Empty);
///
/// // The generated entry point hands the host a pointer to the static table.
/// assert!(!chorus_connector_entry().is_null());
/// ```
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        /// The plugin's entry point; see `chorus_plugin_api::abi::ENTRY_SYMBOL`.
        #[no_mangle]
        pub extern "C" fn chorus_connector_entry() -> *const $crate::abi::ConnectorVTable {
            static VTABLE: $crate::abi::ConnectorVTable = $crate::export::vtable::<$connector>();
            &VTABLE
        }
    };
}

/// The function table for connector type `C`.
pub const fn vtable<C: Connector>() -> ConnectorVTable {
    ConnectorVTable {
        abi_version: ABI_VERSION,
        manifest: manifest::<C>,
        open: open::<C>,
        check: check::<C>,
        read: read::<C>,
        close: close::<C>,
        free: free_buffer,
    }
}

/// What a call produced, before it is written to the output buffer.
type CallResult = Result<Vec<u8>, (Status, String)>;

/// Runs `f`, turning a panic into `Status::Panic` with its message.
fn guarded(f: impl FnOnce() -> CallResult) -> CallResult {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            Err((Status::Panic, format!("connector panicked: {message}")))
        }
    }
}

fn connector_error(e: ConnectorError) -> (Status, String) {
    (Status::Error, e.message().to_owned())
}

/// Hands `bytes` to the host through `out` and returns the status code.
///
/// # Safety
/// `out` must be null or valid for a write of one `OwnedBuffer`.
unsafe fn deliver(out: *mut OwnedBuffer, result: CallResult) -> i32 {
    let (status, bytes) = match result {
        Ok(bytes) => (Status::Ok, bytes),
        Err((status, message)) => (status, message.into_bytes()),
    };
    if out.is_null() {
        return Status::InvalidInput as i32;
    }
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    let buffer = OwnedBuffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    };
    // SAFETY: the caller guarantees `out` is valid for writes; it is not null (checked above).
    unsafe { out.write(buffer) };
    status as i32
}

/// Copies a host-owned UTF-8 input.
///
/// # Safety
/// `ptr` must be null (with `len == 0`) or valid for reads of `len` bytes.
unsafe fn input_str(ptr: *const u8, len: usize) -> Result<Option<String>, (Status, String)> {
    if len == 0 {
        return Ok(None);
    }
    if ptr.is_null() {
        return Err((
            Status::InvalidInput,
            "null input pointer with non-zero length".into(),
        ));
    }
    // SAFETY: the caller guarantees `ptr` is valid for `len` bytes during this call.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    std::str::from_utf8(bytes)
        .map(|s| Some(s.to_owned()))
        .map_err(|e| (Status::InvalidInput, format!("input is not UTF-8: {e}")))
}

/// Borrows the connector behind a handle.
///
/// # Safety
/// `instance` must be a handle returned by `open::<C>` and not yet closed, used by one thread.
unsafe fn instance_mut<'a, C: Connector>(
    instance: InstanceHandle,
) -> Result<&'a mut C, (Status, String)> {
    if instance.is_null() {
        return Err((Status::InvalidInput, "null instance handle".into()));
    }
    // SAFETY: per the contract the handle came from `Box::<C>::into_raw` in `open::<C>` and the
    // host uses it from one thread at a time.
    Ok(unsafe { &mut *instance.cast::<C>() })
}

unsafe extern "C" fn manifest<C: Connector>(out: *mut OwnedBuffer) -> i32 {
    let result = guarded(|| {
        serde_json::to_vec(&C::manifest())
            .map_err(|e| (Status::Error, format!("cannot encode manifest: {e}")))
    });
    // SAFETY: the host passes a valid output pointer (ABI contract).
    unsafe { deliver(out, result) }
}

unsafe extern "C" fn open<C: Connector>(
    config: *const u8,
    config_len: usize,
    instance: *mut InstanceHandle,
    out: *mut OwnedBuffer,
) -> i32 {
    let result = guarded(|| {
        if instance.is_null() {
            return Err((Status::InvalidInput, "null instance out-pointer".into()));
        }
        // SAFETY: the host passes a config buffer valid for the duration of the call.
        let text = unsafe { input_str(config, config_len) }?.unwrap_or_else(|| "{}".into());
        let settings: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| (Status::InvalidInput, format!("settings are not JSON: {e}")))?;
        let connector = C::open(settings).map_err(connector_error)?;
        let handle = Box::into_raw(Box::new(connector)).cast::<c_void>();
        // SAFETY: checked non-null above; the host passes a pointer valid for one write.
        unsafe { instance.write(handle) };
        Ok(Vec::new())
    });
    // SAFETY: the host passes a valid output pointer (ABI contract).
    unsafe { deliver(out, result) }
}

unsafe extern "C" fn check<C: Connector>(instance: InstanceHandle, out: *mut OwnedBuffer) -> i32 {
    let result = guarded(|| {
        // SAFETY: the host passes a live handle from `open::<C>` (ABI contract).
        let connector = unsafe { instance_mut::<C>(instance) }?;
        connector.check().map_err(connector_error)?;
        Ok(Vec::new())
    });
    // SAFETY: the host passes a valid output pointer (ABI contract).
    unsafe { deliver(out, result) }
}

unsafe extern "C" fn read<C: Connector>(
    instance: InstanceHandle,
    cursor: *const u8,
    cursor_len: usize,
    max_records: u32,
    out: *mut OwnedBuffer,
) -> i32 {
    let result = guarded(|| {
        // SAFETY: the host passes a live handle from `open::<C>` (ABI contract).
        let connector = unsafe { instance_mut::<C>(instance) }?;
        // SAFETY: the host passes a cursor buffer valid for the duration of the call.
        let cursor = unsafe { input_str(cursor, cursor_len) }?;
        connector
            .read_json(cursor.as_deref(), max_records as usize)
            .map_err(connector_error)
    });
    // SAFETY: the host passes a valid output pointer (ABI contract).
    unsafe { deliver(out, result) }
}

unsafe extern "C" fn close<C: Connector>(instance: InstanceHandle) {
    if instance.is_null() {
        return;
    }
    // A panicking Drop must not unwind into the host; there is nobody to report it to.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the handle came from `Box::<C>::into_raw` in `open::<C>` and is closed once.
        drop(unsafe { Box::from_raw(instance.cast::<C>()) });
    }));
}

unsafe extern "C" fn free_buffer(buffer: OwnedBuffer) {
    if buffer.ptr.is_null() {
        return;
    }
    // SAFETY: the buffer was built in `deliver` from a Vec<u8> of this allocator, with its
    // pointer, length and capacity unchanged, and the host hands each buffer back once.
    drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
}
