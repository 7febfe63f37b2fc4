"""Every failure a user can meet, one row each: how to make it happen for
real, and what smtp-send must show. tests/test_faults.py runs the rows;
scripts/error-table.py turns them into the README's table, and a test
checks the README agrees.

Servers: aiosmtpd and Postfix's smtp-sink wherever they can produce the
fault; the scripted FaultServer only for what no real server does on demand.
"""

from dataclasses import dataclass, field
from typing import Callable, Optional

from servers import AioServer, FaultServer, Recorder, SmtpSink

FROM = "me@example.com"
TO = "you@example.com"

GREET = ("send", b"220 fault.test ESMTP\r\n")
EHLO_OK = ("send", b"250-fault.test\r\n250 8BITMIME\r\n")


@dataclass
class Row:
    id: str
    # What goes wrong, for the README.
    fault: str
    # A context manager that starts the server (None: no server).
    server: Optional[Callable]
    status: int
    # The reason line on stdout, with {port} for the server's port; for a
    # success, the first result line.
    shown: str
    # The transcript must end with these lines (regexes, {port} substituted).
    tail: list = field(default_factory=list)
    # SERVER argument ({port} substituted) and extra arguments.
    target: str = "127.0.0.1:{port}"
    args: list = field(default_factory=lambda: [FROM, TO])
    # Commands the server must have received, in order (lower-case verbs);
    # None when the server cannot tell.
    received: Optional[list] = None
    # Which server the fault comes from, for the README.
    via: str = ""
    # `shown` is a regular expression (when the exact text depends on timing).
    shown_re: bool = False
    # Lines (regexes) that must appear somewhere in the transcript, in order.
    shows: list = field(default_factory=list)
    # Needs the native host (network policy, whole-call deadline).
    native_only: bool = False


class EhloNotImplemented(Recorder):
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        return ["502 5.5.2 Error: command not implemented"]


def aio(**kw):
    handler_kw = {k: kw.pop(k) for k in ("refuse_mail", "refuse_rcpt", "data_reply") if k in kw}
    handler = kw.pop("handler", None) or Recorder(**handler_kw)
    return lambda: AioServer(handler, **kw)


def sink(*opts):
    return lambda: SmtpSink("-v", *opts)


def fault(*script):
    return lambda: FaultServer(list(script))


# Message files for `--message @NAME@`.
FILES = {
    "@LONGLINE@": b"y" * 999 + b"\n",
    "@UTF8@": "Subject: café\n\nnaïve\n".encode(),
}

ROWS = [
    # ---------------------------------------------------------- reaching it
    Row("name-does-not-resolve", "the server's name does not resolve", None, 68,
        "lookup-failed: no-such-host.invalid: name does not resolve",
        tail=[r"connect: \('no-such-host.invalid', 25\)"],
        target="no-such-host.invalid", via="the reserved .invalid TLD"),
    Row("malformed-server", "SERVER is not host[:port]", None, 68,
        'address-error: server "mail.example.com:99999" is not a host name, IP address '
        "or host:port (the port must be 1-65535)",
        target="mail.example.com:99999", via="argument"),
    Row("port-closed", "nothing listens on the port (connection refused)", None, 74,
        "io-error: connection to 127.0.0.1:{port} refused (at connect)",
        tail=[r"connect: to \('127.0.0.1', {port}\) failed: connection to 127.0.0.1:{port} refused \(at connect\)"],
        via="a closed port"),
    Row("denied-by-policy", "the network policy does not grant the server", aio(), 77,
        "denied: the host's network policy does not allow connecting to 127.0.0.1:{port}",
        args=[FROM, TO, "--grant", "tcp://127.0.0.1:1"], received=[], via="aiosmtpd, --grant",
        native_only=True),
    Row("lookup-not-granted", "the name is not the granted one (no DNS for other names)",
        aio(), 77, 'denied: the host does not allow looking up "localhost"',
        target="localhost:{port}", args=[FROM, TO, "--grant", "tcp://127.0.0.1:{port}"],
        received=[], via="aiosmtpd, --grant", native_only=True),
    # ---------------------------------------------------------- disconnects
    Row("closes-at-once", "the server accepts and closes at once", sink("-q", "CONNECT"), 74,
        "server-disconnected: the server closed the connection without a greeting (at greeting)",
        tail=[r"connect: to \('127.0.0.1', {port}\)"], received=[], via="smtp-sink -q CONNECT"),
    Row("closes-mid-reply", "the server closes in the middle of a multi-line reply",
        fault(GREET, ("line",), ("send", b"250-fault.test\r\n250-PIPELINING\r\n250-SI"), ("close",)),
        74, "server-disconnected: the server closed the connection in the middle of a reply (at ehlo)",
        tail=[r"reply: '250-fault.test\\r\\n'", r"reply: '250-PIPELINING\\r\\n'"],
        received=["ehlo"], via="scripted"),
    Row("closes-after-354", "the server closes after DATA's 354",
        fault(GREET, ("line",), EHLO_OK, ("line",), ("send", b"250 ok\r\n"), ("line",),
              ("send", b"250 ok\r\n"), ("line",), ("send", b"354 go ahead\r\n"), ("close",)),
        74, r"(server-disconnected|io-error): .* \(at (message|end-of-data)\)",
        shown_re=True,
        tail=[r"send: '\.\\r\\n'"], received=["ehlo", "mail", "rcpt", "data"], via="scripted"),
    Row("closes-after-dot", "the server closes after the final dot, before replying",
        sink("-q", "."), 74,
        "server-disconnected: the server closed the connection after the whole message was sent "
        "and before replying to it: the message may or may not have been accepted (at end-of-data)",
        tail=[r"send: '\.\\r\\n'"], received=["ehlo", "mail", "rcpt", "data", "."], via="smtp-sink -q ."),
    # ---------------------------------------------------------- greeting, EHLO
    Row("greeting-554", "the greeting is 554", sink("-B", "554 5.3.2 not accepting mail", "-f", "CONNECT"),
        69, "connect-refused: 554 5.3.2 not accepting mail (greeting)",
        tail=[r"reply: '554 5.3.2 not accepting mail\\r\\n'", r"send: 'quit\\r\\n'", r"reply: '221 .*'"],
        received=["quit"], via="smtp-sink -f CONNECT"),
    Row("greeting-421", "the greeting is 421", sink("-Q", "CONNECT"), 75,
        "connect-refused: 421 4.0.0 Server closing connection (greeting)",
        tail=[r"reply: '421 4.0.0 Server closing connection\\r\\n'"], received=[],
        via="smtp-sink -Q CONNECT"),
    Row("ehlo-502-helo-ok", "EHLO is not implemented (502); HELO works", aio(handler=EhloNotImplemented()),
        0, "Message successfully sent to 1 recipient(s)",
        tail=[r"send: 'quit\\r\\n'", r"reply: '221 Bye\\r\\n'"],
        shows=[r"send: 'ehlo .*'", r"reply: '502 5.5.2 Error: command not implemented\\r\\n'",
               r"send: 'helo .*'", r"reply: '250 .*'"],
        received=["ehlo", "helo", "mail", "rcpt", "data", ".", "quit"], via="aiosmtpd (EHLO hook)"),
    Row("ehlo-and-helo-refused", "EHLO and HELO are both refused", sink("-e", "-f", "HELO"), 69,
        "helo-refused: 500 5.3.0 Error: command failed (ehlo/helo)",
        tail=[r"send: 'quit\\r\\n'", r"reply: '221 Bye\\r\\n'"], received=["ehlo", "helo", "quit"],
        via="smtp-sink -e -f HELO"),
    Row("421-after-ehlo", "421 in reply to EHLO", sink("-Q", "EHLO"), 75,
        "helo-refused: 421 4.0.0 Server closing connection (ehlo/helo)",
        tail=[r"reply: '421 4.0.0 Server closing connection\\r\\n'"], received=["ehlo"], via="smtp-sink -Q EHLO"),
    # ---------------------------------------------------------- envelope
    Row("mail-553", "MAIL FROM is refused (553)",
        aio(refuse_mail={FROM: "553 5.7.1 <me@example.com>: Sender address rejected"}), 69,
        "sender-refused: 553 5.7.1 <me@example.com>: Sender address rejected (sender <me@example.com>)",
        tail=[r"send: 'rset\\r\\n'", r"reply: '250 OK\\r\\n'", r"send: 'quit\\r\\n'", r"reply: '221 Bye\\r\\n'"],
        received=["ehlo", "mail", "rset", "quit"], via="aiosmtpd (MAIL hook)"),
    Row("421-after-mail", "421 in reply to MAIL", sink("-Q", "MAIL"), 75,
        "sender-refused: 421 4.0.0 Server closing connection (sender <me@example.com>)",
        tail=[r"reply: '421 4.0.0 Server closing connection\\r\\n'"], received=["ehlo", "mail"],
        via="smtp-sink -Q MAIL"),
    Row("some-rcpt-550", "some recipients are refused (550), others accepted",
        aio(refuse_rcpt={"bad@example.com": "550 5.1.1 <bad@example.com>: no such user"}), 0,
        "Message successfully sent to 1 recipient(s)", args=[FROM, "bad@example.com", TO],
        tail=[r"send: 'quit\\r\\n'", r"reply: '221 Bye\\r\\n'"],
        received=["ehlo", "mail", "rcpt", "rcpt", "data", ".", "quit"], via="aiosmtpd (RCPT hook)"),
    Row("all-rcpt-550", "every recipient is refused (550)",
        aio(refuse_rcpt={TO: "550 5.1.1 <you@example.com>: no such user"}), 69,
        "recipients-refused: you@example.com: 550 5.1.1 <you@example.com>: no such user",
        tail=[r"send: 'rset\\r\\n'", r"reply: '250 OK\\r\\n'", r"send: 'quit\\r\\n'", r"reply: '221 Bye\\r\\n'"],
        received=["ehlo", "mail", "rcpt", "rset", "quit"], via="aiosmtpd (RCPT hook)"),
    Row("rcpt-452", "a recipient is refused for now (452)",
        aio(refuse_rcpt={TO: "452 4.2.2 mailbox full"}), 75,
        "recipients-refused: you@example.com: 452 4.2.2 mailbox full",
        received=["ehlo", "mail", "rcpt", "rset", "quit"], via="aiosmtpd (RCPT hook)"),
    Row("421-after-rcpt", "421 in reply to RCPT", sink("-Q", "RCPT"), 75,
        "recipients-refused: you@example.com: 421 4.0.0 Server closing connection",
        tail=[r"reply: '421 4.0.0 Server closing connection\\r\\n'"], received=["ehlo", "mail", "rcpt"],
        via="smtp-sink -Q RCPT"),
    # ---------------------------------------------------------- data
    Row("data-554", "DATA is refused (554)",
        sink("-B", "554 5.5.1 Error: no valid recipients", "-f", "DATA"), 69,
        "data-refused: 554 5.5.1 Error: no valid recipients (at data)",
        tail=[r"send: 'rset\\r\\n'", r"reply: '250 .*'", r"send: 'quit\\r\\n'", r"reply: '221 Bye\\r\\n'"],
        received=["ehlo", "mail", "rcpt", "data", "rset", "quit"], via="smtp-sink -f DATA"),
    Row("421-after-data", "421 in reply to DATA", sink("-Q", "DATA"), 75,
        "data-refused: 421 4.0.0 Server closing connection (at data)",
        tail=[r"reply: '421 4.0.0 Server closing connection\\r\\n'"],
        received=["ehlo", "mail", "rcpt", "data"], via="smtp-sink -Q DATA"),
    Row("dot-451", "the message is refused for now after the final dot (451)",
        aio(data_reply="451 4.3.0 try again later"), 75,
        "data-refused: 451 4.3.0 try again later (at end-of-data)",
        tail=[r"reply: '451 4.3.0 try again later\\r\\n'", r"send: 'rset\\r\\n'", r"reply: '250 OK\\r\\n'",
              r"send: 'quit\\r\\n'", r"reply: '221 Bye\\r\\n'"],
        received=["ehlo", "mail", "rcpt", "data", ".", "rset", "quit"], via="aiosmtpd (DATA hook)"),
    Row("dot-554", "the message is refused after the final dot (554)",
        aio(data_reply="554 5.7.1 message content rejected"), 69,
        "data-refused: 554 5.7.1 message content rejected (at end-of-data)",
        received=["ehlo", "mail", "rcpt", "data", ".", "rset", "quit"], via="aiosmtpd (DATA hook)"),
    Row("421-after-dot", "421 in reply to the final dot", sink("-Q", "."), 75,
        "data-refused: 421 4.0.0 Server closing connection (at end-of-data)",
        tail=[r"send: '\.\\r\\n'", r"reply: '421 4.0.0 Server closing connection\\r\\n'"],
        received=["ehlo", "mail", "rcpt", "data", "."], via="smtp-sink -Q ."),
    # ---------------------------------------------------------- malformed
    Row("reply-not-digits", "a reply that does not start with a code",
        fault(("send", b"hello there\r\n"), ("sleep", 5)), 76,
        'malformed-reply: reply line does not start with a three-digit code: "hello there" (at greeting)',
        tail=[r"reply: 'hello there\\r\\n'"], received=[], via="scripted"),
    Row("reply-code-out-of-range", "a reply code outside 2xx-5xx",
        fault(GREET, ("line",), ("send", b"650 what\r\n"), ("sleep", 5)), 76,
        'malformed-reply: reply code 650 is outside 200-599: "650 what" (at ehlo)',
        tail=[r"reply: '650 what\\r\\n'"], received=["ehlo"], via="scripted"),
    Row("reply-codes-differ", "a multi-line reply whose lines differ in code",
        fault(GREET, ("line",), ("send", b"250-fault.test\r\n251 PIPELINING\r\n"), ("sleep", 5)), 76,
        "malformed-reply: multi-line reply changed its code from 250 to 251 (at ehlo)",
        received=["ehlo"], via="scripted"),
    Row("reply-line-1mb", "a reply line of 1 MB without CRLF",
        fault(("send", b"220-" + b"x" * (1024 * 1024)), ("sleep", 5)), 76,
        "malformed-reply: reply line longer than 8192 octets without a line end (at greeting)",
        received=[], via="scripted"),
    Row("endless-continuation", "an endless stream of continuation lines",
        fault(GREET, ("line",), ("repeat", b"250-and more\r\n" * 64)), 76,
        "malformed-reply: reply longer than 256 lines or 65536 octets (at ehlo)",
        received=["ehlo"], via="scripted"),
    # ---------------------------------------------------------- time
    Row("silent-server", "the server connects and never greets", fault(("sleep", 30)), 75,
        "timeout: no complete reply within 1 s (at greeting)",
        args=[FROM, TO, "--timeout", "1"], tail=[r"connect: to \('127.0.0.1', {port}\)"],
        received=[], via="scripted"),
    Row("trickling-server", "the server sends one byte a second, forever",
        fault(("trickle", b"220-slow\r\n", 1.0)), 75,
        "timeout: the send took longer than its deadline of 3 s",
        args=[FROM, TO, "--timeout", "60", "--deadline", "3"], received=[], via="scripted",
        native_only=True),
    # ---------------------------------------------------------- extensions
    Row("utf8-without-smtputf8", "a non-ASCII address, and the server lacks SMTPUTF8",
        aio(enable_SMTPUTF8=False), 69,
        'not-supported: address "δοκιμή@example.com" is not ASCII and the server does not '
        "offer SMTPUTF8 (RFC 6531)", args=[FROM, "δοκιμή@example.com"],
        tail=[r"send: 'quit\\r\\n'", r"reply: '221 Bye\\r\\n'"], received=["ehlo", "quit"],
        via="aiosmtpd"),
    Row("over-size", "the message is larger than the server's SIZE",
        aio(data_size_limit=100), 69,
        "not-supported: the message is 137 octets and the server accepts at most 100 (SIZE, RFC 1870)",
        tail=[r"send: 'quit\\r\\n'", r"reply: '221 Bye\\r\\n'"], received=["ehlo", "quit"],
        via="aiosmtpd"),
    Row("8bit-without-8bitmime", "an 8-bit message, and the server lacks 8BITMIME",
        sink("-8"), 69,
        "not-supported: the message has 8-bit bytes and the server does not offer 8BITMIME (RFC 6152)",
        args=[FROM, TO, "--message", "@UTF8@"],
        received=["ehlo", "quit"], via="smtp-sink -8"),
    # ---------------------------------------------------------- input
    Row("crlf-in-address", "CR/LF in an address (command injection)", aio(), 65,
        'invalid-input: sender: address "me@example.com\\r\\nRCPT TO:<evil@example.com>" '
        "contains the control character CR",
        args=["me@example.com\r\nRCPT TO:<evil@example.com>", TO], received=[], via="aiosmtpd"),
    Row("angle-in-address", "'<' or '>' inside an address", aio(), 65,
        'invalid-input: recipient: address "you@example.com> SIZE=1" contains \'<\' or \'>\': '
        "give the bare mailbox, e.g. user@example.com",
        args=[FROM, "you@example.com> SIZE=1"], received=[], via="aiosmtpd"),
    Row("crlf-in-ehlo", "CR/LF in the EHLO name", aio(), 65,
        'invalid-input: the EHLO name "client\\r\\nMAIL FROM:<x@y>" contains the control character CR',
        args=[FROM, TO, "--ehlo", "client\r\nMAIL FROM:<x@y>"], received=[], via="aiosmtpd"),
    Row("crlf-in-server", "CR/LF in SERVER", aio(), 65,
        'invalid-input: server "127.0.0.1:{port}\\r\\nMAIL" contains a control character',
        target="127.0.0.1:{port}\r\nMAIL", received=[], via="aiosmtpd"),
    Row("long-line", "a message line over 998 octets", aio(), 65,
        "invalid-input: line 1 of the message is 999 octets long; SMTP allows at most 998 "
        "(RFC 5321 §4.5.3.1.6)", args=[FROM, TO, "--message", "@LONGLINE@"], received=[],
        via="aiosmtpd"),
]
