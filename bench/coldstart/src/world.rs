//! What the functions run against: moto (behind a [`CountingProxy`]) holding the stack's
//! table, queues, the demo tenant and its secrets; the OpenAI and Twilio wire stubs; and
//! each function's environment as the template sets it (plus what Lambda itself sets).

use std::collections::BTreeMap;

use comms_aws::{AwsResources, DynamoStore, SqsQueues, dlq_url_var, emulator_config, queue_url_var};
use comms_core::domain::Channel;
use comms_core::domain::tenant::TenantConfig;
use comms_core::ports::TenantDirectory;
use comms_core::twilio::signature;
use comms_testkit::moto::Moto;
use comms_testkit::{ModelStep, OpenAiStub, TwilioStub};
use serde_json::{Value, json};

use crate::proxy::CountingProxy;

/// The auth token of the demo tenant's Twilio secret; webhooks are signed with it.
pub const AUTH_TOKEN: &str = "test-auth-token";
/// The invoke URL of the sample API Gateway event (its request context).
pub const INVOKE_URL: &str = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod";
const SAMPLE_WEBHOOK: &str = include_str!("../../../samples/events/apigw-rest-twilio-sms.json");
const SAMPLE_BATCH: &str = include_str!("../../../samples/events/sqs-batch-with-poison-record.json");
const TENANT: &str = include_str!("../../../samples/tenants/demo-repair-shop.json");
/// The stack name: queues `comms-sms`..., table `comms-data`.
const PREFIX: &str = "comms";

/// moto with the stack's resources, the stubs, and the proxy the functions reach AWS by.
pub struct World {
    pub moto: Moto,
    pub proxy: CountingProxy,
    pub openai: OpenAiStub,
    pub twilio: TwilioStub,
    resources: AwsResources,
    queues: SqsQueues,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

impl World {
    /// Starts moto (`None` where it is not installed) and provisions what the functions use.
    pub async fn start() -> Result<Option<World>, Error> {
        let Some(moto) = Moto::start().await else { return Ok(None) };
        let config = emulator_config(&moto.endpoint).await;
        let resources = AwsResources::with_defaults(|_| None)?;
        let channels = [Channel::Sms, Channel::Whatsapp, Channel::Voice];
        let queues = SqsQueues::provision(&config, &resources.queue_names(), &channels, 3).await?;
        let store = DynamoStore::provision(&config, &resources.table).await?;
        let tenant = TenantConfig::from_json(TENANT)?;
        store.put(&tenant).await?;
        let sm = aws_sdk_secretsmanager::Client::new(&config);
        let twilio_secret =
            tenant.credentials.twilio.clone().ok_or("the demo tenant names no Twilio secret")?;
        let twilio_value = format!(r#"{{"account_sid": "ACtest", "auth_token": "{AUTH_TOKEN}"}}"#);
        for (name, value) in
            [(twilio_secret, twilio_value), ("openai-api-key/sms".to_owned(), "sk-test".to_owned())]
        {
            sm.create_secret().name(name).secret_string(value).send().await?;
        }
        let upstream = moto.endpoint.trim_start_matches("http://").to_owned();
        let proxy = CountingProxy::start(upstream).await?;
        let openai = OpenAiStub::start(vec![]).await;
        openai.always(ModelStep::Text("Yes, we fix screens today."));
        let twilio = TwilioStub::start().await;
        Ok(Some(World { moto, proxy, openai, twilio, resources, queues }))
    }

    /// What Lambda sets for every function, with AWS reached through the proxy (the
    /// instance metadata endpoint too: a credentials or region lookup there would count).
    fn lambda_env(&self, function: &str, runtime_api: &str) -> BTreeMap<String, String> {
        [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/f"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "s"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_SESSION_TOKEN", "test"),
            ("AWS_ENDPOINT_URL", &self.proxy.endpoint),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &self.proxy.endpoint),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("LANG", "en_US.UTF-8"),
            ("TZ", ":UTC"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into()
    }

    /// The template's Globals environment and the queue URLs of `channels` (with DLQs).
    fn comms_env(&self, channels: &[Channel], dlq: bool) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = [
            ("COMMS_TABLE", self.resources.table.as_str()),
            ("COMMS_QUEUE_PREFIX", PREFIX),
            ("COMMS_SECRETS_TTL_SECS", "300"),
            ("COMMS_LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        for (channel, urls) in &self.queues.queue_urls().0 {
            if channels.contains(channel) {
                env.insert(queue_url_var(*channel).to_owned(), urls.queue.clone());
                if let (true, Some(d)) = (dlq, &urls.dlq) {
                    env.insert(dlq_url_var(*channel).to_owned(), d.clone());
                }
            }
        }
        env
    }

    /// The router's environment (infra/template.yaml, RouterFunction).
    pub fn router_env(&self, runtime_api: &str) -> BTreeMap<String, String> {
        let mut env = self.lambda_env("comms-router", runtime_api);
        env.extend(self.comms_env(&[Channel::Sms, Channel::Whatsapp, Channel::Voice], false));
        env.insert("COMMS_MAX_BODY_BYTES".into(), "65536".into());
        env
    }

    /// The SMS processor's environment (SmsProcessorFunction), with Twilio and OpenAI
    /// pointed at the stubs.
    pub fn sms_processor_env(&self, runtime_api: &str) -> BTreeMap<String, String> {
        let mut env = self.lambda_env("comms-sms-processor", runtime_api);
        env.extend(self.comms_env(&[Channel::Sms], true));
        for (k, v) in [
            ("COMMS_PUBLIC_BASE_URL", INVOKE_URL),
            ("TWILIO_API_BASE", &self.twilio.base_url),
            ("OPENAI_BASE_URL", &self.openai.base_url),
            ("COMMS_WORKER_CONCURRENCY", "10"),
            ("COMMS_VISIBILITY_SECS", "30"),
            ("COMMS_RETRY_BUDGET_SECS", "20"),
        ] {
            env.insert(k.to_owned(), v.to_owned());
        }
        env
    }

    /// A bare function's environment (the hello, the Python stack): Lambda's own
    /// variables and the queue URLs.
    pub fn bare_env(&self, function: &str, runtime_api: &str) -> BTreeMap<String, String> {
        let mut env = self.lambda_env(function, runtime_api);
        env.extend(self.comms_env(&[Channel::Sms], false));
        env
    }
}

/// The sample API Gateway event of an SMS webhook with `sid` as its MessageSid, signed
/// for its invoke URL with the demo tenant's token.
pub fn webhook_event(sid: &str) -> Result<Value, Error> {
    let mut event: Value = serde_json::from_str(SAMPLE_WEBHOOK)?;
    let body = event["body"].as_str().ok_or("the sample event has no body")?;
    let mut params: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    for (k, v) in &mut params {
        if matches!(k.as_str(), "MessageSid" | "SmsSid" | "SmsMessageSid") {
            sid.clone_into(v);
        }
    }
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    let sig = signature::compute(AUTH_TOKEN, &format!("{INVOKE_URL}/twilio/sms"), &params);
    event["body"] = body.into();
    event["headers"]["X-Twilio-Signature"] = sig.clone().into();
    event["multiValueHeaders"]["X-Twilio-Signature"] = json!([sig]);
    Ok(event)
}

/// An SQS batch event of `n` inbound SMS records (the sample batch's good record), each
/// from its own customer number and with its own ids, so each is a turn of its own.
pub fn sqs_batch(batch: usize, n: usize) -> Result<Value, Error> {
    let sample: Value = serde_json::from_str(SAMPLE_BATCH)?;
    let record = &sample["Records"][0];
    let envelope: Value = serde_json::from_str(record["body"].as_str().ok_or("no body")?)?;
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let k = batch * 1000 + i;
            let mut envelope = envelope.clone();
            let from = format!("+1415{k:07}");
            envelope["id"] = format!("SM{:032x}", k).into();
            envelope["from"] = from.clone().into();
            envelope["conversation_id"] = format!("demo.repair-shop.tel.{}", &from[1..]).into();
            let mut r = record.clone();
            r["messageId"] = uuid::Uuid::new_v4().to_string().into();
            r["receiptHandle"] = format!("receipt-{k}").into();
            r["body"] = envelope.to_string().into();
            r
        })
        .collect();
    Ok(json!({ "Records": records }))
}
