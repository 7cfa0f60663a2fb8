//! The chat model port on OpenAI's Responses API (`POST /responses`), through
//! `async-openai`'s `responses` feature. Stateless: every call sends the whole window
//! (system messages, history, this turn's tool calls and outputs) with `store: false`;
//! our conversation log stays the record, nothing is kept or referenced server-side.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::responses::{
    CreateResponse, EasyInputContent, EasyInputMessage, FunctionCallOutput, FunctionCallOutputItemParam,
    FunctionTool, FunctionToolCall, InputContent, InputImageContent, InputItem, InputParam, InputTextContent,
    Item, OutputItem, OutputMessageContent, Response, Role, Tool,
};
use async_trait::async_trait;

use crate::openai::{OpenAiSettings, classify, count_tokens, timed};
use comms_core::ports::{
    ChatError, ChatMessage, ChatModel, ChatReply, ChatRequest, ToolCall, ToolSpec, Usage,
};

/// OpenAI's Responses API with function tools.
pub struct OpenAiResponses {
    client: Client<OpenAIConfig>,
    settings: OpenAiSettings,
}

impl OpenAiResponses {
    pub fn new(settings: OpenAiSettings) -> Result<Self, ChatError> {
        Ok(Self { client: settings.client()?, settings })
    }
}

#[async_trait]
impl ChatModel for OpenAiResponses {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, ChatError> {
        timed(async {
            let body = request_body(&self.settings.model_for(request), request);
            let response = self.client.responses().create(body).await.map_err(classify)?;
            reply(response)
        })
        .await
    }

    fn describe(&self) -> String {
        self.settings.describe("responses")
    }
}

/// The request: the messages as input items in order, the function tools, not stored.
pub fn request_body(model: &str, request: &ChatRequest) -> CreateResponse {
    let tools: Vec<Tool> = request.tools.iter().map(function_tool).collect();
    CreateResponse {
        model: Some(model.to_owned()),
        input: InputParam::Items(request.messages.iter().flat_map(input_items).collect()),
        tools: (!tools.is_empty()).then_some(tools),
        store: Some(false),
        ..Default::default()
    }
}

fn function_tool(t: &ToolSpec) -> Tool {
    Tool::Function(FunctionTool {
        name: t.name.clone(),
        description: Some(t.description.clone()),
        parameters: Some(t.parameters.clone()),
        ..Default::default()
    })
}

fn message(role: Role, content: EasyInputContent) -> InputItem {
    InputItem::EasyMessage(EasyInputMessage { role, content, ..Default::default() })
}

/// One chat message as input items: a message, and an assistant's tool calls as
/// `function_call` items (a tool result is a `function_call_output`).
fn input_items(m: &ChatMessage) -> Vec<InputItem> {
    match m {
        ChatMessage::System { content } => {
            vec![message(Role::System, EasyInputContent::Text(content.clone()))]
        }
        ChatMessage::User { content, images } => vec![message(Role::User, user_content(content, images))],
        ChatMessage::Assistant { content, tool_calls } => {
            let text = content.as_ref().filter(|t| !t.trim().is_empty());
            let said = text.map(|t| message(Role::Assistant, EasyInputContent::Text(t.clone())));
            let calls = tool_calls.iter().map(|c| {
                InputItem::Item(Item::FunctionCall(FunctionToolCall {
                    arguments: c.arguments.clone(),
                    call_id: c.id.clone(),
                    name: c.name.clone(),
                    ..Default::default()
                }))
            });
            said.into_iter().chain(calls).collect()
        }
        ChatMessage::Tool { call_id, content } => {
            vec![InputItem::Item(Item::FunctionCallOutput(FunctionCallOutputItemParam {
                call_id: Some(call_id.clone()),
                output: FunctionCallOutput::Text(content.clone()),
                id: None,
                status: None,
                name: None,
                namespace: None,
                caller: None,
            }))]
        }
    }
}

/// Text alone as a plain string; with images, an `input_text` part then one
/// `input_image` part per image, in order.
fn user_content(text: &str, images: &[String]) -> EasyInputContent {
    if images.is_empty() {
        return EasyInputContent::Text(text.to_owned());
    }
    let text =
        InputContent::InputText(InputTextContent { text: text.to_owned(), prompt_cache_breakpoint: None });
    let images = images.iter().map(|url| {
        InputContent::InputImage(InputImageContent { image_url: Some(url.clone()), ..Default::default() })
    });
    EasyInputContent::ContentList(std::iter::once(text).chain(images).collect())
}

/// The reply from the output items: message text (refusals included, as the model's
/// words) and function calls; other items (reasoning) are not needed statelessly.
fn reply(response: Response) -> Result<ChatReply, ChatError> {
    let usage = response.usage.as_ref().map(|u| {
        let usage = Usage {
            model: response.model.clone(),
            input_tokens: u64::from(u.input_tokens),
            cached_input_tokens: u64::from(u.input_tokens_details.cached_tokens),
            output_tokens: u64::from(u.output_tokens),
        };
        count_tokens(&usage);
        usage
    });
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for item in response.output {
        match item {
            OutputItem::Message(m) => {
                for part in m.content {
                    match part {
                        OutputMessageContent::OutputText(t) => text.push_str(&t.text),
                        OutputMessageContent::Refusal(r) => text.push_str(&r.refusal),
                    }
                }
            }
            OutputItem::FunctionCall(f) => {
                tool_calls.push(ToolCall { id: f.call_id, name: f.name, arguments: f.arguments });
            }
            _ => {}
        }
    }
    if text.is_empty() && tool_calls.is_empty() {
        let why = response.error.map_or_else(|| format!("{:?}", response.status), |e| e.message);
        return Err(ChatError::Transient {
            message: format!("response had no output: {why}"),
            retry_after: None,
        });
    }
    Ok(ChatReply { content: (!text.is_empty()).then_some(text), tool_calls, usage })
}
