//! SendGrid: outbound mail through the v3 Mail Send API ([`send`], the request body in
//! [`mail`]); the webhooks it posts, inbound mail ([`inbound`]) and delivery events
//! ([`inbound_events`]), and their signatures ([`signature`]).

pub mod inbound;
pub mod inbound_events;
pub mod inbound_form;
pub mod inbound_strip;
pub mod mail;
pub mod send;
pub mod signature;

pub use mail::Mail;
pub use send::{DEFAULT_API_BASE, SendGridMail};
