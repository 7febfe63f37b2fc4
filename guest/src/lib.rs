//! The SMTP client component: WIT glue around `smtp-proto`, driven over
//! `wasi:sockets` (and `wasi:tls`). It never prints; every transcript line
//! goes to the host.

mod convert;

use std::cell::RefCell;
use std::time::Duration;

use smtp_proto::data::MessageInfo;
use smtp_proto::server::ServerAddress;
use smtp_proto::{Client, Error};

use smtp_proto::Event;
use smtp_wasi::driver::{send_one, Link, Log};

mod bindings {
    wit_bindgen::generate!({
        world: "smtp-client",
        path: "../wit",
    });
}

use bindings::exports::smtp_send::client::mailer::{self, Guest, GuestSession};
use bindings::smtp_send::client::host::{self, Direction};
use bindings::smtp_send::client::types::{Options, Receipt, SmtpError};

struct Component;

impl Guest for Component {
    type Session = Session;

    fn send(
        server: String,
        from: String,
        to: Vec<String>,
        message: String,
    ) -> Result<(), SmtpError> {
        send(&server, &from, &to, &message, &host::default_options()).map(|_| ())
    }

    fn send_with_options(
        server: String,
        from: String,
        to: Vec<String>,
        message: String,
        options: Options,
    ) -> Result<Receipt, SmtpError> {
        send(&server, &from, &to, &message, &options)
    }
}

bindings::export!(Component with_types_in bindings);

fn timeout(options: &Options) -> Duration {
    Duration::from_millis(u64::from(options.reply_timeout_ms.max(1)))
}

/// One message, one connection.
fn send(
    server: &str,
    from: &str,
    to: &[String],
    message: &str,
    options: &Options,
) -> Result<Receipt, SmtpError> {
    let run = || {
        let server = ServerAddress::parse(server, None)?;
        let config = convert::config(options)?;
        let log = host_log(config.transcript);
        send_one(&server, config, timeout(options), (from, to), message, log)
    };
    run().map(convert::receipt).map_err(convert::smtp_error)
}

/// Transcript events go to the host's `log`, when anyone shows them.
fn host_log(transcript: bool) -> Log {
    transcript.then(|| -> Box<dyn Fn(Event)> {
        Box::new(|event| match event {
            Event::Send(line) => host::log(Direction::Send, &line),
            Event::Reply(line) => host::log(Direction::Reply, &line),
            Event::Info(text) => host::log(Direction::Info, text.as_bytes()),
        })
    })
}

fn closed() -> Error {
    Error::ServerDisconnected {
        stage: smtp_proto::Stage::Quit,
        detail: "the session is closed".into(),
    }
}

/// A session: the client state machine and its connection, across calls.
pub struct Session {
    inner: RefCell<Inner>,
}

struct Inner {
    client: Client,
    link: Link,
}

impl Inner {
    /// The result of the message under way once it is done (or the
    /// connection's failure).
    fn outcome(&mut self) -> Result<smtp_proto::Receipt, Error> {
        self.client.take_outcome().unwrap_or_else(|| Err(closed()))
    }

    /// Drives until the client wants more body or is back to ready; an
    /// error if the message already failed.
    fn until_body(&mut self) -> Result<(), Error> {
        self.link
            .run(&mut self.client, |c| c.wants_body() || c.is_ready());
        if self.client.wants_body() {
            Ok(())
        } else {
            self.outcome().map(|_| ())
        }
    }
}

impl GuestSession for Session {
    fn open(server: String, options: Options) -> Result<mailer::Session, SmtpError> {
        let open = || {
            let server = ServerAddress::parse(&server, None)?;
            let config = convert::config(&options)?;
            let tls = config.tls;
            let log = host_log(config.transcript);
            let mut client = Client::session(config)?;
            let mut link = Link::connect(&server, tls, timeout(&options), log)?;
            link.run(&mut client, Client::is_ready);
            if !client.is_ready() {
                return Err(match client.take_outcome() {
                    Some(Err(e)) => e,
                    _ => closed(),
                });
            }
            Ok(Session {
                inner: RefCell::new(Inner { client, link }),
            })
        };
        open()
            .map(mailer::Session::new)
            .map_err(convert::smtp_error)
    }

    fn send(&self, from: String, to: Vec<String>, message: String) -> Result<Receipt, SmtpError> {
        let inner = &mut *self.inner.borrow_mut();
        let mut send = || {
            let info = MessageInfo::scan(message.as_bytes())?;
            inner.client.begin(&from, &to, info)?;
            inner.link.run_with_body(
                &mut inner.client,
                message.as_bytes(),
                info.wire_ready,
                Client::is_ready,
            );
            inner.outcome()
        };
        send().map(convert::receipt).map_err(convert::smtp_error)
    }

    fn begin(
        &self,
        from: String,
        to: Vec<String>,
        info: mailer::MessageInfo,
    ) -> Result<(), SmtpError> {
        let inner = &mut *self.inner.borrow_mut();
        let declared = MessageInfo {
            size: info.size,
            eight_bit: info.eight_bit,
            ..MessageInfo::default()
        };
        inner
            .client
            .begin_stream(&from, &to, declared)
            .and_then(|()| inner.until_body())
            .map_err(convert::smtp_error)
    }

    fn write(&self, chunk: Vec<u8>) -> Result<(), SmtpError> {
        let inner = &mut *self.inner.borrow_mut();
        if !inner.client.wants_body() {
            return Err(convert::smtp_error(Error::InvalidInput(
                "write without a message begun".into(),
            )));
        }
        inner.client.push_body(&chunk);
        inner.until_body().map_err(convert::smtp_error)
    }

    fn finish(&self) -> Result<Receipt, SmtpError> {
        let inner = &mut *self.inner.borrow_mut();
        if !inner.client.wants_body() {
            return Err(convert::smtp_error(Error::InvalidInput(
                "finish without a message begun".into(),
            )));
        }
        inner.client.finish_body();
        inner.link.run(&mut inner.client, Client::is_ready);
        inner
            .outcome()
            .map(convert::receipt)
            .map_err(convert::smtp_error)
    }

    fn quit(&self) {
        let inner = &mut *self.inner.borrow_mut();
        inner.client.quit();
        inner.link.run(&mut inner.client, |_| false);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        if !inner.client.is_closed() {
            inner.client.quit();
            inner.link.run(&mut inner.client, |_| false);
        }
    }
}
