//! SendGrid: outbound mail through the v3 Mail Send API ([`send`], the request body in
//! [`mail`]).

pub mod mail;
pub mod send;

pub use mail::Mail;
pub use send::{DEFAULT_API_BASE, SendGridMail};
