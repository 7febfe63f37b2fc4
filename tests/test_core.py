"""End to end: the real smtp-send binary against real servers on 127.0.0.1.

Every test checks what the server actually received, not only the exit status.
"""

import re

import pytest

from conftest import ROOT, run_send
from servers import AioServer, Recorder, SmtpSink

FROM = "me@example.com"
TO = "you@example.com"

DEFAULT_MESSAGE = (
    b"To: you@example.com\r\n"
    b"From: me@example.com\r\n"
    b"Subject: Test Message from smtp-send\r\n"
    b"\r\n"
    b"This is a test message sent to you from the program.\r\n"
)

BANNER = " *** Your message may not have been sent!"


def lines_of(result):
    return result.stdout.splitlines()


# ---------------------------------------------------------------- success


def test_default_message_through_aiosmtpd_with_transcript():
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--ehlo", "client.test")
    assert r.status == 0, r
    assert lines_of(r) == ["Message successfully sent to 1 recipient(s)"]
    # What the server got, byte for byte.
    [env] = srv.envelopes
    assert env["mail_from"] == FROM
    assert env["rcpt_tos"] == [TO]
    assert env["content"] == DEFAULT_MESSAGE
    # The transcript reads like smtplib's debuglevel 1.
    t = r.transcript
    assert t[0] == f"connect: ('127.0.0.1', {srv.port})"
    assert t[1] == f"connect: to ('127.0.0.1', {srv.port})"
    assert t[2].startswith("reply: '220 ")
    assert t[3] == "send: 'ehlo client.test\\r\\n'"
    assert t[4] == "reply: '250-localhost\\r\\n'"
    assert "send: 'mail FROM:<me@example.com> SIZE=137\\r\\n'" in t
    assert "send: 'rcpt TO:<you@example.com>\\r\\n'" in t
    assert "send: 'data\\r\\n'" in t
    assert "send: 'Subject: Test Message from smtp-send\\r\\n'" in t
    assert t[-4:] == [
        "send: '.\\r\\n'",
        "reply: '250 2.0.0 OK: queued as TEST1\\r\\n'",
        "send: 'quit\\r\\n'",
        "reply: '221 Bye\\r\\n'",
    ]
    # Every line the server received is in the transcript, in order.
    sent = [l for l in t if l.startswith("send: ")]
    wire = srv.received.decode().split("\r\n")[:-1]
    assert len(sent) == len(wire)


def test_default_message_lists_every_recipient_and_folds_long_to():
    rcpts = [f"user{i}@example.com" for i in range(40)]
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, *rcpts)
    assert r.status == 0, r
    assert lines_of(r) == ["Message successfully sent to 40 recipient(s)"]
    [env] = srv.envelopes
    assert env["rcpt_tos"] == rcpts
    header = env["content"].split(b"\r\nFrom:")[0]
    assert all(len(l) <= 78 for l in header.split(b"\r\n"))
    assert header.replace(b"\r\n", b"").decode() == "To: " + ", ".join(rcpts)


def test_message_file_is_sent_normalised_and_dot_stuffed(tmp_path):
    msg = (
        b"Subject: dots\n\n"
        b".leading dot\r\n"
        b"..two dots\n"
        b".\n"
        b"bare CR\rbare LF\n"
        b"caf\xc3\xa9 \xe2\x82\xac\n"
        b"no final newline"
    )
    f = tmp_path / "msg.txt"
    f.write_bytes(msg)
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--message", f)
    assert r.status == 0, r
    [env] = srv.envelopes
    # aiosmtpd undoes the dot-stuffing: we get the message back with CRLF
    # line ends and a final CRLF.
    assert env["content"] == (
        b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nbare CR\r\n"
        b"bare LF\r\ncaf\xc3\xa9 \xe2\x82\xac\r\nno final newline\r\n"
    )
    # On the wire the dots were doubled.
    assert b"\r\n..leading dot\r\n...two dots\r\n..\r\n" in srv.received
    # 8-bit text travels as BODY=8BITMIME (aiosmtpd offers it).
    assert "BODY=8BITMIME" in env["mail_options"]


def test_message_from_stdin():
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--message", "-",
                     input=b"Subject: stdin\n\nfrom a pipe\n")
    assert r.status == 0, r
    assert srv.envelopes[0]["content"] == b"Subject: stdin\r\n\r\nfrom a pipe\r\n"


def test_long_messages_show_twenty_lines_then_a_summary(tmp_path):
    f = tmp_path / "m"
    f.write_text("".join(f"line {i}\n" for i in range(1, 31)))
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--message", f)
    assert r.status == 0, r
    t = r.transcript
    start = t.index("reply: '354 End data with <CR><LF>.<CR><LF>\\r\\n'") + 1
    assert t[start] == "send: 'line 1\\r\\n'"
    assert t[start + 19] == "send: 'line 20\\r\\n'"
    assert t[start + 20] == "data: 10 more lines (90 bytes) not shown"
    assert t[start + 21] == "send: '.\\r\\n'"
    assert srv.envelopes[0]["content"].count(b"\r\n") == 30


def test_debug_2_adds_timestamps_and_quiet_removes_the_transcript():
    with AioServer() as srv:
        r2 = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--debug", "2")
        rq = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--quiet")
    assert r2.status == 0 and rq.status == 0
    assert all(re.match(r"\d\d:\d\d:\d\d\.\d{6} ", l) for l in r2.transcript), r2
    assert any(re.match(r"\S+ send: 'ehlo ", l) for l in r2.transcript)
    assert rq.stderr == ""
    assert lines_of(rq) == ["Message successfully sent to 1 recipient(s)"]
    assert len(srv.envelopes) == 2


def test_some_recipients_refused_is_success_with_refusals_listed():
    handler = Recorder(refuse_rcpt={"bad@example.com": "550 5.1.1 <bad@example.com>: no such user"})
    with AioServer(handler) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "bad@example.com", "other@example.com")
    assert r.status == 0, r
    assert lines_of(r) == [
        "Message successfully sent to 2 recipient(s)",
        "Refused bad@example.com: 550 5.1.1 <bad@example.com>: no such user",
    ]
    assert srv.envelopes[0]["rcpt_tos"] == [TO, "other@example.com"]


def test_smtp_sink_receives_the_envelope_and_message():
    with SmtpSink() as sink:
        r = run_send(f"127.0.0.1:{sink.port}", FROM, TO, "second@example.com", "--ehlo", "client.test")
        [dump] = sink.dumps()
    assert r.status == 0, r
    assert b"X-Helo-Args: client.test\n" in dump
    assert b"X-Client-Proto: ESMTP\n" in dump
    assert b"X-Mail-Args: <me@example.com>\n" in dump
    assert b"X-Rcpt-Args: <you@example.com>\nX-Rcpt-Args: <second@example.com>\n" in dump
    assert dump.endswith(DEFAULT_MESSAGE.replace(b"you@example.com", b"you@example.com, second@example.com")
                         .replace(b"\r\n", b"\n") + b"\n")
    # smtp-sink offers PIPELINING: MAIL, both RCPTs and DATA went in one write.
    t = r.transcript
    i = t.index("send: 'mail FROM:<me@example.com>\\r\\n'")
    assert t[i + 1:i + 4] == [
        "send: 'rcpt TO:<you@example.com>\\r\\n'",
        "send: 'rcpt TO:<second@example.com>\\r\\n'",
        "send: 'data\\r\\n'",
    ]


def test_ehlo_refused_falls_back_to_helo():
    # smtp-sink -e does not speak ESMTP: EHLO is refused.
    with SmtpSink("-e") as sink:
        r = run_send(f"127.0.0.1:{sink.port}", FROM, TO)
        [dump] = sink.dumps()
    assert r.status == 0, r
    t = r.transcript
    i = next(i for i, l in enumerate(t) if l.startswith("send: 'ehlo "))
    assert t[i + 1].startswith("reply: '5")
    assert t[i + 2].startswith("send: 'helo ")
    assert b"X-Client-Proto: SMTP\n" in dump
    # No extensions after HELO, so no SIZE parameter.
    assert "send: 'mail FROM:<me@example.com>\\r\\n'" in t


def test_localhost_name_and_port_option():
    with AioServer() as srv:
        r = run_send("localhost:1", FROM, TO, "--port", srv.port)
    assert r.status == 0, r
    assert r.transcript[0] == f"connect: ('localhost', {srv.port})"
    assert len(srv.envelopes) == 1


# ---------------------------------------------------------------- refusals


def test_message_refused_after_the_dot():
    handler = Recorder(data_reply="554 5.6.0 message refused")
    with AioServer(handler) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO)
    assert r.status == 69, r
    assert lines_of(r) == [BANNER, "data-refused: 554 5.6.0 message refused (at end-of-data)"]
    assert srv.envelopes[0]["content"] == DEFAULT_MESSAGE


# ---------------------------------------------------------------- network


@pytest.mark.parametrize("server", ["host:99999", "host:", "[::1", "bad host", "a..b"])
def test_malformed_server(server):
    r = run_send(server, FROM, TO)
    assert r.status == 68, r
    assert lines_of(r)[1].startswith("address-error: server"), r


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "args",
    [
        ["me@example.com\r\nRCPT TO:<evil@example.com>", TO],
        [FROM, "you@example.com\nDATA"],
        [FROM, TO, "evil\t@example.com"],
        [FROM, "you@example.com>"],
        [FROM, "<you@example.com>"],
        ["a b@example.com", TO],
        [FROM, ""],
        [FROM, TO, "--ehlo", "client\r\nMAIL FROM:<x@y>"],
    ],
)
def test_injection_is_refused_before_connecting(args):
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", *args)
    assert r.status == 65, r
    assert lines_of(r)[0] == BANNER
    assert lines_of(r)[1].startswith("invalid-input: "), r
    assert srv.connections == 0
    assert srv.received == b""
    assert r.stderr == ""


def test_message_that_is_not_utf8(tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes(b"Subject: caf\xe9\n\nbody\n")
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--message", f)
    assert r.status == 65, r
    assert "is not UTF-8 (bad byte at offset 12)" in lines_of(r)[1]
    assert srv.connections == 0


def test_missing_message_file_and_usage_errors(tmp_path):
    r = run_send("127.0.0.1", FROM, TO, "--message", tmp_path / "nope")
    assert r.status == 66, r
    assert r.stdout.startswith(BANNER)
    assert run_send("127.0.0.1", FROM).status == 64
    assert run_send("127.0.0.1", FROM, TO, "--port", "0").status == 64
    assert run_send("127.0.0.1", FROM, TO, "--timeout", "-1").status == 64
    assert run_send("--help").status == 0


# ---------------------------------------------------------------- extensions


def test_non_ascii_address_with_smtputf8():
    with AioServer(enable_SMTPUTF8=True) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, "δοκιμή@example.com")
    assert r.status == 0, r
    [env] = srv.envelopes
    assert env["rcpt_tos"] == ["δοκιμή@example.com"]
    assert "SMTPUTF8" in env["mail_options"]




@pytest.mark.native_only
def test_the_embedding_example_sends_through_the_library():
    """host/examples/embed.rs, the README's 20 lines, against aiosmtpd."""
    import subprocess

    from conftest import BIN, CACHE

    example = BIN.parent / "examples" / "embed"
    handler = Recorder(refuse_rcpt={"nobody@example.com": "550 5.1.1 no such user"})
    with AioServer(handler) as srv:
        ok = subprocess.run([example, f"127.0.0.1:{srv.port}", TO], capture_output=True,
                            text=True, timeout=60, env={"SMTP_SEND_CACHE_DIR": CACHE})
        refused = subprocess.run([example, f"127.0.0.1:{srv.port}", "nobody@example.com"],
                                 capture_output=True, text=True, timeout=60,
                                 env={"SMTP_SEND_CACHE_DIR": CACHE})
    assert ok.stdout == "accepted [\"you@example.com\"], refused []\n", ok
    assert "Send: ehlo " in ok.stderr
    assert srv.envelopes[0]["content"] == b"Subject: hello\r\n\r\nHello from a sandbox.\r\n"
    assert refused.stdout == (
        "recipients-refused: nobody@example.com: 550 5.1.1 no such user (exit 69)\n"), refused


def test_the_readme_shows_the_embedding_example_as_it_is():
    """The README's Rust snippet is the tested example, not a copy that drifts."""
    readme = (ROOT / "README.md").read_text()
    code = (ROOT / "host/examples/embed.rs").read_text()
    assert f"```rust\n{code}```\n" in readme
