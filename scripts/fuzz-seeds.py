#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus (fuzz/seeds/) from real server replies:
Postfix, smtp-sink and aiosmtpd conversations as seen in the tests."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "fuzz" / "seeds"

POSTFIX = [
    b"220 mx.test.example ESMTP Postfix (smtp-send tests)\r\n",
    b"250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-VRFY\r\n250-ETRN\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
    b"250 2.1.0 Ok\r\n", b"250 2.1.5 Ok\r\n",
    b"550 5.1.1 <nobody@test.example>: Recipient address rejected: User unknown in virtual mailbox table\r\n",
    b"354 End data with <CR><LF>.<CR><LF>\r\n",
    b"250 2.0.0 Ok: queued as 730D39960D5\r\n", b"221 2.0.0 Bye\r\n",
]
SINK = [
    b"220 smtp-sink ESMTP\r\n",
    b"250-smtp-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n"
    b"250-XCLIENT NAME HELO\r\n250-XFORWARD NAME ADDR PROTO HELO\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 \r\n",
    b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
    b"250 2.0.0 Ok\r\n", b"221 Bye\r\n",
]
AIOSMTPD = [
    b"220 localhost Python SMTP 1.4.6\r\n",
    b"250-localhost\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 HELP\r\n",
    b"553 5.7.1 <me@example.com>: Sender address rejected\r\n", b"250 OK\r\n", b"221 Bye\r\n",
]
TLS_AUTH = [
    b"220 mx.test.example ESMTP\r\n",
    b"250-mx.test.example\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n",
    b"220 2.0.0 Ready to start TLS\r\n",
    b"250-mx.test.example\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n",
    b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
    b"235 2.7.0 Authentication successful\r\n",
    b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n", b"250 2.0.0 Ok\r\n", b"221 Bye\r\n",
]
ODD = [
    b"554 5.3.2 not accepting mail\r\n", b"421 4.0.0 Server closing connection\r\n",
    b"500 5.5.1 Error: unknown command\r\n", b"250 old\r\n",
    b"250-a\r\n251 b\r\n", b"hello\r\n", b"650 x\r\n", b"220-" + b"x" * 300,
]


def feed_ops(chunks):
    """Encodes server bytes as the client harness's script: an op byte
    ((n-1) << 3 | 3) feeding the next n (1-32) bytes, then those bytes."""
    out = b""
    for chunk in chunks:
        for i in range(0, len(chunk), 32):
            part = chunk[i:i + 32]
            out += bytes([(len(part) - 1) << 3 | 3]) + part
    return out


def write(target, name, data):
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


for i, r in enumerate(POSTFIX + SINK + AIOSMTPD + ODD):
    write("reply", f"reply-{i:02}", r)
for name, convo in (("postfix", POSTFIX), ("sink", SINK), ("aiosmtpd", AIOSMTPD), ("odd", ODD),
                    ("tls-auth", TLS_AUTH)):
    for flags in (0x00, 0x0d, 0x1f, 0x68, 0xe8):
        write("client", f"{name}-{flags:02x}", bytes([flags]) + feed_ops(convo))
    write("client", f"{name}-eof", bytes([0x09]) + feed_ops(convo[:2]) + b"\x00")
for i, msg in enumerate([
    b"Subject: x\r\n\r\n.\r\n..\r\n.x\r\nend",
    b"a\n.\nb\r.\rc\r\n.\r\nd",
    "Grüße\r\n\r\n.\r".encode(),
    b"",
]):
    write("data", f"data-{i}", bytes([i * 5]) + msg)
