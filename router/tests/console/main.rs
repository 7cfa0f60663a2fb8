//! Black-box tests of the owner console: the real router on a free loopback port, the
//! embedded adapters on a fresh database, a real HTTP client keeping cookies by hand.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

mod actions;
mod auth;
mod helpers;
mod isolation;
mod lambda;
mod logs;
mod media;
mod operator;
