//! Runs the SMTP client component under wasmtime, with network access to the
//! granted servers and nothing else.
//!
//! A [`Mailer`] is built once (engine, precompiled component, linker, a pool
//! of sandboxes); each [`Mailer::send`] runs in a fresh sandbox: its own
//! `Store` and WASI context, a [`Grant`] of the servers it may reach (name
//! lookups included), a memory cap, a deadline and a transcript sink.
//! [`Mailer::session`] keeps one connection for several messages and can
//! stream messages of any size.
//!
//! ```no_run
//! use std::sync::Arc;
//! use smtp_host::{Call, Grant, Mailer};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let mailer = Mailer::new().map_err(|e| format!("{e:?}"))?;
//! let mut call = Call::new(
//!     "mail.example.com:587",
//!     "app@example.com",
//!     &["user@example.com".to_string()],
//!     "Subject: hello\r\n\r\nHello from a sandbox.\r\n".to_string(),
//! );
//! call.sandbox.grant = Arc::new(Grant::none().allow("tcp://mail.example.com:587")?);
//! call.sandbox.transcript = Arc::new(smtp_host::transcript::Stderr { timestamps: false });
//! match mailer.send(call).await {
//!     Ok(receipt) => println!("accepted: {:?}", receipt.accepted),
//!     Err(e) => eprintln!("{}", e.report_lines().join("\n")),
//! }
//! # Ok(())
//! # }
//! ```

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
pub use smtp_proto::data::MessageInfo;
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
