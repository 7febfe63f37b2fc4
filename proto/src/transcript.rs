//! How a transcript line looks to people: smtplib's `set_debuglevel(1)`
//! form, `send: 'ehlo x\r\n'`, `reply: '250 ok\r\n'`. Shared by every front
//! end (the native CLI, the command component) so that they print alike.

/// Which way a transcript line went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Written to the server.
    Send,
    /// Read from the server.
    Reply,
    /// A remark of the client's own.
    Info,
}

/// Longest line shown in full; a hostile guest or server cannot flood the
/// terminal with one line.
const MAX_SHOWN: usize = 16 * 1024;

/// One transcript line in smtplib's form.
pub fn format_line(direction: Direction, bytes: &[u8]) -> String {
    let (shown, cut) = if bytes.len() > MAX_SHOWN {
        (&bytes[..MAX_SHOWN], bytes.len() - MAX_SHOWN)
    } else {
        (bytes, 0)
    };
    let mut out = match direction {
        Direction::Send => format!("send: {}", repr(shown)),
        Direction::Reply => format!("reply: {}", repr(shown)),
        Direction::Info => escape(shown, false),
    };
    if cut > 0 {
        out.push_str(&format!(" ... ({cut} more bytes)"));
    }
    out
}

/// Python's `repr` of a line, always in single quotes: `\r`, `\n`, `\t`,
/// `\\`, `\'`, `\xNN` for bytes that are not printable UTF-8. Printable
/// non-ASCII text is shown as itself; every byte can be told back.
pub fn repr(bytes: &[u8]) -> String {
    format!("'{}'", escape(bytes, true))
}

fn escape(bytes: &[u8], quote: bool) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' if quote => out.push_str("\\\\"),
                '\'' if quote => out.push_str("\\'"),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x80 && !c.is_ascii_graphic() && c != ' ' => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if is_unsafe_for_terminal(c) => {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Characters that are invisible or reorder text on a terminal (C1 controls,
/// bidi overrides, zero-width marks): shown escaped so that a server cannot
/// disguise what it sent.
fn is_unsafe_for_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c as u32, 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0xFEFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr() {
        assert_eq!(repr(b"ehlo localhost\r\n"), r"'ehlo localhost\r\n'");
        assert_eq!(repr(b"it's\ta \\ test"), r"'it\'s\ta \\ test'");
        assert_eq!(repr(b"\x00\x1b[31m\x7f"), r"'\x00\x1b[31m\x7f'");
        assert_eq!(repr("café".as_bytes()), "'café'");
        assert_eq!(repr(b"caf\xe9"), r"'caf\xe9'");
        assert_eq!(repr("a\u{202e}b\u{85}".as_bytes()), r"'a\u202eb\u0085'");
    }

    #[test]
    fn lines() {
        assert_eq!(
            format_line(Direction::Reply, b"250-PIPELINING\r\n"),
            r"reply: '250-PIPELINING\r\n'"
        );
        assert_eq!(
            format_line(Direction::Info, b"connect: ('localhost', 25)\x1b"),
            r"connect: ('localhost', 25)\x1b"
        );
        let long = vec![b'x'; MAX_SHOWN + 5];
        assert!(format_line(Direction::Send, &long).ends_with("' ... (5 more bytes)"));
    }
}
