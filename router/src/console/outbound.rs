//! Texts the console sends (the owner's replies, booking cancellations): direct-send
//! envelopes on the channel's queue, through the normal outbound path (the engine
//! respects opt-outs, records `Sending` first, and sends once per envelope id).

use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Author, Channel, Envelope, PhoneNumber};
use comms_core::ports::OutgoingMessage;

use super::ConsoleError;
use super::session::Console;
use crate::AppState;

/// One text to send from the shop's number.
pub struct Direct<'a> {
    pub channel: Channel,
    pub customer: &'a PhoneNumber,
    /// The idempotency key: the same id twice is sent once.
    pub id: String,
    pub text: String,
    pub author: Author,
}

/// The shop's number on `channel`, the `from` of a direct send.
pub fn business_number(tenant: &TenantConfig, channel: Channel) -> Result<PhoneNumber, ConsoleError> {
    tenant.numbers.get(&channel).and_then(|n| n.first()).cloned().ok_or_else(|| {
        ConsoleError::field("channel", format!("the shop has no {channel} number to send from"))
    })
}

/// Enqueues `direct` on its channel's queue, with the request's trace id.
pub async fn send(
    state: &AppState,
    console: &Console,
    tenant: &TenantConfig,
    direct: Direct<'_>,
) -> Result<(), ConsoleError> {
    let Direct { channel, customer, id, text, author } = direct;
    let business = business_number(tenant, channel)?;
    let now = jiff::Timestamp::now();
    let env =
        Envelope::direct(tenant.tenant.clone(), channel, business, customer.clone(), id, text, author, now);
    let trace_id = &console.trace_id;
    let message = OutgoingMessage { body: env.to_json(), attributes: env.attributes(trace_id) };
    state.queues.send(channel, message).await.map_err(ConsoleError::store)?;
    tracing::info!(tenant = %tenant.tenant, %channel, customer = %customer.redacted(), "console direct send enqueued");
    Ok(())
}
