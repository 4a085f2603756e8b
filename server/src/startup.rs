//! Builds the application from settings: warehouse, plugins, ingest, scheduler, HTTP server.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, Service};
use actix_web::middleware::ErrorHandlers;
use actix_web::{web, App, HttpServer};
use tokio::task::JoinHandle;
use tracing_actix_web::TracingLogger;

use crate::auth::AuthKeys;
use crate::catalog::Catalog;
use crate::config::{PluginSettings, Settings};
use crate::counters::Counters;
use crate::error::{house_format, json_error, not_found, path_error, query_error};
use crate::events::StreamSlots;
use crate::federation::{self, FederationStatus, NodeRole};
use crate::ingest::{scheduler, Ingestor, TextStage};
use crate::login::LoginCodes;
use crate::plugins::{HostLimits, PluginRegistry};
use crate::routes::{self, TopicList};
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::Warehouse;
use crate::webhooks;

/// A built, bound, not yet running application.
pub struct Application {
    port: u16,
    server: Server,
    scheduler: Vec<JoinHandle<()>>,
    ingestor: Arc<Ingestor>,
    warehouse: Arc<Warehouse>,
    login_codes: Arc<LoginCodes>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The default plugin folder: next to the running executable, where `cargo build` puts both.
pub fn default_plugin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// How plugin host children are started and bounded: the configured `chorus` binary, or
/// the running one.
///
/// # Errors
/// When no binary is configured and the running one cannot be found.
pub fn host_limits(plugins: &PluginSettings) -> anyhow::Result<HostLimits> {
    let binary = match &plugins.host_binary {
        Some(binary) => binary.clone(),
        None => std::env::current_exe()
            .map_err(|e| anyhow::anyhow!("the running executable, to start plugin hosts: {e}"))?,
    };
    Ok(HostLimits {
        binary,
        call_limit: Duration::from_secs(plugins.call_timeout_seconds),
        memory_limit_mb: plugins.memory_limit_mb,
        pass_env: plugins.host_env.clone(),
    })
}

impl Application {
    /// Opens the warehouse, binds the listener and starts the connector schedule.
    ///
    /// # Errors
    /// When the warehouse cannot be opened or the address cannot be bound.
    pub async fn build(settings: Settings, jwt_secret: &[u8]) -> anyhow::Result<Application> {
        let settings = Arc::new(settings);
        let opening = settings.clone();
        let warehouse = Arc::new(
            spawn_blocking_with_tracing(move || crate::federation::open_warehouse(&opening))
                .await??,
        );
        let misdated = warehouse.misdated_records(&settings.dates)?;
        if misdated > 0 {
            tracing::warn!(
                records = misdated,
                dates = %settings.dates,
                "records dated outside the accepted range (stored by an earlier version); \
                 stop the server and run `chorus verify --quarantine`"
            );
        }
        let catalog = Arc::new(Catalog::new(&settings));
        let served_document =
            web::Data::new(routes::served_document::ServedDocument::new(&catalog));
        let taxonomy = settings.text.load_taxonomy()?;
        if let Some(taxonomy) = &taxonomy {
            tracing::info!(topics = taxonomy.topics.len(), "topic taxonomy loaded");
        }
        let text = Arc::new(
            TextStage::new(&settings.text, taxonomy.as_ref()).map_err(anyhow::Error::msg)?,
        );
        let topic_list = web::Data::new(TopicList(
            taxonomy
                .iter()
                .flat_map(|t| &t.topics)
                .map(|t| (t.id.clone(), t.name.clone()))
                .collect(),
        ));
        let text_settings = web::Data::new(settings.text.clone());
        let plugin_dir = settings
            .plugins
            .dir
            .clone()
            .unwrap_or_else(default_plugin_dir);
        tracing::info!(dir = %plugin_dir.display(), "plugin folder");
        let plugins = Arc::new(PluginRegistry::new(
            plugin_dir,
            settings.plugins.isolation,
            host_limits(&settings.plugins)?,
        ));
        let counters = Arc::new(Counters::default());
        let ingestor = Arc::new(Ingestor::new(
            settings.clone(),
            catalog.clone(),
            text,
            warehouse.clone(),
            plugins,
            counters.clone(),
        ));

        let listener = TcpListener::bind(&settings.server.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let keys = web::Data::new(
            AuthKeys::hs256(jwt_secret, &settings.auth)
                .with_providers(&settings.auth)
                .map_err(anyhow::Error::msg)?,
        );
        let max_body = settings.server.max_body_bytes;
        let analysis = web::Data::new(settings.analysis.clone());
        let dates = web::Data::new(settings.dates);
        let (warehouse_data, ingestor_data) = (warehouse.clone(), ingestor.clone());
        let login_codes = Arc::new(LoginCodes::default());
        let login_codes_data = web::Data::new(login_codes.clone());
        let stream_slots = web::Data::new(Arc::new(StreamSlots::default()));
        let metrics_access = web::Data::new(routes::health::MetricsAccess::new(
            settings.server.metrics_token.clone(),
        ));
        let federation_status = Arc::new(FederationStatus::new(settings.federation.role));
        let federation_data = web::Data::new(federation_status.clone());
        let body_timeout = Duration::from_secs(settings.server.body_timeout_seconds.max(1));
        let server = HttpServer::new(move || {
            let counters_for_requests = counters.clone();
            App::new()
                .wrap_fn(move |mut req, service| {
                    crate::body_deadline::limit_body(&mut req, body_timeout);
                    service.call(req)
                })
                .wrap_fn(move |req, service| {
                    let counters = counters_for_requests.clone();
                    // The route's template, so the histogram has one series per route.
                    let route = req
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".to_owned());
                    let started = std::time::Instant::now();
                    let response = service.call(req);
                    async move {
                        let response = response.await?;
                        counters.count_response(response.status().as_u16());
                        counters.observe_request(&route, started.elapsed());
                        Ok(response)
                    }
                })
                .wrap(ErrorHandlers::new().default_handler(house_format))
                .wrap(TracingLogger::default())
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(json_error),
                )
                .app_data(web::PathConfig::default().error_handler(path_error))
                .app_data(web::PayloadConfig::new(max_body))
                .app_data(keys.clone())
                .app_data(web::Data::new(catalog.clone()))
                .app_data(served_document.clone())
                .app_data(web::Data::new(warehouse_data.clone()))
                .app_data(web::Data::new(ingestor_data.clone()))
                .app_data(web::Data::new(counters.clone()))
                .app_data(analysis.clone())
                .app_data(topic_list.clone())
                .app_data(text_settings.clone())
                .app_data(dates.clone())
                .app_data(login_codes_data.clone())
                .app_data(stream_slots.clone())
                .app_data(metrics_access.clone())
                .app_data(federation_data.clone())
                .configure(routes::configure)
                .default_service(web::to(not_found))
        })
        .listen(listener)?
        .run();
        let mut scheduler = scheduler::spawn(&ingestor);
        let endpoints =
            webhooks::deliverer::endpoints(&settings.webhooks, |name| std::env::var(name).ok())
                .map_err(anyhow::Error::msg)?;
        let subscriptions: Vec<(String, String)> = settings
            .webhooks
            .iter()
            .flat_map(|w| w.events.iter().map(|e| (w.id.clone(), e.clone())))
            .collect();
        warehouse.set_webhook_subscriptions(&subscriptions)?;
        scheduler.push(crate::alerting::spawn(
            warehouse.clone(),
            settings.analysis.thresholds(),
            settings.alerts.interval_seconds,
        ));
        if !endpoints.is_empty() {
            scheduler.push(webhooks::deliverer::spawn(
                warehouse.clone(),
                endpoints,
                settings.webhook_delivery.clone(),
            ));
        }
        match settings.federation.role {
            NodeRole::Standalone => {}
            NodeRole::Regional => scheduler.push(federation::publisher::spawn(
                warehouse.clone(),
                settings.federation.clone(),
                federation_status.clone(),
            )),
            NodeRole::Hq => scheduler.push(federation::consumer::spawn(
                warehouse.clone(),
                settings.federation.clone(),
                federation::expectations(&settings),
                federation_status.clone(),
            )),
        }
        scheduler.push(crate::escalation::spawn(
            warehouse.clone(),
            settings.cases.escalation_interval_seconds,
        ));
        Ok(Application {
            port,
            server,
            scheduler,
            ingestor,
            warehouse,
            login_codes,
        })
    }

    /// The bound port (useful when the configuration asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The ingestor, for callers that drive runs directly (the benchmark).
    pub fn ingestor(&self) -> Arc<Ingestor> {
        self.ingestor.clone()
    }

    /// The one-time sign-in codes of the dashboard: `serve` issues one for the URL it prints.
    pub fn login_codes(&self) -> Arc<LoginCodes> {
        self.login_codes.clone()
    }

    /// The warehouse, for callers that query it directly (the benchmark).
    pub fn warehouse(&self) -> Arc<Warehouse> {
        self.warehouse.clone()
    }

    /// Serves until the server is stopped (SIGINT / SIGTERM), then stops the schedule.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in &self.scheduler {
            task.abort();
        }
        for task in self.scheduler {
            let _ = task.await;
        }
        tracing::info!("server stopped");
        drop(self.ingestor);
        rewrite_after_erasures(self.warehouse).await;
        result
    }
}

/// How long a clean stop waits for requests and runs still holding the warehouse.
const LAST_USERS_WAIT: Duration = Duration::from_secs(30);

/// After the last user of the warehouse let go, rewrites its file without the free blocks
/// that erased data left (see `warehouse::rewrite_file`), if any erasure left some.
async fn rewrite_after_erasures(mut warehouse: Arc<Warehouse>) {
    if !warehouse.rewrite_pending().unwrap_or(false) {
        return;
    }
    let path = warehouse.path().to_owned();
    let deadline = tokio::time::Instant::now() + LAST_USERS_WAIT;
    loop {
        match Arc::try_unwrap(warehouse) {
            Ok(only) => {
                drop(only);
                break;
            }
            Err(shared) if tokio::time::Instant::now() < deadline => {
                warehouse = shared;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => {
                tracing::error!(file = %path.display(),
                    "still in use after 30 s: erased data stays in the file's free blocks \
                     until the next start or `chorus compact`");
                return;
            }
        }
    }
    tracing::info!(file = %path.display(), "rewriting the warehouse without erased data");
    let rewrite = tokio::task::spawn_blocking(move || crate::warehouse::rewrite_file(&path, false));
    match rewrite.await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "the warehouse was not rewritten"),
        Err(e) => tracing::error!(error = %e, "the warehouse rewrite failed"),
    }
}
