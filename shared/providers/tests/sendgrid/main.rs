//! SendGrid at the wire level, against the testkit's SendGrid stub: the Mail Send body,
//! the client's error classes and retries, and the messenger port for email.
#![allow(clippy::unwrap_used)] // tests: a failed step should panic

mod client;
mod helpers;
mod mail;
mod messenger;
