//! Which model a run uses (`--model`), and the meter between the engine and it: every
//! reply's usage is added up per scenario, as the engine received it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use comms_core::ports::{ChatError, ChatModel, ChatReply, ChatRequest};
use comms_providers::offline::OfflineRulesModel;
use comms_providers::openai::{OpenAiChat, OpenAiSettings};

use crate::CliResult;

/// The model the scenarios run against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChoice {
    /// The offline rules model (not an AI).
    Offline,
    /// The scripted stub replaying each scenario's `script`.
    Stub,
    /// A real model on an OpenAI-compatible API.
    OpenAi { model: String, api_key: String, base_url: Option<String> },
}

impl ModelChoice {
    /// From `--model` (absent: a real model when a key is set, else offline); a real
    /// model needs the key.
    pub fn parse(
        flag: Option<&str>,
        api_key: Option<String>,
        base_url: Option<String>,
        tenant_model: &str,
    ) -> CliResult<Self> {
        let model = match (flag, &api_key) {
            (Some("offline"), _) | (None, None) => return Ok(Self::Offline),
            (Some("stub"), _) => return Ok(Self::Stub),
            (Some(name), _) => name.to_owned(),
            (None, Some(_)) => tenant_model.to_owned(),
        };
        let api_key = api_key.ok_or_else(|| {
            format!("--model {model}: a real model needs OPENAI_API_KEY (or use --model stub or offline)")
        })?;
        Ok(Self::OpenAi { model, api_key, base_url })
    }

    /// What the report's header says ran.
    pub fn label(&self) -> String {
        match self {
            Self::Offline => format!("offline: {}", OfflineRulesModel.describe()),
            Self::Stub => "stub: scripted replies from each scenario's script (checks the pipeline and \
                           the checker, not a model; token counts are the stub's estimates)"
                .into(),
            Self::OpenAi { model, base_url, .. } => format!(
                "{model} at {} (a real model: billed)",
                base_url.as_deref().unwrap_or(comms_providers::openai::OPENAI_DEFAULT_BASE_URL)
            ),
        }
    }

    /// The model for one scenario (`stub_url`: that scenario's scripted model).
    pub fn build(&self, stub_url: Option<&str>) -> CliResult<Arc<dyn ChatModel>> {
        let openai = |api_key: &str, base_url: Option<String>, model: Option<String>| {
            let settings = OpenAiSettings {
                api_key: api_key.to_owned(),
                base_url,
                model_override: model,
                timeout: TIMEOUT,
            };
            OpenAiChat::new(settings).map(|c| Arc::new(c) as Arc<dyn ChatModel>)
        };
        Ok(match self {
            Self::Offline => Arc::new(OfflineRulesModel),
            Self::Stub => openai("stub-key", stub_url.map(str::to_owned), None)?,
            Self::OpenAi { model, api_key, base_url } => {
                openai(api_key, base_url.clone(), Some(model.clone()))?
            }
        })
    }
}

const TIMEOUT: Duration = Duration::from_secs(60);

/// A model whose calls are counted.
pub struct Metered {
    inner: Arc<dyn ChatModel>,
    calls: Mutex<u64>,
}

impl Metered {
    pub fn new(inner: Arc<dyn ChatModel>) -> Self {
        Self { inner, calls: Mutex::new(0) }
    }

    /// Model calls made so far.
    pub fn calls(&self) -> u64 {
        *self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ChatModel for Metered {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, ChatError> {
        let reply = self.inner.complete(request).await?;
        *self.calls.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Ok(reply)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
