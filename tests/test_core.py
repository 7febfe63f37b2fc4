"""End to end: the real smtp-send binary against real servers on 127.0.0.1.

Every test checks what the server actually received, not only the exit status.
"""

import re

import pytest

from conftest import run_send
from servers import AioServer, FaultServer, Recorder, SmtpSink, free_port

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


def test_sender_refused_sends_rset_and_quit():
    handler = Recorder(refuse_mail={FROM: "553 5.7.1 <me@example.com>: Sender address rejected"})
    with AioServer(handler) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO)
    assert r.status == 69, r
    assert lines_of(r) == [
        BANNER,
        "sender-refused: 553 5.7.1 <me@example.com>: Sender address rejected (sender <me@example.com>)",
    ]
    assert handler.commands == [("MAIL", FROM, ["SIZE=137"]), ("RSET",), ("QUIT",)]
    assert srv.envelopes == []


def test_all_recipients_refused_sends_rset_then_quit():
    handler = Recorder(refuse_rcpt={
        "a@example.com": "550 5.1.1 no a",
        "b@example.com": "550 5.1.1 no b",
    })
    with AioServer(handler) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, "a@example.com", "b@example.com")
    assert r.status == 69, r
    assert lines_of(r) == [
        BANNER,
        "recipients-refused: a@example.com: 550 5.1.1 no a",
        "recipients-refused: b@example.com: 550 5.1.1 no b",
    ]
    assert [c[0] for c in handler.commands] == ["MAIL", "RCPT", "RCPT", "RSET", "QUIT"]
    assert b"DATA" not in srv.received.upper()


def test_temporary_recipient_refusal_is_exit_75():
    handler = Recorder(refuse_rcpt={TO: "452 4.2.2 mailbox full"})
    with AioServer(handler) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO)
    assert r.status == 75, r
    assert lines_of(r)[1] == "recipients-refused: you@example.com: 452 4.2.2 mailbox full"


def test_message_refused_after_the_dot():
    handler = Recorder(data_reply="554 5.6.0 message refused")
    with AioServer(handler) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO)
    assert r.status == 69, r
    assert lines_of(r) == [BANNER, "data-refused: 554 5.6.0 message refused (at end-of-data)"]
    assert srv.envelopes[0]["content"] == DEFAULT_MESSAGE


@pytest.mark.parametrize(
    "options, status, case, step",
    [
        (["-f", "MAIL"], 69, "sender-refused", "mail"),
        (["-r", "RCPT"], 75, "recipients-refused", "rcpt"),
        (["-f", "DATA"], 69, "data-refused", "data"),
        (["-f", "."], 69, "data-refused", "."),
        (["-Q", "RCPT"], 75, "recipients-refused", "rcpt"),
        (["-q", "MAIL"], 74, "server-disconnected", "mail"),
        (["-e", "-f", "HELO"], 69, "helo-refused", "helo"),
    ],
)
def test_smtp_sink_refusals(options, status, case, step):
    with SmtpSink(*options) as sink:
        r = run_send(f"127.0.0.1:{sink.port}", FROM, TO)
        dumps = sink.dumps(expect=0, timeout=0.2)
    assert r.status == status, r
    assert lines_of(r)[0] == BANNER
    assert lines_of(r)[1].startswith(case + ":"), r
    sends = [l for l in r.transcript if l.startswith("send: ")]
    assert any(l.startswith(f"send: '{step}") for l in sends), r
    if step != ".":
        # The message itself never went out.
        assert not any("Test Message" in l for l in sends)
    if case != "data-refused" or step != ".":
        assert all(b"This is a test message" not in d for d in dumps)


def test_greeting_refused():
    with FaultServer([("send", b"554 5.3.2 not accepting mail\r\n"), ("line",),
                      ("send", b"221 bye\r\n"), ("close",)]) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO)
    assert r.status == 69, r
    assert lines_of(r) == [BANNER, "connect-refused: 554 5.3.2 not accepting mail (greeting)"]
    # RFC 5321 §3.1: after a 554 greeting the client should QUIT.
    assert srv.received == b"quit\r\n"


# ---------------------------------------------------------------- network


def test_name_that_does_not_resolve():
    r = run_send("no-such-host.invalid", FROM, TO)
    assert r.status == 68, r
    assert lines_of(r) == [BANNER, "lookup-failed: no-such-host.invalid: name does not resolve"]


@pytest.mark.parametrize("server", ["host:99999", "host:", "[::1", "bad host", "a..b"])
def test_malformed_server(server):
    r = run_send(server, FROM, TO)
    assert r.status == 68, r
    assert lines_of(r)[1].startswith("address-error: server"), r


def test_connection_refused():
    port = free_port()
    r = run_send(f"127.0.0.1:{port}", FROM, TO)
    assert r.status == 74, r
    assert lines_of(r) == [BANNER, f"io-error: connection to 127.0.0.1:{port} refused (at connect)"]


def test_silent_server_times_out():
    with FaultServer([("sleep", 30)]) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--timeout", "1")
    assert r.status == 75, r
    assert lines_of(r) == [BANNER, "timeout: no complete reply within 1 s (at greeting)"]
    assert srv.received == b""


def test_disconnect_in_the_middle_of_a_reply():
    with FaultServer([("send", b"220 hi\r\n"), ("line",),
                      ("send", b"250-mx\r\n250-PIPE"), ("close",)]) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO)
    assert r.status == 74, r
    assert lines_of(r) == [
        BANNER,
        "server-disconnected: the server closed the connection in the middle of a reply (at ehlo)",
    ]
    assert srv.received.startswith(b"ehlo ")


def test_malformed_reply():
    with FaultServer([("send", b"220 hi\r\n"), ("line",),
                      ("send", b"250-mx\r\n251 mixed codes\r\n"), ("sleep", 5)]) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO)
    assert r.status == 76, r
    assert lines_of(r) == [
        BANNER,
        "malformed-reply: multi-line reply changed its code from 250 to 251 (at ehlo)",
    ]
    # Nothing is sent after a reply we cannot trust.
    assert srv.received.count(b"\r\n") == 1


def test_grant_policy_denies_other_servers():
    with AioServer() as srv:
        other = free_port()
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--grant", f"tcp://127.0.0.1:{other}")
        r2 = run_send(f"localhost:{srv.port}", FROM, TO, "--grant", f"tcp://127.0.0.1:{srv.port}")
    assert r.status == 77, r
    assert lines_of(r) == [
        BANNER,
        f"denied: the host's network policy does not allow connecting to 127.0.0.1:{srv.port}",
    ]
    # Name lookups are limited to granted names too.
    assert r2.status == 77, r2
    assert lines_of(r2) == [BANNER, "denied: the host does not allow looking up \"localhost\""]
    assert srv.connections == 0


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


def test_server_with_control_characters_is_invalid_input():
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}\r\nMAIL", FROM, TO)
    assert r.status == 65, r
    assert srv.connections == 0


def test_message_that_is_not_utf8(tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes(b"Subject: caf\xe9\n\nbody\n")
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--message", f)
    assert r.status == 65, r
    assert "is not UTF-8 (bad byte at offset 12)" in lines_of(r)[1]
    assert srv.connections == 0


def test_message_with_an_overlong_line(tmp_path):
    f = tmp_path / "long.txt"
    f.write_text("Subject: x\n\n" + "y" * 999 + "\n")
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--message", f)
    assert r.status == 65, r
    assert lines_of(r)[1] == (
        "invalid-input: line 3 of the message is 999 octets long; "
        "SMTP allows at most 998 (RFC 5321 §4.5.3.1.6)"
    )
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


def test_greeting_refusals_from_smtp_sink():
    # smtp-sink -f CONNECT greets with a 5xx, -Q CONNECT with 421 and hangs up.
    for option, status in (("-f", 69), ("-Q", 75)):
        with SmtpSink(option, "CONNECT") as sink:
            r = run_send(f"127.0.0.1:{sink.port}", FROM, TO)
        assert r.status == status, r
        assert lines_of(r)[1].startswith("connect-refused: "), r
        assert not any(l.startswith("send: 'ehlo") for l in r.transcript)


def test_non_ascii_address_without_smtputf8_is_not_supported():
    with AioServer(enable_SMTPUTF8=False) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, "δοκιμή@example.com")
    assert r.status == 69, r
    assert lines_of(r)[1] == (
        'not-supported: address "δοκιμή@example.com" is not ASCII and the server '
        "does not offer SMTPUTF8 (RFC 6531)"
    )
    # Nothing after EHLO but a polite QUIT.
    commands = srv.received.split(b"\r\n")
    assert commands[0].startswith(b"ehlo ") and commands[1:] == [b"quit", b""]


def test_non_ascii_address_with_smtputf8():
    with AioServer(enable_SMTPUTF8=True) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, "δοκιμή@example.com")
    assert r.status == 0, r
    [env] = srv.envelopes
    assert env["rcpt_tos"] == ["δοκιμή@example.com"]
    assert "SMTPUTF8" in env["mail_options"]


def test_message_over_the_advertised_size_is_never_transmitted(tmp_path):
    f = tmp_path / "big"
    f.write_text("Subject: big\n\n" + ("x" * 70 + "\n") * 100)
    with AioServer(data_size_limit=1000) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--message", f)
    assert r.status == 69, r
    assert lines_of(r)[1] == (
        "not-supported: the message is 7216 octets and the server accepts at most "
        "1000 (SIZE, RFC 1870)"
    )
    assert b"mail FROM" not in srv.received and b"xxxx" not in srv.received


def test_eight_bit_message_without_8bitmime(tmp_path):
    f = tmp_path / "utf8"
    f.write_text("Subject: café\n\nnaïve\n")
    with SmtpSink("-8") as sink:
        r = run_send(f"127.0.0.1:{sink.port}", FROM, TO, "--message", f)
        dumps = sink.dumps(expect=0, timeout=0.2)
    assert r.status == 69, r
    assert "8BITMIME" in lines_of(r)[1]
    assert dumps == []
