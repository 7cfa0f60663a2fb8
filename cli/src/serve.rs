//! `comms serve`: the router on embedded storage, shut down gracefully on Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use comms_processors::worker::{self, WorkerSettings};
use comms_router::{AppState, RouterConfig};
use comms_shared::adapters::sqlite::{
    QueueSettings, SqliteBookings, SqliteConsent, SqliteConversations, SqliteOwnerState, SqliteQueues,
    SqliteRequests, SqliteSecrets, SqliteTenants,
};
use comms_shared::domain::Channel;
use comms_shared::ports::Queues;
use comms_shared::telemetry::{self, LogFormat};
use tokio::sync::watch;

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
    /// Visibility timeout of received records, in seconds (kept alive by a heartbeat).
    #[arg(long, env = "COMMS_VISIBILITY_SECS", default_value_t = 30)]
    pub visibility_secs: u64,
}

pub async fn run(data_dir: &Path, args: ServeArgs) -> CliResult {
    telemetry::init(LogFormat::from_env(LogFormat::Text));
    let signals = ShutdownSignals::register()?;
    let db = open_db(data_dir)?;
    let tenants = SqliteTenants::new(db.clone());
    let secrets = SqliteSecrets::new(db.clone());
    let (demo, created) = demo::seed(&tenants, &secrets).await?;
    if created {
        tracing::info!(tenant = %demo.tenant, "seeded the demo tenant");
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr()?;
    let public_base_url = args.public_base_url.unwrap_or_else(|| format!("http://{local}"));
    let mut config = RouterConfig::new(&public_base_url);
    config.max_body_bytes = args.max_body_bytes;
    let queues: Arc<dyn Queues> =
        Arc::new(SqliteQueues::new(db.clone(), QueueSettings { max_receive_count: args.max_receive_count }));
    let state = AppState {
        tenants: Arc::new(tenants),
        secrets: Arc::new(secrets),
        queues: Arc::clone(&queues),
        consent: Arc::new(SqliteConsent::new(db.clone())),
        deliveries: Arc::new(SqliteConversations::new(db.clone())),
        owner_state: Arc::new(SqliteOwnerState::new(db.clone())),
        bookings: Arc::new(SqliteBookings::new(db.clone())),
        requests: Arc::new(SqliteRequests::new(db.clone())),
        config: Arc::new(config),
    };

    let (stop_workers, stop_rx) = watch::channel(false);
    let mut workers = Vec::new();
    if args.no_workers {
        tracing::info!("--no-workers: messages stay queued");
    } else {
        let chat = engine::chat_model()?;
        let messenger = engine::messenger(&db)?;
        tracing::info!(model = %chat.describe(), "chat model");
        if std::env::var("TWILIO_API_BASE").is_err() {
            tracing::info!("TWILIO_API_BASE not set: replies go to the local outbox (comms outbox)");
        }
        let engine = Arc::new(engine::build(&db, chat, messenger, &public_base_url));
        // One worker per channel the engine handles, each on its own queue.
        for channel in [Channel::Sms, Channel::Whatsapp] {
            workers.push(tokio::spawn(worker::run(
                Arc::clone(&queues),
                Arc::clone(&engine),
                WorkerSettings {
                    channel,
                    concurrency: args.worker_concurrency,
                    visibility: Duration::from_secs(args.visibility_secs.max(2)),
                    ..Default::default()
                },
                stop_rx.clone(),
            )));
        }
    }

    let demo_number = demo.numbers.get(&Channel::Sms).and_then(|n| n.first()).map(|n| n.to_string());
    tracing::info!(
        listen = %local,
        public_base_url,
        data_dir = %data_dir.display(),
        "comms serve: listening on http://{local}"
    );
    // A plain, stable line on stdout: scripts and tests read the address from it.
    println!("listening on http://{local}");
    if let Some(number) = demo_number {
        println!("demo tenant {} answers SMS on {number}", demo.tenant);
        println!(
            "try it: cargo run -p comms-cli -- webhook sms --url http://{local}/twilio/sms \
             --from +14155550123 --to {number} --body \"Can you fix a cracked screen today?\""
        );
        println!(
            "demo API keys: cargo run -p comms-cli -- secrets get {} (x-api-key), {} (x-admin-key)",
            demo::DEMO_API_KEY_SECRET,
            demo::DEMO_ADMIN_KEY_SECRET
        );
    }

    axum::serve(listener, comms_router::app(state)).with_graceful_shutdown(signals.recv()).await?;
    // The router has stopped taking requests; let the worker finish its batch.
    let _ = stop_workers.send(true);
    for w in workers {
        if let Err(e) = w.await {
            tracing::error!(error = %e, "a worker ended abnormally");
        }
    }
    tracing::info!("comms serve: stopped; queued messages are kept in {}", data_dir.display());
    Ok(())
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
