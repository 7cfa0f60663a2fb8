//! Both OpenAI adapters behind one model: [`ByApi`] sends each request to the adapter of
//! its tenant's `ai.api` (Chat Completions or the Responses API), and
//! [`SecretKeyedOpenAi`] reads the API key from the secret store per call.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use comms_core::domain::tenant::ModelApi;
use comms_core::ports::{ChatError, ChatModel, ChatReply, ChatRequest, SecretError, SecretStore};

use crate::openai::{OpenAiChat, OpenAiSettings};
use crate::responses::OpenAiResponses;

/// Picks the adapter per request by `ChatRequest::api`.
pub struct ByApi {
    pub chat_completions: Arc<dyn ChatModel>,
    pub responses: Arc<dyn ChatModel>,
}

impl ByApi {
    /// Both OpenAI adapters on the same settings (key, base URL, model override).
    pub fn openai(settings: OpenAiSettings) -> Result<Self, ChatError> {
        Ok(Self {
            chat_completions: Arc::new(OpenAiChat::new(settings.clone())?),
            responses: Arc::new(OpenAiResponses::new(settings)?),
        })
    }

    fn pick(&self, api: ModelApi) -> &dyn ChatModel {
        match api {
            ModelApi::ChatCompletions => self.chat_completions.as_ref(),
            ModelApi::Responses => self.responses.as_ref(),
        }
    }
}

#[async_trait]
impl ChatModel for ByApi {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, ChatError> {
        self.pick(request.api).complete(request).await
    }

    fn describe(&self) -> String {
        format!("{} / {} (per tenant's ai.api)", self.chat_completions.describe(), self.responses.describe())
    }
}

/// OpenAI with its API key read from the secret store on every call: the request's
/// `key_secret` (the tenant's `credentials.openai`) when set, else the default secret
/// (`openai-api-key/{channel}` on AWS). The store caches (Secrets Manager: for its TTL),
/// so a warm process makes no extra call, and a rotated key is picked up when its cache
/// entry expires; the clients (both APIs) are rebuilt only when its key changed.
pub struct SecretKeyedOpenAi {
    secrets: Arc<dyn SecretStore>,
    secret_name: String,
    /// Settings without the key (`api_key` is ignored and filled from the secret).
    settings: OpenAiSettings,
    /// Per secret name: the key last read and the client built with it.
    current: tokio::sync::Mutex<HashMap<String, (String, Arc<ByApi>)>>,
}

/// How many per-secret clients are kept before the map is cleared (tenant keys).
const KEYED_CLIENTS_MAX: usize = 1000;

impl SecretKeyedOpenAi {
    /// A model whose key is the secret `secret_name`.
    pub fn new(secrets: Arc<dyn SecretStore>, secret_name: &str, settings: OpenAiSettings) -> Self {
        Self {
            secrets,
            secret_name: secret_name.to_owned(),
            settings,
            current: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn client(&self, secret_name: &str) -> Result<Arc<ByApi>, ChatError> {
        let key = self.secrets.get(secret_name).await.map_err(|e| match e {
            SecretError::NotFound(name) => {
                ChatError::Permanent(format!("model key secret '{name}' does not exist"))
            }
            SecretError::Backend { message, transient: true } => {
                ChatError::Transient { message: format!("model key: {message}"), retry_after: None }
            }
            other => ChatError::Permanent(format!("model key: {other}")),
        })?;
        let key = key.expose().trim().to_owned();
        let mut current = self.current.lock().await;
        if let Some((k, chat)) = current.get(secret_name)
            && *k == key
        {
            return Ok(Arc::clone(chat));
        }
        let chat = Arc::new(ByApi::openai(OpenAiSettings { api_key: key.clone(), ..self.settings.clone() })?);
        if current.len() >= KEYED_CLIENTS_MAX {
            current.clear();
        }
        current.insert(secret_name.to_owned(), (key, Arc::clone(&chat)));
        Ok(chat)
    }
}

#[async_trait]
impl ChatModel for SecretKeyedOpenAi {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, ChatError> {
        let secret_name = request.key_secret.as_deref().unwrap_or(&self.secret_name);
        self.client(secret_name).await?.complete(request).await
    }

    fn describe(&self) -> String {
        let model = self.settings.model_override.as_deref().unwrap_or("per-tenant model");
        let base = self.settings.effective_base_url();
        format!("openai, per tenant's ai.api ({model} at {base}, key from secret {})", self.secret_name)
    }
}
