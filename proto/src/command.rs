//! Commands as they go on the wire. Verbs are lower case, as smtplib writes
//! them (RFC 5321 §2.4: verbs are case-insensitive), so transcripts read like
//! the ones people already know.
//!
//! Every argument here was validated before the connection was opened
//! ([`crate::address`]): a command is always exactly one line.

/// One command, without its arguments' validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Ehlo(&'a str),
    Helo(&'a str),
    Mail { from: &'a str, params: &'a [String] },
    Rcpt { to: &'a str },
    Data,
    Rset,
    Quit,
    StartTls,
}

impl Command<'_> {
    /// Appends the command and its CRLF to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Command::Ehlo(name) => push(out, &["ehlo ", name]),
            Command::Helo(name) => push(out, &["helo ", name]),
            Command::Mail { from, params } => {
                push(out, &["mail FROM:<", from, ">"]);
                for p in params.iter() {
                    push(out, &[" ", p]);
                }
            }
            Command::Rcpt { to } => push(out, &["rcpt TO:<", to, ">"]),
            Command::Data => push(out, &["data"]),
            Command::Rset => push(out, &["rset"]),
            Command::Quit => push(out, &["quit"]),
            // Upper case, as smtplib sends it.
            Command::StartTls => push(out, &["STARTTLS"]),
        }
        out.extend_from_slice(b"\r\n");
    }
}

fn push(out: &mut Vec<u8>, parts: &[&str]) {
    for p in parts {
        out.extend_from_slice(p.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(c: Command) -> String {
        let mut out = Vec::new();
        c.write_to(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn wire_forms() {
        assert_eq!(line(Command::Ehlo("localhost")), "ehlo localhost\r\n");
        assert_eq!(line(Command::Helo("localhost")), "helo localhost\r\n");
        let params = ["SIZE=12".to_string(), "BODY=8BITMIME".to_string()];
        assert_eq!(
            line(Command::Mail {
                from: "a@b",
                params: &params
            }),
            "mail FROM:<a@b> SIZE=12 BODY=8BITMIME\r\n"
        );
        assert_eq!(
            line(Command::Mail {
                from: "",
                params: &[]
            }),
            "mail FROM:<>\r\n"
        );
        assert_eq!(line(Command::Rcpt { to: "c@d" }), "rcpt TO:<c@d>\r\n");
        assert_eq!(line(Command::Data), "data\r\n");
        assert_eq!(line(Command::Rset), "rset\r\n");
        assert_eq!(line(Command::Quit), "quit\r\n");
    }
}
