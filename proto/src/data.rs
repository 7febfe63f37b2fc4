//! The message as it travels after DATA (RFC 5321 §4.1.1.4, §4.5.2).
//!
//! Every line ending the user wrote — CRLF, bare LF or bare CR — becomes CRLF,
//! a line starting with `.` gets a second `.`, and the data ends with
//! `CRLF . CRLF`. Because every bare CR and LF is turned into a full CRLF
//! before the dot check, no input can produce the end-of-data sequence early:
//! `\n.\n`, `\r.\r` and `\r\n.\r\n` inside a message all come out as a
//! stuffed `..` line (no SMTP smuggling).

use memchr::memchr2;

/// Longest line RFC 5321 §4.5.3.1.6 allows, without its CRLF and counting the
/// stuffed dot.
pub const MAX_LINE_OCTETS: usize = 998;

/// What the client must know about a message before MAIL FROM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageInfo {
    /// RFC 1870 size: octets with CRLF line endings, a final CRLF if the
    /// message lacked one, and no stuffed dots or terminator.
    pub size: u64,
    /// Any octet above 127 (needs 8BITMIME).
    pub eight_bit: bool,
    /// Number of lines.
    pub lines: u64,
}

/// A line too long to send without changing the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of the message is {octets} octets long; SMTP allows at most {MAX_LINE_OCTETS} (RFC 5321 §4.5.3.1.6)")]
pub struct LineTooLong {
    pub line: u64,
    pub octets: usize,
}

impl MessageInfo {
    /// Measures a whole message and refuses one with a line over the limit:
    /// we never cut or re-wrap a message behind its author's back.
    pub fn scan(msg: &[u8]) -> Result<Self, LineTooLong> {
        let mut scanner = Scanner::default();
        scanner.push(msg)?;
        scanner.finish()
    }
}

/// [`MessageInfo::scan`] a chunk at a time, for messages too big to hold.
#[derive(Clone, Debug, Default)]
pub struct Scanner {
    info: MessageInfo,
    /// Octets of the current line so far, without a stuffed dot.
    line: usize,
    /// The current line starts with `.` (it will be stuffed).
    dotted: bool,
    /// A line has begun and not ended.
    in_line: bool,
    /// The last chunk ended in CR: an LF starting the next belongs to it.
    after_cr: bool,
}

impl Scanner {
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), LineTooLong> {
        if !chunk.is_ascii() {
            self.info.eight_bit = true;
        }
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while !chunk.is_empty() {
            if !self.in_line {
                self.in_line = true;
                self.dotted = chunk[0] == b'.';
            }
            let Some(i) = memchr2(b'\r', b'\n', chunk) else {
                self.line += chunk.len();
                return self.check();
            };
            self.line += i;
            self.check()?;
            self.info.lines += 1;
            self.info.size += self.line as u64 + 2;
            self.in_line = false;
            self.line = 0;
            let crlf = chunk[i] == b'\r' && chunk.get(i + 1) == Some(&b'\n');
            if chunk[i] == b'\r' && i + 1 == chunk.len() {
                self.after_cr = true;
            }
            chunk = &chunk[i + 1 + usize::from(crlf)..];
        }
        Ok(())
    }

    fn check(&self) -> Result<(), LineTooLong> {
        let octets = self.line + usize::from(self.dotted);
        if octets > MAX_LINE_OCTETS {
            return Err(LineTooLong {
                line: self.info.lines + 1,
                octets,
            });
        }
        Ok(())
    }

    /// What was measured so far (a last line without line end counted).
    pub fn finish(mut self) -> Result<MessageInfo, LineTooLong> {
        if self.in_line {
            self.info.lines += 1;
            self.info.size += self.line as u64 + 2;
        }
        Ok(self.info)
    }
}

/// Turns message bytes into DATA bytes, chunk by chunk, so a large message
/// never needs a second full copy.
#[derive(Clone, Debug)]
pub struct DataEncoder {
    at_line_start: bool,
    /// The last byte seen was a CR, already written as CRLF: an LF that
    /// starts the next chunk belongs to it.
    after_cr: bool,
}

impl Default for DataEncoder {
    fn default() -> Self {
        DataEncoder {
            at_line_start: true,
            after_cr: false,
        }
    }
}

impl DataEncoder {
    /// Appends the encoded form of `input` to `out`.
    pub fn encode(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 64);
        if self.after_cr && !input.is_empty() {
            self.after_cr = false;
            if input[0] == b'\n' {
                input = &input[1..];
            }
        }
        while !input.is_empty() {
            if self.at_line_start && input[0] == b'.' {
                out.push(b'.');
            }
            match memchr2(b'\r', b'\n', input) {
                None => {
                    out.extend_from_slice(input);
                    self.at_line_start = false;
                    return;
                }
                Some(i) => {
                    out.extend_from_slice(&input[..i]);
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                    let crlf = input[i] == b'\r' && input.get(i + 1) == Some(&b'\n');
                    if input[i] == b'\r' && i + 1 == input.len() {
                        self.after_cr = true;
                    }
                    input = &input[i + 1 + usize::from(crlf)..];
                }
            }
        }
    }

    /// Ends the data: a CRLF if the message did not end with a line end, then
    /// the terminating `.` line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        *self = DataEncoder::default();
    }
}

/// Encodes a whole message, terminator included.
pub fn encode_all(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = DataEncoder::default();
    enc.encode(msg, &mut out);
    enc.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> Vec<u8> {
        encode_all(s)
    }

    #[test]
    fn line_endings_are_normalised() {
        assert_eq!(enc(b"a\nb\rc\r\nd"), b"a\r\nb\r\nc\r\nd\r\n.\r\n");
        assert_eq!(enc(b"a\r\r\nb\n"), b"a\r\n\r\nb\r\n.\r\n");
        assert_eq!(enc(b"\n\n"), b"\r\n\r\n.\r\n");
        assert_eq!(enc(b""), b".\r\n");
    }

    #[test]
    fn dots_are_stuffed() {
        assert_eq!(enc(b".\n..\n.x\nx.\n"), b"..\r\n...\r\n..x\r\nx.\r\n.\r\n");
        assert_eq!(enc(b"."), b"..\r\n.\r\n");
    }

    #[test]
    fn no_early_end_of_data() {
        for msg in [
            &b"a\n.\nb"[..],
            b"a\r.\rb",
            b"a\r\n.\r\nb",
            b"a\r\n.\nb",
            b"a\n.\r\nb",
            b"a\r\n.\rb",
        ] {
            let out = enc(msg);
            let end = memchr::memmem::find(&out, b"\r\n.\r\n").unwrap();
            assert_eq!(end + 5, out.len(), "early end in {out:?}");
            assert_eq!(out, b"a\r\n..\r\nb\r\n.\r\n");
        }
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let msg = b"Subject: x\r\n\r\n.dot\r\r\nbare\rcr\nlf\r\n..\r\n.";
        let whole = enc(msg);
        for split in 0..=msg.len() {
            for split2 in split..=msg.len() {
                let mut out = Vec::new();
                let mut e = DataEncoder::default();
                e.encode(&msg[..split], &mut out);
                e.encode(&msg[split..split2], &mut out);
                e.encode(&msg[split2..], &mut out);
                e.finish(&mut out);
                assert_eq!(out, whole, "split at {split},{split2}");
            }
        }
    }

    #[test]
    fn scan_measures_size_and_lines() {
        let info = MessageInfo::scan(b"a\nbb\r\nccc").unwrap();
        assert_eq!(info.lines, 3);
        // "a\r\nbb\r\nccc\r\n"
        assert_eq!(info.size, 12);
        assert!(!info.eight_bit);
        assert!(MessageInfo::scan("é".as_bytes()).unwrap().eight_bit);
        let msg = b".x\r\n.\n";
        let stuffed = enc(msg);
        // The size excludes stuffed dots and the terminator.
        assert_eq!(
            MessageInfo::scan(msg).unwrap().size,
            stuffed.len() as u64 - 2 - 3
        );
    }

    #[test]
    fn scanning_in_chunks_is_the_same() {
        let msg = b"Subject: x\r\n\r\n.dot\r\r\nbare\rcr\nlf\r\n..\r\n.\xc3\xa9";
        let whole = MessageInfo::scan(msg).unwrap();
        for split in 0..=msg.len() {
            let mut s = Scanner::default();
            s.push(&msg[..split]).unwrap();
            s.push(&msg[split..]).unwrap();
            assert_eq!(s.finish().unwrap(), whole, "split at {split}");
        }
        let mut s = Scanner::default();
        s.push(&[b'x'; 600]).unwrap();
        assert_eq!(
            s.push(&[b'x'; 600]),
            Err(LineTooLong {
                line: 1,
                octets: 1200
            })
        );
    }

    #[test]
    fn long_lines_are_refused() {
        let ok = vec![b'x'; MAX_LINE_OCTETS];
        assert!(MessageInfo::scan(&ok).is_ok());
        let mut dotted = ok.clone();
        dotted[0] = b'.';
        assert_eq!(
            MessageInfo::scan(&dotted),
            Err(LineTooLong {
                line: 1,
                octets: 999
            })
        );
        let mut msg = b"short\n".to_vec();
        msg.extend(vec![b'y'; 999]);
        assert_eq!(
            MessageInfo::scan(&msg),
            Err(LineTooLong {
                line: 2,
                octets: 999
            })
        );
    }
}
