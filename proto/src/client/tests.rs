use super::*;
use crate::auth::{self, Credentials, Mechanism};
use crate::client::TlsMode;
use crate::data::MessageInfo;
use crate::error::TlsFailure;

const EHLO_PLAIN: &str =
    "250-mx.test\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";
const EHLO_PIPE: &str =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";

struct Run {
    c: Client,
    msg: Vec<u8>,
    events: Vec<Event>,
}

impl Run {
    fn new(to: &[&str], msg: &str) -> Run {
        Self::with(Config::default(), "me@here", to, msg)
    }

    fn with(config: Config, from: &str, to: &[&str], msg: &str) -> Run {
        let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        let info = MessageInfo::scan(msg.as_bytes()).unwrap();
        Run {
            c: Client::new(config, from, &to, info).unwrap(),
            msg: msg.as_bytes().to_vec(),
            events: Vec::new(),
        }
    }

    /// Everything the client writes now, the message included.
    fn sent(&mut self) -> String {
        let mut wire = Vec::new();
        loop {
            let out = self.c.output().to_vec();
            self.c.consume_output(out.len());
            wire.extend(out);
            if self.c.wants_body() {
                // Push in small chunks to exercise chunk boundaries.
                for chunk in self.msg.chunks(7) {
                    self.c.push_body(chunk);
                }
                self.c.finish_body();
                continue;
            }
            if self.c.output().is_empty() {
                break;
            }
        }
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
        String::from_utf8(wire).unwrap()
    }

    fn server(&mut self, reply: &str) -> String {
        assert!(
            self.c.awaiting_reply(),
            "client is not waiting for {reply:?}"
        );
        self.c.feed(reply.as_bytes());
        self.sent()
    }

    fn outcome(&self) -> &Result<Receipt, Error> {
        self.c.outcome().expect("no outcome yet")
    }

    fn err(&self) -> &Error {
        self.outcome().as_ref().unwrap_err()
    }
}

fn no_pipelining() -> Config {
    Config {
        pipelining: false,
        ..Config::default()
    }
}

#[test]
fn plain_send_step_by_step() {
    let mut r = Run::new(&["you@there"], "Subject: hi\n\nbody\n");
    assert_eq!(r.sent(), "");
    assert_eq!(r.server("220 mx.test ESMTP\r\n"), "ehlo localhost\r\n");
    assert_eq!(r.server(EHLO_PLAIN), "mail FROM:<me@here> SIZE=21\r\n");
    assert_eq!(r.server("250 2.1.0 Ok\r\n"), "rcpt TO:<you@there>\r\n");
    assert_eq!(r.server("250 2.1.5 Ok\r\n"), "data\r\n");
    assert_eq!(
        r.server("354 End data with <CR><LF>.<CR><LF>\r\n"),
        "Subject: hi\r\n\r\nbody\r\n.\r\n"
    );
    assert_eq!(r.server("250 2.0.0 Ok: queued as ABC\r\n"), "quit\r\n");
    let receipt = r.outcome().clone().unwrap();
    assert_eq!(receipt.accepted, ["you@there"]);
    assert!(receipt.refused.is_empty());
    assert_eq!(receipt.reply.text(), "2.0.0 Ok: queued as ABC");
    assert!(!r.c.is_closed());
    r.server("221 2.0.0 Bye\r\n");
    assert!(r.c.is_closed());
    // The transcript has every line in order, the message line by line.
    let sends: Vec<_> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Send(l) => Some(String::from_utf8_lossy(l).into_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sends,
        [
            "ehlo localhost\r\n",
            "mail FROM:<me@here> SIZE=21\r\n",
            "rcpt TO:<you@there>\r\n",
            "data\r\n",
            "Subject: hi\r\n",
            "\r\n",
            "body\r\n",
            ".\r\n",
            "quit\r\n"
        ]
    );
    assert_eq!(
        r.events
            .iter()
            .filter(|e| matches!(e, Event::Reply(_)))
            .count(),
        1 + 4 + 4 + 1
    );
}

#[test]
fn ehlo_refused_falls_back_to_helo() {
    let mut r = Run::new(&["you@there"], "x");
    r.server("220 old\r\n");
    assert_eq!(
        r.server("502 5.5.2 Error: command not recognized\r\n"),
        "helo localhost\r\n"
    );
    // No extensions after HELO: no SIZE parameter.
    assert_eq!(r.server("250 old\r\n"), "mail FROM:<me@here>\r\n");
}

#[test]
fn ehlo_and_helo_refused() {
    let mut r = Run::new(&["you@there"], "x");
    r.server("220 x\r\n");
    r.server("500 no\r\n");
    assert_eq!(r.server("550 not you either\r\n"), "quit\r\n");
    assert_eq!(
        r.err(),
        &Error::HeloRefused(Reply::new(550, "not you either"))
    );
    r.server("221 bye\r\n");
    assert!(r.c.is_closed());
}

#[test]
fn ehlo_temporary_failure_does_not_fall_back() {
    let mut r = Run::new(&["you@there"], "x");
    r.server("220 x\r\n");
    assert_eq!(r.server("421 4.3.2 shutting down\r\n"), "");
    assert!(r.c.is_closed());
    assert_eq!(r.err().exit_status(), 75);
}

#[test]
fn greeting_refused() {
    let mut r = Run::new(&["you@there"], "x");
    assert_eq!(r.server("554 5.7.1 go away\r\n"), "quit\r\n");
    assert_eq!(
        r.err(),
        &Error::ConnectRefused(Reply::new(554, "5.7.1 go away"))
    );
    assert_eq!(r.err().exit_status(), 69);

    let mut r = Run::new(&["you@there"], "x");
    assert_eq!(r.server("421 busy\r\n"), "");
    assert!(r.c.is_closed());
    assert_eq!(r.err().exit_status(), 75);
}

#[test]
fn sender_refused_then_rset_and_quit() {
    let mut r = Run::with(no_pipelining(), "bad@here", &["you@there"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_PLAIN);
    assert_eq!(
        r.server("553 5.7.1 <bad@here>: Sender address rejected\r\n"),
        "rset\r\n"
    );
    assert_eq!(r.server("250 ok\r\n"), "quit\r\n");
    r.server("221 bye\r\n");
    match r.err() {
        Error::SenderRefused(refusal) => {
            assert_eq!(refusal.address, "bad@here");
            assert_eq!(refusal.reply.code, 553);
        }
        e => panic!("{e:?}"),
    }
    assert!(r.c.is_closed());
}

#[test]
fn some_recipients_refused_is_success() {
    let mut r = Run::new(&["a@x", "b@x", "c@x"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_PLAIN);
    assert_eq!(r.server("250 ok\r\n"), "rcpt TO:<a@x>\r\n");
    assert_eq!(r.server("550 5.1.1 no a\r\n"), "rcpt TO:<b@x>\r\n");
    assert_eq!(r.server("250 ok\r\n"), "rcpt TO:<c@x>\r\n");
    assert_eq!(r.server("450 4.2.0 later c\r\n"), "data\r\n");
    r.server("354 go\r\n");
    r.server("250 queued\r\n");
    let receipt = r.outcome().clone().unwrap();
    assert_eq!(receipt.accepted, ["b@x"]);
    let refused: Vec<_> = receipt
        .refused
        .iter()
        .map(|f| (f.address.as_str(), f.reply.code))
        .collect();
    assert_eq!(refused, [("a@x", 550), ("c@x", 450)]);
}

#[test]
fn all_recipients_refused() {
    let mut r = Run::new(&["a@x", "b@x"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_PLAIN);
    r.server("250 ok\r\n");
    r.server("550 no a\r\n");
    assert_eq!(r.server("452 4.5.3 no b\r\n"), "rset\r\n");
    assert_eq!(r.server("250 ok\r\n"), "quit\r\n");
    match r.err() {
        Error::RecipientsRefused(list) => assert_eq!(list.len(), 2),
        e => panic!("{e:?}"),
    }
    // One of them was temporary: worth retrying.
    assert_eq!(r.err().exit_status(), 75);
}

#[test]
fn service_closing_on_rcpt_stops_at_once() {
    let mut r = Run::new(&["a@x", "b@x"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_PLAIN);
    r.server("250 ok\r\n");
    assert_eq!(r.server("421 4.3.0 closing\r\n"), "");
    assert!(r.c.is_closed());
    assert_eq!(r.err().exit_status(), 75);
    assert_eq!(r.err().case(), "recipients-refused");
}

#[test]
fn data_refused() {
    let mut r = Run::new(&["a@x"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_PLAIN);
    r.server("250 ok\r\n");
    r.server("250 ok\r\n");
    assert_eq!(r.server("554 5.5.1 no valid recipients\r\n"), "rset\r\n");
    assert_eq!(
        r.err(),
        &Error::DataRefused {
            stage: Stage::Data,
            reply: Reply::new(554, "5.5.1 no valid recipients")
        }
    );
}

#[test]
fn message_refused_after_the_dot() {
    for (reply, status) in [("451 4.3.0 try later\r\n", 75), ("554 5.7.1 spam\r\n", 69)] {
        let mut r = Run::new(&["a@x"], "x");
        r.server("220 x\r\n");
        r.server(EHLO_PLAIN);
        r.server("250 ok\r\n");
        r.server("250 ok\r\n");
        assert_eq!(r.server("354 go\r\n"), "x\r\n.\r\n");
        assert_eq!(r.server(reply), "rset\r\n");
        assert!(matches!(
            r.err(),
            Error::DataRefused {
                stage: Stage::EndOfData,
                ..
            }
        ));
        assert_eq!(r.err().exit_status(), status);
    }
}

#[test]
fn pipelining_sends_the_envelope_in_one_write() {
    let mut r = Run::new(&["a@x", "b@x"], "hello");
    r.server("220 x\r\n");
    assert_eq!(
        r.server(EHLO_PIPE),
        "mail FROM:<me@here> SIZE=7\r\nrcpt TO:<a@x>\r\nrcpt TO:<b@x>\r\ndata\r\n"
    );
    // Replies may arrive together; each is matched to its command in order.
    assert_eq!(
        r.server("250 ok\r\n550 5.1.1 no a\r\n250 ok\r\n354 go\r\n"),
        "hello\r\n.\r\n"
    );
    assert_eq!(r.server("250 queued\r\n"), "quit\r\n");
    let receipt = r.outcome().clone().unwrap();
    assert_eq!(receipt.accepted, ["b@x"]);
    assert_eq!(receipt.refused[0].address, "a@x");
}

#[test]
fn pipelining_all_refused_ends_the_data_empty() {
    let mut r = Run::new(&["a@x"], "secret");
    r.server("220 x\r\n");
    r.server(EHLO_PIPE);
    // A server that accepts DATA with no valid recipient gets an empty message.
    assert_eq!(r.server("250 ok\r\n550 no\r\n354 go\r\n"), ".\r\n");
    assert_eq!(r.server("554 no valid recipients\r\n"), "rset\r\n");
    assert_eq!(r.server("250 ok\r\n"), "quit\r\n");
    assert_eq!(r.err().case(), "recipients-refused");
}

#[test]
fn pipelining_sender_refused_drains_the_rest() {
    let mut r = Run::new(&["a@x"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_PIPE);
    assert_eq!(r.server("553 no\r\n503 need mail\r\n"), "");
    assert_eq!(r.server("503 need rcpt\r\n"), "rset\r\n");
    assert_eq!(r.err().case(), "sender-refused");
}

#[test]
fn smtputf8() {
    let mut r = Run::new(&["δοκιμή@x"], "x");
    r.server("220 x\r\n");
    assert_eq!(r.server(EHLO_PLAIN), "quit\r\n");
    assert_eq!(r.err().case(), "not-supported");
    assert!(r.err().to_string().contains("SMTPUTF8"));

    let mut r = Run::with(no_pipelining(), "me@here", &["δοκιμή@x"], "x");
    r.server("220 x\r\n");
    assert_eq!(
        r.server(EHLO_PIPE),
        "mail FROM:<me@here> SIZE=3 SMTPUTF8\r\n"
    );
}

#[test]
fn eight_bit_messages() {
    let mut r = Run::with(no_pipelining(), "me@here", &["a@x"], "café");
    r.server("220 x\r\n");
    assert_eq!(
        r.server(EHLO_PLAIN),
        "mail FROM:<me@here> SIZE=7 BODY=8BITMIME\r\n"
    );

    let mut r = Run::new(&["a@x"], "café");
    r.server("220 x\r\n");
    r.server("502 no ehlo\r\n");
    assert_eq!(r.server("250 ok\r\n"), "quit\r\n");
    assert!(r.err().to_string().contains("8BITMIME"));
}

#[test]
fn size_limit_is_checked_before_mail() {
    let big = "x".repeat(990) + "\n" + &"y".repeat(100);
    let mut r = Run::new(&["a@x"], &big);
    r.server("220 x\r\n");
    assert_eq!(r.server(EHLO_PLAIN), "quit\r\n");
    assert_eq!(
        r.err(),
        &Error::NotSupported(
            "the message is 1094 octets and the server accepts at most 1000 (SIZE, RFC 1870)"
                .into()
        )
    );
}

#[test]
fn long_messages_are_summarised_in_the_transcript() {
    let msg: String = (1..=25).map(|i| format!("line {i}\n")).collect();
    let mut r = Run::new(&["a@x"], &msg);
    r.server("220 x\r\n");
    r.server(EHLO_PLAIN);
    r.server("250 ok\r\n");
    r.server("250 ok\r\n");
    let wire = r.server("354 go\r\n");
    assert!(wire.ends_with("line 25\r\n.\r\n"));
    let body: Vec<_> = r
        .events
        .iter()
        .skip_while(|e| **e != Event::Reply(b"354 go\r\n".to_vec()))
        .skip(1)
        .collect();
    assert_eq!(body.len(), 20 + 2);
    assert_eq!(*body[0], Event::Send(b"line 1\r\n".to_vec()));
    assert_eq!(*body[19], Event::Send(b"line 20\r\n".to_vec()));
    assert_eq!(
        *body[20],
        Event::Info("data: 5 more lines (45 bytes) not shown".into())
    );
    assert_eq!(*body[21], Event::Send(b".\r\n".to_vec()));
}

#[test]
fn disconnects_name_the_step() {
    let mut r = Run::new(&["a@x"], "x");
    r.c.handle_eof();
    assert!(r.err().to_string().contains("without a greeting"));

    let mut r = Run::new(&["a@x"], "x");
    r.server("220 x\r\n");
    r.server("250-mx\r\n250-SIZE");
    r.c.handle_eof();
    assert!(r.c.is_closed());
    assert_eq!(r.err().case(), "server-disconnected");
    assert!(r.err().to_string().contains("middle of a reply"));

    let mut r = Run::new(&["a@x"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_PLAIN);
    r.server("250 ok\r\n");
    r.server("250 ok\r\n");
    r.server("354 go\r\n");
    r.c.handle_eof();
    assert!(r
        .err()
        .to_string()
        .contains("may or may not have been accepted"));
    assert_eq!(r.err().exit_status(), 74);
}

#[test]
fn a_refusal_during_the_message_is_reported() {
    let mut r = Run::new(&["a@x"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_PLAIN);
    r.server("250 ok\r\n");
    r.server("250 ok\r\n");
    r.c.feed(b"354 go\r\n");
    // The server refuses before the message is written, then hangs up.
    assert!(r.c.wants_body());
    r.c.feed(b"554 5.3.4 too much\r\n");
    r.c.handle_io_error("broken pipe".into());
    assert_eq!(
        r.err(),
        &Error::DataRefused {
            stage: Stage::Message,
            reply: Reply::new(554, "5.3.4 too much")
        }
    );
}

#[test]
fn malformed_replies() {
    for bad in ["hello\r\n", "2500 x\r\n", "650 x\r\n", "250-a\r\n251 b\r\n"] {
        let mut r = Run::new(&["a@x"], "x");
        r.server("220 x\r\n");
        assert_eq!(r.server(bad), "", "{bad:?}");
        assert!(r.c.is_closed());
        assert_eq!(r.err().case(), "malformed-reply", "{bad:?}");
        assert_eq!(r.err().exit_status(), 76);
    }
}

#[test]
fn endless_lines_and_replies_are_bounded() {
    let mut r = Run::new(&["a@x"], "x");
    let chunk = vec![b'2'; 4096];
    for _ in 0..3 {
        r.c.feed(&chunk);
    }
    assert!(r.c.is_closed());
    assert!(r.err().to_string().contains("longer than 8192"));

    let mut r = Run::new(&["a@x"], "x");
    r.server("220 x\r\n");
    for _ in 0..1000 {
        r.c.feed(b"250-more and more\r\n");
    }
    assert!(r.c.is_closed());
    assert_eq!(r.err().case(), "malformed-reply");
}

#[test]
fn byte_at_a_time_is_the_same() {
    let mut r = Run::new(&["a@x"], "x");
    for b in b"220 x\r\n" {
        r.c.feed(&[*b]);
    }
    assert_eq!(r.sent(), "ehlo localhost\r\n");
    for b in EHLO_PLAIN.as_bytes() {
        r.c.feed(&[*b]);
    }
    assert_eq!(r.sent(), "mail FROM:<me@here> SIZE=3\r\n");
}

#[test]
fn timeouts_and_epochs() {
    let mut r = Run::new(&["a@x"], "x");
    let e0 = r.c.wait_epoch();
    r.c.feed(b"220 x");
    assert_eq!(
        r.c.wait_epoch(),
        e0,
        "a partial reply does not restart the clock"
    );
    r.c.feed(b"\r\n");
    assert_ne!(r.c.wait_epoch(), e0);
    r.c.handle_timeout(Duration::from_secs(5));
    assert!(r.c.is_closed());
    assert_eq!(
        r.err(),
        &Error::Timeout {
            stage: Stage::Ehlo,
            detail: "no complete reply within 5 s".into()
        }
    );
}

#[test]
fn input_is_checked_before_anything() {
    let info = MessageInfo::default();
    let cfg = Config::default;
    let to = |s: &str| vec![s.to_string()];
    for (from, rcpts) in [
        ("a@b\r\nRSET", to("c@d")),
        ("a@b", to("c@d\nDATA")),
        ("a@b", to("c\0@d")),
        ("a@b", to("<c@d>")),
        ("a@b", to("")),
        ("a@b", vec![]),
    ] {
        let e = Client::new(cfg(), from, &rcpts, info).unwrap_err();
        assert_eq!(e.case(), "invalid-input", "{from:?} {rcpts:?}");
    }
    let bad_name = Config {
        client_name: "x\r\nMAIL FROM:<a>".into(),
        ..Config::default()
    };
    assert!(Client::new(bad_name, "a@b", &to("c@d"), info).is_err());
}

#[test]
fn nothing_after_close() {
    let mut r = Run::new(&["a@x"], "x");
    r.server("421 no\r\n");
    r.c.feed(b"220 but now yes\r\n");
    r.c.handle_eof();
    assert_eq!(r.sent(), "");
    assert_eq!(r.err().case(), "connect-refused");
}

// ---------------------------------------------------------------- TLS, AUTH

const EHLO_TLS: &str = "250-mx.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
const EHLO_AUTH: &str = "250-mx.test\r\n250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n250 8BITMIME\r\n";

fn with_tls(tls: TlsMode) -> Config {
    Config {
        tls,
        pipelining: false,
        ..Config::default()
    }
}

fn with_creds(tls: TlsMode, mechanism: Option<Mechanism>) -> Config {
    Config {
        credentials: Some(Credentials {
            user: "alice".into(),
            secret: "wonderland".into(),
            mechanism,
        }),
        ..with_tls(tls)
    }
}

fn transcript(r: &Run) -> String {
    r.events
        .iter()
        .map(|e| match e {
            Event::Send(l) | Event::Reply(l) => String::from_utf8_lossy(l).into_owned(),
            Event::Info(t) => format!("{t}\n"),
        })
        .collect()
}

#[test]
fn starttls_then_ehlo_again() {
    let mut r = Run::with(with_tls(TlsMode::StartTls), "me@here", &["a@x"], "x");
    r.server("220 x\r\n");
    assert_eq!(r.server(EHLO_TLS), "STARTTLS\r\n");
    assert!(!r.c.wants_tls());
    assert_eq!(r.server("220 2.0.0 Ready to start TLS\r\n"), "");
    assert!(r.c.wants_tls());
    assert!(!r.c.awaiting_reply());
    r.c.tls_established();
    assert!(r.c.is_encrypted());
    // Everything learnt before the handshake is forgotten: EHLO again.
    assert_eq!(r.sent(), "ehlo localhost\r\n");
    assert_eq!(r.server(EHLO_PLAIN), "mail FROM:<me@here> SIZE=3\r\n");
    assert!(!r.c.extensions().starttls);
}

#[test]
fn starttls_required_but_not_offered() {
    let mut r = Run::with(with_tls(TlsMode::StartTls), "me@here", &["a@x"], "x");
    r.server("220 x\r\n");
    assert_eq!(r.server(EHLO_PLAIN), "quit\r\n");
    assert_eq!(r.err().case(), "not-supported");
    assert!(r.err().to_string().contains("does not offer STARTTLS"));
}

#[test]
fn starttls_if_offered_goes_on_in_the_clear_with_a_note() {
    let mut r = Run::with(
        with_tls(TlsMode::StartTlsIfOffered),
        "me@here",
        &["a@x"],
        "x",
    );
    r.server("220 x\r\n");
    assert_eq!(r.server(EHLO_PLAIN), "mail FROM:<me@here> SIZE=3\r\n");
    assert!(transcript(&r).contains("does not offer STARTTLS: continuing without encryption"));
}

#[test]
fn bytes_after_the_starttls_reply_abort() {
    let mut r = Run::with(with_tls(TlsMode::StartTls), "me@here", &["a@x"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_TLS);
    assert_eq!(r.server("220 go ahead\r\n250-injected\r\n"), "");
    assert!(r.c.is_closed());
    assert!(!r.c.wants_tls());
    let e = r.err();
    assert_eq!(e.case(), "tls-error");
    assert_eq!(e.exit_status(), 76);
    assert!(
        e.to_string().contains("14 bytes after its 220 reply"),
        "{e}"
    );
}

#[test]
fn starttls_refused_and_handshake_failures() {
    let mut r = Run::with(with_tls(TlsMode::StartTls), "me@here", &["a@x"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_TLS);
    assert_eq!(r.server("454 4.7.0 TLS not available\r\n"), "quit\r\n");
    assert_eq!(r.err().case(), "tls-error");
    assert_eq!(r.err().exit_status(), 75);

    let mut r = Run::with(with_tls(TlsMode::StartTls), "me@here", &["a@x"], "x");
    r.server("220 x\r\n");
    r.server(EHLO_TLS);
    r.server("220 go\r\n");
    r.c.handle_tls_error(TlsFailure::Certificate, "certificate expired".into());
    assert!(r.c.is_closed());
    assert_eq!(r.sent(), "");
    assert_eq!(r.err().exit_status(), 69);
    assert_eq!(r.err().to_string(), "certificate expired");
}

fn tls_then_auth(config: Config) -> Run {
    let mut r = Run::with(config, "me@here", &["a@x"], "x");
    r.server("220 x\r\n");
    assert_eq!(r.server(EHLO_TLS), "STARTTLS\r\n");
    r.server("220 go\r\n");
    r.c.tls_established();
    r.sent();
    r
}

#[test]
fn auth_plain_is_redacted() {
    let mut r = tls_then_auth(with_creds(TlsMode::StartTls, Some(Mechanism::Plain)));
    let plain = auth::plain_response(&Credentials {
        user: "alice".into(),
        secret: "wonderland".into(),
        mechanism: None,
    });
    assert_eq!(r.server(EHLO_AUTH), format!("AUTH PLAIN {plain}\r\n"));
    assert_eq!(
        r.server("235 2.7.0 Authentication successful\r\n"),
        "mail FROM:<me@here>\r\n"
    );
    let t = transcript(&r);
    assert!(t.contains("AUTH PLAIN <redacted>\r\n"), "{t}");
    assert!(!t.contains(&plain) && !t.contains("wonderland"));
}

#[test]
fn auth_picks_cram_md5_and_login_works() {
    let mut r = tls_then_auth(with_creds(TlsMode::StartTls, None));
    assert_eq!(r.server(EHLO_AUTH), "AUTH CRAM-MD5\r\n");
    let challenge = auth::base64(b"<1896.697170952@postoffice.example>");
    let wire = r.server(&format!("334 {challenge}\r\n"));
    let decoded = auth::decode_text(wire.trim_end()).unwrap();
    assert!(decoded.starts_with("alice "), "{decoded}");
    assert_eq!(r.server("235 ok\r\n"), "mail FROM:<me@here>\r\n");
    assert!(transcript(&r).contains("<redacted>\r\n"));

    let mut r = tls_then_auth(with_creds(TlsMode::StartTls, Some(Mechanism::Login)));
    assert_eq!(r.server(EHLO_AUTH), "AUTH LOGIN\r\n");
    assert_eq!(
        r.server("334 VXNlcm5hbWU6\r\n"),
        format!("{}\r\n", auth::base64(b"alice"))
    );
    assert_eq!(
        r.server("334 UGFzc3dvcmQ6\r\n"),
        format!("{}\r\n", auth::base64(b"wonderland"))
    );
    assert_eq!(
        r.server("535 5.7.8 Authentication credentials invalid\r\n"),
        "quit\r\n"
    );
    assert_eq!(r.err().case(), "auth-failed");
    assert_eq!(r.err().exit_status(), 77);
    assert!(!transcript(&r).contains(&auth::base64(b"wonderland")));
}

#[test]
fn xoauth2_error_is_decoded() {
    let mut r = tls_then_auth(with_creds(TlsMode::StartTls, Some(Mechanism::XOAuth2)));
    assert!(r.server(EHLO_AUTH).starts_with("AUTH XOAUTH2 "));
    let json = auth::base64(br#"{"status":"401","schemes":"bearer"}"#);
    assert_eq!(r.server(&format!("334 {json}\r\n")), "\r\n");
    assert_eq!(
        r.server("535 5.7.8 Username and Password not accepted\r\n"),
        "quit\r\n"
    );
    assert!(
        r.err().to_string().contains(r#"{"status":"401""#),
        "{}",
        r.err()
    );
}

#[test]
fn temporary_auth_failure_is_75() {
    let mut r = tls_then_auth(with_creds(TlsMode::StartTls, Some(Mechanism::Plain)));
    r.server(EHLO_AUTH);
    r.server("454 4.7.0 Temporary authentication failure\r\n");
    assert_eq!(r.err().exit_status(), 75);
}

#[test]
fn no_credentials_in_the_clear() {
    let mut r = Run::with(with_creds(TlsMode::Off, None), "me@here", &["a@x"], "x");
    r.server("220 x\r\n");
    assert_eq!(r.server(EHLO_AUTH), "quit\r\n");
    assert_eq!(r.err().case(), "auth-failed");
    assert_eq!(r.err().exit_status(), 77);

    let mut cfg = with_creds(TlsMode::Off, Some(Mechanism::Plain));
    cfg.allow_plaintext_auth = true;
    let mut r = Run::with(cfg, "me@here", &["a@x"], "x");
    r.server("220 x\r\n");
    assert!(r.server(EHLO_AUTH).starts_with("AUTH PLAIN "));
}

#[test]
fn credentials_without_auth_offered() {
    let mut cfg = with_creds(TlsMode::Off, None);
    cfg.allow_plaintext_auth = true;
    let mut r = Run::with(cfg, "me@here", &["a@x"], "x");
    r.server("220 x\r\n");
    assert_eq!(r.server(EHLO_PLAIN), "quit\r\n");
    assert_eq!(r.err().case(), "not-supported");
    assert_eq!(r.err().exit_status(), 69);
}

#[test]
fn implicit_tls_starts_encrypted() {
    let mut r = Run::with(
        with_creds(TlsMode::Implicit, Some(Mechanism::Plain)),
        "me@here",
        &["a@x"],
        "x",
    );
    assert!(r.c.is_encrypted());
    r.server("220 x\r\n");
    // Already encrypted: no STARTTLS, straight to AUTH.
    assert!(r.server(EHLO_AUTH).starts_with("AUTH PLAIN "));
}

// ---------------------------------------------------------------- sessions

fn session(config: Config) -> Client {
    Client::session(config).unwrap()
}

fn drain(c: &mut Client) -> String {
    let out = String::from_utf8(c.output().to_vec()).unwrap();
    c.consume_output(out.len());
    out
}

fn send_body(c: &mut Client, body: &[u8]) -> String {
    assert!(c.wants_body());
    c.push_body(body);
    c.finish_body();
    drain(c)
}

fn to(s: &str) -> Vec<String> {
    vec![s.to_string()]
}

#[test]
fn a_session_sends_several_messages() {
    let mut c = session(no_pipelining());
    c.feed(b"220 x\r\n");
    assert_eq!(drain(&mut c), "ehlo localhost\r\n");
    c.feed(EHLO_PLAIN.as_bytes());
    assert!(c.is_ready());
    assert_eq!(drain(&mut c), "");
    for (i, body) in ["one", "two"].iter().enumerate() {
        let info = MessageInfo::scan(body.as_bytes()).unwrap();
        c.begin("me@here", &to(&format!("r{i}@x")), info).unwrap();
        assert!(!c.is_ready());
        assert_eq!(drain(&mut c), "mail FROM:<me@here> SIZE=5\r\n");
        c.feed(b"250 ok\r\n");
        assert_eq!(drain(&mut c), format!("rcpt TO:<r{i}@x>\r\n"));
        c.feed(b"250 ok\r\n");
        assert_eq!(drain(&mut c), "data\r\n");
        c.feed(b"354 go\r\n");
        assert_eq!(
            send_body(&mut c, body.as_bytes()),
            format!("{body}\r\n.\r\n")
        );
        c.feed(format!("250 queued {i}\r\n").as_bytes());
        // Ready again, nothing sent: no QUIT between messages.
        assert!(c.is_ready());
        assert_eq!(drain(&mut c), "");
        let receipt = c.take_outcome().unwrap().unwrap();
        assert_eq!(receipt.reply.text(), format!("queued {i}"));
    }
    c.quit();
    assert_eq!(drain(&mut c), "quit\r\n");
    c.feed(b"221 bye\r\n");
    assert!(c.is_closed());
}

#[test]
fn a_refused_message_leaves_the_session_usable() {
    let mut c = session(no_pipelining());
    // Begun before the session is ready: sent as soon as it is.
    let info = MessageInfo::scan(b"x").unwrap();
    c.begin("bad@here", &to("a@x"), info).unwrap();
    c.feed(b"220 x\r\n");
    c.feed(EHLO_PLAIN.as_bytes());
    assert_eq!(
        drain(&mut c),
        "ehlo localhost\r\nmail FROM:<bad@here> SIZE=3\r\n"
    );
    c.feed(b"553 5.7.1 no\r\n");
    assert_eq!(drain(&mut c), "rset\r\n");
    assert!(!c.is_ready());
    c.feed(b"250 ok\r\n");
    assert!(c.is_ready());
    assert_eq!(
        c.take_outcome().unwrap().unwrap_err().case(),
        "sender-refused"
    );
    // Too big for SIZE: refused before MAIL, nothing to reset.
    let big = MessageInfo::scan("y\n".repeat(600).as_bytes()).unwrap();
    c.begin("me@here", &to("a@x"), big).unwrap();
    assert!(c.is_ready());
    assert_eq!(drain(&mut c), "");
    assert_eq!(
        c.take_outcome().unwrap().unwrap_err().case(),
        "not-supported"
    );
    // An invalid envelope changes nothing.
    let e = c.begin("me@here", &to("a@x\r\nDATA"), info).unwrap_err();
    assert_eq!(e.case(), "invalid-input");
    assert!(c.is_ready());
    c.begin("me@here", &to("a@x"), info).unwrap();
    assert_eq!(drain(&mut c), "mail FROM:<me@here> SIZE=3\r\n");
}

#[test]
fn a_session_that_fails_to_open() {
    let mut c = session(Config::default());
    c.feed(b"554 no\r\n");
    assert_eq!(drain(&mut c), "quit\r\n");
    c.feed(b"221 bye\r\n");
    assert!(c.is_closed());
    assert_eq!(
        c.take_outcome().unwrap().unwrap_err().case(),
        "connect-refused"
    );
}

#[test]
fn streamed_messages_are_checked_as_they_go() {
    let declared = MessageInfo {
        size: 10,
        ..MessageInfo::default()
    };
    for (chunks, says) in [
        (vec![&b"ok\r\n"[..], &[b'y'; 999][..]], "999 octets"),
        (vec![&b"ok\r\n"[..], "é\r\n".as_bytes()], "declared 7-bit"),
    ] {
        let mut c = session(no_pipelining());
        c.feed(b"220 x\r\n");
        c.feed(EHLO_PLAIN.as_bytes());
        c.begin_stream("me@here", &to("a@x"), declared).unwrap();
        c.feed(b"250 ok\r\n250 ok\r\n");
        c.feed(b"354 go\r\n");
        drain(&mut c);
        for chunk in chunks {
            c.push_body(chunk);
        }
        // Closed without the final dot.
        assert!(c.is_closed());
        assert!(!String::from_utf8_lossy(c.output()).contains("\r\n.\r\n"));
        let e = c.take_outcome().unwrap().unwrap_err();
        assert_eq!(e.case(), "invalid-input");
        assert!(e.to_string().contains(says), "{e}");
        assert!(e.to_string().contains("nothing was delivered"));
    }
}
