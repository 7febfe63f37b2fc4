//! Server replies (RFC 5321 §4.2): one or more lines `NNN-text` ending in `NNN text`.

use std::fmt;

/// Longest reply line we accept, line end included. RFC 5321 §4.5.3.1.5 sets
/// 512, but real EHLO replies exceed it; like smtplib we allow 8192.
pub const MAX_LINE: usize = 8192;

/// Most lines in one reply. Real EHLO replies have a few dozen; a server that
/// keeps sending continuation lines is cut off here.
pub const MAX_LINES: usize = 256;

/// Most octets in one reply, all lines together. With [`MAX_LINE`] this bounds
/// the memory a reply can take whatever the server sends.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// A complete reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code, 200..=599.
    pub code: u16,
    /// The text of each line after the code and separator, non-UTF-8 bytes
    /// replaced.
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: &str) -> Self {
        Reply {
            code,
            lines: text.split('\n').map(str::to_owned).collect(),
        }
    }

    /// 2yz: the command was accepted.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4yz: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The lines' text joined with `\n`, as smtplib reports it.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The RFC 3463 enhanced status code that starts the first line, if the
    /// server sent one whose class agrees with the reply code.
    pub fn enhanced_status(&self) -> Option<EnhancedStatus> {
        let first = self.lines.first()?;
        let token = first.split(' ').next()?;
        let status = EnhancedStatus::parse(token)?;
        (u16::from(status.class) == self.code / 100).then_some(status)
    }
}

impl fmt::Display for Reply {
    /// `550 5.1.1 User unknown`, continuation lines joined with a space so the
    /// whole reply fits on one line of a report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        for line in &self.lines {
            if !line.is_empty() {
                write!(f, " {line}")?;
            }
        }
        Ok(())
    }
}

/// An RFC 3463 status code such as `5.1.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnhancedStatus {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedStatus {
    pub fn parse(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let class = parts.next()?;
        let subject = parts.next()?;
        let detail = parts.next()?;
        if parts.next().is_some() || !matches!(class, "2" | "4" | "5") {
            return None;
        }
        let number = |s: &str| -> Option<u16> {
            if (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        Some(EnhancedStatus {
            class: class.as_bytes()[0] - b'0',
            subject: number(subject)?,
            detail: number(detail)?,
        })
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// Why a reply could not be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply line does not start with a three-digit code: {0:?}")]
    BadCode(String),
    #[error("reply code {code} is outside 200-599: {line:?}")]
    CodeOutOfRange { code: String, line: String },
    #[error("reply line has {0:?} after its code instead of a space or '-'")]
    BadSeparator(char),
    #[error("multi-line reply changed its code from {first} to {line}")]
    CodeChanged { first: u16, line: u16 },
    #[error("reply line longer than {MAX_LINE} octets without a line end")]
    LineTooLong,
    #[error("reply longer than {MAX_LINES} lines or {MAX_REPLY_BYTES} octets")]
    ReplyTooLong,
}

/// Assembles complete replies from lines. Knows nothing of where lines come
/// from; the client splits its input at line ends and hands each line here.
#[derive(Debug, Default)]
pub struct ReplyAssembler {
    code: Option<u16>,
    lines: Vec<String>,
    bytes: usize,
}

impl ReplyAssembler {
    /// True when part of a multi-line reply has been read.
    pub fn in_progress(&self) -> bool {
        self.code.is_some()
    }

    /// Takes one line without its line end. Returns the reply when this was
    /// its last line.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let (code, last, text) = parse_line(line)?;
        if let Some(first) = self.code {
            if first != code {
                return Err(ReplyError::CodeChanged { first, line: code });
            }
        }
        self.bytes += line.len();
        if self.lines.len() >= MAX_LINES || self.bytes > MAX_REPLY_BYTES {
            return Err(ReplyError::ReplyTooLong);
        }
        self.code = Some(code);
        self.lines.push(String::from_utf8_lossy(text).into_owned());
        if !last {
            return Ok(None);
        }
        self.code = None;
        self.bytes = 0;
        Ok(Some(Reply {
            code,
            lines: std::mem::take(&mut self.lines),
        }))
    }
}

/// Splits `NNN-text` / `NNN text` / `NNN` into code, is-last-line and text.
pub fn parse_line(line: &[u8]) -> Result<(u16, bool, &[u8]), ReplyError> {
    let shown = || String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(ReplyError::BadCode(shown()));
    }
    // RFC 5321 §4.2: first digit 2-5, second 0-5.
    if !(b'2'..=b'5').contains(&line[0]) || line[1] > b'5' {
        return Err(ReplyError::CodeOutOfRange {
            code: String::from_utf8_lossy(&line[..3]).into_owned(),
            line: shown(),
        });
    }
    let code = line[..3]
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match line.get(3) {
        None => Ok((code, true, &[])),
        Some(b' ') => Ok((code, true, &line[4..])),
        Some(b'-') => Ok((code, false, &line[4..])),
        Some(&other) => Err(ReplyError::BadSeparator(char::from(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(lines: &[&str]) -> Result<Vec<Reply>, ReplyError> {
        let mut a = ReplyAssembler::default();
        let mut out = Vec::new();
        for l in lines {
            if let Some(r) = a.push_line(l.as_bytes())? {
                out.push(r);
            }
        }
        Ok(out)
    }

    #[test]
    fn single_and_multi_line() {
        let r = assemble(&["250-localhost", "250-PIPELINING", "250 SIZE 1000"]).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].code, 250);
        assert_eq!(r[0].lines, ["localhost", "PIPELINING", "SIZE 1000"]);
        assert_eq!(r[0].text(), "localhost\nPIPELINING\nSIZE 1000");
        assert_eq!(r[0].to_string(), "250 localhost PIPELINING SIZE 1000");
    }

    #[test]
    fn bare_code_is_a_last_line() {
        let r = assemble(&["354"]).unwrap();
        assert_eq!(r[0].code, 354);
        assert_eq!(r[0].lines, [""]);
        assert_eq!(r[0].to_string(), "354");
    }

    #[test]
    fn differing_codes_are_malformed() {
        assert_eq!(
            assemble(&["250-a", "251 b"]),
            Err(ReplyError::CodeChanged {
                first: 250,
                line: 251
            })
        );
    }

    #[test]
    fn bad_codes() {
        assert!(matches!(
            assemble(&["abc hello"]),
            Err(ReplyError::BadCode(_))
        ));
        assert!(matches!(assemble(&["25"]), Err(ReplyError::BadCode(_))));
        assert!(matches!(
            assemble(&["199 x"]),
            Err(ReplyError::CodeOutOfRange { .. })
        ));
        assert!(matches!(
            assemble(&["600 x"]),
            Err(ReplyError::CodeOutOfRange { .. })
        ));
        assert!(matches!(
            assemble(&["260 x"]),
            Err(ReplyError::CodeOutOfRange { .. })
        ));
        assert_eq!(assemble(&["250x"]), Err(ReplyError::BadSeparator('x')));
    }

    #[test]
    fn endless_continuation_is_cut_off() {
        let mut a = ReplyAssembler::default();
        let mut result = Ok(None);
        for _ in 0..=MAX_LINES {
            result = a.push_line(b"250-more");
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(ReplyError::ReplyTooLong));
    }

    #[test]
    fn enhanced_status() {
        let r = Reply::new(550, "5.1.1 <x@y>: Recipient address rejected");
        assert_eq!(r.enhanced_status().unwrap().to_string(), "5.1.1");
        // A class that disagrees with the code is not an enhanced status.
        assert_eq!(Reply::new(250, "5.1.1 odd").enhanced_status(), None);
        assert_eq!(
            Reply::new(250, "2.0.0").enhanced_status().unwrap().detail,
            0
        );
        assert_eq!(Reply::new(250, "Ok").enhanced_status(), None);
        assert_eq!(Reply::new(250, "2.0.0.1 x").enhanced_status(), None);
        assert_eq!(Reply::new(250, "2.1000.0 x").enhanced_status(), None);
    }
}
