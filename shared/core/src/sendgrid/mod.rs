//! SendGrid wire formats that need no network: the webhooks SendGrid posts, inbound mail
//! ([`inbound`], its form [`inbound_form`], the reply stripping [`inbound_strip`]) and
//! delivery events ([`inbound_events`]), and their ECDSA signatures ([`signature`]). Like
//! [`crate::twilio`], it builds on nothing provider-specific in `domain` or `ports`, and
//! they never import it. Here, not in the providers crate, so the router (which links no
//! provider adapter) can check and read what SendGrid posts.

pub mod inbound;
pub mod inbound_events;
pub mod inbound_form;
pub mod inbound_strip;
pub mod signature;
