//! `comms webhook sms`: a Twilio-style signed SMS webhook, so the server can be tried
//! without a Twilio account.

use std::path::Path;

use clap::{Args, Subcommand};
use comms_shared::domain::{Channel, PhoneNumber};
use comms_shared::twilio::{TwilioCredentials, signature};

use crate::CliResult;
use crate::backend::{Backend, ports};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Send an inbound SMS webhook.
    Sms(SmsArgs),
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

pub async fn run(data_dir: &Path, backend: Backend, cmd: WebhookCommand) -> CliResult {
    let WebhookCommand::Sms(args) = cmd;
    let from = PhoneNumber::parse(&args.from).map_err(|e| format!("--from: {e}"))?;
    let to = PhoneNumber::parse(&args.to).map_err(|e| format!("--to: {e}"))?;
    let auth_token = match args.auth_token {
        Some(t) => t,
        None => stored_auth_token(data_dir, backend, &to).await?,
    };
    let account_sid = "AC00000000000000000000000000000000";
    let message_sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let params: Vec<(String, String)> = [
        ("AccountSid", account_sid),
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
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let sig = signature::compute(&auth_token, &args.url, &params);
    let resp = reqwest::Client::new()
        .post(&args.url)
        .header("x-twilio-signature", sig)
        .form(&params)
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", args.url))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    println!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    println!("MessageSid: {message_sid}");
    if !text.is_empty() {
        println!("{text}");
    }
    if status.is_success() { Ok(()) } else { Err(format!("server refused the webhook ({status})").into()) }
}

/// The auth token of the tenant receiving SMS on `to`, from the backend's stores.
async fn stored_auth_token(data_dir: &Path, backend: Backend, to: &PhoneNumber) -> CliResult<String> {
    let ports = ports(data_dir, backend).await?;
    let tenant =
        ports.tenants.by_number(Channel::Sms, to).await?.ok_or_else(|| {
            format!("no tenant ({backend:?} backend) receives SMS on {to}; pass --auth-token")
        })?;
    let name =
        tenant.credentials.twilio.ok_or("tenant has no Twilio credentials reference; pass --auth-token")?;
    let creds = TwilioCredentials::load(ports.secrets.as_ref(), &name).await?;
    Ok(creds.auth_token.expose().to_owned())
}
