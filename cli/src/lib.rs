//! The `comms` command: the local all-in-one server and the operator's tools.

mod backend;
mod bench;
mod demo;
mod engine;
mod eval;
mod http_errors;
mod inspect;
mod keys;
mod operator_key;
mod queue;
mod secrets;
mod serve;
mod settings;
mod state;
mod tenant;
mod usage;
mod webhook;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use comms_sqlite::Db;

/// Errors end the command with a message on stderr and exit status 1.
pub type CliResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// AI conversation engine: local server, queues, tenants and secrets.
#[derive(Debug, Parser)]
#[command(name = "comms", version, about)]
pub struct Cli {
    /// Folder holding the embedded database (created if missing).
    #[arg(long, global = true, env = "COMMS_DATA_DIR", default_value = ".comms")]
    pub data_dir: PathBuf,

    /// Storage and queues: the embedded SQLite file, or AWS (SQS, DynamoDB, Secrets
    /// Manager from the usual AWS environment; COMMS_QUEUE_PREFIX is the stack name,
    /// default "comms", and the table is COMMS_TABLE or {prefix}-data). The outbox is
    /// always local.
    #[arg(long, global = true, env = "COMMS_BACKEND", value_enum, default_value = "embedded")]
    pub backend: backend::Backend,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the router and the channel processors locally (embedded storage, or AWS).
    Serve(serve::ServeArgs),
    /// Create, replace or show tenant configurations.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Local secrets (production uses AWS Secrets Manager).
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// A tenant's API and admin keys (hash in the tenant; on AWS also the API Gateway key).
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Operator keys for the owner console (they see every tenant).
    #[command(subcommand)]
    OperatorKey(operator_key::OperatorKeyCommand),
    /// Queue depths.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// Send a correctly signed Twilio-style webhook to a running server.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Replies stored locally instead of sent (when Twilio, or SendGrid for email, is not
    /// configured).
    Outbox {
        #[arg(long)]
        json: bool,
    },
    /// Stored conversations.
    #[command(subcommand)]
    Conversation(inspect::ConversationCommand),
    /// The owner's current state (WORK, GYM, OFF, VACATION, ...).
    #[command(subcommand)]
    State(state::StateCommand),
    /// Dead-letter queues.
    #[command(subcommand)]
    Dlq(inspect::DlqCommand),
    /// The evaluation suite: samples/evals/ scenarios through the engine against a model
    /// (docs/evals.md).
    Eval(eval::EvalArgs),
    /// Benchmarks (results are recorded in docs/performance.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Turns, tokens, cost and SMS segments per tenant and channel (monthly totals).
    Usage(usage::UsageArgs),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// A batch with a slow stand-in model, concurrent versus one at a time.
    Batch(bench::BatchArgs),
    /// Signed SMS webhooks into a spawned `comms serve` with OpenAI and Twilio stand-ins:
    /// throughput and the time from webhook accepted to reply sent.
    Load(bench::LoadArgs),
}

/// Runs a parsed command line; the exit code says whether it worked. The settings that
/// are not flags are parsed first: a malformed one stops every command, named.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match settings::Settings::from_env() {
        Ok(settings) => dispatch(cli, settings).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli, settings: settings::Settings) -> CliResult {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.data_dir, cli.backend, args, &settings).await,
        Command::Tenant(cmd) => tenant::run(&cli.data_dir, cli.backend, cmd).await,
        Command::Secrets(cmd) => secrets::run(&cli.data_dir, cli.backend, cmd).await,
        Command::Queue(cmd) => queue::run(&cli.data_dir, cli.backend, cmd).await,
        Command::Key(cmd) => keys::run(&cli.data_dir, cli.backend, cmd).await,
        Command::OperatorKey(cmd) => operator_key::run(&cli.data_dir, cli.backend, cmd).await,
        Command::Webhook(cmd) => webhook::run(&cli.data_dir, cli.backend, cmd).await,
        Command::Outbox { json } => inspect::outbox(&cli.data_dir, json).await,
        Command::Conversation(cmd) => inspect::conversation(&cli.data_dir, cli.backend, cmd).await,
        Command::State(cmd) => state::run(&cli.data_dir, cli.backend, cmd).await,
        Command::Dlq(cmd) => inspect::dlq(&cli.data_dir, cli.backend, cmd).await,
        Command::Eval(args) => eval::run(args, &settings).await,
        Command::Bench(BenchCommand::Batch(args)) => bench::batch(args).await,
        Command::Bench(BenchCommand::Load(args)) => bench::load(args).await,
        Command::Usage(args) => usage::run(&cli.data_dir, cli.backend, args).await,
    }
}

/// The database file inside the data folder.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("comms.db")
}

/// Opens the data folder's database, creating both if needed.
fn open_db(data_dir: &Path) -> CliResult<Db> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create data folder {}: {e}", data_dir.display()))?;
    Ok(Db::open(&db_path(data_dir))?)
}

/// Prints a value as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> CliResult {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
