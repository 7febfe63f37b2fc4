//! Where the component's transcript lines go, and how people see them.

use std::io::Write;

pub use smtp_proto::transcript::{format_line, repr, Direction};

/// Receives every transcript line of one call, as the guest reports it.
/// Called synchronously from the guest's thread: keep it quick.
pub trait Transcript: Send + Sync {
    fn line(&self, direction: Direction, bytes: &[u8]);

    /// False when lines would be thrown away: the component then does not
    /// build them at all.
    fn wants_lines(&self) -> bool {
        true
    }
}

/// Discards the transcript.
pub struct Silent;

impl Transcript for Silent {
    fn line(&self, _: Direction, _: &[u8]) {}

    fn wants_lines(&self) -> bool {
        false
    }
}

impl<F: Fn(Direction, &[u8]) + Send + Sync> Transcript for F {
    fn line(&self, direction: Direction, bytes: &[u8]) {
        self(direction, bytes)
    }
}

/// smtplib's `set_debuglevel` output on stderr: `send: 'ehlo x\r\n'`,
/// `reply: '250 ok\r\n'`, info lines as they are; with `timestamps`
/// (debuglevel 2) each line starts with `HH:MM:SS.ffffff`.
pub struct Stderr {
    pub timestamps: bool,
}

impl Transcript for Stderr {
    fn line(&self, direction: Direction, bytes: &[u8]) {
        // One write per line, unbuffered: the last line before a hang is
        // the one a person needs to see.
        let text = debug_line(direction, bytes, self.timestamps);
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// One line of smtplib's debug output, newline included, with the
/// debuglevel-2 `HH:MM:SS.ffffff ` prefix when `timestamps`.
pub fn debug_line(direction: Direction, bytes: &[u8], timestamps: bool) -> String {
    let mut text = String::with_capacity(bytes.len() + 32);
    if timestamps {
        text.push_str(&chrono::Local::now().format("%H:%M:%S%.6f ").to_string());
    }
    text.push_str(&format_line(direction, bytes));
    text.push('\n');
    text
}
