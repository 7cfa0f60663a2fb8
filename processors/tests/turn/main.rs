//! Black-box tests of the SMS turn: the real OpenAI client (async-openai) and Twilio
//! client (reqwest) against local stub servers that speak those wire formats, on the
//! embedded storage.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

mod aws;
mod budget;
mod channels;
mod email;
mod email_helpers;
mod email_initiate;
mod fencing;
mod helpers;
mod media;
mod metrics;
mod ordering;
mod owner;
mod prompt_layout;
mod queue_poison;
mod responses_api;
mod sending;
use comms_testkit as stubs;
mod turns;
mod voice;
