//! Adapters for the HTTP providers: the chat model on OpenAI's API ([`openai`]), the
//! messenger and call control on Twilio's REST API ([`twilio`]), mail through SendGrid
//! ([`sendgrid`]), and the offline rules model ([`offline`]) that stands in for a model
//! when no key is set (named as such).

pub mod offline;
pub mod openai;
pub mod sendgrid;
pub mod twilio;
