//! Benchmarks. `comms bench batch`: a batch of records with a slow model finishes in
//! about the time of one record, not of all of them (records run concurrently).
//! `comms bench load` ([`load`]): webhooks in, replies out, through a real `comms serve`.

mod load;
mod standins;

pub use load::{LoadArgs, load};

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::Args;
use comms_core::domain::{Address, Channel, ConversationId, Envelope, KindDetail, TenantRef};
use comms_core::ports::{ChatError, ChatModel, ChatReply, ChatRequest};
use comms_engine::batch::{Record, process_batch};
use comms_engine::turn::EnginePorts;
use comms_sqlite::{Db, QueueSettings, SqliteOutbox, SqliteSecrets, SqliteTenants};

use crate::{CliResult, demo, engine};

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Records in the batch.
    #[arg(long, default_value_t = 10)]
    pub records: usize,
    /// How long the stand-in model takes per call, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub model_delay_ms: u64,
    /// Records processed at once.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
}

/// A stand-in model for benchmarks only: a fixed reply after a fixed delay.
struct DelayedStubModel(Duration);

#[async_trait]
impl ChatModel for DelayedStubModel {
    async fn complete(&self, _: &ChatRequest) -> Result<ChatReply, ChatError> {
        tokio::time::sleep(self.0).await;
        Ok(ChatReply { content: Some("Thanks, we'll be in touch.".into()), ..ChatReply::default() })
    }

    fn describe(&self) -> String {
        format!("benchmark stub model ({} ms per call)", self.0.as_millis())
    }
}

async fn run_once(args: &BatchArgs, concurrency: usize) -> CliResult<Duration> {
    let dir = std::env::temp_dir().join(format!("comms-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let db = Db::open(&dir.join("comms.db"))?;
    demo::seed(&SqliteTenants::new(db.clone()), &SqliteSecrets::new(db.clone())).await?;
    let model = Arc::new(DelayedStubModel(Duration::from_millis(args.model_delay_ms)));
    let outbox = Arc::new(SqliteOutbox::new(db.clone()));
    let engine = Arc::new(engine::build(
        EnginePorts::new(
            &comms_sqlite::stores(&db, QueueSettings::default())
                .with_engine_tenant_cache(comms_core::cached::DEFAULT_TTL),
            model,
            outbox.clone(),
            outbox,
        ),
        "http://127.0.0.1:3000",
        Duration::from_secs(20),
        Duration::from_secs(30),
    ));
    let tenant = TenantRef::new("demo", "repair-shop")?;
    let records: Vec<Record> = (0..args.records)
        .map(|i| {
            let from = Address::parse(&format!("+1415555{i:04}")).expect("valid bench number");
            let env = Envelope {
                id: format!("SM{:032x}", i),
                conversation_id: ConversationId::derive(&tenant, Channel::Sms, &from),
                tenant: tenant.clone(),
                channel: Channel::Sms,
                from,
                to: Address::parse("+15555550100").expect("valid demo number"),
                body: "hello".into(),
                received_at: jiff::Timestamp::now(),
                detail: KindDetail::inbound(0),
            };
            Record {
                message_id: env.id.clone(),
                receipt: String::new(),
                body: env.to_json(),
                attributes: env.attributes("bench"),
                receive_count: 1,
                sent_at: jiff::Timestamp::now(),
            }
        })
        .collect();
    let start = Instant::now();
    let results = process_batch(records, concurrency, None, |r| {
        let engine = Arc::clone(&engine);
        async move { engine.handle(&r.body).await }
    })
    .await;
    let elapsed = start.elapsed();
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    let _ = std::fs::remove_dir_all(&dir);
    if failed > 0 {
        return Err(format!("{failed} records failed").into());
    }
    Ok(elapsed)
}

pub async fn batch(args: BatchArgs) -> CliResult {
    let concurrent = run_once(&args, args.concurrency).await?;
    let sequential = run_once(&args, 1).await?;
    println!(
        "batch of {} records, stub model {} ms per call:\n  concurrency {:>2}: {:>6} ms\n  concurrency  1: {:>6} ms",
        args.records,
        args.model_delay_ms,
        args.concurrency,
        concurrent.as_millis(),
        sequential.as_millis()
    );
    Ok(())
}
