//! `comms bench load`: end to end through a real `comms serve` (this binary, spawned on a
//! scratch data folder: its router, embedded queue, workers and engine), with signed
//! Twilio SMS webhooks in over HTTP and stand-ins for OpenAI and Twilio (see
//! [`standins`]) so the real clients run. Each message comes from its own customer (its
//! own conversation). Prints the throughput and the time from a webhook accepted (its
//! HTTP response received here) to its reply sent (received by the Twilio stand-in).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use comms_core::domain::Channel;
use comms_core::twilio::{TwilioCredentials, signature};
use comms_sqlite::{Db, SqliteSecrets, SqliteTenants};

use super::standins::{self, Replies};
use crate::{CliResult, db_path, demo};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Webhooks sent, each from its own customer number.
    #[arg(long, default_value_t = 2000)]
    pub messages: usize,
    /// Webhooks in flight at once (1 measures latency without queueing).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// `comms serve --worker-concurrency`: SMS records processed at once.
    #[arg(long, default_value_t = 64)]
    pub worker_concurrency: usize,
    /// Give up waiting for the replies after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Folder the scratch data folder is made in (default: the system's temp folder).
    /// On a tmpfs (e.g. /dev/shm) commits never wait for a disk: not a durable set-up,
    /// only a way to see how much of the time is the disk's.
    #[arg(long)]
    pub scratch_in: Option<PathBuf>,
}

/// The spawned `comms serve`; killed when dropped (its data folder is scratch).
struct Serve {
    child: Child,
    base_url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn spawn(data_dir: &Path, openai: &str, twilio: &str, worker_concurrency: usize) -> CliResult<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--worker-concurrency"])
            .arg(worker_concurrency.to_string())
            .env("OPENAI_API_KEY", "sk-bench-stand-in")
            .env("OPENAI_BASE_URL", openai)
            .env("TWILIO_API_BASE", twilio)
            // Per-turn info lines would be part of what is measured; warnings still show.
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .env_remove("COMMS_BACKEND")
            .env_remove("COMMS_PUBLIC_BASE_URL")
            .env_remove("OPENAI_MODEL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout from comms serve")?;
        let mut lines = BufReader::new(stdout).lines();
        let base_url = loop {
            match lines.next() {
                Some(line) => {
                    if let Some(url) = line?.strip_prefix("listening on ") {
                        break url.to_owned();
                    }
                }
                None => return Err("comms serve exited before listening".into()),
            }
        };
        // Keep draining stdout: a full pipe would block the server.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self { child, base_url })
    }
}

/// Seeds the demo tenant in `data_dir`; returns its Twilio auth token and SMS number.
async fn seed(data_dir: &Path) -> CliResult<(String, String)> {
    let db = Db::open(&db_path(data_dir))?;
    let secrets = SqliteSecrets::new(db.clone());
    let (tenant, _) = demo::seed(&SqliteTenants::new(db), &secrets).await?;
    let name = tenant.credentials.twilio.as_deref().ok_or("the demo tenant has no Twilio credentials")?;
    let token = TwilioCredentials::load(&secrets, name).await?.auth_token.expose().to_owned();
    let number = tenant.numbers.get(&Channel::Sms).and_then(|n| n.first()).ok_or("no SMS number")?;
    Ok((token, number.as_str().to_owned()))
}

/// The customer sending message `i`.
fn customer(i: usize) -> String {
    format!("+1415{:07}", i % 10_000_000)
}

/// What the clients need to send webhooks.
struct Target {
    url: String,
    token: String,
    shop: String,
    http: reqwest::Client,
}

/// Sends one signed inbound SMS webhook; returns when its answer arrived.
async fn post_sms(target: &Target, i: usize) -> CliResult<Instant> {
    let params: Vec<(String, String)> = [
        ("AccountSid", "AC00000000000000000000000000000000".to_owned()),
        ("Body", "Can you fix a cracked screen today?".to_owned()),
        ("From", customer(i)),
        ("MessageSid", format!("SM{:032x}", i)),
        ("NumMedia", "0".to_owned()),
        ("To", target.shop.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let resp = target
        .http
        .post(&target.url)
        .header("x-twilio-signature", signature::compute(&target.token, &target.url, &params))
        .form(&params)
        .send()
        .await?;
    let status = resp.status();
    resp.bytes().await?;
    let accepted = Instant::now();
    if !status.is_success() {
        return Err(format!("webhook {i} answered {status}").into());
    }
    Ok(accepted)
}

/// Sends `messages` webhooks from `concurrency` clients; returns when each was accepted.
async fn send_all(target: Arc<Target>, messages: usize, concurrency: usize) -> CliResult<Vec<Instant>> {
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (target, next) = (Arc::clone(&target), Arc::clone(&next));
            tokio::spawn(async move {
                let mut accepted = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= messages {
                        return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(accepted);
                    }
                    accepted.push((i, post_sms(&target, i).await?));
                }
            })
        })
        .collect();
    let mut all = vec![None; messages];
    for client in clients {
        for (i, at) in client.await?? {
            all[i] = Some(at);
        }
    }
    all.into_iter().map(|a| a.ok_or_else(|| "a webhook was never sent".into())).collect()
}

/// Waits until `messages` recipients got a reply, or `limit` passed.
async fn wait_for_replies(replies: &Replies, messages: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let arrived = replies.arrived.notified();
        if replies.count() >= messages || Instant::now() >= deadline {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), arrived).await;
    }
}

/// The `p` quantile (0..=1) of sorted `values`, nearest rank.
fn quantile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub async fn load(args: LoadArgs) -> CliResult {
    let dir = ScratchDir::new(args.scratch_in.clone().unwrap_or_else(std::env::temp_dir))?;
    let (token, shop) = seed(&dir.0).await?;
    let replies = Arc::new(Replies::default());
    let openai = standins::openai().await?;
    let twilio = standins::twilio(Arc::clone(&replies)).await?;
    let serve = Serve::spawn(&dir.0, &openai.base_url, &twilio.base_url, args.worker_concurrency)?;
    let url = format!("{}/twilio/sms", serve.base_url);
    let target = Arc::new(Target { url, token, shop, http: reqwest::Client::new() });

    let start = Instant::now();
    let accepted = send_all(target, args.messages, args.concurrency).await?;
    wait_for_replies(&replies, args.messages, Duration::from_secs(args.timeout_secs)).await;
    drop(serve);

    let received = replies.snapshot();
    let mut latencies = Vec::with_capacity(args.messages);
    for (i, at) in accepted.iter().enumerate() {
        if let Some(reply) = received.get(&customer(i)) {
            latencies.push(reply.saturating_duration_since(*at));
        }
    }
    latencies.sort_unstable();
    let last = received.values().max().copied().unwrap_or(start);
    let elapsed = last.saturating_duration_since(start);
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    println!(
        "comms bench load: {} messages, client concurrency {}, worker concurrency {} ({build} build; \
         OpenAI and Twilio stand-ins; data in {})",
        args.messages,
        args.concurrency,
        args.worker_concurrency,
        dir.0.parent().unwrap_or(&dir.0).display()
    );
    println!("  answered: {} of {} ({} replies sent)", latencies.len(), args.messages, replies.creates());
    println!(
        "  throughput: {:.0} turns/s ({} turns in {:.2} s, first webhook sent to last reply received)",
        latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "  webhook accepted to reply sent: p50 {}, p90 {}, p99 {}, max {}",
        ms(quantile(&latencies, 0.5)),
        ms(quantile(&latencies, 0.9)),
        ms(quantile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default())
    );
    if latencies.len() < args.messages {
        return Err(format!("{} messages were not answered", args.messages - latencies.len()).into());
    }
    Ok(())
}

/// A scratch data folder, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(parent: PathBuf) -> CliResult<Self> {
        let dir = parent.join(format!("comms-bench-load-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
