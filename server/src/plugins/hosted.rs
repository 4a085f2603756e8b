//! The server's side of process isolation: one `chorus plugin-host` child per connector run,
//! reached over a Unix socket in a private temporary folder. The child gets a clean
//! environment (only the variables the instance's settings name), an address-space limit, and
//! a time limit per call after which it is killed, so no thread is ever left waiting on it.
//! When it dies, the call fails with the cause: the signal, the exit status, or the memory
//! limit.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chorus_plugin_api::Manifest;

use super::protocol::{
    function_name, read_frame, write_frame, Request, WireError, FAILED, MANIFEST, OK, REQUEST,
};
use super::PluginError;

/// How a child is started and bounded.
#[derive(Debug, Clone)]
pub struct HostLimits {
    /// The `chorus` executable to start as `chorus plugin-host`.
    pub binary: PathBuf,
    /// Time limit of one call (and of starting the child).
    pub call_limit: Duration,
    /// Address-space limit of the child.
    pub memory_limit_mb: u64,
    /// Variables every child gets when the server has them (proxies, CA bundles).
    pub pass_env: Vec<String>,
}

/// Lines of the child's stderr kept to explain its death.
const STDERR_TAIL: usize = 20;

/// Longest line of plugin output logged as one; longer ones are logged in pieces.
const MAX_LINE: u64 = 8 * 1024;

/// How long a child may take to exit after the server hangs up before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// One plugin library running in its own child process.
#[derive(Debug)]
pub struct HostedInstance {
    child: Child,
    stream: UnixStream,
    plugin: String,
    path: PathBuf,
    limits: HostLimits,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    output: Vec<JoinHandle<()>>,
}

impl HostedInstance {
    /// Starts a child for `library` with only the `env` variables, and reads its manifest.
    ///
    /// # Errors
    /// When the child cannot start, dies, or cannot load the library.
    pub fn spawn(
        library: &Path,
        env: &[(String, String)],
        limits: &HostLimits,
    ) -> Result<(HostedInstance, Manifest), PluginError> {
        let start_error = |message: String| PluginError::Load {
            path: library.into(),
            message,
        };
        let dir = tempfile::Builder::new()
            .prefix("chorus-plugin-")
            .tempdir()
            .map_err(|e| start_error(format!("no folder for the host socket: {e}")))?;
        let socket = dir.path().join("host.sock");
        let listener = UnixListener::bind(&socket)
            .map_err(|e| start_error(format!("cannot listen on {}: {e}", socket.display())))?;
        let mut child = Command::new(&limits.binary)
            .args(["plugin", "host"])
            .arg("--library")
            .arg(library)
            .arg("--socket")
            .arg(&socket)
            .arg("--memory-limit-mb")
            .arg(limits.memory_limit_mb.to_string())
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                start_error(format!(
                    "cannot start the plugin host {}: {e}",
                    limits.binary.display()
                ))
            })?;
        let plugin = library.file_stem().map_or_else(
            || library.display().to_string(),
            |s| s.to_string_lossy().into(),
        );
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let mut output = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            output.push(log_lines(stdout, "stdout", &plugin, None));
        }
        if let Some(stderr) = child.stderr.take() {
            output.push(log_lines(
                stderr,
                "stderr",
                &plugin,
                Some(stderr_tail.clone()),
            ));
        }
        let mut hosted = HostedInstance {
            child,
            // Replaced once the child connects.
            stream: UnixStream::pair()
                .map_err(|e| start_error(e.to_string()))?
                .0,
            plugin,
            path: library.into(),
            limits: limits.clone(),
            stderr_tail,
            output,
        };
        hosted.stream = hosted.accept(&listener)?;
        // The socket file is only needed until the child connects: removing it now leaves
        // nothing behind in /tmp even if this process is killed during the run.
        drop(listener);
        if let Err(e) = dir.close() {
            tracing::warn!(error = %e, "could not remove the plugin host's socket folder");
        }
        let manifest = match hosted.answer("manifest")? {
            (MANIFEST, bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| PluginError::Garbage {
                    plugin: hosted.plugin.clone(),
                    message: format!("manifest is not valid JSON: {e}"),
                })?
            }
            (_, bytes) => return Err(hosted.failure(&bytes)),
        };
        Ok((hosted, manifest))
    }

    /// Waits for the child to connect, or to die, within the call limit.
    fn accept(&mut self, listener: &UnixListener) -> Result<UnixStream, PluginError> {
        let started = Instant::now();
        listener
            .set_nonblocking(true)
            .map_err(|e| self.io_error("start", &e))?;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream
                        .set_nonblocking(false)
                        .map_err(|e| self.io_error("start", &e))?;
                    return Ok(stream);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        return Err(self.died("start", status));
                    }
                    if started.elapsed() > self.limits.call_limit {
                        return Err(self.timed_out("start"));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(self.io_error("start", &e)),
            }
        }
    }

    /// Opens the connector instance with its settings.
    ///
    /// # Errors
    /// When the plugin refuses them, or the child fails.
    pub fn open(&mut self, settings: &serde_json::Value) -> Result<(), PluginError> {
        self.call(
            "open",
            &Request::Open {
                settings: settings.clone(),
            },
        )
        .map(drop)
    }

    /// Asks the plugin to check credentials and reachability.
    ///
    /// # Errors
    /// The plugin's message, or how the child failed.
    pub fn check(&mut self) -> Result<(), PluginError> {
        self.call("check", &Request::Check).map(drop)
    }

    /// Reads the next batch as raw JSON bytes.
    ///
    /// # Errors
    /// The plugin's message, or how the child failed.
    pub fn read(&mut self, cursor: Option<&str>, max_records: u32) -> Result<Vec<u8>, PluginError> {
        self.call(
            "read",
            &Request::Read {
                cursor: cursor.map(str::to_owned),
                max_records,
            },
        )
    }

    fn call(&mut self, function: &'static str, request: &Request) -> Result<Vec<u8>, PluginError> {
        let payload = serde_json::to_vec(request).expect("a request always encodes");
        if let Err(e) = write_frame(&mut self.stream, REQUEST, &payload) {
            return Err(self.io_error(function, &e));
        }
        match self.answer(function)? {
            (OK, bytes) => Ok(bytes),
            (FAILED, bytes) => Err(self.failure(&bytes)),
            (kind, _) => Err(PluginError::Garbage {
                plugin: self.plugin.clone(),
                message: format!("the plugin host answered {function} with frame kind {kind}"),
            }),
        }
    }

    /// Reads one answer within the call limit; a child that is gone or too slow is an error.
    fn answer(&mut self, function: &'static str) -> Result<(u8, Vec<u8>), PluginError> {
        self.stream
            .set_read_timeout(Some(self.limits.call_limit))
            .map_err(|e| self.io_error(function, &e))?;
        match read_frame(&mut self.stream) {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(self.io_error(function, &std::io::ErrorKind::UnexpectedEof.into())),
            Err(e) => Err(self.io_error(function, &e)),
        }
    }

    fn failure(&self, bytes: &[u8]) -> PluginError {
        match serde_json::from_slice::<WireError>(bytes) {
            Ok(wire) => wire.into_error(&self.path),
            Err(e) => PluginError::Garbage {
                plugin: self.plugin.clone(),
                message: format!("unreadable failure from the plugin host: {e}"),
            },
        }
    }

    /// A failed socket operation: a time-out kills the child; otherwise the child is gone
    /// (or going), and its exit says why.
    fn io_error(&mut self, function: &'static str, error: &std::io::Error) -> PluginError {
        if matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            return self.timed_out(function);
        }
        match self.wait_for_exit() {
            Some(status) => self.died(function, status),
            None => PluginError::HostDied {
                plugin: self.plugin.clone(),
                function,
                cause: format!("broke the connection ({error}) and was killed"),
            },
        }
    }

    fn timed_out(&mut self, function: &'static str) -> PluginError {
        self.kill();
        PluginError::Timeout {
            function: function_name(function),
            seconds: self.limits.call_limit.as_secs(),
        }
    }

    /// Names why the child ended.
    fn died(&self, function: &'static str, status: ExitStatus) -> PluginError {
        let tail = self
            .stderr_tail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect::<Vec<_>>();
        let out_of_memory = tail.iter().any(|l| l.contains("memory allocation of"));
        let cause = if out_of_memory {
            format!(
                "exceeded its memory limit of {} MB ({})",
                self.limits.memory_limit_mb,
                describe(status)
            )
        } else {
            describe(status)
        };
        PluginError::HostDied {
            plugin: self.plugin.clone(),
            function,
            cause,
        }
    }

    /// The child's exit status, waiting up to [`EXIT_GRACE`], killing it after that.
    fn wait_for_exit(&mut self) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < EXIT_GRACE {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.join_output();
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill();
        None
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_output();
    }

    /// The output threads end when the child's pipes close, which its exit does.
    fn join_output(&mut self) {
        for thread in self.output.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for HostedInstance {
    fn drop(&mut self) {
        // Hanging up lets the child close the instance and exit by itself.
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if self.wait_for_exit().is_none() {
            tracing::warn!(plugin = %self.plugin, "plugin host did not exit; killed");
        }
    }
}

/// "killed by SIGSEGV", "exited with status 3".
fn describe(status: ExitStatus) -> String {
    match (status.signal(), status.code()) {
        (Some(signal), _) => format!("killed by {}", signal_name(signal)),
        (None, Some(code)) => format!("exited with status {code}"),
        (None, None) => format!("ended ({status})"),
    }
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTERM => "SIGTERM",
        other => return format!("signal {other}"),
    };
    name.into()
}

/// Logs each line the child writes, in the span of the run that started it; keeps the last
/// lines of stderr in `tail`. Reads to the end whatever the bytes are (lines are capped, bad
/// UTF-8 replaced): a pipe nobody drains would block the child mid-call.
fn log_lines(
    pipe: impl Read + Send + 'static,
    stream: &'static str,
    plugin: &str,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) -> JoinHandle<()> {
    let span = tracing::Span::current();
    let plugin = plugin.to_owned();
    std::thread::spawn(move || {
        let _entered = span.enter();
        let mut reader = BufReader::new(pipe);
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut bytes) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&bytes).trim_end().to_owned();
            tracing::info!(target: "chorus::plugin_output", %plugin, stream, "{line}");
            if let Some(tail) = &tail {
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    })
}

/// The environment a child gets: the variables the instance's settings name in keys ending
/// in `_env` (credentials) and the `pass` ones (network setup), with their values from the
/// server's environment; nothing else.
pub fn named_variables(settings: &serde_json::Value, pass: &[String]) -> Vec<(String, String)> {
    let mut names = pass.to_vec();
    collect_env_names(settings, &mut names);
    names
        .into_iter()
        .filter_map(|name| std::env::var(&name).ok().map(|value| (name, value)))
        .collect()
}

fn collect_env_names(value: &serde_json::Value, names: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(name) if key.ends_with("_env") => {
                        names.push(name.clone());
                    }
                    other => collect_env_names(other, names),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                collect_env_names(item, names);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_variables_named_in_settings_are_passed() {
        std::env::set_var("CHORUS_TEST_HOSTED_TOKEN", "t0ken");
        let settings = serde_json::json!({
            "token_env": "CHORUS_TEST_HOSTED_TOKEN",
            "nested": {"key_env": "CHORUS_TEST_HOSTED_UNSET"},
            "path": "HOME",
        });
        assert_eq!(
            named_variables(&settings, &[]),
            vec![("CHORUS_TEST_HOSTED_TOKEN".to_owned(), "t0ken".to_owned())]
        );
        std::env::set_var("CHORUS_TEST_HOSTED_PROXY", "http://proxy:3128");
        let passed = named_variables(&settings, &["CHORUS_TEST_HOSTED_PROXY".to_owned()]);
        assert_eq!(passed.len(), 2);
        assert_eq!(passed[0].1, "http://proxy:3128");
    }

    #[test]
    fn output_is_read_to_the_end_in_bounded_lines_whatever_the_bytes() {
        let mut bytes = b"before\n\xff\xfe not utf-8\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 20_000));
        bytes.extend(b"\nafter\n");
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        log_lines(
            std::io::Cursor::new(bytes),
            "stderr",
            "p",
            Some(tail.clone()),
        )
        .join()
        .unwrap();
        let lines: Vec<String> = tail.lock().unwrap().iter().cloned().collect();
        assert_eq!(lines.first().map(String::as_str), Some("before"));
        assert!(lines[1].ends_with("not utf-8"), "{:?}", lines[1]);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("after"),
            "read past bad bytes"
        );
        assert!(lines.iter().all(|l| l.len() as u64 <= MAX_LINE));
        assert_eq!(lines.len(), 6, "the 20,000-byte line in 8 KiB pieces");
    }

    #[test]
    fn exits_are_named() {
        assert_eq!(
            describe(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(
            describe(ExitStatus::from_raw(libc::SIGSEGV)),
            "killed by SIGSEGV"
        );
    }
}
