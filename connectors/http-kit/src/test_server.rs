//! A one-thread HTTP/1.1 server on 127.0.0.1 for connector tests: it answers each request
//! with what a closure returns for (request target, request number) and records the targets
//! and `Authorization` headers it saw. Std only, so every connector's tests can use it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use chorus_plugin_api::{Batch, Connector};

/// An answer: status, one optional extra header, body.
pub type Answer = (u16, Option<(&'static str, String)>, String);

/// Requests seen: (target, Authorization header).
pub type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Starts the server; returns its base URL (`http://127.0.0.1:port`) and the request log.
pub fn serve(route: impl Fn(&str, usize) -> Answer + Send + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free local port");
    let base = format!("http://{}", listener.local_addr().expect("a bound address"));
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let Ok(clone) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(clone);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut authorization = String::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some(value) = header.strip_prefix("Authorization: ") {
                    authorization = value.trim().to_owned();
                }
            }
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((target.clone(), authorization));
            let (status, extra, body) = route(&target, n);
            let extra = extra.map_or(String::new(), |(k, v)| format!("{k}: {v}\r\n"));
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n{extra}\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (base, seen)
}

/// Reads batches from `cursor` until the connector says there is no more; returns them
/// together and leaves `cursor` where the last batch ended.
///
/// # Panics
/// When a read fails: this is for tests.
pub fn drain<C: Connector>(connector: &mut C, cursor: &mut Option<String>) -> Batch {
    let mut all = Batch::default();
    loop {
        let batch = connector
            .read(cursor.as_deref(), 100)
            .expect("read succeeds");
        if batch.cursor.is_some() {
            cursor.clone_from(&batch.cursor);
        }
        all.records.extend(batch.records);
        all.rejected.extend(batch.rejected);
        if !batch.has_more {
            return all;
        }
    }
}
