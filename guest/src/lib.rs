//! The SMTP client component: WIT glue around `smtp-proto`, driven over
//! `wasi:sockets`. It never prints; every transcript line goes to the host.

mod driver;
mod net;

use std::time::Duration;

use smtp_proto::data::MessageInfo;
use smtp_proto::server::{ServerAddress, ServerError};
use smtp_proto::{Client, Config, Event};

mod bindings {
    wit_bindgen::generate!({
        world: "smtp-client",
        path: "../wit",
    });
}

use bindings::exports::smtp_send::client::mailer::Guest;
use bindings::smtp_send::client::host::{self, Direction};
use bindings::smtp_send::client::types::{
    DataRefusal, Failure, Options, Receipt, Refusal, Reply, SmtpError, Stage,
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
    let config = Config {
        client_name: options.client_name.clone(),
        message_lines_logged: options.message_lines_logged,
        pipelining: options.pipelining,
    };
    let client = Client::new(config, from, to, info)?;
    let timeout = Duration::from_millis(u64::from(options.reply_timeout_ms.max(1)));
    let conn = net::connect(&server, timeout, &mut |line| {
        host::log(Direction::Info, line.as_bytes())
    })?;
    driver::run(
        client,
        &conn,
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
        E::Denied(d) => SmtpError::Denied(d.clone()),
    }
}
