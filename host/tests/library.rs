//! The embeddable host against Postfix's smtp-sink on 127.0.0.1.
//!
//! `make test` installs smtp-sink; a bare `cargo test` on a machine without
//! it skips these tests with a note, unless `SMTP_TESTS_REQUIRE_SERVERS=1`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smtp_host::{Call, Direction, Grant, Mailer, SendError, SmtpError};
use smtp_proto::server::ServerAddress;

struct Sink {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Sink {
    fn start() -> Option<Sink> {
        let bin = ["/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(bin) = bin else {
            assert!(
                std::env::var_os("SMTP_TESTS_REQUIRE_SERVERS").is_none(),
                "smtp-sink is required but missing"
            );
            eprintln!("smtp-sink not installed: skipping (run `make test`)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("smtp-lib-sink-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        Command::new("chmod").arg("777").arg(&dir).status().unwrap();
        let mut cmd = Command::new(bin);
        if unsafe { libc_geteuid() } == 0 {
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .arg("-d")
            .arg(format!("{}/msg.", dir.display()))
            .arg(format!("127.0.0.1:{port}"))
            .arg("64")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "smtp-sink did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Sink { port, dir, child })
    }

    fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn grant(&self) -> Arc<Grant> {
        Arc::new(Grant::server(
            &ServerAddress::parse(&self.server(), None).unwrap(),
        ))
    }

    /// The dump files' contents, once `n` are complete.
    fn dumps(&self, n: usize) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let mut texts: Vec<String> = std::fs::read_dir(&self.dir)
                .unwrap()
                .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect();
            texts.sort();
            if (texts.len() >= n && texts.iter().all(|t| t.ends_with("\n\n")))
                || Instant::now() > end
            {
                return texts;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn mailer() -> Mailer {
    Mailer::with_cache_dir(None).unwrap()
}

fn call(sink: &Sink, to: &[&str]) -> Call {
    let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
    let mut call = Call::new(
        &sink.server(),
        "me@example.com",
        &to,
        "Subject: library\n\nhello\n".into(),
    );
    call.sandbox.grant = sink.grant();
    call
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn plain_send_and_send_with_options() {
    let Some(sink) = Sink::start() else { return };
    let mailer = mailer();
    let rt = runtime();
    rt.block_on(mailer.send_plain(call(&sink, &["a@example.com"])))
        .unwrap();
    let receipt = rt
        .block_on(mailer.send(call(&sink, &["b@example.com", "c@example.com"])))
        .unwrap();
    assert_eq!(receipt.accepted, ["b@example.com", "c@example.com"]);
    assert_eq!(receipt.reply.code, 250);
    let dumps = sink.dumps(2);
    assert_eq!(dumps.len(), 2, "{dumps:?}");
    let all = dumps.concat();
    assert!(all.contains("X-Rcpt-Args: <a@example.com>\n"));
    assert!(all.contains("X-Rcpt-Args: <b@example.com>\nX-Rcpt-Args: <c@example.com>\n"));
    assert_eq!(all.matches("Subject: library\n\nhello\n\n").count(), 2);
}

#[test]
fn transcript_sink_sees_every_line() {
    let Some(sink) = Sink::start() else { return };
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    let mut c = call(&sink, &["a@example.com"]);
    c.sandbox.transcript = Arc::new(move |d: Direction, l: &[u8]| {
        seen.lock().unwrap().push((d, l.to_vec()));
    });
    c.options.client_name = "lib.test".into();
    runtime().block_on(mailer().send(c)).unwrap();
    let lines = lines.lock().unwrap();
    assert!(lines.contains(&(Direction::Send, b"ehlo lib.test\r\n".to_vec())));
    assert!(lines.contains(&(Direction::Send, b"hello\r\n".to_vec())));
    assert_eq!(
        lines.last().unwrap(),
        &(Direction::Reply, b"221 Bye\r\n".to_vec())
    );
}

#[test]
fn bad_envelopes_never_connect() {
    let Some(sink) = Sink::start() else { return };
    let mailer = mailer();
    let rt = runtime();
    let cases: [(&str, &[&str]); 4] = [
        ("me@example.com", &[]),
        ("me@example.com", &["a\0@example.com"]),
        ("me\0@example.com", &["a@example.com"]),
        ("me@example.com", &["a@example.com\r\nRSET"]),
    ];
    for (from, to) in cases {
        let mut c = call(&sink, to);
        c.from = from.into();
        match rt.block_on(mailer.send_plain(c)) {
            Err(SendError::Smtp(SmtpError::InvalidInput(_))) => {}
            other => panic!("{from:?} {to:?}: {other:?}"),
        }
    }
    assert!(sink.dumps(0).is_empty());
}

#[test]
fn nothing_outside_the_grant() {
    let Some(sink) = Sink::start() else { return };
    let mut c = call(&sink, &["a@example.com"]);
    c.sandbox.grant = Arc::new(Grant::none());
    match runtime().block_on(mailer().send(c)) {
        Err(e @ SendError::Smtp(SmtpError::Denied(_))) => assert_eq!(e.exit_status(), 77),
        other => panic!("{other:?}"),
    }
    assert!(sink.dumps(0).is_empty());
}

#[test]
fn many_sends_at_once_each_in_its_own_sandbox() {
    let Some(sink) = Sink::start() else { return };
    let mailer = std::sync::Arc::new(
        Mailer::builder()
            .concurrency(64)
            .cache_dir(None)
            .build()
            .unwrap(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let n = 50;
    let results = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let mailer = mailer.clone();
            let c = call(&sink, &[&format!("user{i}@example.com")]);
            tasks.spawn(async move { mailer.send(c).await });
        }
        let mut results = Vec::new();
        while let Some(r) = tasks.join_next().await {
            results.push(r.unwrap());
        }
        results
    });
    assert_eq!(results.len(), n);
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    // Every one arrived, each with its own recipient: nothing leaked between
    // the sandboxes.
    let dumps = sink.dumps(n);
    assert_eq!(dumps.len(), n);
    for i in 0..n {
        let rcpt = format!("X-Rcpt-Args: <user{i}@example.com>\n");
        assert_eq!(
            dumps.iter().filter(|d| d.contains(&rcpt)).count(),
            1,
            "{rcpt}"
        );
    }
}

#[test]
fn a_session_sends_several_messages_and_streams_a_large_one() {
    let Some(sink) = Sink::start() else { return };
    let mailer = mailer();
    let rt = runtime();
    let sandbox = smtp_host::Sandbox {
        grant: sink.grant(),
        ..smtp_host::Sandbox::default()
    };
    // A message over the sandbox's memory limit can only go by streaming.
    let big: Vec<u8> = b"Subject: big\r\n\r\n"
        .iter()
        .copied()
        .chain(b"0123456789 streamed line of the message\r\n".repeat(2_000_000))
        .collect();
    assert!(big.len() > smtp_host::Sandbox::default().memory_limit);
    let info = smtp_proto::data::MessageInfo::scan(&big).unwrap();
    rt.block_on(async {
        let mut s = mailer
            .session(&sink.server(), smtp_host::Options::default(), sandbox)
            .await
            .unwrap();
        for i in 0..3 {
            let r = s
                .send(
                    "me@example.com",
                    &[format!("s{i}@example.com")],
                    "Subject: s\n\nhi\n",
                )
                .await
                .unwrap();
            assert_eq!(r.accepted, [format!("s{i}@example.com")]);
        }
        // A refusal of one message leaves the session usable.
        let e = s
            .send("me@example.com", &["bad\r\n@example.com".into()], "x")
            .await
            .unwrap_err();
        assert_eq!(e.case(), "invalid-input");
        let r = s
            .send_stream(
                "me@example.com",
                &["big@example.com".into()],
                info,
                &big[..],
            )
            .await
            .unwrap();
        assert_eq!(r.reply.code, 250);
        s.quit().await.unwrap();
    });
    let dumps = sink.dumps(4);
    assert_eq!(dumps.len(), 4);
    let streamed = dumps
        .iter()
        .find(|d| d.contains("X-Rcpt-Args: <big@example.com>"))
        .unwrap();
    // smtp-sink stores lines with LF: the whole message arrived.
    assert_eq!(
        streamed
            .matches("0123456789 streamed line of the message\n")
            .count(),
        2_000_000
    );
}
