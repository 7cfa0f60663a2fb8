//! `comms serve`: the router on embedded storage, shut down gracefully on Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use comms_aws::{AwsResources, DynamoStore, PROVISIONED_BY, PROVISIONED_TAG, SecretsManagerStore, SqsQueues};
use comms_core::cached;
use comms_core::domain::Channel;
use comms_core::domain::tenant::TenantConfig;
use comms_core::ports::{Queues, Stores};
use comms_engine::prices;
use comms_engine::turn::EnginePorts;
use comms_engine::worker::{self, WorkerSettings};
use comms_router::lambda::TENANT_CACHE_TTL;
use comms_router::{AppState, RouterConfig};
use comms_sqlite::{Db, QueueSettings, SqliteQueues};
use comms_telemetry::local::LocalMetrics;
use tokio::sync::watch;

use crate::backend::{Backend, aws_config, aws_resources};
use crate::settings::Settings;
use crate::{CliResult, demo, engine, open_db};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "COMMS_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Public base URL Twilio calls; signatures are checked against it. Defaults to
    /// http://<listen address>.
    #[arg(long, env = "COMMS_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "COMMS_MAX_BODY_BYTES", default_value_t = comms_router::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Receives after which a message moves to its dead-letter queue.
    #[arg(long, env = "COMMS_MAX_RECEIVE_COUNT", default_value_t = 3)]
    pub max_receive_count: u32,
    /// SMS records processed at once by the in-process worker.
    #[arg(long, env = "COMMS_WORKER_CONCURRENCY", default_value_t = 10)]
    pub worker_concurrency: usize,
    /// Run the router only: messages stay queued (e.g. to inspect them, or when the
    /// processors run elsewhere).
    #[arg(long)]
    pub no_workers: bool,
    /// Visibility timeout of received records, in seconds (kept alive by a heartbeat);
    /// also the lease of a turn's claim (renewed the same way), so after a crash every
    /// message is taken over within about one timeout. Minimum 2.
    #[arg(long, env = "COMMS_VISIBILITY_SECS", default_value_t = 30)]
    pub visibility_secs: u64,
    /// How long one model or Twilio call is retried inside a record before the record
    /// fails and comes back later from the queue.
    #[arg(long, env = "COMMS_RETRY_BUDGET_SECS", default_value_t = 20)]
    pub retry_budget_secs: u64,
    /// With --backend aws: create the queues, DLQs and tables if missing and seed the
    /// demo tenant (for an emulator or a scratch account; deployments use the template).
    /// Refused, before anything is created or received, when a table or queue of that
    /// name exists that an earlier --create-resources did not make (a deployed stack's).
    #[arg(long)]
    pub create_resources: bool,
    /// Seconds between the metrics summary lines in the log (turns, latencies p50/p99,
    /// ...; one more at shutdown); 0 records no metrics.
    #[arg(long, env = "COMMS_METRICS_INTERVAL_SECS", default_value_t = 60)]
    pub metrics_interval_secs: u64,
}

/// What one backend gives `serve`: its stores (the engine's ports derive from them, with
/// the engine's tenant cache), the router's view of them (on AWS with number lookups
/// cached), the queues the workers poll, and where the demo tenant was seeded (if it was).
struct Wiring {
    stores: Stores,
    router: Stores,
    worker_queues: Arc<dyn Queues>,
    demo: Option<TenantConfig>,
    /// The embedded database (the local outbox shares its writer).
    db: Option<Db>,
}

/// How long the SQS pollers wait for a message (long polling, as the event source
/// mapping does; at most 20 s, and shutdown does not wait for it).
const SQS_WAIT: Duration = Duration::from_secs(10);

/// How long an embedded worker's receive waits for a message (woken at once by a send
/// from the router, which shares its database handle), and how often it looks anyway
/// (messages whose visibility timeout ended, or sent by another process).
const SQLITE_WAIT: Duration = Duration::from_secs(10);
const SQLITE_RECHECK: Duration = Duration::from_millis(200);

async fn embedded(data_dir: &Path, args: &ServeArgs) -> CliResult<Wiring> {
    let db = open_db(data_dir)?;
    let settings = QueueSettings { max_receive_count: args.max_receive_count };
    let stores = comms_sqlite::stores(&db, settings);
    let (demo, created) = demo::seed(stores.tenants.as_ref(), stores.secrets.as_ref()).await?;
    if created {
        tracing::info!(tenant = %demo.tenant, "seeded the demo tenant");
    }
    let worker_queues =
        Arc::new(SqliteQueues::new(db.clone(), settings).with_long_polling(SQLITE_WAIT, SQLITE_RECHECK));
    Ok(Wiring { worker_queues, router: stores.clone(), stores, demo: Some(demo), db: Some(db) })
}

async fn aws(args: &ServeArgs) -> CliResult<Wiring> {
    let resources = aws_resources()?;
    let sdk = aws_config().await;
    let names = resources.queue_names();
    let mut demo = None;
    if args.create_resources {
        refuse_foreign_resources(&sdk, &resources).await?;
        SqsQueues::provision(&sdk, &names, &WORKER_CHANNELS, args.max_receive_count).await?;
        let store = DynamoStore::provision(&sdk, &resources.table).await?;
        let secrets = SecretsManagerStore::new(&sdk, 10, Duration::ZERO)?;
        let (tenant, created) = demo::seed(&store, &secrets).await?;
        if created {
            tracing::info!(tenant = %tenant.tenant, "seeded the demo tenant in DynamoDB");
        }
        demo = Some(tenant);
    }
    let queues = SqsQueues::connect(&sdk, &names)
        .await
        .map_err(|e| format!("{e} (missing resources? --create-resources makes them)"))?;
    let stores = comms_aws::stores(&sdk, &resources, queues)?;
    let router = stores.clone().with_tenant_cache(TENANT_CACHE_TTL);
    let worker_queues: Arc<dyn Queues> = Arc::new(
        SqsQueues::connect_channels(&sdk, &names, &WORKER_CHANNELS, true)
            .await
            .map_err(|e| format!("{e} (--create-resources makes the queues)"))?
            .with_long_polling(SQS_WAIT),
    );
    Ok(Wiring { stores, router, worker_queues, demo, db: None })
}

/// Refuses `--create-resources` where a table or queue of the names it would use exists
/// without the tag `provision` puts on what it creates: those belong to someone else
/// (usually a deployed stack), and polling its queues would consume real messages.
async fn refuse_foreign_resources(sdk: &aws_config::SdkConfig, resources: &AwsResources) -> CliResult {
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    let names = resources.queue_names();
    let mut foreign = Vec::new();
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    for table in [resources.table.clone(), names.failures_table()] {
        let Ok(found) = dynamo.describe_table().table_name(&table).send().await else {
            continue; // missing (or unreadable: creating it will say why)
        };
        let arn = found.table().and_then(|t| t.table_arn()).unwrap_or_default().to_owned();
        let tags = dynamo.list_tags_of_resource().resource_arn(&arn).send().await.map_err(|e| {
            format!("cannot read the tags of table {table}: {}", e.message().unwrap_or(&format!("{e:?}")))
        })?;
        if !tags.tags().iter().any(|t| t.key() == PROVISIONED_TAG && t.value() == PROVISIONED_BY) {
            foreign.push(format!("table {table}"));
        }
    }
    let sqs = aws_sdk_sqs::Client::new(sdk);
    for channel in WORKER_CHANNELS {
        for queue in [names.queue(channel), names.dlq(channel)] {
            let Ok(found) = sqs.get_queue_url().queue_name(&queue).send().await else { continue };
            let url = found.queue_url().unwrap_or_default();
            let tags = sqs.list_queue_tags().queue_url(url).send().await.map_err(|e| {
                format!("cannot read the tags of queue {queue}: {}", e.message().unwrap_or(&format!("{e:?}")))
            })?;
            if tags.tags().and_then(|t| t.get(PROVISIONED_TAG)).map(String::as_str) != Some(PROVISIONED_BY) {
                foreign.push(format!("queue {queue}"));
            }
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    Err(format!(
        "--create-resources refused: {} already exist(s) and were not made by --create-resources \
         (a deployed stack's?); nothing was created or received. Use another COMMS_QUEUE_PREFIX \
         (and COMMS_TABLE) for a scratch set, or run without --create-resources to serve \
         against the existing resources on purpose",
        foreign.join(", ")
    )
    .into())
}

/// The channels `serve` runs a worker for.
const WORKER_CHANNELS: [Channel; 4] = [Channel::Sms, Channel::Whatsapp, Channel::Voice, Channel::Email];

pub async fn run(data_dir: &Path, backend: Backend, args: ServeArgs, settings: &Settings) -> CliResult {
    comms_telemetry::init(settings.log_format);
    let metrics = summaries(args.metrics_interval_secs);
    let signals = ShutdownSignals::register()?;
    if args.create_resources && backend != Backend::Aws {
        return Err("--create-resources is for --backend aws (the embedded store creates itself)".into());
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr()?;
    let public_base_url = args.public_base_url.clone().unwrap_or_else(|| format!("http://{local}"));
    let config = router_config(&args, &public_base_url, backend)?;
    let wiring = match backend {
        Backend::Embedded => embedded(data_dir, &args).await?,
        Backend::Aws => aws(&args).await?,
    };

    make_unsubscribe_key(&wiring, &config).await?;
    let (stop_workers, stop_rx) = watch::channel(false);
    let workers = if args.no_workers {
        tracing::info!("--no-workers: messages stay queued");
        Vec::new()
    } else {
        start_workers(data_dir, &args, settings, &wiring, &config, &stop_rx)?
    };
    tracing::info!(
        listen = %local,
        public_base_url,
        ?backend,
        data_dir = %data_dir.display(),
        "comms serve: listening on http://{local}"
    );
    announce(local, backend, &public_base_url, &wiring).await;

    // hyper's own error answers (414, 400, 431) in the JSON error shape; the peer address
    // is the console's sign-in rate-limit key.
    let app = comms_router::app(AppState::new(&wiring.router, config))
        .into_make_service_with_connect_info::<comms_router::console::ClientAddr>();
    axum::serve(crate::http_errors::JsonErrors(listener), app).with_graceful_shutdown(signals.recv()).await?;
    // The router has stopped taking requests; let the workers finish their batches.
    let _ = stop_workers.send(true);
    for w in workers {
        if let Err(e) = w.await {
            tracing::error!(error = %e, "a worker ended abnormally");
        }
    }
    if let Some((metrics, ticker)) = metrics {
        ticker.abort();
        metrics.log_summary();
    }
    match backend {
        Backend::Embedded => {
            tracing::info!("comms serve: stopped; queued messages are kept in {}", data_dir.display())
        }
        Backend::Aws => tracing::info!("comms serve: stopped; queued messages stay in SQS"),
    }
    Ok(())
}

/// The router's settings. With `--backend aws` the console's session secret and the
/// unsubscribe links' key are the stack's (`{COMMS_QUEUE_PREFIX}/console/session-secret`,
/// `{COMMS_QUEUE_PREFIX}/email/unsubscribe-key`, which the template makes), so a local
/// router and the stack's accept the same sessions and links; made if missing (a
/// scratch prefix).
fn router_config(args: &ServeArgs, public_base_url: &str, backend: Backend) -> CliResult<RouterConfig> {
    let mut config = RouterConfig::new(public_base_url);
    config.max_body_bytes = args.max_body_bytes;
    if backend == Backend::Aws {
        let prefix = aws_resources()?.queue_prefix;
        config.console.session_secret = format!("{prefix}/console/session-secret");
        config.unsubscribe_key_secret = format!("{prefix}/email/unsubscribe-key");
    }
    Ok(config)
}

/// Email replies carry an unsubscribe link signed with the router's key: made with a
/// random value on first use (the template makes the stack's).
async fn make_unsubscribe_key(wiring: &Wiring, config: &RouterConfig) -> CliResult {
    let name = &config.unsubscribe_key_secret;
    if crate::secrets::ensure_random(wiring.stores.secrets.as_ref(), name).await? {
        tracing::info!(secret = %name, "made the unsubscribe links' key");
    }
    Ok(())
}

/// The local metrics recorder and the task logging its summary every `interval_secs`
/// (none when 0, or when a recorder is installed already).
fn summaries(interval_secs: u64) -> Option<(LocalMetrics, tokio::task::JoinHandle<()>)> {
    if interval_secs == 0 {
        return None;
    }
    let metrics = LocalMetrics::install().map_err(|e| tracing::warn!("{e}")).ok()?;
    let ticker = metrics.spawn_summaries(Duration::from_secs(interval_secs));
    Some((metrics, ticker))
}

/// One worker per channel the engine handles, each on its own queue, until `stop`; the
/// engine links to the router's public base URL and signs with its unsubscribe key.
fn start_workers(
    data_dir: &Path,
    args: &ServeArgs,
    settings: &Settings,
    wiring: &Wiring,
    router: &RouterConfig,
    stop: &watch::Receiver<bool>,
) -> CliResult<Vec<tokio::task::JoinHandle<()>>> {
    let chat = engine::chat_model(settings)?;
    let (messenger, calls) = engine::messengers(data_dir, wiring.db.as_ref(), &wiring.stores, settings)?;
    tracing::info!(model = %chat.describe(), "chat model");
    if settings.twilio_api_base.is_none() {
        tracing::info!("TWILIO_API_BASE not set: replies go to the local outbox (comms outbox)");
    }
    if settings.sendgrid_api_base.is_none() {
        tracing::info!("SENDGRID_API_BASE not set: email replies go to the local outbox (comms outbox)");
    }
    let visibility = Duration::from_secs(args.visibility_secs.max(2));
    let engine = Arc::new(engine::build(
        EnginePorts::new(
            &wiring.stores.clone().with_engine_tenant_cache(cached::DEFAULT_TTL),
            chat,
            messenger,
            calls,
        ),
        &router.public_base_url,
        Duration::from_secs(args.retry_budget_secs),
        visibility,
        &router.unsubscribe_key_secret,
        prices::configured(settings.prices_file.as_deref(), Some(&data_dir.join(prices::LOCAL_PRICES_FILE)))?,
    ));
    let spawn = |channel| {
        let settings = WorkerSettings {
            channel,
            concurrency: args.worker_concurrency,
            visibility,
            ..Default::default()
        };
        let queues = Arc::clone(&wiring.worker_queues);
        tokio::spawn(worker::run(queues, Arc::clone(&engine), settings, stop.clone()))
    };
    Ok(WORKER_CHANNELS.into_iter().map(spawn).collect())
}

/// The plain, stable lines on stdout: scripts and tests read the address from the
/// first; then the console's URL; with a demo tenant, how to try it.
async fn announce(local: SocketAddr, backend: Backend, public_base_url: &str, wiring: &Wiring) {
    println!("listening on http://{local}");
    announce_console(public_base_url, wiring).await;
    let Some(demo) = wiring.demo.as_ref() else { return };
    let Some(number) = demo.numbers.get(&Channel::Sms).and_then(|n| n.first()) else { return };
    println!("demo tenant {} answers SMS on {number}", demo.tenant);
    println!(
        "try it: cargo run -p comms-cli -- {}webhook sms --url http://{local}/twilio/sms \
         --from +14155550123 --to {number} --body \"Can you fix a cracked screen today?\"",
        if backend == Backend::Aws { "--backend aws " } else { "" }
    );
    println!(
        "demo API keys: cargo run -p comms-cli -- secrets get {} (x-api-key), {} (x-admin-key)",
        demo::DEMO_API_KEY_SECRET,
        demo::DEMO_ADMIN_KEY_SECRET
    );
}

/// The owner console's address and, with the demo tenant, how to sign in (the demo
/// admin key is a local secret: cli/src/demo.rs).
async fn announce_console(public_base_url: &str, wiring: &Wiring) {
    println!("console: {public_base_url}/console");
    let Some(demo) = wiring.demo.as_ref() else { return };
    match wiring.stores.secrets.get(demo::DEMO_ADMIN_KEY_SECRET).await {
        Ok(key) => println!(
            "console sign-in: company_id {} project_id {} admin key {}",
            demo.tenant.company_id,
            demo.tenant.project_id,
            key.expose()
        ),
        Err(e) => tracing::warn!(error = %e, "the demo admin key is unreadable"),
    }
}

/// Ctrl-C and SIGTERM, registered at once (before the server says it is ready), so an
/// early signal is handled gracefully instead of killing the process.
struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn register() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves on the first signal; the server then finishes requests in flight.
    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {},
            _ = self.terminate.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested, finishing requests in flight");
    }
}
