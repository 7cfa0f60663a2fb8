//! Twilio wire details that need no network.

pub mod signature;
