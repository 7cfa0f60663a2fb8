//! One module per route, plus the Twilio webhook checks they share.

pub mod health;
pub mod twilio_sms;
pub mod twilio_status;
mod twilio_webhook;
