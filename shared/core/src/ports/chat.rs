use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::tenant::ModelApi;
use crate::retry::{Classify, Disposition};

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// A call the model asked for; `arguments` is the model's JSON text, unvalidated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One message of a chat exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    System {
        content: String,
    },
    /// The customer's words, and pictures for a vision model to look at (URLs the model
    /// fetches, or `data:` URLs).
    User {
        content: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<String>,
    },
    Assistant {
        content: Option<String>,
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        call_id: String,
        content: String,
    },
}

impl ChatMessage {
    /// A user message of text only.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage::User { content: content.into(), images: Vec::new() }
    }
}

/// What to ask the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
    /// The secret holding the API key to call with: the tenant's `credentials.openai`.
    /// `None` uses the model's own key (on AWS, `openai-api-key/{channel}`); models
    /// without per-call keys ignore it.
    pub key_secret: Option<String>,
    /// Which OpenAI API to speak (the tenant's `ai.api`); models with one API ignore it.
    pub api: ModelApi,
}

/// The model's answer: text, tool calls, or both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatReply {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    /// What the call used, as the API reported it; `None` from a model that does not
    /// bill (the offline rules model) or a server that did not say.
    pub usage: Option<Usage>,
}

/// The tokens one model call used, as billed. `input_tokens` includes the cached ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// The model that answered, as the API named it (e.g. `gpt-4o-mini-2024-07-18`).
    pub model: String,
    pub input_tokens: u64,
    /// Input tokens served from the prompt cache (billed at the cached price).
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
}

/// Failure of a model call, classified once here for retries and dead-lettering.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// Throttling, 5xx, timeout, connection: may succeed later.
    #[error("model temporarily unavailable: {message}")]
    Transient { message: String, retry_after: Option<Duration> },
    /// Bad request, auth, exhausted quota: retrying the same call cannot succeed.
    #[error("model call failed permanently: {0}")]
    Permanent(String),
}

impl Classify for ChatError {
    fn disposition(&self) -> Disposition {
        match self {
            ChatError::Transient { retry_after, .. } => Disposition::Retry { after: *retry_after },
            ChatError::Permanent(_) => Disposition::Permanent,
        }
    }
}

/// A chat-completion model with tool calling.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// One completion.
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, ChatError>;

    /// A name for logs (`openai:gpt-4o-mini`, `offline-rules`).
    fn describe(&self) -> String;
}
