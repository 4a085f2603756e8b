//! The contract between the Chorus server (the *host*) and its connector plugins.
//!
//! A connector is a `cdylib` that the host loads at run time with `libloading`. This crate is
//! the whole contract: the C types that cross the boundary ([`abi`]), the JSON shapes that
//! travel inside them ([`record`]), a safe trait a connector implements ([`Connector`]) and a
//! macro that generates the C entry points from it ([`export_connector!`]). It does no I/O.
//!
//! # Layout
//! - [`abi`]: `#[repr(C)]` types, the ABI version and the entry symbol. Nothing else.
//! - [`record`]: the manifest, the batch and the record that cross as UTF-8 JSON.
//! - [`connector`]: the safe [`Connector`] trait and its error type.
//! - [`export`]: the generated entry points; the only `unsafe` on the plugin side.
//!
//! # The contract (ABI version 1)
//! - **Entry.** A plugin exports one symbol, [`abi::ENTRY_SYMBOL`], a C function returning a
//!   pointer to a static [`abi::ConnectorVTable`]. Its first field is the ABI version. The host
//!   reads it before anything else and refuses a library whose version differs from
//!   [`abi::ABI_VERSION`], naming both.
//! - **Lifecycle.** `manifest` may be called at any time. `open(config)` creates an *instance*
//!   from the instance's JSON settings; `check` tests credentials and reachability; `read`
//!   returns the next batch after a cursor; `close` destroys the instance. The host opens an
//!   instance per run and closes it when the run ends.
//! - **Threading.** The host never calls one instance from two threads at once, but successive
//!   calls may come from different threads, so an instance must be `Send`. Calls block; the host
//!   makes them on blocking threads with a time limit.
//! - **Memory.** Every buffer is freed by the side that allocated it. Input buffers (config,
//!   cursor) belong to the host and are valid only during the call: the plugin copies what it
//!   keeps. Output buffers ([`abi::OwnedBuffer`]) are allocated by the plugin; the host copies
//!   them at once and hands them back through `free`.
//! - **Errors.** Every entry point returns an [`abi::Status`]. On anything but `Ok`, the output
//!   buffer holds a UTF-8 message. Panics never cross the boundary: they are caught and reported
//!   as [`abi::Status::Panic`] with the panic message.
//! - **Cursors.** A cursor is an opaque string the plugin returns with each batch. The host
//!   stores it in the same transaction as the batch's records and passes it to the next `read`,
//!   so a crash neither loses nor repeats records. A plugin must be able to resume from any
//!   cursor it ever returned.
//! - **What the host does on error.** A failed, panicking or garbage-returning call fails the
//!   current run of that instance only: what earlier batches committed stays, the cursor does
//!   not move past it, other instances and the warehouse are untouched.

pub mod abi;
pub mod connector;
pub mod export;
pub mod record;

pub use connector::{Connector, ConnectorError};
pub use record::{Batch, Manifest, RowRejection, SourceRecord};
