//! Which model a run uses (`--model`), and the meter between the engine and it: every
//! reply's usage is added up per scenario, as the engine received it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use comms_core::domain::Usd;
use comms_core::domain::pricing::PriceTable;
use comms_core::ports::{ChatError, ChatModel, ChatReply, ChatRequest, Usage};
use comms_providers::offline::OfflineRulesModel;
use comms_providers::openai::{OpenAiChat, OpenAiSettings};
use comms_providers::openai_models::ByApi;
use serde::Serialize;

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
        let settings = |api_key: &str, base_url: Option<String>, model: Option<String>| OpenAiSettings {
            api_key: api_key.to_owned(),
            base_url,
            model_override: model,
            timeout: TIMEOUT,
        };
        Ok(match self {
            Self::Offline => Arc::new(OfflineRulesModel),
            // The stub speaks Chat Completions only, whatever the tenant's `ai.api`.
            Self::Stub => Arc::new(OpenAiChat::new(settings("stub-key", stub_url.map(str::to_owned), None))?),
            // Chat Completions or the Responses API, per the scenario tenant's `ai.api`.
            Self::OpenAi { model, api_key, base_url } => {
                Arc::new(ByApi::openai(settings(api_key, base_url.clone(), Some(model.clone())))?)
            }
        })
    }
}

const TIMEOUT: Duration = Duration::from_secs(60);

/// What a scenario's model calls used and cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Spend {
    pub model_calls: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    /// The cost of the priced calls.
    pub cost_usd: Usd,
    /// Calls of a model the price table does not know (not in `cost_usd`).
    pub unpriced_calls: u64,
    /// Calls that reported no usage (the offline rules model bills nothing).
    pub calls_without_usage: u64,
}

impl Spend {
    /// Adds one call's usage, priced by `prices`.
    pub fn add(&mut self, usage: Option<&Usage>, prices: &PriceTable) {
        self.model_calls += 1;
        let Some(u) = usage else {
            self.calls_without_usage += 1;
            return;
        };
        self.input_tokens += u.input_tokens;
        self.cached_input_tokens += u.cached_input_tokens;
        self.output_tokens += u.output_tokens;
        match prices.cost(u) {
            Some(cost) => self.cost_usd = self.cost_usd + cost,
            None => self.unpriced_calls += 1,
        }
    }

    /// Two runs' spend together.
    pub fn plus(self, o: Spend) -> Spend {
        Spend {
            model_calls: self.model_calls + o.model_calls,
            input_tokens: self.input_tokens + o.input_tokens,
            cached_input_tokens: self.cached_input_tokens + o.cached_input_tokens,
            output_tokens: self.output_tokens + o.output_tokens,
            cost_usd: self.cost_usd + o.cost_usd,
            unpriced_calls: self.unpriced_calls + o.unpriced_calls,
            calls_without_usage: self.calls_without_usage + o.calls_without_usage,
        }
    }

    /// `1200 (300 cached) / 80`, or `-` when no call reported usage.
    pub fn tokens(&self) -> String {
        if self.model_calls == self.calls_without_usage {
            return "-".into();
        }
        format!("{} ({} cached) / {}", self.input_tokens, self.cached_input_tokens, self.output_tokens)
    }

    /// `$0.0012`, with a mark when some calls could not be priced.
    pub fn cost(&self) -> String {
        match (self.model_calls == self.calls_without_usage, self.unpriced_calls) {
            (true, _) => "-".into(),
            (false, 0) => self.cost_usd.to_string(),
            (false, n) => format!("{}+{n} unpriced", self.cost_usd),
        }
    }
}

/// A model whose calls are metered: the usage each reply reports, priced.
pub struct Metered {
    inner: Arc<dyn ChatModel>,
    prices: PriceTable,
    spend: Mutex<Spend>,
}

impl Metered {
    pub fn new(inner: Arc<dyn ChatModel>, prices: PriceTable) -> Self {
        Self { inner, prices, spend: Mutex::new(Spend::default()) }
    }

    /// What the calls so far used.
    pub fn spend(&self) -> Spend {
        *self.spend.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ChatModel for Metered {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, ChatError> {
        let reply = self.inner.complete(request).await?;
        self.spend.lock().unwrap_or_else(|p| p.into_inner()).add(reply.usage.as_ref(), &self.prices);
        Ok(reply)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_adds_tokens_and_prices_known_models() {
        let prices = PriceTable::builtin();
        let mut s = Spend::default();
        assert_eq!((s.tokens(), s.cost()), ("-".to_owned(), "-".to_owned()));
        s.add(None, &prices);
        assert_eq!(s.tokens(), "-", "the offline model reports no usage");
        let usage = |model: &str| Usage {
            model: model.into(),
            input_tokens: 1_000_000,
            cached_input_tokens: 0,
            output_tokens: 1_000_000,
        };
        s.add(Some(&usage("gpt-4o-mini-2024-07-18")), &prices);
        assert_eq!(s.cost(), "$0.75", "0.15 in + 0.60 out per million");
        s.add(Some(&usage("my-local-model")), &prices);
        assert_eq!(s.cost(), "$0.75+1 unpriced");
        assert_eq!(s.tokens(), "2000000 (0 cached) / 2000000");
        assert_eq!(s.plus(s).model_calls, 6);
    }
}
