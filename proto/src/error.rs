//! Every way a send can fail, named as smtplib names them.

use std::fmt;

use crate::data::LineTooLong;
use crate::reply::Reply;
use crate::server::ServerError;

/// The step of the conversation a failure happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    Connect,
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    /// Sending the message itself, after DATA's 354.
    Message,
    /// Waiting for the reply to the final dot.
    EndOfData,
    Rset,
    Quit,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Greeting => "greeting",
            Stage::Ehlo => "ehlo",
            Stage::Helo => "helo",
            Stage::StartTls => "starttls",
            Stage::Auth => "auth",
            Stage::MailFrom => "mail-from",
            Stage::RcptTo => "rcpt-to",
            Stage::Data => "data",
            Stage::Message => "message",
            Stage::EndOfData => "end-of-data",
            Stage::Rset => "rset",
            Stage::Quit => "quit",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which part of TLS failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    /// The certificate did not verify: unknown issuer, expired, wrong name.
    Certificate,
    /// The handshake failed for another reason.
    Handshake,
    /// The server broke the STARTTLS rules (bytes before the handshake).
    Protocol,
    /// The server answered STARTTLS with something other than 220.
    Refused,
}

impl TlsFailure {
    pub fn name(self) -> &'static str {
        match self {
            TlsFailure::Certificate => "certificate",
            TlsFailure::Handshake => "handshake",
            TlsFailure::Protocol => "protocol",
            TlsFailure::Refused => "refused",
        }
    }
}

/// A recipient (or the sender) and the reply that refused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub address: String,
    pub reply: Reply,
}

/// A failed send. The case names are the WIT `smtp-error` cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The server's name did not resolve (smtplib: `socket.gaierror`).
    LookupFailed(String),
    /// Malformed SERVER, or no usable address (`socket.herror`).
    AddressError(String),
    /// Connection refused, reset, unreachable (`socket.error`).
    Io { stage: Stage, detail: String },
    /// No complete reply within the timeout, or the connect took too long.
    Timeout { stage: Stage, detail: String },
    /// The server closed the connection (`SMTPServerDisconnected`).
    ServerDisconnected { stage: Stage, detail: String },
    /// A reply that is not SMTP.
    MalformedReply { stage: Stage, detail: String },
    /// The greeting was not 220 (`SMTPConnectError`).
    ConnectRefused(Reply),
    /// EHLO and HELO both refused (`SMTPHeloError`).
    HeloRefused(Reply),
    /// MAIL FROM refused (`SMTPSenderRefused`).
    SenderRefused(Refusal),
    /// Every recipient refused (`SMTPRecipientsRefused`).
    RecipientsRefused(Vec<Refusal>),
    /// DATA refused, or the message refused after the final dot
    /// (`SMTPDataError`). `stage` tells which.
    DataRefused { stage: Stage, reply: Reply },
    /// The message needs an extension the server lacks (`SMTPNotSupportedError`).
    NotSupported(String),
    /// STARTTLS or implicit TLS failed; nothing more was sent in the clear.
    TlsError {
        failure: TlsFailure,
        detail: String,
        reply: Option<Reply>,
    },
    /// Authentication failed or was refused (535, 534, 454, ...), or the
    /// client would not send credentials over an unencrypted connection.
    AuthFailed {
        detail: String,
        reply: Option<Reply>,
    },
    /// Refused before connecting: nothing was sent.
    InvalidInput(String),
    /// The host's network policy refused the connection or name lookup.
    Denied(String),
}

/// sysexits.h, as msmtp uses them.
pub mod exit {
    pub const OK: i32 = 0;
    pub const USAGE: i32 = 64;
    pub const DATAERR: i32 = 65;
    pub const NOINPUT: i32 = 66;
    pub const NOHOST: i32 = 68;
    pub const UNAVAILABLE: i32 = 69;
    pub const SOFTWARE: i32 = 70;
    pub const CANTCREAT: i32 = 73;
    pub const IOERR: i32 = 74;
    pub const TEMPFAIL: i32 = 75;
    pub const PROTOCOL: i32 = 76;
    pub const NOPERM: i32 = 77;
}

/// 4xx is worth retrying (75), anything else a server refused is not (69).
fn reply_status(reply: &Reply) -> i32 {
    if reply.is_transient() {
        exit::TEMPFAIL
    } else {
        exit::UNAVAILABLE
    }
}

impl Error {
    /// The WIT case name.
    pub fn case(&self) -> &'static str {
        match self {
            Error::LookupFailed(_) => "lookup-failed",
            Error::AddressError(_) => "address-error",
            Error::Io { .. } => "io-error",
            Error::Timeout { .. } => "timeout",
            Error::ServerDisconnected { .. } => "server-disconnected",
            Error::MalformedReply { .. } => "malformed-reply",
            Error::ConnectRefused(_) => "connect-refused",
            Error::HeloRefused(_) => "helo-refused",
            Error::SenderRefused(_) => "sender-refused",
            Error::RecipientsRefused(_) => "recipients-refused",
            Error::DataRefused { .. } => "data-refused",
            Error::NotSupported(_) => "not-supported",
            Error::TlsError { .. } => "tls-error",
            Error::AuthFailed { .. } => "auth-failed",
            Error::InvalidInput(_) => "invalid-input",
            Error::Denied(_) => "denied",
        }
    }

    /// The process exit status for this failure (sysexits.h).
    pub fn exit_status(&self) -> i32 {
        match self {
            Error::InvalidInput(_) => exit::DATAERR,
            Error::LookupFailed(_) | Error::AddressError(_) => exit::NOHOST,
            Error::Io { .. } | Error::ServerDisconnected { .. } => exit::IOERR,
            Error::Timeout { .. } => exit::TEMPFAIL,
            Error::MalformedReply { .. } => exit::PROTOCOL,
            Error::Denied(_) => exit::NOPERM,
            Error::NotSupported(_) => exit::UNAVAILABLE,
            Error::ConnectRefused(r) | Error::HeloRefused(r) => reply_status(r),
            Error::SenderRefused(r) => reply_status(&r.reply),
            Error::DataRefused { reply, .. } => reply_status(reply),
            Error::TlsError { failure, reply, .. } => match (failure, reply) {
                (TlsFailure::Certificate, _) => exit::UNAVAILABLE,
                (TlsFailure::Refused, Some(r)) => reply_status(r),
                _ => exit::PROTOCOL,
            },
            Error::AuthFailed { reply, .. } => match reply {
                Some(r) if r.is_transient() => exit::TEMPFAIL,
                _ => exit::NOPERM,
            },
            Error::RecipientsRefused(list) => {
                if list.iter().any(|r| r.reply.is_transient()) {
                    exit::TEMPFAIL
                } else {
                    exit::UNAVAILABLE
                }
            }
        }
    }

    /// One line per fact: `<case>: <detail>`, one line per refused recipient.
    pub fn report_lines(&self) -> Vec<String> {
        let case = self.case();
        match self {
            Error::RecipientsRefused(list) => list
                .iter()
                .map(|r| format!("{case}: {}: {}", r.address, r.reply))
                .collect(),
            _ => vec![format!("{case}: {self}")],
        }
    }
}

impl fmt::Display for Error {
    /// The detail, without the case name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LookupFailed(d)
            | Error::AddressError(d)
            | Error::NotSupported(d)
            | Error::InvalidInput(d)
            | Error::Denied(d) => f.write_str(d),
            Error::Io { stage, detail }
            | Error::Timeout { stage, detail }
            | Error::ServerDisconnected { stage, detail }
            | Error::MalformedReply { stage, detail } => write!(f, "{detail} (at {stage})"),
            Error::ConnectRefused(r) => write!(f, "{r} (greeting)"),
            Error::HeloRefused(r) => write!(f, "{r} (ehlo/helo)"),
            Error::SenderRefused(r) => write!(f, "{} (sender <{}>)", r.reply, r.address),
            Error::RecipientsRefused(list) => {
                let parts: Vec<_> = list
                    .iter()
                    .map(|r| format!("{}: {}", r.address, r.reply))
                    .collect();
                f.write_str(&parts.join("; "))
            }
            Error::DataRefused { stage, reply } => write!(f, "{reply} (at {stage})"),
            // The detail names the kind of failure in words; the kind itself
            // is in the WIT record for machines.
            Error::TlsError { detail, reply, .. } | Error::AuthFailed { detail, reply } => {
                match reply {
                    Some(r) => write!(f, "{r} ({detail})"),
                    None => f.write_str(detail),
                }
            }
        }
    }
}

impl std::error::Error for Error {}

/// A SERVER that cannot be used: a control character in it may be an
/// injection attempt (`invalid-input`); anything else is an addressing error.
impl From<ServerError> for Error {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Control(_) => Error::InvalidInput(e.to_string()),
            ServerError::Malformed(..) => Error::AddressError(e.to_string()),
        }
    }
}

/// A message line SMTP cannot carry: refused before anything is sent.
impl From<LineTooLong> for Error {
    fn from(e: LineTooLong) -> Self {
        Error::InvalidInput(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_follow_the_reply_class() {
        let temp = Reply::new(452, "4.5.3 Too many recipients");
        let perm = Reply::new(550, "5.1.1 unknown");
        let refusal = |r: &Reply| Refusal {
            address: "a@b".into(),
            reply: r.clone(),
        };
        assert_eq!(
            Error::ConnectRefused(Reply::new(421, "x")).exit_status(),
            75
        );
        assert_eq!(
            Error::ConnectRefused(Reply::new(554, "x")).exit_status(),
            69
        );
        assert_eq!(
            Error::RecipientsRefused(vec![refusal(&perm), refusal(&temp)]).exit_status(),
            75
        );
        assert_eq!(
            Error::RecipientsRefused(vec![refusal(&perm)]).exit_status(),
            69
        );
        assert_eq!(Error::InvalidInput("x".into()).exit_status(), 65);
        assert_eq!(Error::LookupFailed("x".into()).exit_status(), 68);
        assert_eq!(Error::Denied("x".into()).exit_status(), 77);
    }

    #[test]
    fn report_lines() {
        let e = Error::RecipientsRefused(vec![
            Refusal {
                address: "a@b".into(),
                reply: Reply::new(550, "5.1.1 no such user"),
            },
            Refusal {
                address: "c@d".into(),
                reply: Reply::new(550, "5.1.1 nor this one"),
            },
        ]);
        assert_eq!(
            e.report_lines(),
            [
                "recipients-refused: a@b: 550 5.1.1 no such user",
                "recipients-refused: c@d: 550 5.1.1 nor this one"
            ]
        );
        let e = Error::Timeout {
            stage: Stage::Greeting,
            detail: "no reply within 5 s".into(),
        };
        assert_eq!(
            e.report_lines(),
            ["timeout: no reply within 5 s (at greeting)"]
        );
    }
}
