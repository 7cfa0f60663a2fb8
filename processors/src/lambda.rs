//! The processors on AWS Lambda: an SQS event source mapping hands a batch of up to 10
//! records; each is processed concurrently with a visibility heartbeat; the answer
//! lists only the failed records (`ReportBatchItemFailures`), so SQS deletes the rest.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use comms_aws::{AwsResources, SqsQueues};
use comms_core::domain::Channel;
use comms_core::ports::{ChatModel, Queues, SecretStore};
use comms_providers::openai::{OpenAiSettings, SecretKeyedOpenAi};
use comms_providers::twilio::TwilioRest;
use comms_telemetry::LogFormat;

use comms_engine::batch::{Record, SettlePolicy, run_batch};
use comms_engine::turn::{Engine, EnginePorts, TurnSettings};

/// How a batch is processed.
#[derive(Debug, Clone)]
pub struct HandlerSettings {
    pub channel: Channel,
    /// Records of one batch processed at once.
    pub concurrency: usize,
    /// Visibility a heartbeat keeps renewing (every half of it) while a record runs.
    pub visibility: Duration,
    /// First backoff of a transiently failed record (doubles per receive, capped by
    /// `visibility`).
    pub retry_delay: Duration,
}

/// Handles SQS batches for one channel.
pub struct SqsHandler {
    pub engine: Arc<Engine>,
    pub queues: Arc<dyn Queues>,
    pub settings: HandlerSettings,
}

/// An SQS record as the batch code sees it; `Err` with the message id (possibly empty)
/// when the record lacks what is needed to act on it.
fn record(m: SqsMessage) -> Result<Record, String> {
    let id = m.message_id.unwrap_or_default();
    let Some(receipt) = m.receipt_handle.filter(|r| !r.is_empty()) else { return Err(id) };
    let attr = |k: &str| m.attributes.get(k).map(String::as_str);
    Ok(Record {
        receive_count: attr("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
        sent_at: attr("SentTimestamp")
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .unwrap_or_else(jiff::Timestamp::now),
        attributes: m
            .message_attributes
            .into_iter()
            .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
            .collect(),
        // A record without a body is unreadable: the envelope parser says so, and the
        // record is dead-lettered with that reason like any other poison message.
        body: m.body.unwrap_or_default(),
        message_id: id,
        receipt,
    })
}

impl SqsHandler {
    /// Processes one batch; returns the records SQS must deliver again.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut failed = Vec::new();
        let mut records = Vec::new();
        for m in event.records {
            match record(m) {
                Ok(r) => records.push(r),
                Err(id) => {
                    tracing::error!(message_id = %id, "record without a receipt handle: reported as failed");
                    failed.push(id);
                }
            }
        }
        let s = &self.settings;
        let policy = SettlePolicy {
            channel: s.channel,
            // The event source mapping deletes every record not reported as failed.
            delete_successes: false,
            retry_delay: s.retry_delay,
            visibility: s.visibility,
        };
        failed.extend(run_batch(&self.engine, &self.queues, records, s.concurrency, &policy).await);
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        response
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_secs(name: &str, default: u64) -> Result<Duration, String> {
    match env(name) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .trim()
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("{name} must be whole seconds, not '{v}'")),
    }
}

/// Settings a processor Lambda reads from its environment, besides [`AwsResources`].
#[derive(Debug, Clone)]
pub struct ProcessorEnv {
    /// `TWILIO_API_BASE`, default `https://api.twilio.com`.
    pub twilio_api_base: String,
    /// `OPENAI_BASE_URL` (default OpenAI's) and `OPENAI_MODEL` (default: each tenant's).
    pub openai_base_url: Option<String>,
    pub openai_model: Option<String>,
    /// `COMMS_PUBLIC_BASE_URL`: where Twilio posts delivery statuses (`/twilio/status`).
    pub public_base_url: Option<String>,
    /// `COMMS_WORKER_CONCURRENCY` (default 10) and `COMMS_VISIBILITY_SECS` (default 30).
    pub concurrency: usize,
    pub visibility: Duration,
    /// `COMMS_RETRY_BUDGET_SECS` (default 20): how long one model or Twilio call is
    /// retried within a record before the record fails and SQS retries it; keep it well
    /// under the function timeout.
    pub retry_budget: Duration,
}

impl ProcessorEnv {
    /// Reads the process environment; a malformed number is an error naming the variable.
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            twilio_api_base: env("TWILIO_API_BASE").unwrap_or_else(|| "https://api.twilio.com".into()),
            openai_base_url: env("OPENAI_BASE_URL"),
            openai_model: env("OPENAI_MODEL"),
            public_base_url: env("COMMS_PUBLIC_BASE_URL"),
            concurrency: match env("COMMS_WORKER_CONCURRENCY") {
                None => 10,
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("COMMS_WORKER_CONCURRENCY must be a number, not '{v}'"))?,
            },
            visibility: env_secs("COMMS_VISIBILITY_SECS", 30)?,
            retry_budget: env_secs("COMMS_RETRY_BUDGET_SECS", 20)?,
        })
    }
}

/// The model of a channel's processor on AWS: OpenAI with the key in the tenant's
/// `credentials.openai` secret, else `openai-api-key/{channel}` (read through the cache,
/// so rotation needs no redeploy).
pub fn secret_keyed_model(
    channel: Channel,
    secrets: Arc<dyn SecretStore>,
    env: &ProcessorEnv,
) -> Arc<dyn ChatModel> {
    Arc::new(SecretKeyedOpenAi::new(
        secrets,
        &format!("openai-api-key/{channel}"),
        OpenAiSettings {
            api_key: String::new(),
            base_url: env.openai_base_url.clone(),
            model_override: env.openai_model.clone(),
            timeout: Duration::from_secs(30),
        },
    ))
}

/// Builds the handler of `channel` on the AWS adapters.
pub async fn aws_handler(
    config: &aws_config::SdkConfig,
    resources: &AwsResources,
    env: &ProcessorEnv,
    channel: Channel,
) -> Result<SqsHandler, lambda_runtime::Error> {
    let queues = SqsQueues::connect_channels(config, &resources.queue_names(), &[channel], true).await?;
    let stores = comms_aws::stores(config, resources, queues)?
        .with_engine_tenant_cache(comms_core::cached::DEFAULT_TTL);
    let twilio =
        Arc::new(TwilioRest::new(&env.twilio_api_base, stores.secrets.clone(), Duration::from_secs(15))?);
    let chat = secret_keyed_model(channel, stores.secrets.clone(), env);
    let engine = Engine::new(
        EnginePorts::new(&stores, chat, twilio.clone(), twilio),
        TurnSettings {
            status_callback_base: env.public_base_url.clone(),
            retry_budget: env.retry_budget,
            // The lease is the visibility the heartbeat renews: a record whose Lambda
            // timed out or crashed reappears with at most half a lease left on its claim,
            // which the next invocation waits out (docs/decisions.md, "Crash safety").
            lease: env.visibility,
            ..Default::default()
        },
    );
    Ok(SqsHandler {
        engine: Arc::new(engine),
        queues: stores.queues,
        settings: HandlerSettings {
            channel,
            concurrency: env.concurrency,
            visibility: env.visibility,
            retry_delay: Duration::from_secs(2),
        },
    })
}

/// The whole processor Lambda of `channel`: JSON logs, configuration from the
/// environment (every missing setting named before the first event), then the runtime
/// loop.
pub async fn run(channel: Channel) -> Result<(), lambda_runtime::Error> {
    comms_telemetry::init(LogFormat::from_env(LogFormat::Json));
    let resources = AwsResources::from_env()?;
    let env = ProcessorEnv::from_env()?;
    let config = aws_config::load_from_env().await;
    let handler = Arc::new(aws_handler(&config, &resources, &env, channel).await?);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
        let handler = Arc::clone(&handler);
        async move { Ok::<_, lambda_runtime::Error>(handler.handle(event.payload).await) }
    }))
    .await
}
