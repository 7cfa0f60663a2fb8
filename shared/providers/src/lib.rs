//! Adapters for the HTTP providers: the chat model on OpenAI's API, Chat Completions
//! ([`openai`]) or the Responses API ([`responses`]) per tenant ([`openai_models`]), the
//! messenger and call control on Twilio's REST API ([`twilio`]), mail through SendGrid
//! ([`sendgrid`]), and the offline rules model ([`offline`]) that stands in for a model
//! when no key is set (named as such); [`channels::ByChannel`] sends each channel through
//! its messenger.

pub mod channels;
mod http;
pub mod offline;
pub mod openai;
pub mod openai_models;
pub mod responses;
pub mod sendgrid;
pub mod twilio;

/// A reqwest client builder on rustls with the `ring` crypto provider, the one the AWS
/// SDK's client uses too (`comms_aws::https_client`): reqwest is built with
/// `rustls-no-provider`, so ring is installed as the process's default provider first
/// (once; a provider installed before, e.g. by a test, is kept). Every reqwest client
/// of these adapters comes from here: one built otherwise would find no provider.
pub fn http_client() -> reqwest::ClientBuilder {
    static RING: std::sync::Once = std::sync::Once::new();
    RING.call_once(|| {
        // Err: a provider is already installed, and stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}
