//! The HTTP face of swirl (`swirl serve`): the only crate that knows HTTP
//! and the CloudEvents wire formats.
//!
//! ```text
//!  POST /events, POST /  ──▶ ingress (decode, check) ──▶ events ──▶ Engine::deliver ──▶ 202
//!  /deliveries, /buffered-events ──▶ deliveries (recent deliveries ring; the store's buffered events)
//!  /workflows, /instances ─▶ admin ──▶ Engine
//!  POST /apps, DELETE     ──▶ apps ──▶ Deployments (checked whole, recorded, then current)
//!  /functions            ──▶ admin ──▶ FunctionHost (blocking pool) ──▶ logs ring
//!  /functions/{name}/aliases, rollback, versions ──▶ versions ──▶ Deployments (lifecycle)
//!  engine outbox (produced / emitted events) ──▶ sinks (durable queue, HTTP binary mode, dead letters)
//!  /metrics, /healthz, /openapi.json
//!  GET /backup           ──▶ backup (the store's backup, streamed)
//!  /ui/                  ──▶ ui (the web console's embedded assets; it reads the admin API)
//! ```
//!
//! Every API route is declared once, in [`routes`], with the access it needs;
//! [`app`] builds the router from that table and a test checks the OpenAPI
//! document against it. Handlers can be tested without a socket through
//! [`app`]; [`serve`] runs it on a listener until a shutdown signal.

// Nothing a network peer, an event sender or a guest sends may panic the
// server: outside tests, `unwrap`, `expect` and `panic!` are refused here, and
// each remaining one carries an `allow` with the reason it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod apps;
pub mod auth;
pub mod backup;
pub mod connections;
pub mod deliveries;
pub mod error;
pub mod events;
pub mod header_value;
pub mod ingress;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod retention;
pub mod sinks;
pub mod traces;
pub mod ui;
pub mod versions;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, Path, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use auth::Tokens;
use connections::ConnectionLimits;
use deliveries::RecentDeliveries;
use error::{ApiError, blocking};
use ingress::IngressLimits;
use logs::InvocationLogs;
use metrics::Metrics;
use sinks::Sinks;
use swirl_app::deployment::Deployments;
use swirl_app::manifest::Manifest;
use swirl_core::trace_context::TraceContext;
use swirl_engine::Engine;
use swirl_engine::outbox::{ActionCall, EngineObserver, OutboxEvent};
use swirl_function::{EmittedEvent, FunctionHost};
use swirl_store::{Store, StoreError};
use swirl_telemetry::Telemetry;
use swirl_workflow::WorkflowDefinition;

/// Largest admin request body (a workflow's or a function's input).
pub const ADMIN_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How the server behaves, as `swirl serve` resolved its flags.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub ingress_limits: IngressLimits,
    pub tokens: Tokens,
    /// How long `?wait=true` waits before answering `202` with a running instance.
    pub wait_limit: Duration,
    /// Largest `POST /apps` body (a manifest with its components).
    pub deploy_body_bytes: usize,
    pub connection_limits: ConnectionLimits,
    /// How often function versions nothing uses any more are looked for and
    /// unloaded (at least [`MIN_UNLOAD_INTERVAL`]).
    pub unload_interval: Duration,
    /// How long finished instances, seen marks, buffered events and dead
    /// letters are kept, and how often the sweep runs.
    pub retention: retention::Retention,
    /// Dead letters kept at most; the oldest go first.
    pub max_dead_letters: usize,
    /// Where spans go, when traces are on (`OTEL_EXPORTER_OTLP_*`); the
    /// engine's tracer too, set by whoever made the engine.
    pub telemetry: Option<Arc<Telemetry>>,
    /// Deliveries of events sent in that `GET /deliveries` remembers; the
    /// oldest go first.
    pub recent_deliveries: usize,
}

/// The shortest `unload_interval`: each sweep that finds a candidate reads
/// every instance record.
pub const MIN_UNLOAD_INTERVAL: Duration = Duration::from_secs(1);

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ingress_limits: IngressLimits::default(),
            tokens: Tokens::default(),
            wait_limit: Duration::from_secs(60),
            deploy_body_bytes: apps::DEFAULT_DEPLOY_BODY_BYTES,
            connection_limits: ConnectionLimits::default(),
            unload_interval: Duration::from_secs(60),
            retention: retention::Retention::default(),
            max_dead_letters: sinks::DEFAULT_MAX_DEAD_LETTERS,
            telemetry: None,
            recent_deliveries: deliveries::DEFAULT_RECENT_DELIVERIES,
        }
    }
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    host: Arc<FunctionHost>,
    store: Store,
    deployments: Deployments,
    config: ServerConfig,
    metrics: Arc<Metrics>,
    logs: Arc<InvocationLogs>,
    deliveries: RecentDeliveries,
    sinks: Sinks,
    /// Raised when the store can no longer write (disk full, data directory
    /// gone or read-only): sled cannot write again through the same handle,
    /// so [`serve`] stops with [`Stopped::StorageLost`] and the caller
    /// reopens the store once the directory takes writes.
    storage_lost: tokio::sync::Notify,
}

impl FromRef<ServerState> for IngressLimits {
    fn from_ref(state: &ServerState) -> Self {
        state.shared.config.ingress_limits
    }
}

impl ServerState {
    /// State for the apps deployed through `deployments` (into its host and
    /// engine); `manifests` give the sinks. Starts the sink dispatcher (which
    /// resumes the sink queue) and becomes the engine's observer, which
    /// drains the outbox, so it must run inside a tokio runtime.
    pub fn new(
        engine: Engine,
        host: Arc<FunctionHost>,
        store: Store,
        deployments: Deployments,
        manifests: &[Manifest],
        config: ServerConfig,
    ) -> Result<Self, StoreError> {
        let sink_list = manifests
            .iter()
            .map(|manifest| (manifest.app_name.clone(), manifest.sinks.clone()))
            .collect();
        let metrics = Arc::new(Metrics::default());
        let sinks = Sinks::start(
            sink_list,
            store.clone(),
            metrics.clone(),
            config.max_dead_letters,
            config.telemetry.clone(),
        )?;
        let logs = Arc::new(InvocationLogs::default());
        unload_periodically(deployments.clone(), config.unload_interval);
        engine.set_observer(Arc::new(Observer {
            sinks: sinks.clone(),
            logs: logs.clone(),
        }));
        let state = ServerState {
            shared: Arc::new(Shared {
                engine,
                host,
                store,
                deployments,
                deliveries: RecentDeliveries::new(config.recent_deliveries),
                config,
                metrics,
                logs,
                sinks,
                storage_lost: tokio::sync::Notify::new(),
            }),
        };
        retention::sweep_periodically(state.clone(), state.config().retention);
        Ok(state)
    }

    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }
    pub fn host(&self) -> &Arc<FunctionHost> {
        &self.shared.host
    }
    pub fn store(&self) -> &Store {
        &self.shared.store
    }
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }
    pub fn logs(&self) -> &InvocationLogs {
        &self.shared.logs
    }
    /// The recent deliveries of events sent in.
    pub fn deliveries(&self) -> &RecentDeliveries {
        &self.shared.deliveries
    }
    pub fn sinks(&self) -> &Sinks {
        &self.shared.sinks
    }
    pub fn deployments(&self) -> &Deployments {
        &self.shared.deployments
    }
    /// Where spans go, when traces are on.
    pub fn telemetry(&self) -> Option<&Telemetry> {
        self.shared.config.telemetry.as_deref()
    }
    /// The definitions new instances start with, by workflow id.
    pub fn definitions(&self) -> BTreeMap<String, WorkflowDefinition> {
        self.engine()
            .workflows()
            .into_iter()
            .map(|(id, workflow)| (id, workflow.definition.clone()))
            .collect()
    }
    pub fn function_config(&self, name: &str) -> BTreeMap<String, String> {
        self.host().config(name).unwrap_or_default()
    }

    /// Puts the events a direct call of `function` emitted into the
    /// engine's outbox (routed to workflows, then to the sinks); returns
    /// once they are durable.
    pub async fn emitted(
        &self,
        function: &str,
        events: &[EmittedEvent],
        trace: Option<&TraceContext>,
    ) -> Result<(), ApiError> {
        let now = swirl_core::time::now_ms();
        let events = events
            .iter()
            .map(|event| {
                let mut event = OutboxEvent::emitted(function, event.clone(), now);
                // One that names a span of its own keeps it.
                if let Some(trace) = trace
                    && !event.extensions.contains_key("traceparent")
                {
                    trace.set_extensions(&mut event.extensions);
                }
                event
            })
            .collect();
        Ok(self.engine().produce(events).await?)
    }
}

/// Unloads, every `period`, the function versions whose last instance has
/// ended since a deployment or an alias change last looked (those look
/// themselves). Runs as long as the tokio runtime it was spawned on.
fn unload_periodically(deployments: Deployments, period: Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period.max(MIN_UNLOAD_INTERVAL));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let deployments = deployments.clone();
            let _ = tokio::task::spawn_blocking(move || deployments.sweep()).await;
        }
    });
}

/// What the server hears from the engine: workflow actions' calls go to
/// the logs ring, produced events to the sinks.
struct Observer {
    sinks: Sinks,
    logs: Arc<InvocationLogs>,
}

impl EngineObserver for Observer {
    fn action(&self, call: ActionCall<'_>) {
        // A call through an alias (`greet@canary`) is a call of its function.
        let function = swirl_core::function_ref::split(call.function).0;
        logs::to_server_log(
            function,
            call.invocation,
            Some((call.instance_id, call.state)),
        );
        self.logs
            .record_action(function, call.invocation, call.instance_id, call.state);
    }

    fn produced(&self, event: &OutboxEvent, outbox_key: &[u8]) -> Result<(), String> {
        self.sinks
            .hand_off(event, outbox_key)
            .map_err(|error| error.to_string())
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health checks and the API description.
    Public,
    /// The event ingress: the ingress token (or the admin token) when one is set.
    Ingress,
    /// The admin API: the admin token when one is set.
    Admin,
}

/// One route: access, method, path (axum syntax) and handler.
pub struct Route {
    pub access: Access,
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<ServerState>,
}

/// Every route of the server, once.
pub fn routes() -> Vec<Route> {
    use Access::{Admin, Ingress, Public};
    let route = |access, method: Method, path, handler| Route {
        access,
        method,
        path,
        handler,
    };
    vec![
        route(Public, Method::GET, "/healthz", get(healthz)),
        route(Public, Method::GET, "/openapi.json", get(openapi_json)),
        route(Ingress, Method::POST, "/events", post(events::receive)),
        route(Ingress, Method::POST, "/", post(events::receive)),
        route(Admin, Method::GET, "/metrics", get(metrics_text)),
        route(Admin, Method::GET, "/backup", get(backup::backup)),
        route(
            Admin,
            Method::POST,
            "/apps",
            // The handler reads its body through its own, larger limit.
            post(apps::deploy_app).layer(DefaultBodyLimit::disable()),
        ),
        route(Admin, Method::GET, "/workflows", get(admin::list_workflows)),
        route(
            Admin,
            Method::GET,
            "/workflows/{id}",
            get(admin::get_workflow),
        ),
        route(
            Admin,
            Method::GET,
            "/workflows/{id}/source",
            get(admin::workflow_source),
        ),
        route(
            Admin,
            Method::GET,
            "/workflows/{id}/graph",
            get(admin::workflow_graph),
        ),
        route(
            Admin,
            Method::DELETE,
            "/workflows/{id}",
            delete(apps::delete_workflow),
        ),
        route(
            Admin,
            Method::POST,
            "/workflows/{id}/instances",
            post(admin::start_instance),
        ),
        route(Admin, Method::GET, "/instances", get(admin::list_instances)),
        route(
            Admin,
            Method::GET,
            "/instance-counts",
            get(admin::instance_counts),
        ),
        route(
            Admin,
            Method::GET,
            "/instances/{id}",
            get(admin::get_instance),
        ),
        route(
            Admin,
            Method::GET,
            "/instances/{id}/history",
            get(admin::instance_history),
        ),
        route(
            Admin,
            Method::GET,
            "/instances/{id}/data",
            get(admin::instance_data),
        ),
        route(
            Admin,
            Method::POST,
            "/instances/{id}/cancel",
            post(admin::cancel_instance),
        ),
        route(
            Admin,
            Method::POST,
            "/instances/{id}/suspend",
            post(admin::suspend_instance),
        ),
        route(
            Admin,
            Method::POST,
            "/instances/{id}/resume",
            post(admin::resume_instance),
        ),
        route(Admin, Method::GET, "/functions", get(admin::list_functions)),
        route(
            Admin,
            Method::GET,
            "/functions/{name}",
            get(admin::get_function),
        ),
        route(
            Admin,
            Method::DELETE,
            "/functions/{name}",
            delete(apps::delete_function),
        ),
        route(
            Admin,
            Method::POST,
            "/functions/{name}/invoke",
            post(admin::invoke_function),
        ),
        route(
            Admin,
            Method::GET,
            "/functions/{name}/logs",
            get(admin::function_logs),
        ),
        route(
            Admin,
            Method::GET,
            "/functions/{name}/instances",
            get(admin::function_instances),
        ),
        route(
            Admin,
            Method::GET,
            "/functions/{name}/aliases",
            get(versions::list_aliases),
        ),
        route(
            Admin,
            Method::PUT,
            "/functions/{name}/aliases/{alias}",
            put(versions::put_alias),
        ),
        route(
            Admin,
            Method::DELETE,
            "/functions/{name}/aliases/{alias}",
            delete(versions::delete_alias),
        ),
        route(
            Admin,
            Method::POST,
            "/functions/{name}/rollback",
            post(versions::rollback),
        ),
        route(
            Admin,
            Method::DELETE,
            "/functions/{name}/versions/{version}",
            delete(versions::delete_version),
        ),
        route(
            Admin,
            Method::GET,
            "/deliveries",
            get(deliveries::list_deliveries),
        ),
        route(
            Admin,
            Method::GET,
            "/buffered-events",
            get(deliveries::list_buffered),
        ),
        route(Admin, Method::GET, "/dead-letters", get(list_dead_letters)),
        route(
            Admin,
            Method::GET,
            "/dead-letter-count",
            get(dead_letter_count),
        ),
        route(
            Admin,
            Method::POST,
            "/dead-letters/{id}/replay",
            post(replay_dead_letter),
        ),
        route(
            Admin,
            Method::DELETE,
            "/dead-letters/{id}",
            axum::routing::delete(delete_dead_letter),
        ),
    ]
}

/// The whole HTTP application, without a socket.
pub fn app(state: ServerState) -> Router {
    let mut public = Router::new();
    let mut ingress = Router::new();
    let mut admin = Router::new();
    for route in routes() {
        match route.access {
            Access::Public => public = public.route(route.path, route.handler),
            Access::Ingress => ingress = ingress.route(route.path, route.handler),
            Access::Admin => admin = admin.route(route.path, route.handler),
        }
    }
    let ingress = ingress
        // The ingress reads its body itself, through its own limit.
        .layer(DefaultBodyLimit::disable())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_ingress,
        ));
    let admin = admin
        .layer(DefaultBodyLimit::max(ADMIN_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    // The console's pages are not API: public (they hold no data), and
    // not in the OpenAPI document.
    let console = Router::new()
        .route("/ui", get(ui::redirect))
        .route("/ui/", get(ui::index))
        .route("/ui/assets/{name}", get(ui::asset))
        .route("/ui/{*page}", get(ui::index));
    public
        .merge(console)
        .merge(ingress)
        .merge(admin)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), watch_storage))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// After an answer given because a store write failed, checks whether the
/// store can write at all (a flush); when it cannot, the server stops.
async fn watch_storage(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response
        .extensions()
        .get::<error::StorageFailed>()
        .is_some()
    {
        let store = state.store().clone();
        let flushed = tokio::task::spawn_blocking(move || store.flush()).await;
        if !matches!(flushed, Ok(Ok(()))) {
            state.shared.storage_lost.notify_one();
        }
    }
    response
}

/// Why [`serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The shutdown future completed.
    Shutdown,
    /// The store can no longer write (disk full, data directory gone or
    /// read-only). sled keeps such an error for good, so the caller drops
    /// this server's state, closing the store, and opens it again once the
    /// data directory takes writes ([`serve_unavailable`] answers meanwhile).
    StorageLost,
}

/// Serves `app(state)` on `listener` until `shutdown` completes or the store
/// can no longer write; then stops accepting, gives requests in flight up to
/// `grace` to finish, and makes everything the store holds durable.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Stopped {
    let store = state.store().clone();
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let storage_lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lost = storage_lost.clone();
    let shared = state.shared.clone();
    let shutdown = async move {
        tokio::select! {
            () = shutdown => {},
            () = shared.storage_lost.notified() => {
                lost.store(true, std::sync::atomic::Ordering::Relaxed);
                tracing::error!("the store cannot write; answering 503 until the data directory takes writes again");
            }
        }
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        let _ = stopping_tx.send(());
    };
    let limits = state.config().connection_limits;
    let server = connections::serve(listener, app(state), limits, shutdown);
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => {},
        () = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace = ?grace, "requests still in flight after the grace period; stopping anyway");
        }
    };
    let flushed = tokio::task::spawn_blocking(move || store.flush()).await;
    match flushed {
        Ok(Ok(())) => tracing::info!("store flushed"),
        Ok(Err(error)) => tracing::error!(%error, "cannot flush the store"),
        Err(error) => tracing::error!(%error, "the flush task failed"),
    }
    if storage_lost.load(std::sync::atomic::Ordering::Relaxed) {
        Stopped::StorageLost
    } else {
        Stopped::Shutdown
    }
}

/// Answers every request on `listener` with 503 (and `retry-after`) until
/// `until` completes: what a server whose store cannot write says while it
/// waits for its data directory to take writes again.
pub async fn serve_unavailable(
    listener: TcpListener,
    limits: ConnectionLimits,
    until: impl Future<Output = ()>,
) {
    let unavailable = || async {
        let body = json!({
            "error": "storage is unavailable; retry later (the data directory cannot take writes; the server resumes by itself once it can)"
        });
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "1")],
            Json(body),
        )
    };
    let router = Router::new().fallback(unavailable);
    connections::serve(listener, router, limits, until).await;
}

/// Logs each request with its status and duration; 5xx answers are logged
/// again by [`ApiError`] with their error id.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "error": format!("no route for {method} {}; GET /openapi.json lists the api", uri.path())
        })),
    )
        .into_response()
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn openapi_json() -> Json<Value> {
    Json(openapi::document())
}

async fn metrics_text(State(state): State<ServerState>) -> Result<Response, ApiError> {
    let instances = state.engine().instance_counts()?;
    let host = state.host();
    let functions: Vec<_> = host
        .function_names()
        .into_iter()
        .flat_map(|name| {
            let mut series: Vec<_> = host
                .version_stats(&name)
                .into_iter()
                .map(|stats| metrics::VersionSeries {
                    function: name.clone(),
                    version: state
                        .deployments()
                        .version_number(&name, &stats.version)
                        .map_or_else(|| stats.version.clone(), |number| number.to_string()),
                    stats,
                })
                .collect();
            // Numbers in numeric order: shorter first.
            series.sort_by_key(|series| (series.version.len(), series.version.clone()));
            series
        })
        .collect();
    let sinks = metrics::SinkGauges {
        queued: state.sinks().queued(),
        dead_letters: state.sinks().dead_letter_count(),
    };
    let store = state.store().clone();
    let stats = blocking("store statistics", move || store.stats()).await?;
    let mut text = state.metrics().render(&instances, sinks, &functions);
    text.push_str(&metrics::render_store(&stats));
    text.push_str(&metrics::render_traces(
        state.telemetry().map(Telemetry::stats),
    ));
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `GET /dead-letters`: every dead letter, or the first `limit`.
async fn list_dead_letters(
    State(state): State<ServerState>,
    Query(query): Query<admin::LimitQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = admin::page_limit(query.limit.as_deref(), usize::MAX, admin::MAX_PAGE)?;
    let sinks = state.sinks().clone();
    let letters = blocking("dead-letter listing", move || sinks.dead_letters(limit)).await?;
    Ok(Json(json!(letters)))
}

/// `GET /dead-letter-count`: how many dead letters there are, kept as they
/// come and go, for the console's poll.
async fn dead_letter_count(State(state): State<ServerState>) -> Json<Value> {
    Json(json!({ "count": state.sinks().dead_letter_count() }))
}

async fn replay_dead_letter(
    State(state): State<ServerState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let sinks = state.sinks().clone();
    let letter = id.clone();
    blocking("replay", move || sinks.replay(&letter)).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "replayed": id }))).into_response())
}

async fn delete_dead_letter(
    State(state): State<ServerState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let sinks = state.sinks().clone();
    let letter = id.clone();
    blocking("delete", move || sinks.delete(&letter)).await?;
    Ok(Json(json!({ "deleted": id })).into_response())
}
