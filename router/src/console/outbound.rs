//! Texts the console sends (the owner's replies, booking cancellations): direct-send
//! envelopes on the channel's queue, through the normal outbound path (the engine
//! respects opt-outs, records `Sending` first, and sends once per envelope id).

use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Author, Channel, Envelope, PhoneNumber};
use comms_core::ports::OutgoingMessage;

use super::ConsoleError;
use crate::AppState;

/// The shop's number on `channel`, the `from` of a direct send.
pub fn business_number(tenant: &TenantConfig, channel: Channel) -> Result<PhoneNumber, ConsoleError> {
    tenant.numbers.get(&channel).and_then(|n| n.first()).cloned().ok_or_else(|| {
        ConsoleError::field("channel", format!("the shop has no {channel} number to send from"))
    })
}

/// Enqueues `text` to `customer` on `channel` from the shop's number; `id` is the
/// idempotency key (the same id twice is sent once).
pub async fn send(
    state: &AppState,
    tenant: &TenantConfig,
    channel: Channel,
    customer: &PhoneNumber,
    id: String,
    text: String,
    author: Author,
) -> Result<(), ConsoleError> {
    let business = business_number(tenant, channel)?;
    let env = Envelope::direct(
        tenant.tenant.clone(),
        channel,
        business,
        customer.clone(),
        id,
        text,
        author,
        jiff::Timestamp::now(),
    );
    let trace_id = uuid::Uuid::new_v4().to_string();
    let message = OutgoingMessage { body: env.to_json(), attributes: env.attributes(&trace_id) };
    state.queues.send(channel, message).await.map_err(ConsoleError::store)?;
    tracing::info!(tenant = %tenant.tenant, %channel, customer = %customer.redacted(), trace_id, "console direct send enqueued");
    Ok(())
}
