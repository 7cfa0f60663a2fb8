//! The prompt, laid out for prompt caching (issue 17 item 3): OpenAI caches the longest
//! prefix a request shares with recent ones, so what never changes for a tenant and
//! channel comes first and byte-identical on every turn (the tool definitions, sent in a
//! stable order, then the instructions: the tenant's prompt, the business facts, the
//! medium, the rules), and what changes comes last (a second system message with today's
//! date and time, the owner's state and the customer's masked number; then the history
//! and the new message).

use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Channel, Envelope, OwnerState};
use comms_core::ports::ChatMessage;

use super::compose::medium;

/// The two system messages that open every request: the static instructions, then the
/// context of this turn.
pub fn system_messages(
    tenant: &TenantConfig,
    owner: &OwnerState,
    env: &Envelope,
    now: jiff::Timestamp,
) -> [ChatMessage; 2] {
    [
        ChatMessage::System { content: instructions(tenant, env.channel) },
        ChatMessage::System { content: context(tenant, owner, env, now) },
    ]
}

/// The whole system prompt as one text (both system messages).
pub fn system_prompt(
    tenant: &TenantConfig,
    owner: &OwnerState,
    env: &Envelope,
    now: jiff::Timestamp,
) -> String {
    format!("{}\n\n{}", instructions(tenant, env.channel), context(tenant, owner, env, now))
}

/// What is the same on every turn of the tenant's conversations on `channel`: the
/// tenant's own prompt, the business facts, the medium and the rules.
pub fn instructions(tenant: &TenantConfig, channel: Channel) -> String {
    let hours: Vec<String> = tenant
        .scheduling
        .business_hours
        .iter()
        .map(|(d, r)| format!("{d} {}", r.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")))
        .collect();
    format!(
        "{prompt}\n\nBusiness: {company} ({project}). Opening hours: {hours}; appointments of {slot} minutes. \
         Time zone: {tzname}.\n\
         {medium} \
         Use the tools to check availability, book, grant discounts (never more than the tool approves) \
         and log upsells. The next system message gives today's date and time, the owner's state and \
         the customer's masked number or email address.",
        prompt = tenant.ai.system_prompt,
        company = tenant.company_name,
        project = tenant.project_name,
        hours = hours.join("; "),
        slot = tenant.scheduling.slot_minutes,
        tzname = tenant.scheduling.timezone,
        medium = medium(tenant, channel),
    )
}

/// What changes between turns: today's date and local time in the business's time zone,
/// the owner's state, and the customer's number, masked (the model never needs it: tools
/// take it from the turn, and less personal data leaves the system).
pub fn context(tenant: &TenantConfig, owner: &OwnerState, env: &Envelope, now: jiff::Timestamp) -> String {
    let tz = jiff::tz::TimeZone::get(&tenant.scheduling.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let local = now.to_zoned(tz);
    format!(
        "Today is {date} ({weekday}), local time {time}.\n{owner}\n\
         Customer {kind} (masked; bookings use the customer's own {kind}): {customer}.",
        date = local.date(),
        weekday = local.strftime("%A"),
        time = local.strftime("%H:%M"),
        owner = owner.describe(),
        kind = if env.customer().email().is_some() { "email address" } else { "phone number" },
        customer = env.customer().redacted(),
    )
}
