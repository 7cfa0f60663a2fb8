//! One module per route, plus the Twilio webhook checks they share.

pub mod health;
pub mod twilio_sms;
mod twilio_webhook;
