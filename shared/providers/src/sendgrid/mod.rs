//! SendGrid: the webhooks it posts (inbound mail, delivery events) and their signatures.

pub mod inbound;
pub mod inbound_events;
pub mod inbound_form;
pub mod inbound_strip;
pub mod signature;
