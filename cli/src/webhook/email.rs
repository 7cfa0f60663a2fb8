//! `comms webhook email`: an inbound email as SendGrid's Inbound Parse posts it (raw MIME
//! in a `multipart/form-data` body), signed like SendGrid signs it.
//!
//! The signing key: `--signing-key` (base64 of the 32 secret bytes), else the one this
//! command keeps for the tenant in the backend's secrets
//! ([`signing_key_secret`]). When the tenant's SendGrid secret has no
//! `inbound_verification_key` yet, and no `inbound_path_secret` is set, the command makes
//! a key pair: the private half in that local secret, the public half added to the
//! tenant's SendGrid secret (so a local server accepts what it signs). A tenant with only
//! a path secret is posted to `/email/inbound/{secret}` unsigned, as SendGrid would.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use comms_core::domain::EmailAddress;
use comms_core::domain::tenant::TenantConfig;
use comms_core::ports::{Secret, SecretError};
use comms_core::sendgrid::inbound_form;
use comms_core::sendgrid::signature::{TenantWebhookKeys, WebhookSigner};
use serde_json::{Value, json};

use crate::CliResult;
use crate::backend::{Backend, store_ports};

#[derive(Debug, Args)]
pub struct EmailArgs {
    /// The customer's address.
    #[arg(long)]
    pub from: String,
    /// The tenant's address (one of its `email.addresses`).
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub subject: String,
    /// The message text.
    #[arg(long)]
    pub text: String,
    /// The Message-ID this mail answers (threads it: In-Reply-To and References).
    #[arg(long)]
    pub in_reply_to: Option<String>,
    /// The mail's own Message-ID (default: a fresh one). Posting the same one again is
    /// what a SendGrid redelivery looks like: it is answered once.
    #[arg(long)]
    pub message_id: Option<String>,
    /// The server's base URL; `/email/inbound` is added.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub base_url: String,
    /// Key to sign with (base64 of 32 bytes); by default the one kept for the tenant.
    #[arg(long, env = "SENDGRID_INBOUND_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,
}

/// The secret where this command keeps a tenant's inbound signing key (private half).
pub fn signing_key_secret(tenant: &TenantConfig) -> String {
    format!(
        "local-dev/sendgrid-inbound-signing-key/{}/{}",
        tenant.tenant.company_id, tenant.tenant.project_id
    )
}

/// How the post proves itself.
enum Auth {
    Sign(WebhookSigner),
    PathSecret(String),
}

pub async fn run(data_dir: &std::path::Path, backend: Backend, args: EmailArgs) -> CliResult {
    let from = EmailAddress::parse(&args.from).map_err(|e| format!("--from: {e}"))?;
    let to = EmailAddress::parse(&args.to).map_err(|e| format!("--to: {e}"))?;
    let auth = match args.signing_key.as_deref() {
        Some(key) => {
            Auth::Sign(WebhookSigner::from_base64(key).ok_or("--signing-key: not base64 of a P-256 key")?)
        }
        None => stored_auth(data_dir, backend, &to).await?,
    };
    let message_id = match &args.message_id {
        Some(id) => id.trim().trim_start_matches('<').trim_end_matches('>').to_owned(),
        None => format!("{}@comms-cli.invalid", uuid::Uuid::new_v4().simple()),
    };
    let raw = mime(&from, &to, &args, &message_id);
    let envelope = json!({"to": [to.as_str()], "from": from.as_str()}).to_string();
    let fields: [(&str, &[u8]); 6] = [
        ("to", to.as_str().as_bytes()),
        ("from", from.as_str().as_bytes()),
        ("subject", args.subject.as_bytes()),
        ("envelope", envelope.as_bytes()),
        ("charsets", br#"{"to":"UTF-8","from":"UTF-8","subject":"UTF-8"}"#),
        ("email", raw.as_bytes()),
    ];
    let boundary = format!("xYzZY{}", uuid::Uuid::new_v4().simple());
    let body = inbound_form::encode(&boundary, &fields);
    let base = args.base_url.trim_end_matches('/');
    let (url, headers) = match &auth {
        Auth::Sign(signer) => {
            (format!("{base}/email/inbound"), signer.headers(jiff::Timestamp::now(), &body).to_vec())
        }
        Auth::PathSecret(secret) => (format!("{base}/email/inbound/{secret}"), Vec::new()),
    };
    let mut request = reqwest::Client::new()
        .post(&url)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let resp = request.body(body).send().await.map_err(|e| format!("cannot reach {base}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    println!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    println!("Message-ID: <{message_id}>");
    if !text.is_empty() {
        println!("{text}");
    }
    if status.is_success() { Ok(()) } else { Err(format!("server refused the webhook ({status})").into()) }
}

/// The raw message, as a mail client writes a plain-text one.
fn mime(from: &EmailAddress, to: &EmailAddress, args: &EmailArgs, message_id: &str) -> String {
    let date = jiff::Zoned::now().strftime("%a, %d %b %Y %H:%M:%S %z");
    let mut head = vec![
        format!("From: {}", from.as_str()),
        format!("To: {}", to.as_str()),
        format!("Subject: {}", encoded_word(&args.subject)),
        format!("Date: {date}"),
        format!("Message-ID: <{message_id}>"),
    ];
    if let Some(parent) = &args.in_reply_to {
        let parent = parent.trim().trim_start_matches('<').trim_end_matches('>');
        head.push(format!("In-Reply-To: <{parent}>"));
        head.push(format!("References: <{parent}>"));
    }
    head.extend([
        "MIME-Version: 1.0".to_owned(),
        "Content-Type: text/plain; charset=utf-8".to_owned(),
        "Content-Transfer-Encoding: base64".to_owned(),
    ]);
    let encoded = STANDARD.encode(args.text.as_bytes());
    let lines: Vec<&str> =
        encoded.as_bytes().chunks(76).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!("{}\r\n\r\n{}\r\n", head.join("\r\n"), lines.join("\r\n"))
}

/// A header value, RFC 2047-encoded when it is not plain ASCII (or holds a line break).
fn encoded_word(value: &str) -> String {
    let one_line: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.is_ascii() { one_line } else { format!("=?UTF-8?B?{}?=", STANDARD.encode(one_line)) }
}

/// The tenant's way in, from the backend's stores (see the module comment).
async fn stored_auth(data_dir: &std::path::Path, backend: Backend, to: &EmailAddress) -> CliResult<Auth> {
    let ports = store_ports(data_dir, backend).await?;
    let tenant = ports.stores.tenants.by_email(to).await?.ok_or_else(|| {
        format!(
            "no tenant ({backend:?} backend) receives email at {}; check its email.addresses",
            to.redacted()
        )
    })?;
    let settings = tenant.email.as_ref().ok_or("the tenant has no email section")?;
    let secrets = ports.stores.secrets.as_ref();
    let mut sendgrid = match secrets.get(&settings.sendgrid_secret).await {
        Ok(s) => serde_json::from_str::<Value>(s.expose()).unwrap_or_else(|_| json!({"api_key": s.expose()})),
        Err(SecretError::NotFound(_)) => json!({}),
        Err(e) => return Err(e.into()),
    };
    let keys = TenantWebhookKeys::from_secret(&sendgrid.to_string())?;
    let kept = match secrets.get(&signing_key_secret(&tenant)).await {
        Ok(s) => WebhookSigner::from_base64(s.expose()),
        Err(SecretError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let trusted = sendgrid["inbound_verification_key"].as_str().unwrap_or("").to_owned();
    let kept = kept.filter(|signer| signer.public_key_base64() == trusted);
    match (keys.inbound, kept, &settings.inbound_path_secret) {
        (Some(_), Some(signer), _) => Ok(Auth::Sign(signer)),
        (Some(_), None, Some(path)) => Ok(Auth::PathSecret(path.clone())),
        (Some(_), None, None) => {
            Err("the tenant's inbound verification key is not one this command made; pass --signing-key"
                .into())
        }
        (None, _, Some(path)) => Ok(Auth::PathSecret(path.clone())),
        (None, _, None) => {
            let signer = new_signer();
            secrets.put(&signing_key_secret(&tenant), &Secret::new(signer.secret_base64())).await?;
            sendgrid["inbound_verification_key"] = json!(signer.public_key_base64());
            secrets.put(&settings.sendgrid_secret, &Secret::new(sendgrid.to_string())).await?;
            eprintln!(
                "made an inbound signing key for tenant {}; its public half is now in {}",
                tenant.tenant, settings.sendgrid_secret
            );
            Ok(Auth::Sign(signer))
        }
    }
}

/// A fresh signing key from two v4 UUIDs' random bits (a valid scalar with
/// overwhelming probability; another draw otherwise).
fn new_signer() -> WebhookSigner {
    loop {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        if let Some(signer) = WebhookSigner::from_bytes(&bytes) {
            return signer;
        }
    }
}
