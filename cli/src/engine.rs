//! Builds the SMS turn engine for local mode from the [`Settings`]: OpenAI when
//! `OPENAI_API_KEY` is set (else the offline rules model), Twilio when `TWILIO_API_BASE`
//! is set and SendGrid (email) when `SENDGRID_API_BASE` is set (else the local outbox).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use comms_core::ports::{CallControl, ChatModel, Messenger, Stores};
use comms_engine::turn::{Engine, EnginePorts, TurnSettings};
use comms_providers::channels::ByChannel;
use comms_providers::offline::OfflineRulesModel;
use comms_providers::openai::{ByApi, OpenAiSettings};
use comms_providers::sendgrid::SendGridMail;
use comms_providers::twilio::TwilioRest;
use comms_sqlite::{Db, SqliteOutbox};

use crate::settings::Settings;
use crate::{CliResult, open_db};

/// The model: OpenAI-compatible when a key is set (Chat Completions or the Responses API,
/// per tenant's `ai.api`), else the offline rules model.
pub fn chat_model(settings: &Settings) -> CliResult<Arc<dyn ChatModel>> {
    Ok(match settings.openai_api_key.clone() {
        Some(api_key) => Arc::new(ByApi::openai(OpenAiSettings {
            api_key,
            base_url: settings.openai_base_url.clone(),
            model_override: settings.openai_model.clone(),
            timeout: Duration::from_secs(30),
        })?),
        None => Arc::new(OfflineRulesModel),
    })
}

/// The messenger and call control. Texts and calls: Twilio's REST API when
/// `TWILIO_API_BASE` is set (credentials from the stores' secrets); email: SendGrid's
/// Mail Send when `SENDGRID_API_BASE` is set (each tenant's key and sender from its email
/// section). Whatever has no provider goes to the outbox in the data folder (stored, not
/// sent), on `db` if given (one writer per file) or the data folder's.
pub fn messengers(
    data_dir: &Path,
    db: Option<&Db>,
    stores: &Stores,
    settings: &Settings,
) -> CliResult<(Arc<dyn Messenger>, Arc<dyn CallControl>)> {
    let mut outbox: Option<Arc<SqliteOutbox>> = None;
    let mut outbox = || -> CliResult<Arc<SqliteOutbox>> {
        if let Some(o) = &outbox {
            return Ok(o.clone());
        }
        let db = match db {
            Some(db) => db.clone(),
            None => open_db(data_dir)?,
        };
        Ok(outbox.insert(Arc::new(SqliteOutbox::new(db))).clone())
    };
    let (texts, calls): (Arc<dyn Messenger>, Arc<dyn CallControl>) = match &settings.twilio_api_base {
        Some(base) => {
            let rest = Arc::new(TwilioRest::new(base, stores.secrets.clone(), Duration::from_secs(15))?);
            (rest.clone(), rest)
        }
        None => {
            let outbox = outbox()?;
            (outbox.clone(), outbox)
        }
    };
    let email: Arc<dyn Messenger> = match &settings.sendgrid_api_base {
        Some(base) => Arc::new(SendGridMail::new(
            base,
            stores.secrets.clone(),
            stores.tenants.clone(),
            Duration::from_secs(15),
        )?),
        None => outbox()?,
    };
    Ok((Arc::new(ByChannel::new(texts, email)), calls))
}

/// The engine on the given ports (built from stores with the engine's tenant cache,
/// `Stores::with_engine_tenant_cache`), with status callbacks to `public_base_url`; its
/// turn lease is the workers' visibility timeout (see `TurnSettings::lease`).
pub fn build(
    ports: EnginePorts,
    public_base_url: &str,
    retry_budget: Duration,
    visibility: Duration,
) -> Engine {
    Engine::new(
        ports,
        TurnSettings {
            status_callback_base: Some(public_base_url.to_owned()),
            retry_budget,
            lease: visibility,
            ..Default::default()
        },
    )
}
