//! The SMTP client protocol, without I/O.
//!
//! [`client::Client`] is a state machine in the style of `quinn-proto` or
//! `rustls`: the driver feeds it the bytes the server sent, writes the bytes it
//! asks to send, and tells it about end of stream, I/O failures and timeouts.
//! It never touches a socket or a clock, so it runs the same under WASI, in
//! native unit tests and under a fuzzer.
//!
//! Each module owns one idea: [`reply`] parses server replies, [`extension`]
//! reads the EHLO keyword list, [`command`] formats commands, [`data`] turns a
//! message into the DATA byte stream, [`address`] and [`server`] validate what
//! the user typed, [`error`] names every way a send can fail.

pub mod address;
pub mod args;
pub mod auth;
pub mod client;
pub mod command;
pub mod data;
pub mod error;
pub mod extension;
#[doc(hidden)]
pub mod fuzz;
pub mod message;
pub mod reply;
pub mod report;
pub mod server;
pub mod transcript;

pub use client::{Client, Config, Event, Receipt};
pub use error::{Error, Refusal, Stage, TlsFailure};
pub use reply::Reply;
