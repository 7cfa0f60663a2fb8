//! `comms webhook sms|voice|email`: Twilio-style signed webhooks (an inbound SMS, or what
//! a caller said on a call) and SendGrid-style inbound mail ([`email`]), so the server can
//! be tried without a Twilio or SendGrid account.

mod email;

use std::path::Path;

use clap::{Args, Subcommand};
use comms_core::domain::{Channel, PhoneNumber};
use comms_core::twilio::{TwilioCredentials, signature};

use crate::CliResult;
use crate::backend::{Backend, store_ports};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Send an inbound SMS webhook.
    Sms(SmsArgs),
    /// Send what a caller said on a live call (the speech `<Gather>` webhook of a turn);
    /// the answer shows up as a call update (`comms outbox` without Twilio).
    Voice(VoiceArgs),
    /// Send an inbound email as SendGrid's Inbound Parse posts it (raw MIME, signed);
    /// the reply shows up in `comms outbox`.
    Email(email::EmailArgs),
}

#[derive(Debug, Args)]
pub struct VoiceArgs {
    /// The caller's number (E.164).
    #[arg(long)]
    pub from: String,
    /// The tenant's number (E.164).
    #[arg(long)]
    pub to: String,
    /// What the caller said (Twilio's `SpeechResult`); empty for silence.
    #[arg(long)]
    pub speech: String,
    /// The call (default: a new `CA…` id).
    #[arg(long)]
    pub call_sid: Option<String>,
    /// The turn of the call.
    #[arg(long, default_value_t = 1)]
    pub turn: u32,
    /// Base URL the server considers public; `/twilio/voice/gather?turn=N` is added.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub base_url: String,
    /// Auth token to sign with; by default the one stored for the tenant owning --to.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct SmsArgs {
    /// The customer's number (E.164).
    #[arg(long)]
    pub from: String,
    /// The tenant's number (E.164).
    #[arg(long)]
    pub to: String,
    /// The message text.
    #[arg(long)]
    pub body: String,
    /// Webhook URL; must be the URL the server considers public.
    #[arg(long, default_value = "http://127.0.0.1:3000/twilio/sms")]
    pub url: String,
    /// Auth token to sign with; by default the one stored for the tenant owning --to in
    /// the local data folder.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
}

/// A webhook ready to sign and send.
struct Prepared {
    channel: Channel,
    /// The tenant's number (whose auth token signs).
    to: PhoneNumber,
    auth_token: Option<String>,
    url: String,
    /// `MessageSid: …` or `CallSid: …`, printed after the status.
    id_line: String,
    params: Vec<(String, String)>,
}

/// The account every generated webhook claims to come from.
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

pub async fn run(data_dir: &Path, backend: Backend, cmd: WebhookCommand) -> CliResult {
    let hook = match cmd {
        WebhookCommand::Sms(args) => sms(args)?,
        WebhookCommand::Voice(args) => voice(args)?,
        WebhookCommand::Email(args) => return email::run(data_dir, backend, args).await,
    };
    let Prepared { channel, to, auth_token, url, id_line, params } = hook;
    let auth_token = match auth_token {
        Some(t) => t,
        None => stored_auth_token(data_dir, backend, channel, &to).await?,
    };
    let sig = signature::compute(&auth_token, &url, &params);
    let resp = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", sig)
        .form(&params)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    println!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    println!("{id_line}");
    if !text.is_empty() {
        println!("{text}");
    }
    if status.is_success() { Ok(()) } else { Err(format!("server refused the webhook ({status})").into()) }
}

/// An inbound SMS as Twilio posts it.
fn sms(args: SmsArgs) -> CliResult<Prepared> {
    let (from, to) = numbers(&args.from, &args.to)?;
    let message_sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let params = form(&[
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("Body", args.body.as_str()),
        ("From", from.as_str()),
        ("MessageSid", message_sid.as_str()),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsMessageSid", message_sid.as_str()),
        ("SmsSid", message_sid.as_str()),
        ("SmsStatus", "received"),
        ("To", to.as_str()),
    ]);
    let id_line = format!("MessageSid: {message_sid}");
    Ok(Prepared { channel: Channel::Sms, to, auth_token: args.auth_token, url: args.url, id_line, params })
}

/// What a caller said on a turn of a call, as Twilio posts it to the gather route.
fn voice(args: VoiceArgs) -> CliResult<Prepared> {
    let (from, to) = numbers(&args.from, &args.to)?;
    let call_sid = args.call_sid.unwrap_or_else(|| format!("CA{}", uuid::Uuid::new_v4().simple()));
    let mut params = vec![
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid.as_str()),
        ("CallStatus", "in-progress"),
        ("Direction", "inbound"),
        ("From", from.as_str()),
        ("To", to.as_str()),
    ];
    if !args.speech.is_empty() {
        params.extend([("SpeechResult", args.speech.as_str()), ("Confidence", "0.9")]);
    }
    let params = form(&params);
    let url = format!("{}/twilio/voice/gather?turn={}", args.base_url.trim_end_matches('/'), args.turn);
    let id_line = format!("CallSid: {call_sid}");
    Ok(Prepared { channel: Channel::Voice, to, auth_token: args.auth_token, url, id_line, params })
}

fn numbers(from: &str, to: &str) -> CliResult<(PhoneNumber, PhoneNumber)> {
    Ok((
        PhoneNumber::parse(from).map_err(|e| format!("--from: {e}"))?,
        PhoneNumber::parse(to).map_err(|e| format!("--to: {e}"))?,
    ))
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The auth token of the tenant receiving `channel` on `to`, from the backend's stores.
async fn stored_auth_token(
    data_dir: &Path,
    backend: Backend,
    channel: Channel,
    to: &PhoneNumber,
) -> CliResult<String> {
    let ports = store_ports(data_dir, backend).await?;
    let tenant = ports.stores.tenants.by_number(channel, to).await?.ok_or_else(|| {
        format!("no tenant ({backend:?} backend) receives {channel} on {to}; pass --auth-token")
    })?;
    let name =
        tenant.credentials.twilio.ok_or("tenant has no Twilio credentials reference; pass --auth-token")?;
    let creds = TwilioCredentials::load(ports.stores.secrets.as_ref(), &name).await?;
    Ok(creds.auth_token.expose().to_owned())
}
