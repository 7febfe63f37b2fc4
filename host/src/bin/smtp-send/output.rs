//! Transcripts for machines (`--transcript json`), transcripts to a file
//! (`--transcript-file`), results as JSON (`--json`), and progress on a
//! terminal.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use base64::Engine as _;
use serde_json::{json, Value};
use smtp_host::transcript::{debug_line, Direction, Transcript};
use smtp_host::{Receipt, Refusal, Reply, SendError, SmtpError};

/// Where a transcript is written: stderr, or a file.
pub type Sink = Mutex<Box<dyn Write + Send>>;

/// smtplib's form, one line per line on the wire, optionally timestamped.
pub struct Text {
    pub out: Sink,
    pub timestamps: bool,
}

impl Transcript for Text {
    fn line(&self, direction: Direction, bytes: &[u8]) {
        let text = debug_line(direction, bytes, self.timestamps);
        // One write per line, unbuffered: the last line before a hang is the
        // one a person needs to see.
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// One JSON object per line: `{"t": seconds, "dir": "send", "line": "..."}`.
/// Bytes that are not UTF-8 cannot ride in a JSON string as they are: such
/// a line also carries `"base64"` with its exact bytes (and `line` has
/// U+FFFD in their place).
pub struct Json {
    pub out: Sink,
    pub start: Instant,
}

impl Transcript for Json {
    fn line(&self, direction: Direction, bytes: &[u8]) {
        let dir = match direction {
            Direction::Send => "send",
            Direction::Reply => "reply",
            Direction::Info => "info",
        };
        let t = (self.start.elapsed().as_secs_f64() * 1e6).round() / 1e6;
        let mut event = json!({"t": t, "dir": dir, "line": String::from_utf8_lossy(bytes)});
        if std::str::from_utf8(bytes).is_err() {
            event["base64"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{event}");
        let _ = out.flush();
    }
}

fn reply(r: &Reply) -> Value {
    json!({
        "code": r.code,
        "enhanced_status": r.enhanced_status().map(|s| s.to_string()),
        "text": r.text(),
    })
}

/// A refused address beside its reply's fields.
fn refusal(r: &Refusal) -> Value {
    let mut v = reply(&r.reply);
    v["address"] = json!(r.address);
    v
}

/// One message's result, for `--json`.
pub fn outcome(label: &str, result: &Result<Receipt, SendError>) -> Value {
    let mut v = match result {
        Ok(receipt) => json!({
            "ok": true,
            "accepted": receipt.accepted,
            "refused": receipt.refused.iter().map(refusal).collect::<Vec<_>>(),
            "reply": reply(&receipt.reply),
        }),
        Err(e) => json!({"ok": false, "error": error(e)}),
    };
    if !label.is_empty() {
        v["message"] = json!(label);
    }
    v
}

/// The error case, its detail and exit status, and the server's replies.
pub fn error(e: &SendError) -> Value {
    let mut v = json!({
        "case": e.case(),
        "detail": match e {
            SendError::Smtp(s) => s.to_string(),
            other => other.to_string(),
        },
        "exit": e.exit_status(),
    });
    if let SendError::Smtp(s) = e {
        match s {
            SmtpError::ConnectRefused(r) | SmtpError::HeloRefused(r) => v["reply"] = reply(r),
            SmtpError::DataRefused { reply: r, stage } => {
                v["reply"] = reply(r);
                v["stage"] = json!(stage.name());
            }
            SmtpError::SenderRefused(r) => v["refused"] = json!([refusal(r)]),
            SmtpError::RecipientsRefused(list) => {
                v["refused"] = json!(list.iter().map(refusal).collect::<Vec<_>>())
            }
            SmtpError::TlsError {
                reply: r, failure, ..
            } => {
                v["tls_failure"] = json!(failure.name());
                if let Some(r) = r {
                    v["reply"] = reply(r);
                }
            }
            SmtpError::AuthFailed { reply: Some(r), .. } => v["reply"] = reply(r),
            SmtpError::Io { stage, .. }
            | SmtpError::Timeout { stage, .. }
            | SmtpError::ServerDisconnected { stage, .. }
            | SmtpError::MalformedReply { stage, .. } => v["stage"] = json!(stage.name()),
            _ => {}
        }
    }
    v
}

/// Shows how much of a large message has gone (made only when stderr is a
/// terminal), at most five times a second and once at the end.
pub struct Progress {
    total: u64,
    start: Instant,
    shown: Instant,
}

impl Progress {
    pub fn new(total: u64) -> Self {
        let now = Instant::now();
        Progress {
            total,
            start: now,
            shown: now,
        }
    }

    pub fn sent(&mut self, bytes: u64) {
        if self.shown.elapsed().as_millis() < 200 && bytes < self.total {
            return;
        }
        self.shown = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-6);
        let mb = |b: u64| b as f64 / 1e6;
        eprint!(
            "\r\x1b[Ksent {:.1} of {:.1} MB ({:.1} MB/s){}",
            mb(bytes),
            mb(self.total),
            mb(bytes) / secs,
            if bytes >= self.total { "\n" } else { "" }
        );
    }
}
