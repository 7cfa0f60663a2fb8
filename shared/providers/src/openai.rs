//! The chat model port on OpenAI Chat Completions (or any compatible server), through
//! `async-openai`.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestAssistantMessageContent, ChatCompletionRequestMessage,
    ChatCompletionRequestMessageContentPartImage, ChatCompletionRequestMessageContentPartText,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestSystemMessageContent,
    ChatCompletionRequestToolMessage, ChatCompletionRequestToolMessageContent,
    ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent,
    ChatCompletionRequestUserMessageContentPart, ChatCompletionTool, ChatCompletionTools,
    CreateChatCompletionRequest, FunctionCall, FunctionObject, ImageUrl,
};
use async_trait::async_trait;

use comms_core::metrics as metrics_names;
use comms_core::ports::{ChatError, ChatMessage, ChatModel, ChatReply, ChatRequest, ToolCall, Usage};

pub use crate::openai_models::{ByApi, SecretKeyedOpenAi};

/// OpenAI's own endpoint: the base URL when none is configured.
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Where and how to reach the model.
#[derive(Clone)]
pub struct OpenAiSettings {
    pub api_key: String,
    /// `OPENAI_BASE_URL`, e.g. `https://api.openai.com/v1` or a local compatible server;
    /// `None` (or empty) is [`OPENAI_DEFAULT_BASE_URL`].
    pub base_url: Option<String>,
    /// `OPENAI_MODEL`: overrides the tenant's model when set.
    pub model_override: Option<String>,
    /// Per-call timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &self.base_url)
            .field("model_override", &self.model_override)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// OpenAI Chat Completions with tool calling.
pub struct OpenAiChat {
    client: Client<OpenAIConfig>,
    settings: OpenAiSettings,
}

impl OpenAiSettings {
    /// The base URL calls go to.
    pub fn effective_base_url(&self) -> &str {
        match self.base_url.as_deref().map(str::trim) {
            Some(base) if !base.is_empty() => base.trim_end_matches('/'),
            _ => OPENAI_DEFAULT_BASE_URL,
        }
    }

    /// The client configuration, every field set from these settings. async-openai's
    /// `OpenAIConfig::new()` fills them from the process environment (`OPENAI_BASE_URL`,
    /// `OPENAI_API_KEY`, `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID`): an empty
    /// `OPENAI_BASE_URL` there made every call fail with "builder error", so nothing is
    /// left to it.
    fn client_config(&self) -> OpenAIConfig {
        OpenAIConfig::new()
            .with_api_base(self.effective_base_url())
            .with_api_key(self.api_key.clone())
            .with_org_id("")
            .with_project_id("")
    }
}

impl OpenAiSettings {
    /// A client with its own HTTP connection pool and the per-call timeout (both APIs'
    /// adapters use one each).
    pub(crate) fn client(&self) -> Result<Client<OpenAIConfig>, ChatError> {
        let http = crate::http_client()
            .timeout(self.timeout)
            .build()
            .map_err(|e| ChatError::Permanent(format!("cannot build HTTP client: {e}")))?;
        Ok(Client::with_config(self.client_config()).with_http_client(http))
    }

    /// The model to ask for: the override, else the tenant's.
    pub(crate) fn model_for(&self, request: &ChatRequest) -> String {
        self.model_override.clone().unwrap_or_else(|| request.model.clone())
    }

    /// For `describe`: the model and where it is called.
    pub(crate) fn describe(&self, api: &str) -> String {
        let model = self.model_override.as_deref().unwrap_or("per-tenant model");
        format!("openai {api} ({model} at {})", self.effective_base_url())
    }
}

impl OpenAiChat {
    pub fn new(settings: OpenAiSettings) -> Result<Self, ChatError> {
        Ok(Self { client: settings.client()?, settings })
    }
}

fn to_openai(m: &ChatMessage) -> ChatCompletionRequestMessage {
    match m {
        ChatMessage::System { content } => {
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(content.clone()),
                name: None,
            })
        }
        ChatMessage::User { content, images } => {
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: user_content(content, images),
                name: None,
            })
        }
        ChatMessage::Assistant { content, tool_calls } => {
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: content.clone().map(ChatCompletionRequestAssistantMessageContent::Text),
                tool_calls: (!tool_calls.is_empty()).then(|| {
                    tool_calls
                        .iter()
                        .map(|c| {
                            ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                                id: c.id.clone(),
                                function: FunctionCall {
                                    name: c.name.clone(),
                                    arguments: c.arguments.clone(),
                                },
                            })
                        })
                        .collect()
                }),
                ..Default::default()
            })
        }
        ChatMessage::Tool { call_id, content } => {
            ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
                content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
                tool_call_id: call_id.clone(),
            })
        }
    }
}

/// Text alone as a plain string; with images, a text part then one `image_url` part
/// per image, in order.
fn user_content(text: &str, images: &[String]) -> ChatCompletionRequestUserMessageContent {
    if images.is_empty() {
        return ChatCompletionRequestUserMessageContent::Text(text.to_owned());
    }
    let text =
        ChatCompletionRequestUserMessageContentPart::Text(ChatCompletionRequestMessageContentPartText {
            text: text.to_owned(),
            prompt_cache_breakpoint: None,
        });
    let images = images.iter().map(|url| {
        ChatCompletionRequestUserMessageContentPart::ImageUrl(ChatCompletionRequestMessageContentPartImage {
            image_url: ImageUrl { url: url.clone(), detail: None },
            prompt_cache_breakpoint: None,
        })
    });
    ChatCompletionRequestUserMessageContent::Array(std::iter::once(text).chain(images).collect())
}

/// One classification of every failure, for both APIs: throttling and server trouble
/// are transient; `insufficient_quota` (also a 429) and other 4xx are permanent.
pub(crate) fn classify(e: OpenAIError) -> ChatError {
    match e {
        OpenAIError::ApiError(resp) => {
            let status = resp.status_code.as_u16();
            let code = resp.api_error.code.clone().unwrap_or_default();
            let message = format!("{status} {}", resp.api_error.message);
            if code == "insufficient_quota" {
                ChatError::Permanent(format!("insufficient_quota: {message}"))
            } else if status == 429 || status == 408 || status >= 500 {
                ChatError::Transient { message, retry_after: None }
            } else {
                ChatError::Permanent(message)
            }
        }
        OpenAIError::Reqwest(e) => ChatError::Transient { message: e.to_string(), retry_after: None },
        OpenAIError::JSONDeserialize(e, _) => {
            ChatError::Transient { message: format!("unreadable model response: {e}"), retry_after: None }
        }
        other => ChatError::Permanent(other.to_string()),
    }
}

#[async_trait]
impl ChatModel for OpenAiChat {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, ChatError> {
        timed(self.create(request)).await
    }

    fn describe(&self) -> String {
        self.settings.describe("chat completions")
    }
}

impl OpenAiChat {
    /// One Chat Completions call; the tokens it used are counted from its `usage`.
    async fn create(&self, request: &ChatRequest) -> Result<ChatReply, ChatError> {
        let tools: Vec<ChatCompletionTools> = request
            .tools
            .iter()
            .map(|t| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: t.name.clone(),
                        description: Some(t.description.clone()),
                        parameters: Some(t.parameters.clone()),
                        strict: None,
                    },
                })
            })
            .collect();
        let body = CreateChatCompletionRequest {
            model: self.settings.model_for(request),
            messages: request.messages.iter().map(to_openai).collect(),
            tools: (!tools.is_empty()).then_some(tools),
            ..Default::default()
        };
        let response = self.client.chat().create(body).await.map_err(classify)?;
        let usage = response.usage.as_ref().map(|u| {
            let usage = Usage {
                model: response.model.clone(),
                input_tokens: u64::from(u.prompt_tokens),
                cached_input_tokens: u
                    .prompt_tokens_details
                    .as_ref()
                    .and_then(|d| d.cached_tokens)
                    .map_or(0, u64::from),
                output_tokens: u64::from(u.completion_tokens),
            };
            count_tokens(&usage);
            usage
        });
        let choice = response.choices.into_iter().next().ok_or_else(|| ChatError::Transient {
            message: "response had no choices".into(),
            retry_after: None,
        })?;
        let tool_calls = choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| match c {
                ChatCompletionMessageToolCalls::Function(f) => {
                    Some(ToolCall { id: f.id, name: f.function.name, arguments: f.function.arguments })
                }
                ChatCompletionMessageToolCalls::Custom(_) => None,
            })
            .collect();
        Ok(ChatReply { content: choice.message.content, tool_calls, usage })
    }
}

/// Runs one model call, recording its latency and outcome.
pub(crate) async fn timed(
    call: impl std::future::Future<Output = Result<ChatReply, ChatError>>,
) -> Result<ChatReply, ChatError> {
    let started = std::time::Instant::now();
    let result = call.await;
    metrics::histogram!(metrics_names::MODEL_LATENCY_MS, "outcome" => metrics_names::outcome(&result))
        .record(metrics_names::ms(started.elapsed()));
    result
}

/// Counts a call's tokens in the model-token metric (`prompt`, `completion`).
pub(crate) fn count_tokens(usage: &Usage) {
    metrics::counter!(metrics_names::MODEL_TOKENS, "kind" => "prompt").increment(usage.input_tokens);
    metrics::counter!(metrics_names::MODEL_TOKENS, "kind" => "completion").increment(usage.output_tokens);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests

    use async_openai::config::Config;

    use super::*;

    const CHILD: &str = "COMMS_OPENAI_AMBIENT_ENV_CHILD";

    fn settings(base_url: Option<&str>) -> OpenAiSettings {
        OpenAiSettings {
            api_key: "sk-ours".into(),
            base_url: base_url.map(str::to_owned),
            model_override: None,
            timeout: Duration::from_secs(5),
        }
    }

    /// The environment is process-wide (and `unsafe` to change): the check runs in a
    /// child process of this test binary started with async-openai's variables set, as
    /// the SAM template once set `OPENAI_BASE_URL=""` on every processor.
    #[test]
    fn the_client_ignores_async_openais_environment_variables() {
        if std::env::var_os(CHILD).is_some() {
            for (base, expected) in [
                (None, OPENAI_DEFAULT_BASE_URL),
                (Some(""), OPENAI_DEFAULT_BASE_URL),
                (Some("http://h/v1/"), "http://h/v1"),
            ] {
                let chat = OpenAiChat::new(settings(base)).unwrap();
                let config = chat.client.config();
                assert_eq!(config.api_base(), expected);
                let headers = config.headers();
                assert_eq!(headers["authorization"], "Bearer sk-ours");
                assert!(!headers.contains_key("openai-organization"), "{headers:?}");
                assert!(!headers.contains_key("openai-project"), "{headers:?}");
            }
            println!("child checked the client configuration");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "openai::tests::the_client_ignores_async_openais_environment_variables"])
            .arg("--nocapture")
            .env(CHILD, "1")
            .env("OPENAI_BASE_URL", "")
            .env("OPENAI_API_KEY", "sk-ambient")
            .env("OPENAI_ORG_ID", "org-ambient")
            .env("OPENAI_PROJECT_ID", "proj-ambient")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("child checked the client configuration"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
