//! The SMTP client component: WIT glue around `smtp-proto`, driven over
//! `wasi:sockets`. It never prints; every transcript line goes to the host.

mod driver;
mod net;

use std::time::Duration;

use smtp_proto::auth::{Credentials, Mechanism};
use smtp_proto::client::TlsMode;
use smtp_proto::data::MessageInfo;
use smtp_proto::server::Host;
use smtp_proto::server::{ServerAddress, ServerError};
use smtp_proto::{Client, Config, Event, TlsFailure};

mod bindings {
    wit_bindgen::generate!({
        world: "smtp-client",
        path: "../wit",
    });
}

/// `wasi:tls`, with its streams the same types as the sockets' streams.
mod tls_bindings {
    wit_bindgen::generate!({
        inline: "
            package smtp-send:tls-import;
            world tls { import wasi:tls/types@0.2.0-draft; }
        ",
        path: "../wit",
        features: ["tls"],
        with: {
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:tls/types@0.2.0-draft": generate,
        },
    });
}

pub(crate) use tls_bindings::wasi::tls::types as tls;

use bindings::exports::smtp_send::client::mailer::Guest;
use bindings::smtp_send::client::host::{self, Direction};
use bindings::smtp_send::client::types::{
    self as wit, AuthProblem, DataRefusal, Failure, Options, Receipt, Refusal, Reply, SmtpError,
    Stage, TlsProblem,
};

struct Component;

impl Guest for Component {
    fn send(
        server: String,
        from: String,
        to: Vec<String>,
        message: String,
    ) -> Result<(), SmtpError> {
        let options = host::default_options();
        send(&server, &from, &to, &message, &options).map(|_| ())
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

fn send(
    server: &str,
    from: &str,
    to: &[String],
    message: &str,
    options: &Options,
) -> Result<Receipt, SmtpError> {
    run(server, from, to, message, options)
        .map(receipt)
        .map_err(|e| smtp_error(&e))
}

/// Every check on the input comes before the first network call.
fn run(
    server: &str,
    from: &str,
    to: &[String],
    message: &str,
    options: &Options,
) -> Result<smtp_proto::Receipt, smtp_proto::Error> {
    use smtp_proto::Error;
    let server = ServerAddress::parse(server, None).map_err(|e| match e {
        ServerError::Control(_) => Error::InvalidInput(e.to_string()),
        ServerError::Malformed(..) => Error::AddressError(e.to_string()),
    })?;
    let info =
        MessageInfo::scan(message.as_bytes()).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let tls = match options.tls {
        wit::TlsMode::Off => TlsMode::Off,
        wit::TlsMode::Starttls => TlsMode::StartTls,
        wit::TlsMode::StarttlsIfOffered => TlsMode::StartTlsIfOffered,
        wit::TlsMode::Implicit => TlsMode::Implicit,
    };
    let credentials = match &options.credentials {
        None => None,
        Some(c) => Some(Credentials {
            user: c.user.clone(),
            secret: c.secret.clone(),
            mechanism: match &c.mechanism {
                None => None,
                Some(name) => Some(Mechanism::parse(name).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "unknown AUTH mechanism {name:?} (PLAIN, LOGIN, CRAM-MD5, XOAUTH2)"
                    ))
                })?),
            },
        }),
    };
    let config = Config {
        client_name: options.client_name.clone(),
        message_lines_logged: options.message_lines_logged,
        pipelining: options.pipelining,
        tls,
        credentials,
        allow_plaintext_auth: options.allow_plaintext_auth,
    };
    let client = Client::new(config, from, to, info)?;
    let timeout = Duration::from_millis(u64::from(options.reply_timeout_ms.max(1)));
    let mut conn = net::connect(&server, timeout, &mut |line| {
        host::log(Direction::Info, line.as_bytes())
    })?;
    // The name the certificate must carry: the host name as given, or the
    // IP literal (checked against the certificate's IP addresses).
    let server_name = match &server.host {
        Host::Name(name) => name.clone(),
        Host::Ip(ip) => ip.to_string(),
    };
    if tls == TlsMode::Implicit {
        conn.start_tls(&server_name, net::deadline_after(timeout))
            .map_err(|(failure, detail)| Error::TlsError {
                failure,
                detail,
                reply: None,
            })?;
    }
    driver::run(
        client,
        &mut conn,
        &server_name,
        message.as_bytes(),
        timeout,
        &mut |event| match event {
            Event::Send(line) => host::log(Direction::Send, &line),
            Event::Reply(line) => host::log(Direction::Reply, &line),
            Event::Info(text) => host::log(Direction::Info, text.as_bytes()),
        },
    )
}

fn reply(r: smtp_proto::Reply) -> Reply {
    Reply {
        code: r.code,
        enhanced_status: r.enhanced_status().map(|s| s.to_string()),
        text: r.text(),
    }
}

fn refusal(r: smtp_proto::Refusal) -> Refusal {
    Refusal {
        address: r.address,
        reply: reply(r.reply),
    }
}

fn receipt(r: smtp_proto::Receipt) -> Receipt {
    Receipt {
        accepted: r.accepted,
        refused: r.refused.into_iter().map(refusal).collect(),
        reply: reply(r.reply),
    }
}

fn stage(s: smtp_proto::Stage) -> Stage {
    use smtp_proto::Stage as S;
    match s {
        S::Connect => Stage::Connect,
        S::Greeting => Stage::Greeting,
        S::Ehlo => Stage::Ehlo,
        S::Helo => Stage::Helo,
        S::StartTls => Stage::Starttls,
        S::Auth => Stage::Auth,
        S::MailFrom => Stage::MailFrom,
        S::RcptTo => Stage::RcptTo,
        S::Data => Stage::Data,
        S::Message => Stage::Message,
        S::EndOfData => Stage::EndOfData,
        S::Rset => Stage::Rset,
        S::Quit => Stage::Quit,
    }
}

fn smtp_error(e: &smtp_proto::Error) -> SmtpError {
    use smtp_proto::Error as E;
    let failure = |s: &smtp_proto::Stage, d: &String| Failure {
        stage: stage(*s),
        detail: d.clone(),
    };
    match e {
        E::LookupFailed(d) => SmtpError::LookupFailed(d.clone()),
        E::AddressError(d) => SmtpError::AddressError(d.clone()),
        E::Io { stage, detail } => SmtpError::IoError(failure(stage, detail)),
        E::Timeout { stage, detail } => SmtpError::Timeout(failure(stage, detail)),
        E::ServerDisconnected { stage, detail } => {
            SmtpError::ServerDisconnected(failure(stage, detail))
        }
        E::MalformedReply { stage, detail } => SmtpError::MalformedReply(failure(stage, detail)),
        E::ConnectRefused(r) => SmtpError::ConnectRefused(reply(r.clone())),
        E::HeloRefused(r) => SmtpError::HeloRefused(reply(r.clone())),
        E::SenderRefused(r) => SmtpError::SenderRefused(refusal(r.clone())),
        E::RecipientsRefused(list) => {
            SmtpError::RecipientsRefused(list.iter().cloned().map(refusal).collect())
        }
        E::DataRefused { stage: s, reply: r } => SmtpError::DataRefused(DataRefusal {
            stage: stage(*s),
            reply: reply(r.clone()),
        }),
        E::NotSupported(d) => SmtpError::NotSupported(d.clone()),
        E::InvalidInput(d) => SmtpError::InvalidInput(d.clone()),
        E::TlsError {
            failure,
            detail,
            reply: r,
        } => SmtpError::TlsError(TlsProblem {
            failure: match failure {
                TlsFailure::Certificate => wit::TlsFailure::Certificate,
                TlsFailure::Handshake => wit::TlsFailure::Handshake,
                TlsFailure::Protocol => wit::TlsFailure::Protocol,
                TlsFailure::Refused => wit::TlsFailure::Refused,
            },
            detail: detail.clone(),
            reply: r.clone().map(reply),
        }),
        E::AuthFailed { detail, reply: r } => SmtpError::AuthFailed(AuthProblem {
            detail: detail.clone(),
            reply: r.clone().map(reply),
        }),
        E::Denied(d) => SmtpError::Denied(d.clone()),
    }
}
