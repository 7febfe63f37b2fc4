//! Between the WIT types and smtp-proto's.

use smtp_proto::auth::{Credentials, Mechanism};
use smtp_proto::client::TlsMode;
use smtp_proto::{Config, Error, TlsFailure};

use crate::bindings::smtp_send::client::types::{
    self as wit, AuthProblem, DataRefusal, Failure, Options, Receipt, Refusal, Reply, SmtpError,
    Stage, TlsProblem,
};

pub fn config(options: &Options) -> Result<Config, Error> {
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
    Ok(Config {
        client_name: options.client_name.clone(),
        message_lines_logged: options.message_lines_logged,
        pipelining: options.pipelining,
        transcript: options.transcript,
        tls,
        credentials,
        allow_plaintext_auth: options.allow_plaintext_auth,
    })
}

pub fn reply(r: smtp_proto::Reply) -> Reply {
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

pub fn receipt(r: smtp_proto::Receipt) -> Receipt {
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

pub fn smtp_error(e: Error) -> SmtpError {
    let failure = |s, detail| Failure {
        stage: stage(s),
        detail,
    };
    match e {
        Error::LookupFailed(d) => SmtpError::LookupFailed(d),
        Error::AddressError(d) => SmtpError::AddressError(d),
        Error::Io { stage, detail } => SmtpError::IoError(failure(stage, detail)),
        Error::Timeout { stage, detail } => SmtpError::Timeout(failure(stage, detail)),
        Error::ServerDisconnected { stage, detail } => {
            SmtpError::ServerDisconnected(failure(stage, detail))
        }
        Error::MalformedReply { stage, detail } => {
            SmtpError::MalformedReply(failure(stage, detail))
        }
        Error::ConnectRefused(r) => SmtpError::ConnectRefused(reply(r)),
        Error::HeloRefused(r) => SmtpError::HeloRefused(reply(r)),
        Error::SenderRefused(r) => SmtpError::SenderRefused(refusal(r)),
        Error::RecipientsRefused(list) => {
            SmtpError::RecipientsRefused(list.into_iter().map(refusal).collect())
        }
        Error::DataRefused { stage: s, reply: r } => SmtpError::DataRefused(DataRefusal {
            stage: stage(s),
            reply: reply(r),
        }),
        Error::NotSupported(d) => SmtpError::NotSupported(d),
        Error::InvalidInput(d) => SmtpError::InvalidInput(d),
        Error::Denied(d) => SmtpError::Denied(d),
        Error::TlsError {
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
            detail,
            reply: r.map(reply),
        }),
        Error::AuthFailed { detail, reply: r } => SmtpError::AuthFailed(AuthProblem {
            detail,
            reply: r.map(reply),
        }),
    }
}
