//! One module per route, plus the Twilio and SendGrid webhook checks they share.

pub mod admin_state;
pub mod booking;
pub mod email_events;
pub mod email_inbound;
pub mod email_unsubscribe;
mod email_webhook;
pub mod health;
pub mod initiate;
pub mod twilio_sms;
pub mod twilio_status;
pub mod twilio_voice;
mod twilio_webhook;
