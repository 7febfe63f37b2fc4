"""Through a real MTA: Postfix delivering to Maildirs. The body must arrive
byte for byte (in Maildir's LF form) after the headers Postfix puts on top."""

import hashlib

import pytest

from conftest import run_send
from postfix import body_after_mta_headers, stored_form

FROM = "sender@example.com"
BANNER = " *** Your message may not have been sent!"


def headers(subject):
    return (
        f"From: Sender <{FROM}>\r\n"
        f"Date: Fri, 04 Dec 2026 12:00:00 +0000\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.com>\r\n"
        f"Subject: {subject}\r\n"
        "\r\n"
    ).encode()


def send_file(tmp_path, postfix, rcpts, message, *extra):
    f = tmp_path / "message"
    f.write_bytes(message)
    return run_send(postfix.server, FROM, *rcpts, "--message", f, *extra)


MESSAGES = {
    "dots": b"line one\r\n.starts with a dot\r\n..two dots\r\n.\r\n..\r\nend\r\n",
    "no-final-newline": b"first\r\nlast line without newline",
    "bare-line-ends": b"bare LF\nbare CR\rCRLF\r\nmixed\n\r\n",
    "utf8": "Grüße, naïve café, 日本語, emoji \U0001F600\r\n".encode(),
}


@pytest.mark.parametrize("name", MESSAGES)
def test_body_arrives_byte_identical(tmp_path, postfix, name):
    rcpt = postfix.user()
    message = headers(f"body {name}") + MESSAGES[name]
    r = send_file(tmp_path, postfix, [rcpt], message)
    assert r.status == 0, r
    assert r.stdout == "Message successfully sent to 1 recipient(s)\n"
    [delivered] = postfix.wait_for(rcpt)
    assert body_after_mta_headers(delivered, b"From: Sender") == stored_form(message)
    assert delivered.startswith(b"Return-Path: <sender@example.com>\n")


def test_ten_megabyte_message(tmp_path, postfix):
    rcpt = postfix.user()
    line = "0123456789 abcdefghijklmnopqrstuvwxyz ÄÖÜ äöü ß — ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n".encode()
    body = line * (10 * 1024 * 1024 // len(line) + 1)
    message = headers("ten megabytes") + body
    assert len(message) > 10 * 1024 * 1024
    r = send_file(tmp_path, postfix, [rcpt], message, "--quiet")
    assert r.status == 0, r
    [delivered] = postfix.wait_for(rcpt)
    got = body_after_mta_headers(delivered, b"From: Sender")
    assert len(got) == len(stored_form(message))
    assert hashlib.sha256(got).digest() == hashlib.sha256(stored_form(message)).digest()


def test_unknown_user_is_refused_with_postfixs_own_reply(tmp_path, postfix):
    r = send_file(tmp_path, postfix, ["nobody@test.example"], headers("unknown") + b"x\r\n")
    assert r.status == 69, r
    assert r.stdout.splitlines() == [
        BANNER,
        "recipients-refused: nobody@test.example: 550 5.1.1 <nobody@test.example>: "
        "Recipient address rejected: User unknown in virtual mailbox table",
    ]
    assert r.transcript[-4:] == [
        "send: 'rset\\r\\n'",
        "reply: '250 2.0.0 Ok\\r\\n'",
        "send: 'quit\\r\\n'",
        "reply: '221 2.0.0 Bye\\r\\n'",
    ]


def test_one_unknown_user_among_known_ones(tmp_path, postfix):
    rcpt = postfix.user()
    r = send_file(tmp_path, postfix, [rcpt, "nobody@test.example"],
                  headers("mixed") + b"hello\r\n")
    assert r.status == 0, r
    assert r.stdout.splitlines() == [
        "Message successfully sent to 1 recipient(s)",
        "Refused nobody@test.example: 550 5.1.1 <nobody@test.example>: "
        "Recipient address rejected: User unknown in virtual mailbox table",
    ]
    assert len(postfix.wait_for(rcpt)) == 1


def test_smtp_smuggling_is_impossible(tmp_path, postfix):
    """Every end-of-data look-alike inside the message, each followed by a
    second transaction to another mailbox: Postfix must deliver exactly one
    message, the original with its line ends normalised."""
    rcpt = postfix.user()
    smuggled = (
        b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@test.example>\r\n"
        b"DATA\r\nSubject: smuggled\r\n\r\nyou have been smuggled\r\n"
    )
    body = (
        b"before\n.\n" + smuggled
        + b"middle\r.\r" + smuggled
        + b"again\r\n.\r\n" + smuggled
        + b"mixed\r\n.\n" + smuggled
        + b"bare CR\ronly and bare LF\nonly\r\n.\r\n"
    )
    message = headers("smuggling") + body
    r = send_file(tmp_path, postfix, [rcpt], message)
    assert r.status == 0, r
    [delivered] = postfix.wait_for(rcpt)
    assert body_after_mta_headers(delivered, b"From: Sender") == stored_form(message)
    # Give a smuggled second message every chance to show up.
    postfix.wait_for("victim@test.example", timeout=2)
    assert postfix.messages("victim@test.example") == []
    # Postfix never saw a second transaction.
    assert "evil@example.com" not in postfix.log()
