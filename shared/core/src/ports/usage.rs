//! Usage and cost: what each turn's model calls used (a [`ItemContent::Usage`] item
//! stored with the turn), and running totals per tenant, UTC month and channel, kept by
//! the turn journal in the writes the turn already makes (docs/decisions.md, "Usage and
//! budgets"): a write that first stores a `Usage` item adds its calls, tokens and cost,
//! one that first stores a sent reply adds the message (and its SMS segments).

use std::ops::AddAssign;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::chat::Usage;
use super::conversations::{ConversationItem, ItemContent};
use crate::domain::sms::{count_segments, smart_encode, split_for_twilio};
use crate::domain::{Channel, TenantRef, Usd};

/// One model call of a turn: its usage and what it cost by the price table at the time
/// (`None`: the model is not in the table, so its cost is unknown, never 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelCall {
    #[serde(flatten)]
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<Usd>,
}

/// A month's running totals (of one channel, or summed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotals {
    /// Replies the assistant sent (each answered turn once).
    pub turns: u64,
    /// Model calls that reported usage.
    pub model_calls: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    /// The cost of the priced calls.
    pub cost_usd: Usd,
    /// Calls of models the price table does not know: their cost is not in `cost_usd`.
    pub unpriced_calls: u64,
    /// Messages sent: the assistant's, the owner's and the system's.
    pub messages: u64,
    /// SMS segments those messages were billed as (SMS only).
    pub sms_segments: u64,
}

impl UsageTotals {
    /// The counters by their storage names (columns, attribute names), in a fixed order.
    pub fn counters(&self) -> [(&'static str, u64); 9] {
        [
            ("turns", self.turns),
            ("model_calls", self.model_calls),
            ("input_tokens", self.input_tokens),
            ("cached_input_tokens", self.cached_input_tokens),
            ("output_tokens", self.output_tokens),
            ("cost_micros", self.cost_usd.micros()),
            ("unpriced_calls", self.unpriced_calls),
            ("messages", self.messages),
            ("sms_segments", self.sms_segments),
        ]
    }

    /// Totals from counters read by name (a missing one is 0).
    pub fn from_counters(mut get: impl FnMut(&str) -> u64) -> Self {
        Self {
            turns: get("turns"),
            model_calls: get("model_calls"),
            input_tokens: get("input_tokens"),
            cached_input_tokens: get("cached_input_tokens"),
            output_tokens: get("output_tokens"),
            cost_usd: Usd::from_micros(get("cost_micros")),
            unpriced_calls: get("unpriced_calls"),
            messages: get("messages"),
            sms_segments: get("sms_segments"),
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// What newly stored `items` of a conversation on `channel` add: a `Usage` item its
    /// calls; a sent reply (assistant, owner, system) a message, an assistant reply a
    /// turn, and on SMS the segments of the parts it was sent as.
    pub fn of_items<'a>(channel: Channel, items: impl IntoIterator<Item = &'a ConversationItem>) -> Self {
        let mut t = Self::default();
        for item in items {
            match &item.content {
                ItemContent::Usage { calls } => {
                    for call in calls {
                        t.model_calls += 1;
                        t.input_tokens += call.usage.input_tokens;
                        t.cached_input_tokens += call.usage.cached_input_tokens;
                        t.output_tokens += call.usage.output_tokens;
                        match call.cost_usd {
                            Some(cost) => t.cost_usd = t.cost_usd + cost,
                            None => t.unpriced_calls += 1,
                        }
                    }
                }
                ItemContent::Reply { text, .. } => {
                    t.turns += 1;
                    t.add_message(channel, text);
                }
                ItemContent::OwnerReply { text, .. } | ItemContent::Notice { text, .. } => {
                    t.add_message(channel, text)
                }
                _ => {}
            }
        }
        t
    }

    fn add_message(&mut self, channel: Channel, text: &str) {
        self.messages += 1;
        if channel == Channel::Sms {
            self.sms_segments += sms_segments(text);
        }
    }
}

impl AddAssign for UsageTotals {
    fn add_assign(&mut self, o: Self) {
        self.turns += o.turns;
        self.model_calls += o.model_calls;
        self.input_tokens += o.input_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.output_tokens += o.output_tokens;
        self.cost_usd = self.cost_usd + o.cost_usd;
        self.unpriced_calls += o.unpriced_calls;
        self.messages += o.messages;
        self.sms_segments += o.sms_segments;
    }
}

/// One line for a usage item: `gpt-4o-mini: 1200 tokens in (800 cached), 40 out; $0.0004`
/// per call, the cost `unknown` for a model without a price.
pub fn describe_calls(calls: &[ModelCall]) -> String {
    let line = |c: &ModelCall| {
        let cost = c.cost_usd.map_or_else(|| "cost unknown".to_owned(), |usd| usd.to_string());
        let u = &c.usage;
        format!(
            "{}: {} tokens in ({} cached), {} out; {cost}",
            u.model, u.input_tokens, u.cached_input_tokens, u.output_tokens
        )
    };
    calls.iter().map(line).collect::<Vec<_>>().join("; ")
}

/// The segments an SMS reply is billed as: the parts it is sent in
/// ([`split_for_twilio`]), each counted after Twilio's Smart Encoding.
pub fn sms_segments(text: &str) -> u64 {
    split_for_twilio(text).iter().map(|part| count_segments(&smart_encode(part)).segments as u64).sum()
}

/// The UTC month `at` falls in, as the totals are keyed: `YYYY-MM`.
pub fn usage_month(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m").to_string()
}

/// A month of a tenant, summed over its channels, as the budget check reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthUsage {
    pub totals: UsageTotals,
    /// Whether the owner was told this month that the budget is spent.
    pub budget_notified: bool,
}

/// One row of a usage report: a tenant's month on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    pub tenant: TenantRef,
    /// `YYYY-MM` (UTC).
    pub month: String,
    pub channel: Channel,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// Reads the running totals the turn journal keeps (and the budget's notification mark).
#[async_trait]
pub trait UsageLedger: Send + Sync {
    /// `tenant`'s totals for `month` (`YYYY-MM`), all channels summed.
    async fn month(&self, tenant: &TenantRef, month: &str) -> Result<MonthUsage, StoreError>;

    /// Rows of `tenant` (or of every tenant) from `since_month` on, by tenant, month and
    /// channel.
    async fn report(
        &self,
        tenant: Option<&TenantRef>,
        since_month: &str,
    ) -> Result<Vec<UsageRow>, StoreError>;

    /// Marks `month`'s budget notification as sent; `true` if it was not marked before.
    async fn mark_budget_notified(&self, tenant: &TenantRef, month: &str) -> Result<bool, StoreError>;
}

/// The rows' totals summed.
pub fn sum_rows<'a>(rows: impl IntoIterator<Item = &'a UsageRow>) -> UsageTotals {
    let mut total = UsageTotals::default();
    for row in rows {
        total += row.totals;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, content: ItemContent) -> ConversationItem {
        ConversationItem { item_id: id.into(), at: jiff::Timestamp::UNIX_EPOCH, content }
    }

    #[test]
    fn items_add_calls_turns_messages_and_sms_segments() {
        let usage = |model: &str, cost| ModelCall {
            usage: Usage {
                model: model.into(),
                input_tokens: 100,
                cached_input_tokens: 40,
                output_tokens: 7,
            },
            cost_usd: cost,
        };
        let calls = vec![usage("gpt-4o-mini", Some(Usd::from_micros(30))), usage("unknown", None)];
        let reply = |text: &str| ItemContent::Reply { text: text.into(), provider_ids: Vec::new() };
        let items = [
            item("a:inbound", ItemContent::Inbound { text: "hi".into(), media: Vec::new() }),
            item("a:usage", ItemContent::Usage { calls }),
            item("a:reply", reply(&"ж".repeat(71))),
            item("b:reply", ItemContent::Notice { text: "x".repeat(161), provider_ids: Vec::new() }),
        ];
        let sms = UsageTotals::of_items(Channel::Sms, &items);
        let expected = UsageTotals {
            turns: 1,
            model_calls: 2,
            input_tokens: 200,
            cached_input_tokens: 80,
            output_tokens: 14,
            cost_usd: Usd::from_micros(30),
            unpriced_calls: 1,
            messages: 2,
            // 71 UCS-2 characters are 2 segments (67 each once split); 161 GSM-7 are 2.
            sms_segments: 4,
        };
        assert_eq!(sms, expected);
        let email = UsageTotals::of_items(Channel::Email, &items);
        assert_eq!((email.messages, email.sms_segments), (2, 0), "segments are SMS only");
        assert_eq!(
            UsageTotals::from_counters(|n| sms.counters().iter().find(|c| c.0 == n).map_or(0, |c| c.1)),
            sms
        );
    }

    #[test]
    fn segments_follow_the_parts_twilio_is_sent_and_smart_encoding() {
        assert_eq!(sms_segments("Don’t worry"), 1, "a curly quote is sent as GSM-7");
        assert_eq!(sms_segments(&"Long sentence here. ".repeat(100)), 14, "two parts of 1600 and 400");
        assert_eq!(usage_month(jiff::Timestamp::from_second(1_798_761_599).unwrap()), "2026-12");
    }
}
