//! The message as it travels after DATA (RFC 5321 §4.1.1.4, §4.5.2).
//!
//! Every line ending the user wrote — CRLF, bare LF or bare CR — becomes CRLF,
//! a line starting with `.` gets a second `.`, and the data ends with
//! `CRLF . CRLF`. Because every bare CR and LF is turned into a full CRLF
//! before the dot check, no input can produce the end-of-data sequence early:
//! `\n.\n`, `\r.\r` and `\r\n.\r\n` inside a message all come out as a
//! stuffed `..` line (no SMTP smuggling).

use memchr::{memchr2, memchr2_iter};

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
    /// The bytes are already what goes on the wire after DATA: every line
    /// ends in CRLF, none starts with `.`, and the last is ended. Such a
    /// message can be written as it is, without a copy through the encoder.
    pub wire_ready: bool,
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
    /// Encoding will change something: a bare CR or LF, a leading dot.
    altered: bool,
}

impl Scanner {
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), LineTooLong> {
        if self.push_wire_lines(chunk) {
            return Ok(());
        }
        if !self.info.eight_bit && has_eight_bit(chunk) {
            self.info.eight_bit = true;
        }
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            } else {
                self.altered = true;
            }
        }
        // One pass over every CR and LF (one searcher for the whole chunk:
        // per-line searches cost more than the lines in a big message).
        let mut start = 0;
        let mut skip_lf_at = usize::MAX;
        for i in memchr2_iter(b'\r', b'\n', chunk) {
            if i == skip_lf_at {
                start = i + 1;
                continue;
            }
            self.line_text(&chunk[start..i])?;
            self.end_line();
            if chunk[i] == b'\r' {
                match chunk.get(i + 1) {
                    Some(b'\n') => skip_lf_at = i + 1,
                    Some(_) => self.altered = true,
                    None => self.after_cr = true,
                }
            } else {
                self.altered = true;
            }
            start = i + 1;
        }
        if start < chunk.len() {
            self.line_text(&chunk[start..])?;
        }
        Ok(())
    }

    /// The common case, fast: at a line start, `chunk` is whole CRLF lines,
    /// none starting with `.` or too long, and no bare CR or LF. Counts them
    /// (and notes 8-bit bytes) and returns true; touches nothing and returns
    /// false otherwise (the full scan then takes over). One pass, 64 bytes
    /// at a time.
    fn push_wire_lines(&mut self, chunk: &[u8]) -> bool {
        if self.in_line || self.after_cr || chunk.last() != Some(&b'\n') {
            return false;
        }
        if chunk[0] == b'.' {
            return false;
        }
        let mut lines = 0u64;
        let mut line_start = 0usize;
        let mut high = false;
        // The previous block ended with CR.
        let mut carry = 0u64;
        let mut base = 0;
        while base < chunk.len() {
            let block = &chunk[base..chunk.len().min(base + 64)];
            let m = masks(block);
            high |= m.high;
            // CRLF only: every LF right after a CR, every CR right before an LF.
            let width_mask = if block.len() == 64 {
                u64::MAX
            } else {
                (1u64 << block.len()) - 1
            };
            if ((m.cr << 1) | carry) & width_mask != m.lf {
                return false;
            }
            carry = (m.cr >> (block.len() - 1)) & 1;
            let mut bits = m.lf;
            while bits != 0 {
                let lf_at = base + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if lf_at - 1 - line_start > MAX_LINE_OCTETS {
                    return false;
                }
                lines += 1;
                line_start = lf_at + 1;
                if chunk.get(line_start) == Some(&b'.') {
                    return false;
                }
            }
            base += 64;
        }
        self.info.lines += lines;
        self.info.size += chunk.len() as u64;
        self.info.eight_bit |= high;
        true
    }

    /// More text of the current line.
    fn line_text(&mut self, text: &[u8]) -> Result<(), LineTooLong> {
        if !self.in_line {
            self.in_line = true;
            self.dotted = text.first() == Some(&b'.');
            self.altered |= self.dotted;
        }
        self.line += text.len();
        self.check()
    }

    fn end_line(&mut self) {
        self.info.lines += 1;
        self.info.size += self.line as u64 + 2;
        self.in_line = false;
        self.dotted = false;
        self.line = 0;
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
        self.info.wire_ready = !self.altered && !self.in_line && !self.after_cr;
        Ok(self.info)
    }
}

/// For a block of at most 64 bytes: bit i of `cr` / `lf` is set when
/// `block[i]` is CR / LF; `high` when any byte is over 127.
struct Masks {
    cr: u64,
    lf: u64,
    high: bool,
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn masks(block: &[u8]) -> Masks {
    use core::arch::wasm32::{u8x16_bitmask, u8x16_eq, u8x16_splat, v128, v128_load, v128_or};
    if block.len() < 64 {
        return masks_scalar(block);
    }
    let (cr_v, lf_v) = (u8x16_splat(b'\r'), u8x16_splat(b'\n'));
    let (mut cr, mut lf) = (0u64, 0u64);
    let mut any: v128 = u8x16_splat(0);
    for i in 0..4 {
        // SAFETY: 64 readable bytes; wasm loads need no alignment.
        let v = unsafe { v128_load(block.as_ptr().add(16 * i).cast()) };
        any = v128_or(any, v);
        cr |= u64::from(u8x16_bitmask(u8x16_eq(v, cr_v))) << (16 * i);
        lf |= u64::from(u8x16_bitmask(u8x16_eq(v, lf_v))) << (16 * i);
    }
    Masks {
        cr,
        lf,
        high: u8x16_bitmask(any) != 0,
    }
}

#[cfg(target_arch = "x86_64")]
fn masks(block: &[u8]) -> Masks {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_setzero_si128,
    };
    if block.len() < 64 {
        return masks_scalar(block);
    }
    // SAFETY: SSE2 is part of x86_64; 64 readable bytes, unaligned loads.
    unsafe {
        let (cr_v, lf_v) = (_mm_set1_epi8(b'\r' as i8), _mm_set1_epi8(b'\n' as i8));
        let (mut cr, mut lf) = (0u64, 0u64);
        let mut any = _mm_setzero_si128();
        for i in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * i).cast::<__m128i>());
            any = _mm_or_si128(any, v);
            cr |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, cr_v)) as u16) << (16 * i);
            lf |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf_v)) as u16) << (16 * i);
        }
        Masks {
            cr,
            lf,
            high: _mm_movemask_epi8(any) != 0,
        }
    }
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
fn masks(block: &[u8]) -> Masks {
    masks_scalar(block)
}

fn masks_scalar(block: &[u8]) -> Masks {
    let mut m = Masks {
        cr: 0,
        lf: 0,
        high: false,
    };
    for (i, &b) in block.iter().enumerate() {
        m.cr |= u64::from(b == b'\r') << i;
        m.lf |= u64::from(b == b'\n') << i;
        m.high |= b > 127;
    }
    m
}

/// Any octet over 127. An OR over fixed-size blocks, which compilers turn
/// into SIMD (the standard `is_ascii` goes a word at a time on wasm32).
fn has_eight_bit(data: &[u8]) -> bool {
    let mut blocks = data.chunks_exact(64);
    let mut acc = 0u8;
    for block in &mut blocks {
        acc |= block.iter().fold(0, |a, &b| a | b);
        if acc & 0x80 != 0 {
            return true;
        }
    }
    (acc | blocks.remainder().iter().fold(0, |a, &b| a | b)) & 0x80 != 0
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
    fn wire_ready_messages() {
        let ready = |m: &[u8]| MessageInfo::scan(m).unwrap().wire_ready;
        assert!(ready(b"a\r\nb\r\n"));
        assert!(ready(b""));
        assert!(!ready(b"a\r\nb"));
        assert!(!ready(b"a\nb\r\n"));
        assert!(!ready(b"a\rb\r\n"));
        assert!(!ready(b"a\r\n.b\r\n"));
        assert!(!ready(b"a\r"));
        // Exactly when encoding changes nothing but the terminator.
        for m in [&b"x\r\ny\r\n"[..], b"x\r\n", b"x\ny", b".\r\n", b"a\r\r\n"] {
            let out = encode_all(m);
            assert_eq!(ready(m), out[..out.len() - 3] == *m, "{m:?}");
        }
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
