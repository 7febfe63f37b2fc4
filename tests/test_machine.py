"""Output for machines (--transcript json, --transcript-file, --json), real
messages built from flags, and progress on a terminal: against aiosmtpd, with
what the server received checked."""

import base64
import email
import email.policy
import json
import os
import pty
import subprocess

import pytest

from conftest import BIN, CACHE, run_send
from servers import AioServer, FaultServer, Recorder

pytestmark = pytest.mark.native_only

FROM = "me@example.com"
TO = "you@example.com"


def json_lines(text):
    return [json.loads(line) for line in text.splitlines()]


def test_json_transcript_is_complete_and_the_result_is_one_object(tmp_path):
    f = tmp_path / "m.txt"
    f.write_text("Subject: long\n\n" + "".join(f"line {i}\n" for i in range(40)))
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--message", f,
                     "--transcript", "json", "--json")
    assert r.status == 0, r
    events = json_lines(r.stderr)
    assert all(set(e) == {"t", "dir", "line"} for e in events), events[:3]
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    sent = [e["line"] for e in events if e["dir"] == "send"]
    # Never abbreviated: every line of the message is there.
    assert all(f"line {i}\r\n" in sent for i in range(40))
    assert not any("not shown" in e["line"] for e in events)
    assert sent[-2:] == [".\r\n", "quit\r\n"]
    # stdout: exactly one JSON object.
    result = json.loads(r.stdout)
    assert result == {
        "ok": True, "exit": 0, "accepted": [TO], "refused": [], "message": str(f),
        "reply": {"code": 250, "enhanced_status": "2.0.0", "text": "2.0.0 OK: queued as TEST1"},
    }
    assert srv.envelopes[0]["content"].count(b"\r\nline ") == 40


def test_non_utf8_bytes_ride_in_base64():
    greeting = b"220 caf\xe9 ESMTP\r\n"
    with FaultServer([("send", greeting), ("line",), ("send", b"421 bye\r\n"), ("close",)]) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--transcript", "json", "--json")
    assert r.status == 75, r
    [reply] = [e for e in json_lines(r.stderr) if e["dir"] == "reply"][:1]
    assert base64.b64decode(reply["base64"]) == greeting
    assert reply["line"] == "220 caf\ufffd ESMTP\r\n"
    result = json.loads(r.stdout)
    assert result["ok"] is False and result["exit"] == 75
    assert result["error"]["case"] == "helo-refused"
    assert result["error"]["reply"]["code"] == 421


def test_json_error_lists_every_refused_recipient():
    handler = Recorder(refuse_rcpt={
        "a@example.com": "550 5.1.1 <a@example.com>: no such user",
        "b@example.com": "452 4.2.2 mailbox full",
    })
    with AioServer(handler) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, "a@example.com", "b@example.com",
                     "--json", "--quiet")
    assert r.status == 75, r
    assert r.stderr == ""
    err = json.loads(r.stdout)["error"]
    assert err["case"] == "recipients-refused" and err["exit"] == 75
    assert err["refused"] == [
        {"address": "a@example.com", "code": 550, "enhanced_status": "5.1.1",
         "text": "5.1.1 <a@example.com>: no such user"},
        {"address": "b@example.com", "code": 452, "enhanced_status": "4.2.2",
         "text": "4.2.2 mailbox full"},
    ]


def test_json_for_failures_before_sending():
    r = run_send("127.0.0.1", FROM, "bad\r\n@x", "--json")
    assert r.status == 65
    assert json.loads(r.stdout)["error"]["case"] == "invalid-input"
    r = run_send("127.0.0.1", "--json")
    assert r.status == 64
    assert json.loads(r.stdout) == {"ok": False, "exit": 64, "error": {
        "case": "usage", "detail": "one or more required arguments were not provided", "exit": 64}}


def test_transcript_file(tmp_path):
    path = tmp_path / "transcript.txt"
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--transcript-file", path)
    assert r.status == 0, r
    assert r.stderr == ""
    lines = path.read_text().splitlines()
    assert lines[0] == f"connect: ('127.0.0.1', {srv.port})"
    assert lines[-1] == "reply: '221 Bye\\r\\n'"


def test_a_built_mime_message(tmp_path):
    body = tmp_path / "body.txt"
    body.write_text("Grüße,\nthe report is attached.\n")
    report = tmp_path / "report.csv"
    report.write_bytes(b"a,b\n1,2\n")
    image = tmp_path / "logo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO,
                     "--subject", "Bericht für März ✓", "--body", f"@{body}",
                     "--header", "X-Campaign: spring", "--attach", report, "--attach", image,
                     "--cc", "cc@example.com", "--bcc", "hidden@example.com")
    assert r.status == 0, r
    [env] = srv.envelopes
    assert env["rcpt_tos"] == [TO, "cc@example.com", "hidden@example.com"]
    raw = env["content"]
    assert b"hidden@example.com" not in raw
    assert max(len(l) for l in raw.split(b"\r\n")) <= 998
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Bericht für März ✓"
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0].lower()
    assert msg["From"] == FROM and msg["To"] == TO and msg["Cc"] == "cc@example.com"
    assert msg["Date"] and msg["Message-ID"]
    assert msg["X-Campaign"] == "spring"
    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert parts[0].get_content().replace("\r\n", "\n") == "Grüße,\nthe report is attached.\n"
    attached = {p.get_filename(): p for p in parts[1:]}
    assert attached["report.csv"].get_content_type() == "text/csv"
    assert attached["logo.png"].get_content_type() == "image/png"
    assert attached["logo.png"].get_content() == image.read_bytes()
    assert attached["report.csv"].get_payload(decode=True) == b"a,b\n1,2\n"


def test_forged_headers_are_refused():
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO,
                     "--header", "X-A: b\r\nBcc: evil@example.com")
    assert r.status == 65, r
    assert srv.connections == 0


def big_file(tmp_path):
    f = tmp_path / "big.eml"
    f.write_bytes(b"Subject: big\r\n\r\n" + b"y" * 78 + b"\r\n" * 1 + (b"z" * 78 + b"\r\n") * 40000)
    return f


def test_progress_shows_on_a_terminal_only(tmp_path):
    f = big_file(tmp_path)
    with AioServer() as srv:
        plain = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--message", f)
        # The same send with stderr on a pseudo-terminal.
        leader, follower = pty.openpty()
        p = subprocess.Popen([str(BIN), f"127.0.0.1:{srv.port}", FROM, TO, "--message", str(f)],
                             stdout=subprocess.PIPE, stderr=follower,
                             env=dict(os.environ, SMTP_SEND_CACHE_DIR=CACHE))
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        stdout, _ = p.communicate(timeout=60)
        os.close(leader)
    assert plain.status == 0 and p.returncode == 0
    assert "sent " not in plain.stderr
    assert b"sent 3.2 of 3.2 MB" in out, out[-500:]
    assert stdout == b"Message successfully sent to 1 recipient(s)\n"
    assert len(srv.envelopes) == 2
