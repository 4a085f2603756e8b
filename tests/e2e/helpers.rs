//! Spawning the real application and talking HTTP to it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chorus::auth::AuthKeys;
use chorus::config::{Isolation, Settings};
use chorus::domain::Role;
use chorus::startup::Application;
use serde_json::Value;

/// The secret every test app signs with.
pub const SECRET: &[u8] = b"e2e-secret-e2e-secret-e2e-secret-0123";

/// The repository root, from the folder cargo gives at run time: a test binary reused from a
/// shared target dir by a clone at another path must not run the first clone's files.
pub fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The folder where cargo puts this profile's artifacts (…/target/debug).
pub fn artifact_dir() -> PathBuf {
    // The test binary lives in …/target/debug/deps/.
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The folder holding the built plugins and the `chorus` binary. README's test command builds
/// them first (`cargo build --workspace`): a nested `cargo build` from inside `cargo test`
/// would wait forever for the build lock that `cargo test` holds.
pub fn built_artifacts() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = artifact_dir();
        for name in [
            "survey_csv",
            "zendesk",
            "google_business_reviews",
            "misbehaving",
        ] {
            let library = dir.join(format!(
                "{}{name}{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            ));
            assert!(
                library.exists(),
                "{} is missing: run `cargo build --workspace` before the tests",
                library.display()
            );
        }
        let binary = dir.join(format!("chorus{}", std::env::consts::EXE_SUFFIX));
        assert!(
            binary.exists(),
            "{} is missing: run `cargo build --workspace` before the tests",
            binary.display()
        );
        dir
    })
}

/// The built `chorus` executable, which also serves as plugin host.
pub fn chorus_binary() -> PathBuf {
    built_artifacts().join(format!("chorus{}", std::env::consts::EXE_SUFFIX))
}

/// The plugin isolation every test app runs with: `process` (the default), or the mode named
/// by `CHORUS_TEST_ISOLATION`, so that the whole suite runs in both (README's test command).
pub fn isolation() -> Isolation {
    match std::env::var("CHORUS_TEST_ISOLATION").as_deref() {
        Ok("in_process") => Isolation::InProcess,
        Ok("process") | Err(_) => Isolation::Process,
        Ok(other) => panic!("CHORUS_TEST_ISOLATION={other}: expected process or in_process"),
    }
}

/// Initialises logging when `TEST_LOG` is set.
fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        chorus::telemetry::init("info");
    }
}

/// Loads the shipped demo configuration with its export paths made absolute (relative to a
/// copy of the exports when `exports` is given).
pub fn demo_settings(exports: Option<&Path>) -> Settings {
    demo_settings_with("", exports)
}

/// The demo configuration with `extra` TOML (more channels, instances) appended.
pub fn demo_settings_with(extra: &str, exports: Option<&Path>) -> Settings {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("config/chorus.toml")).unwrap() + extra;
    let mut settings = Settings::from_toml(&text, [], Path::new("config/chorus.toml")).unwrap();
    if let Some(taxonomy) = &settings.text.taxonomy {
        settings.text.taxonomy = Some(root.join(taxonomy));
    }
    for connector in &mut settings.connectors {
        if let Some(toml::Value::String(path)) = connector.settings.get("path").cloned() {
            let absolute = match exports {
                Some(dir) => dir.join(
                    Path::new(&path)
                        .strip_prefix("config/demo/exports")
                        .unwrap(),
                ),
                None => root.join(&path),
            };
            connector.settings.insert(
                "path".into(),
                toml::Value::String(absolute.display().to_string()),
            );
        }
    }
    settings
}

/// Copies the demo exports into `dir`, so a test may change them.
pub fn copy_demo_exports(dir: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy(&repo_root().join("config/demo/exports"), dir);
}

/// The scrape token of `/metrics` every test app gets (`CHORUS_METRICS_TOKEN`).
pub const METRICS_TOKEN: &str = "e2e-scrape-token";

/// A value of the server's `/metrics`, read with the scrape token (0 when the line is absent).
pub async fn metric(client: &reqwest::Client, address: &str, name: &str) -> u64 {
    let url = format!("{address}/metrics");
    let response = client
        .get(url)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the scrape token is refused");
    let text = response.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Regions, one market (DE) and one channel: enough configuration for tests of one source.
pub const ONE_MARKET: &str = r#"
[[regions]]
id = "central"
name = "Central"
[[markets]]
code = "DE"
name = "Germany"
region = "central"
languages = ["de"]
[[channels]]
id = "survey.relational"
name = "Relational"
"#;

/// A running application on a random port with its own DuckDB file.
pub struct TestApp {
    pub address: String,
    pub keys: AuthKeys,
    pub client: reqwest::Client,
    /// The dashboard's one-time sign-in codes (what `serve` prints a link with).
    pub login_codes: std::sync::Arc<chorus::login::LoginCodes>,
    _server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the app with `settings` after pointing it at a fresh file in `dir`, port 0 and the
/// built plugins.
pub async fn spawn_app_with(mut settings: Settings, dir: &Path) -> TestApp {
    init_logs();
    settings.server.listen = "127.0.0.1:0".into();
    settings.warehouse.path = dir.join("chorus.duckdb");
    settings.plugins.dir = Some(built_artifacts().to_path_buf());
    settings.plugins.host_binary = Some(chorus_binary());
    settings.plugins.isolation = isolation();
    settings.server.metrics_token = Some(chorus::config::SecretText(METRICS_TOKEN.into()));
    let keys = AuthKeys::hs256(SECRET, &settings.auth);
    let app = Application::build(settings, SECRET)
        .await
        .expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let login_codes = app.login_codes();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        keys,
        client: reqwest::Client::new(),
        login_codes,
        _server: server,
    }
}

impl TestApp {
    /// A token for `role` with the given scope claims.
    pub fn token(&self, role: Role, regions: &[&str], markets: &[&str]) -> String {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        self.keys.mint(
            "e2e",
            role,
            &owned(regions),
            &owned(markets),
            Duration::from_secs(600),
        )
    }

    /// GET with an optional bearer token; returns status and JSON body.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(self.client.get(format!("{}{path}", self.address)), token)
            .await
    }

    /// POST without a body.
    pub async fn post(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(self.client.post(format!("{}{path}", self.address)), token)
            .await
    }

    async fn send(
        &self,
        mut request: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> (u16, Value) {
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let request = request.build().expect("a valid request");
        let method = request.method().to_string();
        let response = self.client.execute(request).await.expect("request is sent");
        checked(&method, response).await
    }

    /// Pushes `records` to a push instance with `token`; expects a 200 and returns its body.
    pub async fn push(&self, instance: &str, token: &str, records: &[Value]) -> Value {
        let response = self
            .client
            .post(format!("{}/api/v1/ingest/{instance}", self.address))
            .bearer_auth(token)
            .json(&serde_json::json!({ "records": records }))
            .send()
            .await
            .expect("request is sent");
        let (status, body) = checked("POST", response).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `GET /api/v1/nps` as admin.
    pub async fn nps(&self, query: &str) -> Value {
        let token = self.token(Role::Admin, &[], &[]);
        let (status, body) = self.get(&format!("/api/v1/nps{query}"), Some(&token)).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Runs an instance now and waits for its summary.
    pub async fn run(&self, instance: &str) -> Value {
        let token = self.token(Role::Integrator, &[], &[]);
        let (status, body) = self
            .post(
                &format!("/api/v1/connectors/{instance}/run?wait=true"),
                Some(&token),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until every configured instance has a finished run.
    pub async fn wait_for_startup_runs(&self) -> Vec<Value> {
        let token = self.token(Role::Admin, &[], &[]);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, body) = self.get("/api/v1/connectors", Some(&token)).await;
            assert_eq!(status, 200, "{body}");
            let connectors = body["connectors"].as_array().unwrap().clone();
            // Push instances have no runs until something is pushed.
            let finished = connectors
                .iter()
                .filter(|c| c["plugin"] != "push")
                .all(|c| {
                    !c["running"].as_bool().unwrap() && c["last_run"]["finished_at"].is_string()
                });
            if finished {
                return connectors;
            }
            assert!(
                Instant::now() < deadline,
                "startup runs did not finish: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Stops a `chorus serve` process as a supervisor does (SIGTERM) and waits for it to exit:
/// what it does on a clean stop (checkpoint, the rewrite after erasures) is done then.
pub fn stop_cleanly(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success(), "chorus serve exited with {exit}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chorus serve did not stop within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fails unless `promtool check metrics` (Prometheus' own linter, from Debian's `prometheus`
/// package) accepts `exposition`.
pub fn promtool_accepts(exposition: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): run `bash deploy/install-test-parts.sh` \
                 (README's test command does; apt-get install prometheus)"
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refuses /metrics:\n{}{}\n{exposition}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the file at `path` holds `needle` anywhere in its bytes (false when it is absent).
pub fn file_holds(path: &Path, needle: &str) -> bool {
    std::fs::read(path).is_ok_and(|bytes| {
        bytes
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    })
}

/// Starts the real `chorus serve` with `config` and extra environment variables; returns
/// the process and its address, read from its first output line.
pub fn start_server(config: &Path, env: &[(&str, String)]) -> (Child, String) {
    let mut child = Command::new(built_artifacts().join("chorus"))
        .args(["serve", "--config"])
        .arg(config)
        .env("CHORUS_JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("CHORUS_METRICS_TOKEN", METRICS_TOKEN)
        .env("RUST_LOG", "warn")
        // A machine far from UTC: no figure may depend on the machine's time zone.
        .env("TZ", "Pacific/Kiritimati")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chorus starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(
        address.starts_with("http://127.0.0.1:"),
        "unexpected first line {line:?}"
    );
    (child, address)
}

/// The demo run through the real `chorus` binary: a config file with absolute paths (and
/// maybe another taxonomy), a warehouse file, and the environment pointing the binary at them.
pub struct DemoFiles {
    pub config: PathBuf,
    pub database: PathBuf,
    pub env: Vec<(&'static str, String)>,
}

impl DemoFiles {
    /// Writes the config into `dir`.
    pub fn new(dir: &Path, taxonomy: Option<&Path>) -> DemoFiles {
        let root = repo_root();
        let mut text = std::fs::read_to_string(root.join("config/chorus.toml"))
            .unwrap()
            .replace("\"config/", &format!("\"{}/config/", root.display()));
        if let Some(taxonomy) = taxonomy {
            text = text.replace(
                &format!("{}/config/taxonomy/cx.toml", root.display()),
                &taxonomy.display().to_string(),
            );
        }
        let config = dir.join("chorus.toml");
        std::fs::write(&config, text).unwrap();
        let database = dir.join("chorus.duckdb");
        let env = vec![
            ("CHORUS_WAREHOUSE__PATH", database.display().to_string()),
            (
                "CHORUS_PLUGINS__DIR",
                built_artifacts().display().to_string(),
            ),
            ("CHORUS_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        ];
        DemoFiles {
            config,
            database,
            env,
        }
    }

    /// Serves until every instance has run once, then kills the server: DuckDB lets one
    /// process open the file, so offline commands run after this.
    pub async fn ingest(&self) {
        let (mut server, address) = start_server(&self.config, &self.env);
        let token = AuthKeys::hs256(SECRET, &chorus::config::AuthSettings::default()).mint(
            "e2e",
            Role::Admin,
            &[],
            &[],
            Duration::from_secs(600),
        );
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let body: Value = client
                .get(format!("{address}/api/v1/connectors"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let done = body["connectors"].as_array().unwrap().iter().all(|c| {
                !c["running"].as_bool().unwrap() && c["last_run"]["finished_at"].is_string()
            });
            if done {
                break;
            }
            assert!(Instant::now() < deadline, "runs did not finish: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.kill().unwrap();
        server.wait().unwrap();
    }

    /// Runs `chorus <args> --config <config>` to completion.
    pub fn chorus(&self, args: &[&str]) -> std::process::Output {
        Command::new(built_artifacts().join("chorus"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            .env("TZ", "Pacific/Kiritimati")
            .output()
            .unwrap()
    }
}

/// A local HTTP server standing in for a vendor's API: for every request, `respond(request
/// line)` is the JSON body of a 200. Returns its base URL.
pub fn json_server(respond: impl Fn(&str) -> String + Send + 'static) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
                    break;
                }
            }
            let body = respond(&request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

/// Status and JSON body (`null` when there is none) of a response to `method`, after
/// checking them against the OpenAPI document.
pub async fn checked(method: &str, response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let path = response.url().path().to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    crate::openapi::validate(method, &path, status, &body);
    (status, body)
}
