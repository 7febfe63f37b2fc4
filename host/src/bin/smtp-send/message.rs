//! The messages smtp-send sends: the seed's default test message, a
//! generated one of a given size, or files (streamed when large).

use std::io::Read;
use std::path::{Path, PathBuf};

use smtp_proto::data::{MessageInfo, Scanner};
use smtp_proto::error::exit;
use smtp_proto::message::fold_list;

/// Files up to this size are read whole and sent as one string; larger ones
/// are streamed to the component in chunks, so memory stays bounded.
pub const INLINE_LIMIT: u64 = 16 << 20;

pub enum Body {
    Text(String),
    /// Too large to hold: measured, to be streamed.
    File {
        path: PathBuf,
        info: MessageInfo,
    },
    /// A large generated test message, produced as it is streamed.
    Generated {
        head: String,
        size: usize,
    },
}

pub struct Message {
    /// How reports name it (the file name; empty for the default message).
    pub label: String,
    pub body: Body,
}

impl Message {
    pub fn len(&self) -> u64 {
        match &self.body {
            Body::Text(t) => t.len() as u64,
            Body::File { info, .. } => info.size,
            Body::Generated { head, size } => (head.len() + size) as u64,
        }
    }
}

/// A failure before anything is sent: the report line and exit status.
pub type Refusal = (String, i32);

/// A test message whose body is `size` octets of 80-octet lines, for load
/// tests (the same shape as the benchmark kit's peers send). Over
/// [`INLINE_LIMIT`], it is made as it is streamed, like a large file.
pub fn generated(from: &str, to: &[String], size: usize) -> Body {
    let head = generated_head(from, to, size);
    if (head.len() + size) as u64 > INLINE_LIMIT {
        Body::Generated { head, size }
    } else {
        let mut text = String::new();
        GeneratedBody::new(head, size)
            .read_to_string(&mut text)
            .expect("memory reads do not fail");
        Body::Text(text)
    }
}

fn generated_head(from: &str, to: &[String], size: usize) -> String {
    format!(
        "From: <{from}>\r\n{}\r\nSubject: smtp-send test {size}\r\n\
         Message-ID: <smtp-send-{size}@smtp-send.invalid>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n",
        fold_list("To", to).replace('\n', "\r\n")
    )
}

/// The generated message as a stream: the head, then `size` octets of
/// 80-octet lines (the last one shorter, each ending in CRLF; a last line
/// of one octet is a bare LF).
pub struct GeneratedBody {
    head: Vec<u8>,
    pos: usize,
    left: usize,
}

const LINE: &[u8; 80] =
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";

impl GeneratedBody {
    pub fn new(head: String, size: usize) -> Self {
        GeneratedBody {
            head: head.into_bytes(),
            pos: 0,
            left: size,
        }
    }

    /// The message's measure, known without reading it.
    pub fn info(head: &str, size: usize) -> MessageInfo {
        let mut scanner = Scanner::default();
        // Measure the head, then the body's whole lines, then its last line.
        let _ = scanner.push(head.as_bytes());
        let mut info = scanner.finish().unwrap_or_default();
        info.size += (size / 80 * 80) as u64;
        info.lines += (size / 80) as u64;
        let last = size % 80;
        let mut tail = Scanner::default();
        let _ = tail.push(&last_line(last));
        let tail = tail.finish().unwrap_or_default();
        info.size += tail.size;
        info.lines += tail.lines;
        info.wire_ready = tail.wire_ready || last == 0;
        info
    }
}

fn last_line(len: usize) -> Vec<u8> {
    let mut line = LINE[80 - len..].to_vec();
    if len == 1 {
        line[0] = b'\n';
    }
    line
}

impl Read for GeneratedBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // The head first, then lines made a block at a time into `head`'s
        // buffer (reused), so that any buffer size works.
        if self.pos == self.head.len() && self.left > 0 {
            self.head.clear();
            self.pos = 0;
            while self.head.len() < 64 * 1024 && self.left > 0 {
                let len = self.left.min(80);
                if len == 80 {
                    self.head.extend_from_slice(LINE);
                } else {
                    self.head.extend_from_slice(&last_line(len));
                }
                self.left -= len;
            }
        }
        let k = buf.len().min(self.head.len() - self.pos);
        buf[..k].copy_from_slice(&self.head[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

/// A message file (`-`: stdin). The component takes text, so it must be
/// UTF-8; a large file is checked and measured here, then streamed.
pub fn read_file(path: &Path, inline_limit: u64) -> Result<Message, Refusal> {
    let label = path.display().to_string();
    let unreadable = |e: std::io::Error| {
        (
            format!("invalid-input: cannot read message file {path:?}: {e}"),
            exit::NOINPUT,
        )
    };
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(unreadable)?;
        return text(path, buf).map(|t| Message {
            label,
            body: Body::Text(t),
        });
    }
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    if len <= inline_limit {
        let buf = std::fs::read(path).map_err(unreadable)?;
        return text(path, buf).map(|t| Message {
            label,
            body: Body::Text(t),
        });
    }
    let info = scan_file(path).map_err(|e| match e {
        ScanError::Io(e) => unreadable(e),
        ScanError::NotUtf8(offset) => not_utf8(path, offset),
        ScanError::TooLong(e) => (format!("invalid-input: {e}"), exit::DATAERR),
    })?;
    Ok(Message {
        label,
        body: Body::File {
            path: path.to_owned(),
            info,
        },
    })
}

fn text(path: &Path, bytes: Vec<u8>) -> Result<String, Refusal> {
    String::from_utf8(bytes).map_err(|e| not_utf8(path, e.utf8_error().valid_up_to() as u64))
}

fn not_utf8(path: &Path, offset: u64) -> Refusal {
    (
        format!("invalid-input: message file {path:?} is not UTF-8 (bad byte at offset {offset})"),
        exit::DATAERR,
    )
}

enum ScanError {
    Io(std::io::Error),
    NotUtf8(u64),
    TooLong(smtp_proto::data::LineTooLong),
}

/// Measures a file a chunk at a time, checking it is UTF-8 across chunk
/// boundaries.
fn scan_file(path: &Path) -> Result<MessageInfo, ScanError> {
    let mut file = std::fs::File::open(path).map_err(ScanError::Io)?;
    let mut scanner = Scanner::default();
    let mut buf = vec![0u8; 1 << 20];
    // Bytes of a UTF-8 sequence cut by the end of the last chunk.
    let mut carry = 0;
    let mut offset = 0u64;
    loop {
        let n = file.read(&mut buf[carry..]).map_err(ScanError::Io)?;
        if n == 0 {
            if carry > 0 {
                return Err(ScanError::NotUtf8(offset));
            }
            return scanner.finish().map_err(ScanError::TooLong);
        }
        let filled = carry + n;
        let valid = match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => filled,
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => return Err(ScanError::NotUtf8(offset + e.valid_up_to() as u64)),
        };
        scanner.push(&buf[..valid]).map_err(ScanError::TooLong)?;
        offset += valid as u64;
        buf.copy_within(valid..filled, 0);
        carry = filled - valid;
    }
}

/// The password: from the file given, else from $SMTP_PASSWORD.
pub fn secret(file: Option<&Path>) -> Result<String, Refusal> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                (
                    format!("invalid-input: cannot read password file {path:?}: {e}"),
                    exit::NOINPUT,
                )
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
        }
        None => std::env::var("SMTP_PASSWORD").map_err(|_| {
            (
                "invalid-input: --user needs a password: set SMTP_PASSWORD or use --password-file"
                    .to_owned(),
                exit::USAGE,
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_messages_have_the_size_asked() {
        for size in [0, 1, 2, 79, 80, 81, 82, 1000, 12345] {
            let Body::Text(msg) = generated("a@b", &["c@d".into()], size) else {
                panic!("small messages are held");
            };
            let body = msg.split_once("\r\n\r\n").unwrap().1;
            assert_eq!(body.len(), size, "{size}");
            assert!(body.lines().all(|l| l.len() <= 78));
            let head = generated_head("a@b", &["c@d".into()], size);
            let scanned = MessageInfo::scan(msg.as_bytes()).unwrap();
            assert_eq!(GeneratedBody::info(&head, size), scanned, "{size}");
        }
        let big = 20_000_000;
        match generated("a@b", &["c@d".into()], big) {
            Body::Generated { head, size } => {
                let mut all = Vec::new();
                GeneratedBody::new(head.clone(), size)
                    .read_to_end(&mut all)
                    .unwrap();
                assert_eq!(all.len(), head.len() + big);
                assert_eq!(
                    MessageInfo::scan(&all).unwrap(),
                    GeneratedBody::info(&head, size)
                );
            }
            _ => panic!("a 20 MB message is streamed"),
        }
    }

    #[test]
    fn large_files_are_scanned_in_chunks() {
        let dir = std::env::temp_dir().join(format!("smtp-send-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.eml");
        // A multi-byte character straddles every chunk boundary somewhere.
        let line = "ééé ünïcödé line of text\r\n".repeat(40_000);
        std::fs::write(&path, &line).unwrap();
        let info = scan_file(&path).ok().unwrap();
        assert_eq!(info, MessageInfo::scan(line.as_bytes()).unwrap());
        let mut bad = line.clone().into_bytes();
        bad[1_100_000] = 0xff;
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(scan_file(&path), Err(ScanError::NotUtf8(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
