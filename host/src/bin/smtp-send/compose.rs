//! Real messages from flags: `--subject`, `--body`, `--header`, `--attach`,
//! `--cc`, `--bcc`, built as MIME by `mail-builder` (Date, Message-ID,
//! RFC 2047 for non-ASCII headers, base64 or quoted-printable bodies so no
//! line passes 998 octets). Bcc goes into the envelope only.

use std::path::{Path, PathBuf};

use mail_builder::headers::text::Text;
use mail_builder::MessageBuilder;
use smtp_proto::error::exit;

use crate::message::Refusal;

/// What the user asked the message to contain.
pub struct Parts<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub cc: &'a [String],
    pub subject: Option<&'a str>,
    /// Text, or `@FILE` for a file's contents.
    pub body: Option<&'a str>,
    /// `Name: value` lines.
    pub headers: &'a [String],
    pub attachments: &'a [PathBuf],
}

impl Parts<'_> {
    /// Whether any flag asks for a built message.
    pub fn wanted(&self) -> bool {
        self.subject.is_some()
            || self.body.is_some()
            || !self.headers.is_empty()
            || !self.attachments.is_empty()
            || !self.cc.is_empty()
    }
}

fn invalid(what: String) -> Refusal {
    (format!("invalid-input: {what}"), exit::DATAERR)
}

fn unreadable(path: &Path, e: std::io::Error) -> Refusal {
    (
        format!("invalid-input: cannot read {path:?}: {e}"),
        exit::NOINPUT,
    )
}

/// Builds the message. Header names and values are checked first: a CR or
/// LF in them would let a flag forge headers.
pub fn build(parts: &Parts) -> Result<String, Refusal> {
    let mut builder = MessageBuilder::new().from(parts.from).to(parts
        .to
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    if !parts.cc.is_empty() {
        builder = builder.cc(parts.cc.iter().map(String::as_str).collect::<Vec<_>>());
    }
    if let Some(subject) = parts.subject {
        if subject.chars().any(char::is_control) {
            return Err(invalid(format!(
                "the subject {subject:?} contains a control character"
            )));
        }
        builder = builder.subject(subject);
    }
    for header in parts.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| invalid(format!("header {header:?} is not `Name: value`")))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(invalid(format!(
                "header name {name:?} is not a header name"
            )));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(invalid(format!(
                "header {name} contains a line break or control character"
            )));
        }
        if ["bcc", "from", "to", "cc", "subject"].contains(&name.to_ascii_lowercase().as_str()) {
            return Err(invalid(format!("header {name} has its own option")));
        }
        builder = builder.header(name.to_owned(), Text::new(value.trim().to_owned()));
    }
    let body = match parts.body {
        Some(b) => match b.strip_prefix('@') {
            Some(file) => {
                let path = Path::new(file);
                let bytes = std::fs::read(path).map_err(|e| unreadable(path, e))?;
                String::from_utf8(bytes)
                    .map_err(|_| invalid(format!("body file {path:?} is not UTF-8")))?
            }
            None => b.to_owned(),
        },
        None => String::new(),
    };
    builder = builder.text_body(body);
    for path in parts.attachments {
        let bytes = std::fs::read(path).map_err(|e| unreadable(path, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".into());
        let mime = mime_guess::from_path(path)
            .first_or_octet_stream()
            .essence_str()
            .to_owned();
        builder = builder.attachment(mime, name, bytes);
    }
    builder
        .write_to_string()
        .map_err(|e| invalid(format!("building the message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(to: &'a [String], headers: &'a [String]) -> Parts<'a> {
        Parts {
            from: "me@example.com",
            to,
            cc: &[],
            subject: Some("Grüße"),
            body: Some("hello"),
            headers,
            attachments: &[],
        }
    }

    #[test]
    fn headers_are_encoded_and_dated() {
        let to = ["you@example.com".to_string()];
        let msg = build(&parts(&to, &["X-Tag: one".into()])).unwrap();
        assert!(msg.contains("Subject: =?utf-8?"), "{msg}");
        assert!(msg.contains("\r\nDate: "));
        assert!(msg.contains("\r\nMessage-ID: <"));
        assert!(msg.contains("\r\nX-Tag: one\r\n"));
        assert!(!msg.to_ascii_lowercase().contains("bcc"));
    }

    #[test]
    fn forged_headers_are_refused() {
        let to = ["you@example.com".to_string()];
        for h in [
            "X-A: b\r\nBcc: evil@example.com",
            "Bad Name: x",
            "NoColon",
            "Bcc: x@y",
        ] {
            assert!(build(&parts(&to, &[h.into()])).is_err(), "{h:?}");
        }
    }
}
