//! `swirl serve`: runs the apps of some manifests behind the HTTP server
//! (`swirl_server`) until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use swirl_app::deployment::{DeployError, Deployments};
use swirl_app::manifest::Manifest;
use swirl_engine::{Engine, EngineConfig, PoolConfig};
use swirl_function::FunctionHost;
use swirl_server::auth::Tokens;
use swirl_server::connections::ConnectionLimits;
use swirl_server::ingress::IngressLimits;
use swirl_server::retention::Retention;
use swirl_server::{ServerConfig, ServerState, Stopped};
use swirl_store::{FlushPolicy, Store};
use swirl_telemetry::Telemetry;

use super::{DataDir, Outcome, report_manifest_errors};

/// Run apps as a server: CloudEvents ingress, admin API, event sinks
///
/// Restores the apps the data directory recorded, deploys (and records) the
/// manifests given, resumes unfinished instances, and serves HTTP until
/// SIGTERM or SIGINT; then stops accepting, lets requests in flight finish
/// (up to --shutdown-grace) and flushes the store. When the data directory
/// stops taking writes (disk full), answers 503 and resumes by itself once
/// it takes writes again. Prints `listening on http://ADDR` on stderr once
/// it accepts.
/// SWIRL_ADMIN_TOKEN and SWIRL_INGRESS_TOKEN, when set, are the bearer
/// tokens of the admin API and of the event ingress.
/// OTEL_EXPORTER_OTLP_ENDPOINT (and the other standard OTEL_* variables),
/// when set, turns on OpenTelemetry traces, exported with OTLP/HTTP.
///
/// Example: swirl serve examples/event-based-greeting/swirl.toml --listen 127.0.0.1:8080
#[derive(clap::Args)]
pub struct Args {
    /// App manifests (swirl.toml) to deploy
    manifests: Vec<PathBuf>,
    /// Address to listen on; port 0 picks a free port
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    data_dir: DataDir,
    /// Largest ingress request body in bytes (never below 65536)
    #[arg(long, value_name = "BYTES", default_value_t = IngressLimits::DEFAULT_BODY_BYTES)]
    max_event_bytes: usize,
    /// Most events in one batch-mode request
    #[arg(long, value_name = "N", default_value_t = IngressLimits::DEFAULT_BATCH_EVENTS)]
    max_batch_events: usize,
    /// How long a (source, id) pair is remembered: a redelivery within it is a duplicate; then its mark is deleted
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    dedup_retention: Duration,
    /// How long an event that no instance waits for yet is kept; then it is deleted
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    buffer_retention: Duration,
    /// Most events kept until an instance waits for them; one more is answered 503
    #[arg(long, value_name = "N", default_value_t = swirl_engine::DEFAULT_BUFFER_MAX_EVENTS)]
    buffer_max_events: usize,
    /// Produce Serverless Workflow 1.0's lifecycle CloudEvents (io.serverlessworkflow.workflow.started.v1 and the like) for 1.0 instances, to the sinks and workflows
    #[arg(long)]
    lifecycle_events: bool,
    /// Produce the optional status-changed lifecycle events (io.serverlessworkflow.workflow.status-changed.v1, task.status-changed.v1), with --lifecycle-events or without: one event for each change of a 1.0 instance's or task's status phase
    #[arg(long)]
    status_changed_events: bool,
    /// How long a finished (completed, failed, cancelled) instance and its history are kept after it ended
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = humantime::parse_duration)]
    instance_retention: Duration,
    /// How long a dead letter is kept after its sink gave up
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = humantime::parse_duration)]
    dead_letter_retention: Duration,
    /// Most dead letters kept; one more drops the oldest
    #[arg(long, value_name = "N", default_value_t = swirl_server::sinks::DEFAULT_MAX_DEAD_LETTERS)]
    dead_letter_max: usize,
    /// Deliveries of events sent in that GET /deliveries (the console's events page) remembers, in memory; one more drops the oldest
    #[arg(long, value_name = "N", default_value_t = swirl_server::deliveries::DEFAULT_RECENT_DELIVERIES)]
    recent_deliveries: usize,
    /// Versions of each function kept besides those a route, an alias or an unfinished instance uses; older ones are deleted (a deleted function keeps none)
    #[arg(long, value_name = "N", default_value_t = Retention::default().versions_kept)]
    versions_kept: usize,
    /// How long a stored file or compiled code that no record needs any more is kept after its last write
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    file_grace: Duration,
    /// How often retention deletes what is past its time, in bounded batches
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    retention_interval: Duration,
    /// Largest `POST /apps` body in bytes (a manifest with its components)
    #[arg(long, value_name = "BYTES", default_value_t = swirl_server::apps::DEFAULT_DEPLOY_BODY_BYTES)]
    max_deploy_bytes: usize,
    /// Threads that run workflow instances (0: one per core)
    #[arg(long, value_name = "N", default_value_t = PoolConfig::default().threads)]
    run_threads: usize,
    /// Starts and events that may wait for a run thread; one more is answered 503 with retry-after
    #[arg(long, value_name = "N", default_value_t = PoolConfig::default().queue_limit)]
    run_queue: usize,
    /// Longest wait of `POST /workflows/{id}/instances?wait=true`
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    wait_timeout: Duration,
    /// How often function versions that no route, alias or unfinished instance uses are unloaded (at least 1s)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    unload_interval: Duration,
    /// Time requests in flight get to finish after a shutdown signal
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    shutdown_grace: Duration,
    /// Connections served at once; one more is answered 503 and closed
    #[arg(long, value_name = "N", default_value_t = ConnectionLimits::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Longest time a client may take to send a request's headers
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,
    /// Longest time a client may take to send a request's body (then 408)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    body_timeout: Duration,
    /// How commits reach the disk: `group` shares one flush among
    /// concurrent commits, `each` flushes every commit on its own; both
    /// answer only after the flush
    #[arg(long, value_name = "POLICY", default_value = "group")]
    flush: Flush,
    /// Run the functions' build commands first
    #[arg(long)]
    build: bool,
    /// Bearer token of the admin API
    #[arg(long, env = "SWIRL_ADMIN_TOKEN", hide_env_values = true, hide = true)]
    admin_token: Option<String>,
    /// Bearer token of the event ingress
    #[arg(long, env = "SWIRL_INGRESS_TOKEN", hide_env_values = true, hide = true)]
    ingress_token: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Flush {
    Group,
    Each,
}

/// How often a server whose store cannot write checks whether its data
/// directory takes writes again.
const ROOM_CHECK_PERIOD: Duration = Duration::from_secs(1);

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    // Bound once for the life of the process: connections that arrive while
    // the store is being reopened wait in the backlog, never refused.
    let listener = std::net::TcpListener::bind(args.listen)
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", args.listen))?;
    listener.set_nonblocking(true)?;
    // One exporter for the process, across generations.
    let telemetry = Telemetry::from_env()?;
    let mut reopened = None;
    loop {
        // A runtime per generation: dropping it drops every task holding the
        // store, so sled closes and the next generation can open it again.
        let runtime = tokio::runtime::Runtime::new()?;
        let ended = runtime.block_on(serve(&args, &listener, reopened.take(), &telemetry));
        runtime.shutdown_timeout(args.shutdown_grace);
        if let Generation::Ended(outcome) = ended? {
            if let Some(telemetry) = &telemetry
                && !telemetry.flush(args.shutdown_grace)
            {
                tracing::warn!("spans still queued at shutdown were not all exported");
            }
            return Ok(outcome);
        }
        let runtime = tokio::runtime::Runtime::new()?;
        let waited = runtime.block_on(wait_for_room(&args, &listener));
        runtime.shutdown_timeout(args.shutdown_grace);
        match waited? {
            Some(store) => reopened = Some(store),
            None => return Ok(Outcome::Success),
        }
    }
}

/// How one generation of the server ended.
enum Generation {
    Ended(Outcome),
    /// The store cannot write: serve 503 until it can, then start the next.
    StorageLost,
}

/// One generation of the server. The first (`reopened` is `None`) deploys
/// the manifests given; any failure of its is the command's. A later one
/// serves what the store recorded, and a failure to resume counts as the
/// store still being unable to write.
async fn serve(
    args: &Args,
    listener: &std::net::TcpListener,
    reopened: Option<Store>,
    telemetry: &Option<Arc<Telemetry>>,
) -> anyhow::Result<Generation> {
    let first = reopened.is_none();
    let app = match reopened {
        None => match open(args, telemetry)? {
            Some(app) => app,
            None => return Ok(Generation::Ended(Outcome::Invalid)),
        },
        Some(store) => match resume(args, store, telemetry) {
            Ok(app) => app,
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "cannot resume serving yet");
                return Ok(Generation::StorageLost);
            }
        },
    };
    let config = server_config(args, telemetry);
    if first && !args.listen.ip().is_loopback() && config.tokens.admin.is_none() {
        tracing::warn!(
            listen = %args.listen,
            "listening beyond loopback without SWIRL_ADMIN_TOKEN: anyone who can reach this address can administer it"
        );
    }
    let address = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
    let state = ServerState::new(
        app.engine,
        app.host,
        app.store,
        app.deployments,
        &app.manifests,
        config,
    )?;
    tracing::info!(
        %address,
        workflows = %state.definitions().keys().cloned().collect::<Vec<_>>().join(", "),
        functions = %state.host().function_names().join(", "),
        "serving"
    );
    if first {
        // On stderr, unconditionally: scripts and tests read the bound port here.
        eprintln!("listening on http://{address}");
    }
    match swirl_server::serve(listener, state, shutdown_signal(), args.shutdown_grace).await {
        Stopped::Shutdown => Ok(Generation::Ended(Outcome::Success)),
        Stopped::StorageLost => Ok(Generation::StorageLost),
    }
}

fn server_config(args: &Args, telemetry: &Option<Arc<Telemetry>>) -> ServerConfig {
    let non_empty = |token: &Option<String>| token.clone().filter(|t| !t.is_empty());
    ServerConfig {
        ingress_limits: IngressLimits::new(args.max_event_bytes, args.max_batch_events),
        tokens: Tokens {
            admin: non_empty(&args.admin_token),
            ingress: non_empty(&args.ingress_token),
        },
        wait_limit: args.wait_timeout,
        deploy_body_bytes: args.max_deploy_bytes,
        connection_limits: connection_limits(args),
        unload_interval: args.unload_interval,
        retention: Retention {
            instances: args.instance_retention,
            dedup: args.dedup_retention,
            buffer: args.buffer_retention,
            dead_letters: args.dead_letter_retention,
            versions_kept: args.versions_kept,
            files: args.file_grace,
            interval: args.retention_interval,
        },
        max_dead_letters: args.dead_letter_max,
        telemetry: telemetry.clone(),
        recent_deliveries: args.recent_deliveries,
    }
}

fn connection_limits(args: &Args) -> ConnectionLimits {
    ConnectionLimits {
        max_connections: args.max_connections,
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
    }
}

fn flush_policy(args: &Args) -> FlushPolicy {
    match args.flush {
        Flush::Group => FlushPolicy::Group,
        Flush::Each => FlushPolicy::EachCommit,
    }
}

/// Answers 503 on `listener` while checking, every [`ROOM_CHECK_PERIOD`],
/// whether the data directory takes writes again; then reopens the store.
/// `None` when a shutdown signal came first.
async fn wait_for_room(
    args: &Args,
    listener: &std::net::TcpListener,
) -> anyhow::Result<Option<Store>> {
    let listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let answering = tokio::spawn(swirl_server::serve_unavailable(
        listener,
        connection_limits(args),
        async {
            let _ = stopped.await;
        },
    ));
    let reopened = tokio::select! {
        store = reopen(args.data_dir.data_dir.clone(), flush_policy(args)) => Some(store),
        () = shutdown_signal() => None,
    };
    let _ = stop.send(());
    let _ = answering.await;
    if reopened.is_some() {
        tracing::info!("the data directory takes writes again; resuming");
    }
    Ok(reopened)
}

async fn reopen(data_dir: PathBuf, flush_policy: FlushPolicy) -> Store {
    loop {
        tokio::time::sleep(ROOM_CHECK_PERIOD).await;
        let data_dir = data_dir.clone();
        let opened = tokio::task::spawn_blocking(move || {
            Store::has_room(&data_dir)?;
            Store::open_with(&data_dir, flush_policy)
        })
        .await;
        match opened {
            Ok(Ok(store)) => return store,
            Ok(Err(error)) => tracing::debug!(%error, "the store cannot reopen yet"),
            Err(error) => tracing::debug!(%error, "the reopen task failed"),
        }
    }
}

struct Opened {
    store: Store,
    engine: Engine,
    host: Arc<FunctionHost>,
    deployments: Deployments,
    /// Every app served, for its sinks: those recorded, then those given now.
    manifests: Vec<Manifest>,
}

/// Opens the store, restores what it recorded, then deploys (and records)
/// the manifests given; `None` when one of those is invalid (problems printed).
fn open(args: &Args, telemetry: &Option<Arc<Telemetry>>) -> anyhow::Result<Option<Opened>> {
    let mut given = Vec::new();
    for path in &args.manifests {
        match Deployments::load_manifest(path) {
            Ok(manifest) => given.push(manifest),
            Err(error) => return report(error),
        }
    }
    if args.build {
        for manifest in &given {
            if let Err(errors) = swirl_app::app::build(manifest) {
                report_manifest_errors(&errors);
                return Ok(None);
            }
        }
    }
    let store = Store::open_with(&args.data_dir.data_dir, flush_policy(args))?;
    let (opened, recorded) = restore(args, store, telemetry)?;
    for manifest in &given {
        match opened.deployments.deploy(manifest) {
            Ok(report) => {
                tracing::info!(
                    app = %report.app,
                    functions = %swirl_app::deployment::items_line(&report.functions),
                    workflows = %swirl_app::deployment::items_line(&report.workflows),
                    "deployed"
                )
            }
            Err(error) => return report(error),
        }
    }
    opened.engine.recover()?;
    opened.engine.start_schedules();
    let mut manifests: Vec<Manifest> = recorded
        .into_iter()
        .filter(|stored| given.iter().all(|m| m.app_name != stored.app_name))
        .collect();
    manifests.extend(given);
    Ok(Some(Opened {
        manifests,
        ..opened
    }))
}

/// Serves again, on a reopened store, what it recorded: the apps deployed
/// before (the manifests given at the start among them) and their instances.
fn resume(args: &Args, store: Store, telemetry: &Option<Arc<Telemetry>>) -> anyhow::Result<Opened> {
    let (opened, recorded) = restore(args, store, telemetry)?;
    opened.engine.recover()?;
    opened.engine.start_schedules();
    Ok(Opened {
        manifests: recorded,
        ..opened
    })
}

/// The host, engine (with its tracer, when traces are on) and deployments
/// over `store`, with the apps it recorded deployed again; returns those
/// apps' manifests.
fn restore(
    args: &Args,
    store: Store,
    telemetry: &Option<Arc<Telemetry>>,
) -> anyhow::Result<(Opened, Vec<Manifest>)> {
    let engine_config = EngineConfig {
        dedup_retention: args.dedup_retention,
        buffer_retention: args.buffer_retention,
        buffer_max_events: args.buffer_max_events,
        // The server's sinks take the events recovered at startup too.
        hold_outbox: true,
        lifecycle_events: args.lifecycle_events,
        status_changed_events: args.status_changed_events,
        pool: PoolConfig {
            threads: args.run_threads,
            queue_limit: args.run_queue,
        },
    };
    let data_dir = &args.data_dir.data_dir;
    let host = Arc::new(swirl_app::app::host(
        data_dir,
        Arc::new(store.clone()),
        swirl_app::app::CompileLines::Log,
    )?);
    let outbound = Arc::default();
    let engine = swirl_app::app::engine(&store, &host, &outbound, engine_config)?;
    if let Some(telemetry) = telemetry {
        engine.set_tracer(telemetry.clone());
    }
    let deployments = Deployments::new(store.clone(), host.clone(), engine.clone(), outbound);
    let (recorded, problems) = deployments.restore()?;
    for problem in problems {
        tracing::error!(%problem, "cannot restore a recorded deployment");
    }
    let opened = Opened {
        store,
        engine,
        host,
        deployments,
        manifests: Vec::new(),
    };
    Ok((opened, recorded))
}

fn report<T>(error: DeployError) -> anyhow::Result<Option<T>> {
    match error {
        DeployError::Invalid(problems) => {
            // Each names its file and severity (`file:line:column: error: …`).
            for problem in problems {
                eprintln!("{problem}");
            }
            Ok(None)
        }
        other => Err(other.into()),
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}
