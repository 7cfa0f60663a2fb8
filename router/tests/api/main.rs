//! Black-box tests of the router: the real app on a free loopback port, the embedded
//! adapters on a fresh database, and a real HTTP client.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

mod admin;
mod booking;
mod email_events;
mod email_helpers;
mod email_inbound;
mod email_lambda;
mod helpers;
mod initiate;
mod initiate_email;
mod lambda;
mod logs;
mod media;
mod openapi;
mod sms_webhook;
mod status_callback;
mod token_rotation;
mod trace;
mod voice;
