//! The processors on AWS Lambda: an SQS event source mapping hands a batch of up to 10
//! records; each is processed concurrently with a visibility heartbeat; the answer
//! lists only the failed records (`ReportBatchItemFailures`), so SQS deletes the rest.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use comms_aws::{AwsResources, QueueUrls, SqsQueues};
use comms_core::domain::Channel;
use comms_core::ports::{ChatModel, Queues, SecretStore};
use comms_providers::channels::ByChannel;
use comms_providers::openai::{OpenAiSettings, SecretKeyedOpenAi};
use comms_providers::sendgrid::{self, SendGridMail};
use comms_providers::twilio::TwilioRest;
use comms_telemetry::LogFormat;

use comms_core::domain::pricing::PriceTable;
use comms_engine::batch::{Record, SettlePolicy, run_batch};
use comms_engine::prices;
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

/// Everything a processor Lambda reads from its environment, parsed once at start-up.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// `TWILIO_API_BASE`, default `https://api.twilio.com`.
    pub twilio_api_base: String,
    /// `SENDGRID_API_BASE`, default `https://api.sendgrid.com` (email replies).
    pub sendgrid_api_base: String,
    /// `OPENAI_BASE_URL` (default OpenAI's) and `OPENAI_MODEL` (default: each tenant's).
    pub openai_base_url: Option<String>,
    pub openai_model: Option<String>,
    /// `COMMS_PUBLIC_BASE_URL`: where Twilio posts delivery statuses (`/twilio/status`).
    pub public_base_url: Option<String>,
    /// `COMMS_EMAIL_UNSUBSCRIBE_KEY`: the name (or ARN) of the secret that signs email
    /// unsubscribe links (the template passes the email processor its own); unset, the
    /// engine's default name.
    pub unsubscribe_key_secret: Option<String>,
    /// `COMMS_WORKER_CONCURRENCY` (default 10) and `COMMS_VISIBILITY_SECS` (default 30).
    pub concurrency: usize,
    pub visibility: Duration,
    /// `COMMS_RETRY_BUDGET_SECS` (default 20): how long one model or Twilio call is
    /// retried within a record before the record fails and SQS retries it; keep it well
    /// under the function timeout.
    pub retry_budget: Duration,
    /// `COMMS_LOG_FORMAT` (default json).
    pub log_format: LogFormat,
    /// The table and queues (`COMMS_TABLE`, `COMMS_QUEUE_PREFIX`, secrets cache).
    pub resources: AwsResources,
    /// `COMMS_{CHANNEL}_QUEUE_URL` and `COMMS_{CHANNEL}_DLQ_URL` of the processor's own
    /// channel (the template passes them): no queue is looked up at start-up.
    pub queue_urls: QueueUrls,
    /// The built-in prices with `COMMS_PRICES_FILE`'s over them, if set.
    pub prices: PriceTable,
}

impl ProcessorSettings {
    /// Parses the settings of `channel`'s processor from `get` (a map in tests); every
    /// missing or malformed variable is named in the error, all at once.
    pub fn from_lookup(channel: Channel, get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut problems = Vec::new();
        let mut number = |name: &str, default: u64, unit: &str| match set(name) {
            None => default,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                problems.push(format!("{name} must be {unit}, not '{v}'"));
                default
            }),
        };
        let concurrency = number("COMMS_WORKER_CONCURRENCY", 10, "a number");
        let visibility = Duration::from_secs(number("COMMS_VISIBILITY_SECS", 30, "whole seconds"));
        let retry_budget = Duration::from_secs(number("COMMS_RETRY_BUDGET_SECS", 20, "whole seconds"));
        let log_format = LogFormat::from_lookup(&get, LogFormat::Json).map_err(|e| problems.push(e)).ok();
        let resources = AwsResources::from_lookup(&get).map_err(|e| problems.push(e)).ok();
        let queue_urls = QueueUrls::from_lookup(&get, &[channel], true).map_err(|e| problems.push(e)).ok();
        let prices = prices::configured(set(prices::PRICES_FILE_VAR).as_deref(), None).unwrap_or_else(|e| {
            problems.push(e);
            PriceTable::builtin()
        });
        let (Some(log_format), Some(resources), Some(queue_urls)) = (log_format, resources, queue_urls)
        else {
            return Err(problems.join("; "));
        };
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Self {
            twilio_api_base: set("TWILIO_API_BASE").unwrap_or_else(|| "https://api.twilio.com".into()),
            sendgrid_api_base: set("SENDGRID_API_BASE").unwrap_or_else(|| sendgrid::DEFAULT_API_BASE.into()),
            openai_base_url: set("OPENAI_BASE_URL"),
            openai_model: set("OPENAI_MODEL"),
            public_base_url: set("COMMS_PUBLIC_BASE_URL"),
            unsubscribe_key_secret: set("COMMS_EMAIL_UNSUBSCRIBE_KEY"),
            concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
            visibility,
            retry_budget,
            log_format,
            resources,
            queue_urls,
            prices,
        })
    }

    /// Parses the settings from the process environment: the one place a processor
    /// Lambda reads it.
    pub fn from_env(channel: Channel) -> Result<Self, String> {
        Self::from_lookup(channel, |name| std::env::var(name).ok())
    }
}

/// The model of a channel's processor on AWS: OpenAI with the key in the tenant's
/// `credentials.openai` secret, else `openai-api-key/{channel}` (read through the cache,
/// so rotation needs no redeploy).
pub fn secret_keyed_model(
    channel: Channel,
    secrets: Arc<dyn SecretStore>,
    env: &ProcessorSettings,
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

/// Builds the handler of `channel` on the AWS adapters. Builds clients only: no call is
/// made before the first batch (tenants and secrets are read when a turn needs them).
pub fn aws_handler(
    config: &aws_config::SdkConfig,
    env: &ProcessorSettings,
    channel: Channel,
) -> Result<SqsHandler, lambda_runtime::Error> {
    let resources = &env.resources;
    let queues = SqsQueues::from_urls(config, &resources.queue_names(), &env.queue_urls);
    let stores = comms_aws::stores(config, resources, queues)?
        .with_engine_tenant_cache(comms_core::cached::DEFAULT_TTL);
    let twilio =
        Arc::new(TwilioRest::new(&env.twilio_api_base, stores.secrets.clone(), Duration::from_secs(15))?);
    let email = Arc::new(SendGridMail::new(
        &env.sendgrid_api_base,
        stores.secrets.clone(),
        stores.tenants.clone(),
        Duration::from_secs(15),
    )?);
    let messenger = Arc::new(ByChannel::new(twilio.clone(), email));
    let chat = secret_keyed_model(channel, stores.secrets.clone(), env);
    let defaults = TurnSettings::default();
    let engine = Engine::new(
        EnginePorts::new(&stores, chat, messenger, twilio),
        TurnSettings {
            status_callback_base: env.public_base_url.clone(),
            retry_budget: env.retry_budget,
            // The lease is the visibility the heartbeat renews: a record whose Lambda
            // timed out or crashed reappears with at most half a lease left on its claim,
            // which the next invocation waits out (docs/decisions.md, "Crash safety").
            lease: env.visibility,
            unsubscribe_key_secret: env
                .unsubscribe_key_secret
                .clone()
                .unwrap_or(defaults.unsubscribe_key_secret),
            prices: env.prices.clone(),
            ..defaults
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

/// The whole processor Lambda of `channel`: its settings (every missing or malformed one
/// named before the first event), logs (JSON unless `COMMS_LOG_FORMAT=text`), then the
/// runtime loop. Nothing here waits on the network (see [`aws_handler`]).
pub async fn run(channel: Channel) -> Result<(), lambda_runtime::Error> {
    let settings = ProcessorSettings::from_env(channel)?;
    comms_telemetry::init(settings.log_format);
    // Metrics as EMF lines on stdout, flushed after each batch (docs/operations.md).
    let emf = comms_telemetry::emf::Emf::install(&settings.resources.queue_prefix, service_name(channel))?;
    comms_core::metrics::describe();
    metrics::counter!(comms_core::metrics::COLD_STARTS).increment(1);
    let config = comms_aws::lambda_config(|name| std::env::var(name).ok())?;
    let handler = Arc::new(aws_handler(&config, &settings, channel)?);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
        let handler = Arc::clone(&handler);
        async move { Ok::<_, lambda_runtime::Error>(emf.flushed(handler.handle(event.payload)).await) }
    }))
    .await
}

/// The `service` dimension of a channel's processor metrics.
fn service_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms-processor",
        Channel::Whatsapp => "whatsapp-processor",
        Channel::Voice => "voice-processor",
        Channel::Email => "email-processor",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<ProcessorSettings, String> {
        let mut env: BTreeMap<String, String> = [
            ("COMMS_TABLE", "t"),
            ("COMMS_QUEUE_PREFIX", "p"),
            ("COMMS_SMS_QUEUE_URL", "http://sqs.local/1/p-sms"),
            ("COMMS_SMS_DLQ_URL", "http://sqs.local/1/p-sms-dlq"),
        ]
        .map(|(k, v)| (k.into(), v.into()))
        .into();
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ProcessorSettings::from_lookup(Channel::Sms, |n| env.get(n).cloned())
    }

    #[test]
    fn defaults_apply_and_empty_values_count_as_unset() {
        let s = parse(&[("OPENAI_BASE_URL", ""), ("COMMS_LOG_FORMAT", "text")]).unwrap();
        assert_eq!(s.twilio_api_base, "https://api.twilio.com");
        assert_eq!(s.sendgrid_api_base, "https://api.sendgrid.com");
        assert_eq!(s.openai_base_url, None);
        assert_eq!(s.unsubscribe_key_secret, None);
        let named = parse(&[("COMMS_EMAIL_UNSUBSCRIBE_KEY", "comms/email/unsubscribe-key")]).unwrap();
        assert_eq!(named.unsubscribe_key_secret.as_deref(), Some("comms/email/unsubscribe-key"));
        assert_eq!(
            (s.concurrency, s.visibility, s.retry_budget),
            (10, Duration::from_secs(30), Duration::from_secs(20))
        );
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.resources.queue_prefix, "p");
        let sms = &s.queue_urls.0[&Channel::Sms];
        assert_eq!(
            (sms.queue.as_str(), sms.dlq.as_deref()),
            ("http://sqs.local/1/p-sms", Some("http://sqs.local/1/p-sms-dlq"))
        );
    }

    #[test]
    fn each_malformed_variable_is_an_error_naming_it() {
        for (name, bad) in [
            ("COMMS_WORKER_CONCURRENCY", "ten"),
            ("COMMS_VISIBILITY_SECS", "30s"),
            ("COMMS_RETRY_BUDGET_SECS", "-1"),
            ("COMMS_LOG_FORMAT", "xml"),
            ("COMMS_SECRETS_TTL_SECS", "soon"),
            ("COMMS_SMS_DLQ_URL", "p-sms-dlq"),
        ] {
            let err = parse(&[(name, bad)]).unwrap_err();
            assert!(err.contains(name) && err.contains(&format!("'{bad}'")), "{name}={bad}: {err}");
        }
        let err = ProcessorSettings::from_lookup(Channel::Whatsapp, |n| {
            (n == "COMMS_VISIBILITY_SECS").then(|| "x".into())
        })
        .unwrap_err();
        for name in [
            "COMMS_TABLE",
            "COMMS_QUEUE_PREFIX",
            "COMMS_VISIBILITY_SECS",
            "COMMS_WHATSAPP_QUEUE_URL",
            "COMMS_WHATSAPP_DLQ_URL",
        ] {
            assert!(err.contains(name), "every problem at once: {err}");
        }
    }

    /// The handler as `run` builds it (settings as the template sets them, then
    /// `aws_handler`) makes no AWS call before its first batch; the batch's calls are
    /// seen by the same recorder, so the silence before it is not blindness.
    #[tokio::test]
    async fn building_the_handler_makes_no_aws_call_before_the_first_batch() {
        let settings = parse(&[
            ("COMMS_SMS_QUEUE_URL", "http://127.0.0.1:9/123456789012/comms-sms"),
            ("COMMS_SMS_DLQ_URL", "http://127.0.0.1:9/123456789012/comms-sms-dlq"),
            ("COMMS_RETRY_BUDGET_SECS", "0"),
        ])
        .unwrap();
        let log = comms_aws::CallLog::default();
        // The configuration as the binary builds it, from Lambda's variables; nothing
        // listens on port 9: a call fails at once, and is recorded.
        let lambda_env = |n: &str| match n {
            "AWS_REGION" => Some("us-east-1".to_owned()),
            "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("test".to_owned()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9".to_owned()),
            _ => None,
        };
        let config = log.instrument(&comms_aws::lambda_config(lambda_env).unwrap());
        let handler = aws_handler(&config, &settings, Channel::Sms).unwrap();
        assert_eq!(log.take(), Vec::<String>::new(), "AWS calls before the first batch");

        let sample = include_str!("../../samples/events/sqs-batch-with-poison-record.json");
        let event: SqsEvent = serde_json::from_str(sample).unwrap();
        let records = event.records.len();
        let answer = handler.handle(event).await;
        assert_eq!(answer.batch_item_failures.len(), records, "nothing can succeed without AWS");
        let calls = log.take();
        assert!(calls.iter().any(|c| c.starts_with("DynamoDB.")), "{calls:?}");
    }
}
