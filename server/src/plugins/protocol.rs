//! What the server and a `chorus plugin-host` child say to each other over their socket:
//! frames of one kind byte, a little-endian `u32` length and that many payload bytes.
//!
//! The child speaks first: a manifest frame once the library is loaded, or a failure frame.
//! Then the server sends one request frame per call and reads one answer frame: the call's
//! bytes, or a failure.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use super::PluginError;

/// A request from the server (JSON).
pub const REQUEST: u8 = 1;
/// The call's output bytes, as the plugin returned them.
pub const OK: u8 = 2;
/// A [`WireError`] (JSON).
pub const FAILED: u8 = 3;
/// The plugin's manifest (JSON), the child's first frame.
pub const MANIFEST: u8 = 4;

/// No frame is larger: a batch of 20,000 records is a few MB.
pub const MAX_FRAME: usize = 1 << 30;

/// One call the server asks the child to make.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Request {
    Open {
        settings: serde_json::Value,
    },
    Check,
    Read {
        cursor: Option<String>,
        max_records: u32,
    },
}

/// A [`PluginError`] as it crosses the socket.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireError {
    /// `call`, `garbage` or `load`.
    kind: String,
    plugin: String,
    function: String,
    panicked: bool,
    message: String,
}

impl From<&PluginError> for WireError {
    fn from(error: &PluginError) -> WireError {
        let (kind, plugin, function, panicked, message) = match error {
            PluginError::Call {
                plugin,
                function,
                panicked,
                message,
            } => (
                "call",
                plugin.clone(),
                *function,
                *panicked,
                message.clone(),
            ),
            PluginError::Garbage { plugin, message } => {
                ("garbage", plugin.clone(), "", false, message.clone())
            }
            other => ("load", String::new(), "", false, other.to_string()),
        };
        WireError {
            kind: kind.into(),
            plugin,
            function: function.into(),
            panicked,
            message,
        }
    }
}

impl WireError {
    /// The error as the server reports it; `path` names the library for load failures.
    pub fn into_error(self, path: &std::path::Path) -> PluginError {
        match self.kind.as_str() {
            "call" => PluginError::Call {
                plugin: self.plugin,
                function: function_name(&self.function),
                panicked: self.panicked,
                message: self.message,
            },
            "garbage" => PluginError::Garbage {
                plugin: self.plugin,
                message: self.message,
            },
            _ => PluginError::Load {
                path: path.into(),
                message: self.message,
            },
        }
    }
}

/// The static name of an ABI function, for errors.
pub fn function_name(name: &str) -> &'static str {
    match name {
        "manifest" => "manifest",
        "open" => "open",
        "check" => "check",
        "read" => "read",
        _ => "call",
    }
}

/// Writes one frame.
///
/// # Errors
/// When the socket fails or the payload is larger than [`MAX_FRAME`].
pub fn write_frame(out: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "frame too large"))?;
    let mut header = [0u8; 5];
    header[0] = kind;
    header[1..].copy_from_slice(&len.to_le_bytes());
    out.write_all(&header)?;
    out.write_all(payload)?;
    out.flush()
}

/// Reads one frame; `None` when the other side closed the socket between frames.
///
/// # Errors
/// When the socket fails (a read time-out included), closes mid-frame, or announces a frame
/// larger than [`MAX_FRAME`].
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    let mut filled = 0;
    while filled < header.len() {
        match input.read(&mut header[filled..])? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => filled += n,
        }
    }
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes announced"),
        ));
    }
    // Grows with what actually arrives, not with what the other side announced.
    let mut payload = Vec::new();
    input.take(len as u64).read_to_end(&mut payload)?;
    if payload.len() < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some((header[0], payload)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_round_trip_and_a_clean_end_is_none() {
        let mut wire = Vec::new();
        write_frame(&mut wire, OK, b"batch").unwrap();
        write_frame(&mut wire, FAILED, b"").unwrap();
        let mut input = wire.as_slice();
        assert_eq!(
            read_frame(&mut input).unwrap(),
            Some((OK, b"batch".to_vec()))
        );
        assert_eq!(read_frame(&mut input).unwrap(), Some((FAILED, Vec::new())));
        assert_eq!(read_frame(&mut input).unwrap(), None);
    }

    #[test]
    fn a_cut_or_oversize_frame_is_an_error() {
        let mut wire = Vec::new();
        write_frame(&mut wire, OK, b"batch").unwrap();
        assert!(read_frame(&mut &wire[..7]).is_err());
        assert!(read_frame(&mut &wire[..3]).is_err());
        let huge = [OK, 0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut &huge[..]).is_err());
        // Announced large, sent small: an error, and no buffer of the announced size.
        let mut liar = vec![OK];
        liar.extend((512u32 << 20).to_le_bytes());
        liar.extend(b"tiny");
        assert!(read_frame(&mut liar.as_slice()).is_err());
    }

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any bytes: a frame, a clean end or an error, never a panic or a huge allocation.
        #[test]
        fn any_bytes_read_as_frames_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut input = bytes.as_slice();
            while let Ok(Some((_, payload))) = read_frame(&mut input) {
                prop_assert!(payload.len() <= bytes.len());
            }
        }
    }
}
