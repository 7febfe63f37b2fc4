//! Fuzz harnesses, shared by the libFuzzer targets in `fuzz/` and by the
//! regression test that replays every input the fuzzer ever crashed on.
//! Each takes arbitrary bytes and panics only if an invariant breaks.

use std::time::Duration;

use crate::auth::{self, Credentials};
use crate::client::{Client, Config, Event, TlsMode, MAX_UNSOLICITED};
use crate::data::{DataEncoder, MessageInfo};
use crate::reply::{parse_line, ReplyAssembler, MAX_LINES, MAX_REPLY_BYTES};

/// Reply parsing: any bytes, split at LF.
pub fn reply(data: &[u8]) {
    let mut assembler = ReplyAssembler::default();
    for line in data.split(|&b| b == b'\n') {
        if let Ok((code, _, _)) = parse_line(line) {
            assert!((200..600).contains(&code));
        }
        match assembler.push_line(line) {
            Ok(Some(reply)) => {
                assert!((200..600).contains(&reply.code));
                assert!(!reply.lines.is_empty() && reply.lines.len() <= MAX_LINES);
                assert!(reply.lines.iter().map(String::len).sum::<usize>() <= MAX_REPLY_BYTES * 3);
                let _ = reply.enhanced_status();
                let _ = reply.to_string();
            }
            Ok(None) => {}
            Err(_) => assembler = ReplyAssembler::default(),
        }
    }
}

/// DATA encoding: the first byte picks chunk sizes, the rest is the message.
/// The output must end the data exactly once, at the end, with no bare CR or
/// LF, and unstuff back to the message with normalised line ends.
pub fn data(data: &[u8]) {
    let Some((&chunk, msg)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 16) + 1;
    let mut out = Vec::new();
    let mut enc = DataEncoder::default();
    for part in msg.chunks(chunk) {
        enc.encode(part, &mut out);
    }
    enc.finish(&mut out);

    assert!(out.ends_with(b".\r\n"));
    assert!(out.len() == 3 || out.ends_with(b"\r\n.\r\n"));
    let body = &out[..out.len() - 3];
    assert!(memchr::memmem::find(body, b"\r\n.\r\n").is_none());
    assert!(!body.starts_with(b".\r\n"));
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(body.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && body[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
    // Unstuff and compare with the message, line ends normalised.
    let mut unstuffed = Vec::new();
    for line in body.split_inclusive(|&b| b == b'\n') {
        unstuffed.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    let mut normalised = Vec::new();
    let mut i = 0;
    while i < msg.len() {
        match msg[i] {
            b'\r' if msg.get(i + 1) == Some(&b'\n') => {
                normalised.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => normalised.extend_from_slice(b"\r\n"),
            b => normalised.push(b),
        }
        i += 1;
    }
    if !normalised.is_empty() && !normalised.ends_with(b"\r\n") {
        normalised.extend_from_slice(b"\r\n");
    }
    assert_eq!(unstuffed, normalised);
    if let Ok(info) = MessageInfo::scan(msg) {
        assert_eq!(info.size, normalised.len() as u64);
    }
}

/// The whole client driven by a hostile server. The first bytes choose the
/// envelope and options, the rest is a script of server bytes and driver
/// events. Whatever happens: no panic, bounded buffers, a transcript that is
/// exactly what was written, nothing written after the close.
pub fn client(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let rcpts: Vec<String> = (0..=usize::from(flags & 3))
        .map(|i| format!("r{i}@example.com"))
        .collect();
    let message: &[u8] = if flags & 4 != 0 {
        "Subject: é\n\n.dot\r\nline\rtwo\n".as_bytes()
    } else {
        b"Subject: x\r\n\r\nbody\r\n"
    };
    const SECRET: &str = "s3cr3t-p4ss";
    let credentials = (flags & 32 != 0).then(|| Credentials {
        user: "fuzzer".into(),
        secret: SECRET.into(),
        mechanism: None,
    });
    let config = Config {
        client_name: "fuzz.example".into(),
        message_lines_logged: u32::MAX,
        pipelining: flags & 8 != 0,
        transcript: true,
        tls: if flags & 64 != 0 {
            TlsMode::StartTlsIfOffered
        } else {
            TlsMode::Off
        },
        credentials,
        allow_plaintext_auth: flags & 128 != 0,
    };
    let from = if flags & 16 != 0 {
        ""
    } else {
        "me@example.com"
    };
    let info = MessageInfo::scan(message).expect("fixed message");
    let mut client = Client::new(config, from, &rcpts, info).expect("valid envelope");

    let mut written = Vec::new();
    let mut logged = Vec::new();
    let mut closed_at = None;
    let mut script = rest;
    while let Some((&op, tail)) = script.split_first() {
        script = tail;
        // Drive like the real driver: write everything, then the body.
        loop {
            let out = client.output().to_vec();
            client.consume_output(out.len());
            if closed_at.is_some() {
                assert!(out.is_empty(), "written after close");
            }
            written.extend_from_slice(&out);
            if client.wants_body() {
                client.push_body(message);
                client.finish_body();
            } else if client.wants_tls() {
                client.tls_established();
            } else if client.output().is_empty() {
                break;
            }
        }
        while let Some(e) = client.poll_event() {
            if let Event::Send(line) = e {
                logged.extend_from_slice(&line);
            }
        }
        if client.is_closed() && closed_at.is_none() {
            closed_at = Some(written.len());
            assert!(client.outcome().is_some(), "closed without an outcome");
        }
        assert!(client.input_buffered() <= MAX_UNSOLICITED + 32);
        match op % 8 {
            0 => client.handle_eof(),
            1 => client.handle_timeout(Duration::from_secs(1)),
            2 => client.handle_io_error("reset".into()),
            _ => {
                let n = (usize::from(op >> 3) + 1).min(script.len());
                let (chunk, tail) = script.split_at(n);
                script = tail;
                client.feed(chunk);
            }
        }
    }
    while let Some(e) = client.poll_event() {
        if let Event::Send(line) = e {
            logged.extend_from_slice(&line);
        }
    }
    // Everything queued for the wire was reported, in order.
    let pending = client.output().to_vec();
    written.extend_from_slice(&pending);
    if flags & 32 == 0 {
        assert_eq!(logged, written, "transcript differs from the wire");
    } else {
        // With credentials the transcript is the wire with secrets redacted:
        // the same lines, and no secret in any form.
        let lines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
        assert_eq!(lines(&logged), lines(&written));
        let text = String::from_utf8_lossy(&logged);
        for secret in [
            SECRET.to_owned(),
            auth::base64(SECRET.as_bytes()),
            auth::base64(format!("\0fuzzer\0{SECRET}").as_bytes()),
        ] {
            assert!(!text.contains(&secret), "secret in the transcript");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input that ever crashed a fuzz target, kept in
    /// fuzz/regressions/<target>/, plus the seed corpus.
    #[test]
    fn replay_fuzz_regressions_and_seeds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut count = 0;
        for dir in ["regressions", "seeds"] {
            for (target, harness) in [
                ("reply", reply as fn(&[u8])),
                ("client", client),
                ("data", data),
            ] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    harness(&std::fs::read(&path).unwrap());
                    count += 1;
                }
            }
        }
        assert!(count > 0, "no seeds found under {}", root.display());
    }
}
