//! From the component's WIT types to smtp-proto's, which carry the
//! formatting and exit statuses that every front end shares.

use crate::bindings::smtp_send::client::types;
use crate::mailer::{Options, TlsMode};
use crate::SmtpError;

/// The component's options; `transcript`: someone shows the transcript.
pub fn options(o: &Options, transcript: bool) -> types::Options {
    types::Options {
        client_name: o.client_name.clone(),
        reply_timeout_ms: u32::try_from(o.reply_timeout.as_millis()).unwrap_or(u32::MAX),
        message_lines_logged: o.message_lines_logged,
        pipelining: o.pipelining,
        transcript,
        tls: match o.tls {
            TlsMode::Off => types::TlsMode::Off,
            TlsMode::StartTls => types::TlsMode::Starttls,
            TlsMode::StartTlsIfOffered => types::TlsMode::StarttlsIfOffered,
            TlsMode::Implicit => types::TlsMode::Implicit,
        },
        credentials: o.credentials.as_ref().map(|c| types::Credentials {
            user: c.user.clone(),
            secret: c.secret.clone(),
            mechanism: c.mechanism.map(|m| m.name().to_owned()),
        }),
        allow_plaintext_auth: o.allow_plaintext_auth,
    }
}

fn reply(r: types::Reply) -> smtp_proto::Reply {
    smtp_proto::Reply {
        code: r.code,
        lines: r.text.split('\n').map(str::to_owned).collect(),
    }
}

fn refusal(r: types::Refusal) -> smtp_proto::Refusal {
    smtp_proto::Refusal {
        address: r.address,
        reply: reply(r.reply),
    }
}

pub fn receipt(r: types::Receipt) -> smtp_proto::Receipt {
    smtp_proto::Receipt {
        accepted: r.accepted,
        refused: r.refused.into_iter().map(refusal).collect(),
        reply: reply(r.reply),
    }
}

fn stage(s: types::Stage) -> smtp_proto::Stage {
    use smtp_proto::Stage as S;
    match s {
        types::Stage::Connect => S::Connect,
        types::Stage::Greeting => S::Greeting,
        types::Stage::Ehlo => S::Ehlo,
        types::Stage::Helo => S::Helo,
        types::Stage::Starttls => S::StartTls,
        types::Stage::Auth => S::Auth,
        types::Stage::MailFrom => S::MailFrom,
        types::Stage::RcptTo => S::RcptTo,
        types::Stage::Data => S::Data,
        types::Stage::Message => S::Message,
        types::Stage::EndOfData => S::EndOfData,
        types::Stage::Rset => S::Rset,
        types::Stage::Quit => S::Quit,
    }
}

pub fn error(e: types::SmtpError) -> SmtpError {
    use types::SmtpError as W;
    match e {
        W::LookupFailed(d) => SmtpError::LookupFailed(d),
        W::AddressError(d) => SmtpError::AddressError(d),
        W::IoError(f) => SmtpError::Io {
            stage: stage(f.stage),
            detail: f.detail,
        },
        W::Timeout(f) => SmtpError::Timeout {
            stage: stage(f.stage),
            detail: f.detail,
        },
        W::ServerDisconnected(f) => SmtpError::ServerDisconnected {
            stage: stage(f.stage),
            detail: f.detail,
        },
        W::MalformedReply(f) => SmtpError::MalformedReply {
            stage: stage(f.stage),
            detail: f.detail,
        },
        W::ConnectRefused(r) => SmtpError::ConnectRefused(reply(r)),
        W::HeloRefused(r) => SmtpError::HeloRefused(reply(r)),
        W::SenderRefused(r) => SmtpError::SenderRefused(refusal(r)),
        W::RecipientsRefused(list) => {
            SmtpError::RecipientsRefused(list.into_iter().map(refusal).collect())
        }
        W::DataRefused(d) => SmtpError::DataRefused {
            stage: stage(d.stage),
            reply: reply(d.reply),
        },
        W::NotSupported(d) => SmtpError::NotSupported(d),
        W::InvalidInput(d) => SmtpError::InvalidInput(d),
        W::Denied(d) => SmtpError::Denied(d),
        W::TlsError(p) => SmtpError::TlsError {
            failure: match p.failure {
                types::TlsFailure::Certificate => smtp_proto::TlsFailure::Certificate,
                types::TlsFailure::Handshake => smtp_proto::TlsFailure::Handshake,
                types::TlsFailure::Protocol => smtp_proto::TlsFailure::Protocol,
                types::TlsFailure::Refused => smtp_proto::TlsFailure::Refused,
            },
            detail: p.detail,
            reply: p.reply.map(reply),
        },
        W::AuthFailed(p) => SmtpError::AuthFailed {
            detail: p.detail,
            reply: p.reply.map(reply),
        },
    }
}
