//! Runs the SMTP client component under wasmtime, with network access to the
//! granted servers and nothing else.
//!
//! A [`Mailer`] is built once (engine, precompiled component, linker); each
//! [`Mailer::send`] gets a fresh sandbox: its own `Store`, WASI context,
//! [`Grant`], memory cap, deadline and transcript sink.

mod cache;
mod convert;
pub mod grant;
mod lookup;
pub mod mailer;
pub mod session;
pub mod tls;
pub mod transcript;

pub use grant::Grant;
pub use mailer::{Call, Mailer, MailerBuilder, Options, Sandbox, SendError, TlsMode};
pub use session::Session;
pub use smtp_proto::auth::{Credentials, Mechanism};
pub use smtp_proto::{Error as SmtpError, Receipt, Refusal, Reply, Stage};
pub use tls::TlsTrust;
pub use transcript::{Direction, Transcript};

/// Bindings for the component's world.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        world: "smtp-client",
        path: "../wit",
        exports: { default: async },
    });
}
