//! Builds the SMS turn engine for local mode from the environment: OpenAI when
//! `OPENAI_API_KEY` is set (else the offline rules model), Twilio when `TWILIO_API_BASE`
//! is set (else the local outbox).

use std::sync::Arc;
use std::time::Duration;

use comms_processors::turn::{Engine, EnginePorts, TurnSettings};
use comms_shared::adapters::offline::OfflineRulesModel;
use comms_shared::adapters::openai::{OpenAiChat, OpenAiSettings};
use comms_shared::adapters::sqlite::{Db, SqliteOutbox, SqliteSecrets};
use comms_shared::ports::{ChatModel, Messenger};
use comms_shared::twilio::rest::TwilioRest;

use crate::CliResult;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The model: OpenAI-compatible when a key is set, else the offline rules model.
pub fn chat_model() -> CliResult<Arc<dyn ChatModel>> {
    Ok(match env("OPENAI_API_KEY") {
        Some(api_key) => Arc::new(OpenAiChat::new(OpenAiSettings {
            api_key,
            base_url: env("OPENAI_BASE_URL"),
            model_override: env("OPENAI_MODEL"),
            timeout: Duration::from_secs(30),
        })?),
        None => Arc::new(OfflineRulesModel),
    })
}

/// The messenger: Twilio's REST API when `TWILIO_API_BASE` is set, else the outbox.
pub fn messenger(db: &Db) -> CliResult<Arc<dyn Messenger>> {
    Ok(match env("TWILIO_API_BASE") {
        Some(base) => Arc::new(TwilioRest::new(
            &base,
            Arc::new(SqliteSecrets::new(db.clone())),
            Duration::from_secs(15),
        )?),
        None => Arc::new(SqliteOutbox::new(db.clone())),
    })
}

/// The engine on the embedded stores.
pub fn build(
    db: &Db,
    chat: Arc<dyn ChatModel>,
    messenger: Arc<dyn Messenger>,
    public_base_url: &str,
) -> Engine {
    Engine::new(
        EnginePorts::embedded(db, chat, messenger),
        TurnSettings { status_callback_base: Some(public_base_url.to_owned()), ..Default::default() },
    )
}
