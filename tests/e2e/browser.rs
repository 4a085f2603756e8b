//! A real headless Chromium driven through ChromeDriver with the W3C WebDriver protocol (plain
//! JSON over HTTP, spoken with reqwest). `deploy/install-test-parts.sh` installs both; without
//! them the tests fail and say so.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::artifact_dir;

/// W3C's key for an element reference in a JSON answer.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser at a time: two Chromiums on two cores next to the rest of the suite would
/// make the 5-second expectations flaky.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A browser session; the driver and the browser end when it is dropped.
pub struct Browser {
    driver: Child,
    base: String,
    client: reqwest::Client,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// A program on the PATH, or a failure that says how to install it.
fn installed(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{program} is not installed: the dashboard's browser tests need Chromium and \
                 ChromeDriver. Run `bash deploy/install-test-parts.sh` (README's test command \
                 does) and try again."
            )
        })
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium `width` pixels wide.
    pub async fn start(width: u32) -> Browser {
        let turn = ONE_BROWSER.lock().await;
        let chromium = installed("chromium");
        let chromedriver = installed("chromedriver");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            base,
            client,
            _profile: profile,
            _turn: turn,
        };
        // The flags the machine notes ask for: no sandbox as root, and no background
        // connections to a network that is closed.
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={width},900"),
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let session = browser.call("POST", "/session", Some(capabilities)).await;
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {session}"))
            .to_owned();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self
                .client
                .post(url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let response = request.send().await.expect("the driver answers");
        let answer: Value = response.json().await.expect("the driver answers JSON");
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!(
                "WebDriver {method} {path}: {error}: {}",
                answer["value"]["message"]
            );
        }
        answer.get("value").cloned().unwrap_or(answer)
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Waits until `script` returns something truthy, and returns it.
    pub async fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(script, json!([])).await;
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let body = self.eval("return document.body.innerText", json!([])).await;
                panic!("waited {timeout:?} for {what}; the page says:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The WebDriver id of the element `css` selects.
    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Clicks the element `css` selects, as a user would.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call("POST", &format!("/element/{id}/click"), None)
            .await;
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Saves a screenshot as `target/<profile>/screenshots/<name>.png` and prints the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let data = self.call("GET", "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64 PNG"))
            .expect("valid base64");
        let dir = artifact_dir().join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        println!("screenshot: {}", path.display());
        path
    }

    /// What the page logged at level SEVERE since the last call: script errors, failed
    /// `console.error` calls, failed loads.
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = self
            .call("POST", "/se/log", Some(json!({ "type": "browser" })))
            .await;
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Browser {
    /// Ends the session, which closes the browser.
    pub async fn close(self) {
        let _ = self.client.delete(&self.base).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session's DELETE needs a runtime; killing the driver ends its browser too.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
