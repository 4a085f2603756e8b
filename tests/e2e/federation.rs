//! Federation with real processes: nats-server with a temporary JetStream store, two
//! regional `chorus` nodes and a headquarters node (and a standalone node holding all the
//! data, as the reference). Records are pushed to the regions; headquarters must end with
//! exactly the sum of their cubes, whatever crashes and outages happen on the way.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chorus::auth::AuthKeys;
use chorus::domain::Role;
use chorus::warehouse::Warehouse;
use serde_json::{json, Value};

use crate::helpers::{checked, repo_root, start_server, SECRET};

/// A nats-server with JetStream on a free port, its store in a folder of the test.
struct Nats {
    port: u16,
    store: PathBuf,
    process: Option<Child>,
}

impl Nats {
    fn start(dir: &Path) -> Nats {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nats = Nats {
            port,
            store: dir.join("jetstream"),
            process: None,
        };
        nats.restart();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port and store.
    fn restart(&mut self) {
        let process = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start nats-server ({e}): the federation tests need it; \
                     run `bash deploy/install-test-parts.sh` (apt-get install nats-server)"
                )
            });
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().unwrap();
            process.wait().unwrap();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Markets: (code, region, language, residency).
const MARKETS: [(&str, &str, &str, &str); 4] = [
    ("FR", "west", "fr", "global"),
    ("ES", "west", "es", "regional"),
    ("PL", "east", "pl", "regional"),
    ("DE", "east", "de", "regional"),
];

/// A node's configuration: every market and channel; connectors for the markets of
/// `region` (all of them for `None`, the standalone reference; none on headquarters).
fn config(role: &str, node: &str, nats: &str, connectors_of: Option<Option<&str>>) -> String {
    let root = repo_root();
    let mut text = format!(
        "[warehouse]\npath = \"unused.duckdb\"\n[text]\ntaxonomy = \"{}\"\n\
         [federation]\nrole = \"{role}\"\nnode_id = \"{node}\"\nnats_url = \"{nats}\"\n\
         stream = \"CHORUS_E2E\"\n\
         [[regions]]\nid = \"west\"\nname = \"West\"\nnode_url = \"https://west.example\"\n\
         [[regions]]\nid = \"east\"\nname = \"East\"\nnode_url = \"https://east.example\"\n\
         [[channels]]\nid = \"web\"\nname = \"Web\"\n[[channels]]\nid = \"app\"\nname = \"App\"\n",
        root.join("config/taxonomy/cx.toml").display()
    );
    for (code, region, language, residency) in MARKETS {
        text.push_str(&format!(
            "[[markets]]\ncode = \"{code}\"\nname = \"{code}\"\nregion = \"{region}\"\n\
             languages = [\"{language}\"]\nresidency = \"{residency}\"\n"
        ));
    }
    if let Some(region) = connectors_of {
        for (code, market_region, _, _) in MARKETS {
            if region.is_some_and(|r| r != market_region) {
                continue;
            }
            let lower = code.to_lowercase();
            text.push_str(&format!(
                "[[connectors]]\nid = \"{lower}-web\"\nplugin = \"push\"\nmarket = \"{code}\"\n\
                 channel = \"web\"\non_change = \"update\"\n\
                 [[connectors]]\nid = \"{lower}-app\"\nplugin = \"push\"\nmarket = \"{code}\"\n\
                 channel = \"app\"\n"
            ));
        }
    }
    text
}

/// One node: its config, its warehouse file and, while it runs, its process.
struct Node {
    config: PathBuf,
    database: PathBuf,
    process: Option<Child>,
    address: String,
}

impl Node {
    fn new(dir: &Path, name: &str, text: &str) -> Node {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        let mut node = Node {
            config,
            database: dir.join(format!("{name}.duckdb")),
            process: None,
            address: String::new(),
        };
        node.start();
        node
    }

    fn start(&mut self) {
        let (process, address) = start_server(
            &self.config,
            &[
                (
                    "CHORUS_WAREHOUSE__PATH",
                    self.database.display().to_string(),
                ),
                ("CHORUS_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
                ("CHORUS_SERVER__LOGIN_LINK", "false".to_owned()),
            ],
        );
        self.process = Some(process);
        self.address = address;
    }

    /// `kill -9`.
    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().unwrap();
            process.wait().unwrap();
        }
    }

    /// Its cubes, read from its file (the node must be stopped: one process per file).
    fn cube_totals(&mut self) -> BTreeMap<String, Vec<i64>> {
        self.kill();
        Warehouse::open(&self.database)
            .unwrap()
            .cube_totals()
            .unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.address))
            .bearer_auth(token(Role::Admin))
            .send()
            .await
            .unwrap();
        checked("GET", response).await
    }

    async fn push(&self, instance: &str, records: &[Value]) {
        for chunk in records.chunks(500) {
            let response = reqwest::Client::new()
                .post(format!("{}/api/v1/ingest/{instance}", self.address))
                .bearer_auth(token(Role::Integrator))
                .json(&json!({ "records": chunk }))
                .send()
                .await
                .unwrap();
            let (status, body) = checked("POST", response).await;
            assert_eq!(status, 200, "{body}");
        }
    }

    async fn erase(&self, key: &str, value: &str) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/erasures", self.address))
            .bearer_auth(token(Role::Admin))
            .json(&json!({"attribute": {"key": key, "value": value}}))
            .send()
            .await
            .unwrap();
        let (status, body) = checked("POST", response).await;
        assert_eq!(status, 201, "{body}");
        body
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One issuer for every node: a token minted once is valid on all of them.
fn token(role: Role) -> String {
    AuthKeys::hs256(SECRET, &chorus::config::AuthSettings::default()).mint(
        "e2e",
        role,
        &[],
        &[],
        Duration::from_secs(600),
    )
}

/// `n` records of `market`, some with a comment that names a topic; `salt` varies scores.
fn records(market: &str, n: usize, salt: usize, prefix: &str) -> Vec<Value> {
    let (late, dear) = match market {
        "FR" => (
            "La livraison est arrivée en retard, personne ne répond.",
            "La facture est trop chère.",
        ),
        "ES" => (
            "La entrega llegó tarde y nadie contesta.",
            "La factura es muy cara.",
        ),
        "PL" => (
            "Dostawa przyszła za późno, nikt nie odpowiada.",
            "Rachunek jest za drogi.",
        ),
        _ => (
            "Die Lieferung kam zu spät und niemand antwortet.",
            "Die Rechnung ist zu teuer.",
        ),
    };
    (0..n)
        .map(|i| {
            let day = 1 + (i * 7 + salt) % 170;
            let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
                + chrono::Days::new(day as u64);
            // Price complaints come with lower scores: the driver model has something to find.
            let dear_too = i % 5 < 2;
            let nps = if dear_too {
                (i * 3 + salt) % 7
            } else {
                (i * 3 + salt) % 11
            };
            let mut record = json!({
                "external_id": format!("{prefix}{i}"),
                "occurred_at": format!("{date}T10:00:00Z"),
                "nps": nps,
                "attributes": {"customer_id": format!("c-{}", i % 40)},
            });
            match (i % 3, dear_too) {
                (0, _) => {}
                (1, true) => record["text"] = json!(format!("{late} {dear}")),
                (1, false) => record["text"] = json!(late),
                (_, true) => record["text"] = json!(dear),
                (_, false) => record["text"] = json!("Ok."),
            }
            record
        })
        .collect()
}

/// Waits until headquarters applied everything the regions published and their outboxes
/// are empty.
async fn converged(hq: &Node, regions: &[(&str, &Node)]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, federation) = hq.get("/api/v1/federation").await;
        let mut done = true;
        for (name, region) in regions {
            let (status, body) = region.get("/api/v1/federation").await;
            assert_eq!(status, 200, "{body}");
            let published = body["outbox"]["published_seq"].as_i64().unwrap();
            let applied = federation["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["node"] == *name)
                .map_or(0, |n| n["last_seq"].as_i64().unwrap());
            done &= body["outbox"]["depth"] == 0 && applied == published && published > 0;
        }
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "headquarters did not converge: {federation}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An answer without headquarters' `as_of`, for comparison with a standalone node's.
fn without_as_of(mut body: Value) -> Value {
    body.as_object_mut().unwrap().remove("as_of");
    body
}

#[tokio::test]
async fn headquarters_holds_exactly_the_sum_of_the_regions() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path());
    let url = nats.url();
    let hq = Node::new(dir.path(), "hq", &config("hq", "hq", &url, None));
    let west = Node::new(
        dir.path(),
        "west",
        &config("regional", "west", &url, Some(Some("west"))),
    );
    let east = Node::new(
        dir.path(),
        "east",
        &config("regional", "east", &url, Some(Some("east"))),
    );
    let mut all = Node::new(
        dir.path(),
        "all",
        &config("standalone", "", &url, Some(None)),
    );

    for (market, region) in [("FR", &west), ("ES", &west), ("PL", &east), ("DE", &east)] {
        let lower = market.to_lowercase();
        for (channel, salt) in [("web", 1), ("app", 5)] {
            let batch = records(market, 1_500, salt, &format!("{channel}-"));
            region.push(&format!("{lower}-{channel}"), &batch).await;
            all.push(&format!("{lower}-{channel}"), &batch).await;
        }
    }
    // An update in each region (edited answers replace the stored ones) and an erasure.
    for (market, region) in [("FR", &west), ("PL", &east)] {
        let changed = records(market, 200, 9, "web-");
        region
            .push(&format!("{}-web", market.to_lowercase()), &changed)
            .await;
        all.push(&format!("{}-web", market.to_lowercase()), &changed)
            .await;
    }
    // A customer answers in every market, so the erasure runs in every region.
    for customer in ["c-7", "c-8"] {
        for region in [&west, &east] {
            let erased = region.erase("customer_id", customer).await;
            assert!(erased["records"].as_u64().unwrap() > 0, "{erased}");
        }
        all.erase("customer_id", customer).await;
    }

    converged(&hq, &[("west", &west), ("east", &east)]).await;

    // Headquarters answers as a node holding all the data does.
    for path in [
        "/api/v1/nps?group_by=market,channel,month",
        "/api/v1/compare?measure=nps&from=2026-01-01&to=2026-06-30",
        "/api/v1/trends?measure=nps&from=2026-01&to=2026-06",
        "/api/v1/topics",
    ] {
        let (status, at_hq) = hq.get(path).await;
        assert_eq!(status, 200, "{path}: {at_hq}");
        let as_of = at_hq["as_of"].as_object().expect("headquarters says as_of");
        assert!(
            as_of.contains_key("PL") || path.contains("topics"),
            "{path}: {at_hq}"
        );
        let (_, standalone) = all.get(path).await;
        assert_eq!(without_as_of(at_hq), standalone, "{path}");
    }
    // Key drivers, every market and all together: a global market's from its replicated
    // records, a regional one's from the counts its region ships (never its records).
    let drivers = "/api/v1/drivers?bootstrap=0&min_mentions=5";
    for markets in ["FR", "ES", "DE", "PL", "DE,ES", ""] {
        let path = format!("{drivers}&markets={markets}");
        let (status, at_hq) = hq.get(&path).await;
        assert_eq!(status, 200, "{path}: {at_hq}");
        let (_, standalone) = all.get(&path).await;
        assert_eq!(at_hq, standalone, "{path}");
        let modelled = at_hq["markets"].as_array().unwrap();
        assert!(
            !modelled.is_empty() && modelled.iter().all(|m| m["n"].as_u64() > Some(0)),
            "{path}: {at_hq}"
        );
        assert!(
            modelled
                .iter()
                .any(|m| !m["drivers"].as_array().unwrap().is_empty()),
            "{path}: no model to compare: {at_hq}"
        );
    }

    // Records: global markets are replicated, redacted; the others stay in their region.
    let (status, body) = hq.get("/api/v1/records?markets=ES").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "residency");
    assert_eq!(body["node_url"], "https://west.example");
    let (status, at_hq) = hq.get("/api/v1/records?markets=FR&limit=500").await;
    assert_eq!(status, 200, "{at_hq}");
    let (_, standalone) = all.get("/api/v1/records?markets=FR&limit=500").await;
    assert_eq!(at_hq, standalone);
    let (_, unnamed) = hq.get("/api/v1/records?limit=500").await;
    assert!(unnamed["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["market"] == "FR"));

    // The cubes, read from the files: headquarters = west + east = the standalone node.
    let mut hq = hq;
    let (mut west, mut east) = (west, east);
    let at_hq = hq.cube_totals();
    let mut summed = west.cube_totals();
    for (key, slots) in east.cube_totals() {
        let entry = summed.entry(key).or_insert_with(|| vec![0; slots.len()]);
        entry.iter_mut().zip(&slots).for_each(|(a, b)| *a += b);
    }
    summed.retain(|_, slots| slots.iter().any(|&n| n != 0));
    assert!(!at_hq.is_empty());
    assert_eq!(at_hq, summed);
    assert_eq!(at_hq, all.cube_totals());
    // Residency, checked on headquarters' file itself: no record of a regional market.
    let warehouse = Warehouse::open(&hq.database).unwrap();
    let stored = warehouse.market_record_counts().unwrap();
    assert_eq!(stored.keys().collect::<Vec<_>>(), vec!["FR"], "{stored:?}");
    assert_eq!(warehouse.original_texts().unwrap(), 0);
}

/// Headquarters and the west region (France, global; Spain) on `url`'s NATS.
fn hq_and_west(dir: &Path, url: &str) -> (Node, Node) {
    let hq = Node::new(dir, "hq", &config("hq", "hq", url, None));
    let west = Node::new(
        dir,
        "west",
        &config("regional", "west", url, Some(Some("west"))),
    );
    (hq, west)
}

/// Outages and crashes on the way: NATS stopped while a region ingests, the region killed
/// with messages still in its outbox, headquarters killed while it applies.
#[tokio::test]
async fn nothing_is_lost_or_doubled_through_crashes_and_outages() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start(dir.path());
    let url = nats.url();
    let (mut hq, mut west) = hq_and_west(dir.path(), &url);
    west.push("fr-web", &records("FR", 2_000, 1, "a-")).await;
    converged(&hq, &[("west", &west)]).await;

    // NATS goes away: the region keeps ingesting, says it is degraded, and its outbox grows.
    nats.stop();
    west.push("es-web", &records("ES", 2_000, 2, "b-")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, ready) = west.get("/ready").await;
        if ready["federation"]
            .as_str()
            .unwrap_or("")
            .starts_with("degraded")
        {
            break;
        }
        assert!(Instant::now() < deadline, "never degraded: {ready}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, federation) = west.get("/api/v1/federation").await;
    assert!(
        federation["outbox"]["depth"].as_u64().unwrap() > 0,
        "{federation}"
    );
    let metrics = reqwest::get(format!("{}/metrics", west.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("chorus_federation_outbox_depth"),
        "{metrics}"
    );

    // The region dies between commit and publish; NATS comes back; the region restarts.
    west.kill();
    nats.restart();
    west.start();
    converged(&hq, &[("west", &west)]).await;

    // Headquarters dies while it applies a long stream of batches, and restarts.
    for round in 0..8 {
        west.push(
            "fr-app",
            &records("FR", 1_000, round, &format!("c{round}-")),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let (_, before) = hq.get("/api/v1/federation").await;
    let seq_before = before["nodes"][0]["last_seq"].as_i64().unwrap();
    loop {
        let (_, now) = hq.get("/api/v1/federation").await;
        if now["nodes"][0]["last_seq"].as_i64().unwrap() > seq_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "headquarters applies nothing: {now}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hq.kill();
    hq.start();
    converged(&hq, &[("west", &west)]).await;

    let at_hq = hq.cube_totals();
    assert_eq!(at_hq, west.cube_totals());
}

/// The comments of every record that the messages in the JetStream stream carry.
async fn texts_in_stream(nats: &Nats) -> Vec<String> {
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("CHORUS_E2E").await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    let mut texts = Vec::new();
    for seq in state.first_sequence..=state.last_sequence {
        let Ok(message) = stream.get_raw_message(seq).await else {
            continue; // erased
        };
        let change = chorus::federation::message::Change::decode_own(&message.payload).unwrap();
        texts.extend(change.records.into_iter().filter_map(|r| r.text));
    }
    texts
}

/// A record of France (a global market: its redacted records travel to headquarters).
fn global_record(id: &str, customer: &str, text: &str) -> Value {
    json!({"external_id": id, "occurred_at": "2026-03-02T10:00:00Z", "nps": 4, "text": text,
           "attributes": {"customer_id": customer}})
}

/// Erasure reaches everything a region shipped: headquarters' copy and file, the JetStream
/// stream, and messages still waiting in the outbox while NATS was down.
#[tokio::test]
async fn erased_records_leave_headquarters_and_the_stream_and_unsent_ones_never_arrive() {
    use crate::helpers::{file_holds, stop_cleanly};
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start(dir.path());
    let url = nats.url();
    let (mut hq, mut west) = hq_and_west(dir.path(), &url);
    let (shipped, unsent, kept) = (
        "Wombat-Lieferung komplett verloren",
        "Capybara-Paket nie angekommen",
        "Tout est parfait",
    );

    // Shipped, applied at headquarters, then erased in the region.
    west.push(
        "fr-web",
        &[
            global_record("g-1", "cust-wombat", shipped),
            global_record("g-2", "cust-other", kept),
        ],
    )
    .await;
    converged(&hq, &[("west", &west)]).await;
    assert!(texts_in_stream(&nats).await.iter().any(|t| t == shipped));
    let (_, at_hq) = hq.get("/api/v1/records?markets=FR&limit=500").await;
    assert!(at_hq.to_string().contains("Wombat"), "{at_hq}");
    west.erase("customer_id", "cust-wombat").await;

    // Pushed and erased while NATS is down: the message waiting in the outbox loses it.
    nats.stop();
    west.push("fr-web", &[global_record("g-3", "cust-capybara", unsent)])
        .await;
    west.erase("customer_id", "cust-capybara").await;
    nats.restart();
    converged(&hq, &[("west", &west)]).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let texts = texts_in_stream(&nats).await;
        assert!(
            !texts.iter().any(|t| t == unsent),
            "the unsent record was shipped"
        );
        if !texts.iter().any(|t| t == shipped) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the erased record stays in the stream: {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, at_hq) = hq.get("/api/v1/records?markets=FR&limit=500").await;
    let shown = at_hq.to_string();
    assert!(
        !shown.contains("Wombat") && !shown.contains("Capybara"),
        "{shown}"
    );
    assert!(shown.contains(kept), "{shown}");

    // The files, after clean stops, and the stream's store on disk. Messages are deflated, so
    // the store scan only catches a plain-text copy; the check that counts for the stream is
    // `texts_in_stream` above, which inflates every message left.
    for node in [&mut hq, &mut west] {
        stop_cleanly(node.process.take().unwrap());
        for text in [shipped, unsent] {
            assert!(
                !file_holds(&node.database, text),
                "{text} is in {}",
                node.database.display()
            );
        }
    }
    nats.stop();
    let mut files = vec![nats.store.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            for text in [shipped, unsent, "Wombat", "Capybara"] {
                assert!(!file_holds(&path, text), "{text} is in {}", path.display());
            }
        }
    }
}

/// Waits until every connector instance of `node` has finished a run.
async fn runs_finished(node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = node.get("/api/v1/connectors").await;
        assert_eq!(status, 200, "{body}");
        let done =
            body["connectors"].as_array().unwrap().iter().all(|c| {
                !c["running"].as_bool().unwrap() && c["last_run"]["finished_at"].is_string()
            });
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "runs did not finish: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The shipped demo, split by `deploy/multi-region/make-configs.py` into two regions and
/// headquarters, answers at headquarters exactly as one node holding the whole demo does
/// (instances that serve markets of both regions included).
#[tokio::test]
async fn the_multi_region_demo_headquarters_answers_as_one_node_with_all_the_demo_data() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path());
    let configs = dir.path().join("configs");
    let made = Command::new("python3")
        .arg(repo_root().join("deploy/multi-region/make-configs.py"))
        .arg(&configs)
        .output()
        .expect("python3 runs");
    assert!(
        made.status.success(),
        "make-configs.py failed (it needs tomli-w: bash deploy/install-test-parts.sh): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = |node: &str| {
        std::fs::read_to_string(configs.join(format!("{node}.toml")))
            .unwrap()
            .replace("nats://127.0.0.1:4222", &nats.url())
            // The test's nats-server asks for no credentials.
            .replace("user_env = \"CHORUS_NATS_USER\"\n", "")
            .replace("password_env = \"CHORUS_NATS_PASSWORD\"\n", "")
    };
    let hq = Node::new(dir.path(), "hq", &config("hq"));
    let central = Node::new(dir.path(), "central", &config("central"));
    let west = Node::new(dir.path(), "west", &config("west"));
    let root = repo_root();
    let demo = std::fs::read_to_string(root.join("config/chorus.toml"))
        .unwrap()
        .replace("\"config/", &format!("\"{}/config/", root.display()));
    let all = Node::new(dir.path(), "all", &demo);

    for node in [&central, &west, &all] {
        runs_finished(node).await;
    }
    converged(&hq, &[("central", &central), ("west", &west)]).await;
    for path in [
        "/api/v1/compare?from=2026-08-01&to=2026-10-31",
        "/api/v1/compare?programme=relational&from=2026-08-01&to=2026-10-31",
        "/api/v1/nps?group_by=market,channel",
        "/api/v1/csat?group_by=market,channel,month",
    ] {
        let (status, at_hq) = hq.get(path).await;
        assert_eq!(status, 200, "{path}: {at_hq}");
        let (_, standalone) = all.get(path).await;
        assert_eq!(without_as_of(at_hq), standalone, "{path}");
    }
}
