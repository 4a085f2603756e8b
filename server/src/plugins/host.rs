//! `chorus plugin-host`: the child process that runs one plugin library for one connector
//! run. It limits its own address space, connects to the server's socket, loads the library
//! through the same ABI as in-process mode, and answers the server's calls until the server
//! closes the socket. The plugin's stdout and stderr are the child's, which the server reads
//! line by line, so nothing a plugin prints can reach the protocol.

use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::Context;

use super::loader::{Instance, Plugin};
use super::protocol::{read_frame, write_frame, Request, WireError, FAILED, MANIFEST, OK, REQUEST};
use super::PluginError;

/// Serves one library over the socket at `socket` until the server hangs up.
///
/// # Errors
/// When the limit cannot be set or the socket fails; plugin failures are answered instead.
pub fn serve(library: &Path, socket: &Path, memory_limit_mb: u64) -> anyhow::Result<()> {
    limit_address_space(memory_limit_mb)?;
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("cannot connect to {}", socket.display()))?;
    let plugin = match Plugin::load(library) {
        Ok(plugin) => {
            let manifest = serde_json::to_vec(plugin.manifest())?;
            write_frame(&mut stream, MANIFEST, &manifest)?;
            plugin
        }
        Err(error) => {
            write_frame(&mut stream, FAILED, &wire(&error))?;
            return Ok(());
        }
    };
    let mut instance: Option<Instance> = None;
    while let Some((kind, payload)) = read_frame(&mut stream)? {
        anyhow::ensure!(kind == REQUEST, "expected a request frame, got kind {kind}");
        let request: Request = serde_json::from_slice(&payload).context("request")?;
        let answer = match request {
            Request::Open { settings } => plugin.open(&settings).map(|opened| {
                instance = Some(opened);
                Vec::new()
            }),
            Request::Check => open(&mut instance).and_then(|i| i.check().map(|()| Vec::new())),
            Request::Read {
                cursor,
                max_records,
            } => open(&mut instance).and_then(|i| i.read(cursor.as_deref(), max_records)),
        };
        match answer {
            Ok(bytes) => write_frame(&mut stream, OK, &bytes)?,
            Err(error) => write_frame(&mut stream, FAILED, &wire(&error))?,
        }
    }
    Ok(())
}

fn open(instance: &mut Option<Instance>) -> Result<&mut Instance, PluginError> {
    instance.as_mut().ok_or_else(|| PluginError::Garbage {
        plugin: "plugin host".into(),
        message: "a call before open".into(),
    })
}

fn wire(error: &PluginError) -> Vec<u8> {
    serde_json::to_vec(&WireError::from(error)).expect("plain fields always encode")
}

/// Caps this process's address space, so a plugin that allocates without end fails its own
/// allocation instead of pushing the machine into swap or the OOM killer.
fn limit_address_space(megabytes: u64) -> anyhow::Result<()> {
    let bytes = megabytes.saturating_mul(1024 * 1024);
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the struct we pass by pointer, which lives for the call.
    let status = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    anyhow::ensure!(
        status == 0,
        "cannot limit the address space to {megabytes} MB: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}
